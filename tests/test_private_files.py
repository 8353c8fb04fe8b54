"""The ledger, outboxes, archives, rehearsals and previews are their owner's only (files
0600, folders 0700), whatever the umask; the public feed stays readable (0644)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Iterator

import pytest

from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.plans import full_root


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    """Every file and folder under ``folder`` (itself as "."), relative path -> mode."""
    out = {".": mode(folder)}
    for p in folder.rglob("*"):
        out[p.relative_to(folder).as_posix()] = mode(p)
    return out


def published(make_root: Callable[..., Path]) -> Path:
    """The full plan's message published by hand: feed, two Facebook outboxes, press outbox."""
    root = full_root(make_root)
    result = invoke("publish", "skolstart/start", "--root", str(root), "--now", "2018-08-13T07:31")
    assert result.exit_code == 0, result.output
    return root


def test_the_ledger_and_its_wal_files_are_the_owners_only(tmp_path: Path, umask: int) -> None:
    with Ledger(tmp_path / "state" / "deep" / "samverkan.db") as ledger:
        ledger.set_meta("k", "v")
        files = sorted(p.name for p in (tmp_path / "state" / "deep").iterdir())
        assert files == ["samverkan.db", "samverkan.db-shm", "samverkan.db-wal"]  # WAL: open, with a write
        assert modes(tmp_path / "state") == {".": 0o700, "deep": 0o700, **{f"deep/{f}": 0o600 for f in files}}


def test_a_ledger_made_readable_by_others_is_closed_to_them(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "samverkan.db"
    Ledger(path).close()
    os.chmod(path, 0o644)  # as an older version left it
    with Ledger(path) as ledger:
        assert mode(path) == 0o600
        assert ledger.schema_version > 0


def test_outboxes_and_the_state_folder_are_private_and_the_feed_public(
        make_root: Callable[..., Path], umask: int) -> None:
    root = published(make_root)
    outbox = modes(root / "outbox")
    assert sorted(p.rpartition(".")[2] if "/" in p else p for p in outbox) == [
        ".", "eml", "fb-kommunen", "fb-polisen", "json", "json", "press"]  # a release, two posts
    assert {p: m for p, m in outbox.items() if not p.endswith((".eml", ".json"))} == dict.fromkeys(
        [".", "press", "fb-kommunen", "fb-polisen"], 0o700)
    assert {m for p, m in outbox.items() if p.endswith((".eml", ".json"))} == {0o600}
    assert modes(root / "state") == {".": 0o700, "samverkan.db": 0o600}
    # What the web server serves stays readable, and writable by the owner only.
    assert mode(root / "public") == 0o755 and mode(root / "public" / "feed.xml") == 0o644


def test_an_archive_package_is_private(make_root: Callable[..., Path], umask: int) -> None:
    root = published(make_root)
    out = root / "arkiv" / "2018"
    result = invoke("archive", "--root", str(root), "--from", "2018-08-01", "--to", "2018-09-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    found = modes(root / "arkiv")
    assert "2018/payloads/skolstart.start.press/press.eml" in found and "2018/MANIFEST.sha256" in found
    assert {p: m for p, m in found.items() if m != (0o700 if (root / "arkiv" / p).is_dir() else 0o600)} == {}


def test_a_rehearsal_is_private_but_for_its_feed(make_root: Callable[..., Path], umask: int) -> None:
    root = full_root(make_root)
    out = root / "rehearsal" / "2018"
    result = invoke("rehearse", "--root", str(root), "--from", "2018-08-01", "--to", "2018-09-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    found = modes(root / "rehearsal")
    assert {"2018/rehearsal.db", "2018/rehearsal.json", "2018/press/skolstart_start_press.eml",
            "2018/webb/feed.xml"} <= set(found)
    expected = {p: (0o755 if p == "2018/webb" else 0o644 if p == "2018/webb/feed.xml"
                    else 0o700 if (root / "rehearsal" / p).is_dir() else 0o600) for p in found}
    assert found == expected
    assert found["."] == 0o700 and found["2018"] == 0o700  # nothing inside is anyone else's


def test_previews_written_to_files_are_private(make_root: Callable[..., Path], umask: int) -> None:
    root = full_root(make_root)
    out = root / "preview"
    result = invoke("preview", "skolstart/start", "--root", str(root), "--out", str(out), "--now", "2018-08-01T09:00")
    assert result.exit_code == 0, result.output
    found = modes(out)
    assert "skolstart/start/press/press.eml" in found
    assert {p: m for p, m in found.items() if m != (0o700 if (out / p).is_dir() else 0o600)} == {}


def test_the_daemons_lock_file_beside_the_ledger_is_the_owners_only(make_root: Callable[..., Path], umask: int) -> None:
    root = full_root(make_root)
    result = invoke("run", "--once", "--root", str(root), "--now", "2018-08-01T07:00")
    assert result.exit_code == 0, result.output
    assert modes(root / "state") == {".": 0o700, "samverkan.db": 0o600, "samverkan.db.lock": 0o600}
