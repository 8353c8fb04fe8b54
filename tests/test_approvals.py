"""Joint sign-off: a message is published only when every required party approved its text."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from samverkan.cli import cli
from tests.helpers.daemon import Clock, started_daemon
from tests.helpers.plugin import read_notebook


def approve(root: Path, party: str, target: str = "skola/start") -> str:
    result = CliRunner().invoke(cli, ["approve", target, "--party", party, "--by", f"Anna {party}", "--root", str(root),
                                      "--now", "2018-08-13T07:00"])
    assert result.exit_code == 0, result.output
    return result.output


def test_held_until_both_parties_approve_then_published(approval_root: Path) -> None:
    clock = Clock("2018-08-13T07:30")
    d = started_daemon(approval_root, clock)
    try:
        assert d.tick() == 0
        row = d.ledger.get("skola/start/notes")
        assert (row.state, row.note) == ("held", "awaiting approval by kommunen, polisen")
        assert "skola/start: approved by kommunen (Anna kommunen); still awaiting polisen" in approve(approval_root, "kommunen")
        clock.now = clock.now.replace(minute=40)
        assert d.tick() == 0  # one of two is not enough
        assert d.ledger.get("skola/start/notes").note == "awaiting approval by polisen"
        assert "approved by every party" in approve(approval_root, "polisen")
        assert d.tick() == 1  # within catch_up: at once
        assert d.ledger.get("skola/start/notes").state == "published"
    finally:
        d.close()
    assert [n["id"] for n in read_notebook(approval_root / "out/notes.jsonl")] == ["skola/start/notes"]


def test_an_edit_after_approval_voids_it(approval_root: Path) -> None:
    approve(approval_root, "kommunen")
    approve(approval_root, "polisen")
    path = approval_root / "campaigns/skola.yaml"
    path.write_text(path.read_text().replace("Sänk farten", "Sänk farten nu"), encoding="utf-8")
    d = started_daemon(approval_root, Clock("2018-08-13T07:30"))
    try:
        assert d.tick() == 0
        assert d.ledger.get("skola/start/notes").note == "awaiting approval by kommunen, polisen"
    finally:
        d.close()
    listing = CliRunner().invoke(cli, ["approvals", "--root", str(approval_root), "--now", "2018-08-13T07:00"]).output
    assert "skola/start  awaiting kommunen, polisen" in listing
    assert "samverkan approve skola/start --party kommunen --by NAME" in listing


def test_status_says_who_must_approve(approval_root: Path) -> None:
    d = started_daemon(approval_root, Clock("2018-08-13T07:30"))
    try:
        d.tick()
    finally:
        d.close()
    out = CliRunner().invoke(cli, ["status", "--root", str(approval_root), "--now", "2018-08-13T07:31"]).output
    assert "held      skola/start/notes" in out and "awaiting approval by kommunen, polisen" in out


def test_unknown_party_is_refused(approval_root: Path) -> None:
    result = CliRunner().invoke(cli, ["approve", "skola/start", "--party", "polis", "--by", "X", "--root", str(approval_root)])
    assert result.exit_code == 1
    assert "error: no party 'polis'; did you mean 'polisen'? (parties: kommunen, polisen)" in result.output


def test_validate_and_status_say_who_must_still_approve(approval_root: Path) -> None:
    approve(approval_root, "kommunen")
    out = CliRunner().invoke(cli, ["validate", "--root", str(approval_root), "--now", "2018-08-01T00:00"]).output
    assert "1 upcoming message(s) await approval: 1 by polisen (samverkan approvals lists them)" in out
    status = CliRunner().invoke(cli, ["status", "--root", str(approval_root), "--now", "2018-08-01T00:00"]).output
    assert "2018-08-13 07:30  skola/start  by polisen" in status
    approve(approval_root, "polisen")
    out = CliRunner().invoke(cli, ["validate", "--root", str(approval_root), "--now", "2018-08-01T00:00"]).output
    assert "await approval" not in out

