from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.selection import select
from tests.conftest import MINIMAL_CONFIG

PRESS = """\
  press:
    publisher: mailer
    from: Trygghet <trygghet@kommun.example>
    recipients: presslista.csv
"""

EMBARGO = """\
title: Gängbrott
summary: Information till företagare.
priority_areas: [trafik]
period: {start: 2018-10-01, end: 2018-10-31}
messages:
  - key: start
    at: 2018-10-01 08:00
    embargo: 2018-10-02 10:00
    channels: [press, webb]
    title: Nytt samarbete mot gängbrott
    body: Kommunen och polisen startar ett samarbete.
"""

TZ = ZoneInfo("Europe/Stockholm")


def test_embargo_holds_public_channels_until_it_ends(make_root) -> None:
    root = make_root(config=MINIMAL_CONFIG.replace("defaults:", PRESS + "defaults:"), campaigns={"gang": EMBARGO})
    (root / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n")
    project = load_project(root)
    assert not project.problems.errors, project.problems
    when = {d.channel: d.at for d in deliveries(project)}
    assert when == {"press": datetime(2018, 10, 1, 8, 0, tzinfo=TZ), "webb": datetime(2018, 10, 2, 10, 0, tzinfo=TZ)}
    # the message names one occurrence across both times
    chosen = select(project, "gang/start", datetime(2018, 10, 1, 9, 0, tzinfo=TZ))
    assert sorted(d.id for d in chosen) == ["gang/start/press", "gang/start/webb"]


def test_repeated_message_with_embargo_is_an_error(make_root) -> None:
    text = EMBARGO.replace("    embargo:", "    repeat: {every: 7d, count: 2}\n    embargo:")
    root = make_root(config=MINIMAL_CONFIG.replace("defaults:", PRESS + "defaults:"), campaigns={"gang": text})
    (root / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n")
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == ["campaigns/gang.yaml:9:14: error: embargo: a repeated message cannot have an embargo; give the embargoed press release a message of its own"]
