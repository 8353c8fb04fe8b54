"""The daemon's clock and jobs, in-process."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from scheduler import Daemon
from tests.helpers.plans import TZ

pytestmark = pytest.mark.usefixtures("accounted")  # every delivery accounted for after each scenario


def test_jobs_fire_on_time_when_the_pretended_date_is_across_dst_from_today(approval_root: Path) -> None:
    """--now in summer while the machine's today is in winter (or the other way round):
    a delivery two seconds ahead gets a job two seconds ahead, not an hour off."""
    from datetime import timedelta, timezone

    from apscheduler.schedulers.background import BackgroundScheduler

    today_is_summer = datetime.now(TZ).utcoffset() == timedelta(hours=2)
    start = datetime(2018, 1, 15, 7, 29, 58, tzinfo=TZ) if today_is_summer else datetime(2018, 8, 13, 7, 29, 58, tzinfo=TZ)
    path = approval_root / "campaigns/skola.yaml"
    text = path.read_text().replace("2018-08-13 07:30", f"{start:%Y-%m-%d} 07:30").replace("2018-08-01", "2018-01-01")
    path.write_text(text)
    d = Daemon(approval_root, start_at=start)
    d.scheduler = BackgroundScheduler(timezone=TZ)
    d.scheduler.start(paused=True)
    try:
        d.reload()
        (job,) = d.scheduler.get_jobs()
        ahead = (job.next_run_time - datetime.now(timezone.utc)).total_seconds()
        assert 1.0 < ahead < 2.5
        assert abs((d.clock() - start).total_seconds()) < 1.0
        # a retry (the ledger keeps times in UTC) three seconds ahead: its job too
        delivery = d.due(start + timedelta(seconds=3))[0]
        d.publishing.ensure(delivery)
        d.ledger.failed(delivery.id, d.clock(), error="busy", state="pending", next_retry=d.clock() + timedelta(seconds=3))
        d._schedule()
        times = sorted((j.next_run_time - datetime.now(timezone.utc)).total_seconds() for j in d.scheduler.get_jobs())
        assert len(times) == 2 and 2.0 < times[1] < 3.5, times
    finally:
        d.scheduler.shutdown(wait=False)
        d.close()
