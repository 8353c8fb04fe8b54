from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from samverkan.ledger import MIGRATIONS, STOPPED_WHILE_SENDING, Conflict, Ledger

T0 = datetime(2018, 8, 13, 5, 30, tzinfo=timezone.utc)


def _row(ledger: Ledger, id: str = "c/m/webb", publisher: str = "rss") -> None:
    c, m, ch = id.split("/")
    ledger.ensure(id=id, campaign=c, message=m, channel=ch, publisher=publisher, due_at=T0, now=T0)


def test_file_is_wal_and_versioned(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.schema_version == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # reopening does not migrate again
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.schema_version == len(MIGRATIONS)


def test_publish_cycle_archives_payload_exactly(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        _row(ledger)
        ledger.begin("c/m/webb", "hash1", T0, fields={"title": "Å"}, files={"item.xml": b"<item>\xc3\x85</item>"})
        assert ledger.get("c/m/webb").state == "in_flight"
        with pytest.raises(Conflict):
            ledger.begin("c/m/webb", "hash1", T0)  # a second sender is refused
        ledger.published("c/m/webb", T0, external_id="x1", url="https://e/1", note=None)
        row = ledger.get("c/m/webb")
        assert (row.state, row.external_id, row.attempts, row.content_hash) == ("published", "x1", 1, "hash1")
        assert ledger.archive("c/m/webb") == {"item.xml": b"<item>\xc3\x85</item>"}
        assert ledger.published_payloads("webb", 10) == [{"title": "Å"}]
        with pytest.raises(Conflict):
            ledger.begin("c/m/webb", "hash2", T0)
        ledger.begin("c/m/webb", "hash2", T0, force=True)
        assert [e["kind"] for e in ledger.events("c/m/webb")] == ["in_flight", "published", "in_flight"]


def test_published_payloads_newest_first_and_limited(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        for i in range(5):
            _row(ledger, f"c/m{i}/webb")
            ledger.begin(f"c/m{i}/webb", "h", T0, fields={"i": i}, files={})
            ledger.published(f"c/m{i}/webb", T0 + timedelta(minutes=i), external_id=None, url=None, note=None)
        assert [p["i"] for p in ledger.published_payloads("webb", 3)] == [4, 3, 2]
        assert ledger.published_payloads("other", 3) == []


def test_reap_marks_dead_owner_unknown_but_redoes_rss(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Ledger(path) as ledger:
        _row(ledger, "c/m/press", "mailer")
        _row(ledger, "c/m/webb", "rss")
    # another process marks both in flight and dies without a receipt
    code = (
        "import sys; from datetime import datetime, timezone; from samverkan.ledger import Ledger;"
        f"l = Ledger({str(path)!r}); t = datetime.now(timezone.utc);"
        "l.begin('c/m/press', 'h', t); l.set_part('c/m/press', 'a@x.example', 'in_flight', None, t);"
        "l.begin('c/m/webb', 'h', t); import os; os._exit(9)"
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ}, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 9
    with Ledger(path) as ledger:
        assert ledger.get("c/m/press").state == "in_flight"
        assert sorted(ledger.reap(T0, redo_publishers=("rss",))) == ["c/m/press", "c/m/webb"]
        assert ledger.get("c/m/press").state == "unknown"
        assert ledger.get("c/m/webb").state == "pending"
        assert ledger.parts("c/m/press") == {"a@x.example": ("unknown", STOPPED_WHILE_SENDING)}


def test_reap_leaves_a_live_owner_alone(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        _row(ledger, "c/m/press", "mailer")
        ledger.begin("c/m/press", "h", T0)  # this very process: alive
        assert ledger.reap(T0) == []
        assert ledger.reap(T0, everyone=True) == ["c/m/press"]


def test_meta_only_if_missing(tmp_path: Path) -> None:
    with Ledger(tmp_path / "s.db") as ledger:
        assert ledger.set_meta("first_run", "a", only_if_missing=True) == "a"
        assert ledger.set_meta("first_run", "b", only_if_missing=True) == "a"


def test_a_batch_keeps_each_change_whole_and_commits_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Ledger(path, durable=False) as ledger:
        with ledger.batch(every=2):
            _row(ledger, "c/a/webb")
            with pytest.raises(Conflict):
                ledger.begin("c/missing/webb", "h", T0)  # a failed change leaves nothing behind
            with pytest.raises(RuntimeError), ledger.transaction() as db:  # nor does one that wrote first
                db.execute("UPDATE deliveries SET note = 'half' WHERE id = 'c/a/webb'")
                raise RuntimeError("in the middle")
            _row(ledger, "c/b/webb")
            _row(ledger, "c/c/webb")
        assert [r.id for r in ledger.rows()] == ["c/a/webb", "c/b/webb", "c/c/webb"]
        assert ledger.get("c/a/webb").note != "half"
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0] == 3


def test_settled_as_failed_sends_again_only_what_was_not_surely_sent(tmp_path: Path) -> None:
    """A mailer crashed mid-list: one recipient took the message, one was being sent to.
    A person settles the delivery as failed: the second is mailed again, the first not."""
    with Ledger(tmp_path / "s.db") as ledger:
        _row(ledger, "c/a/press")
        ledger.begin("c/a/press", "h", T0)
        ledger.set_part("c/a/press", "to:a@example.se", "sent", None, T0)
        ledger.set_part("c/a/press", "to:b@example.se", "in_flight", None, T0)
        ledger.reap(T0, everyone=True)
        assert ledger.get("c/a/press").state == "unknown"
        assert ledger.settle("c/a/press", "failed", T0)
        assert ledger.parts("c/a/press") == {"to:a@example.se": ("sent", None)}


def test_a_delivery_that_kept_killing_its_process_is_not_redone_forever(tmp_path: Path) -> None:
    """On the RSS channel an interrupted delivery is simply sent again at the next start;
    one in whose sending the process died three times is left unknown for a person, so
    that a restart does not meet the same crash in a loop."""
    t = datetime(2018, 8, 13, 5, 30, tzinfo=timezone.utc)
    with Ledger(tmp_path / "s.db") as ledger:
        ledger.ensure(id="a/start/webb", campaign="a", message="start", channel="webb", publisher="rss", due_at=t, now=t)
        states = []
        for _ in range(3):
            ledger.begin("a/start/webb", "h", t)
            ledger.reap(t, everyone=True, redo_publishers=("rss",))
            states.append(ledger.get("a/start/webb").state)
    assert states == ["pending", "pending", "unknown"]
