"""``samverkan archive``: a rehearsed year exported exactly as sent, and checked."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result

from samverkan.archive import MANIFEST, safe_name
from samverkan.cli import cli
from samverkan.ledger import Ledger
from tests.helpers.plans import MINIMAL_CONFIG, campaign


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def rehearsed(sample_root: Path, tmp_path: Path) -> Path:
    """The sample plan's 2018, rehearsed: the ledger at REH/rehearsal.db."""
    out = tmp_path / "reh"
    result = run("rehearse", "--root", str(sample_root), "--from", "2018-01-01", "--to", "2018-12-31",
                 "--out", str(out), "--assume-approved")
    assert result.exit_code == 0, result.output
    return out / "rehearsal.db"


def counts(db_path: Path) -> tuple[int, int, int]:
    db = sqlite3.connect(db_path)
    try:
        return tuple(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("deliveries", "archive", "approvals"))
    finally:
        db.close()


def test_archive_of_a_rehearsed_year_verifies_and_holds_the_exact_payloads(
    sample_root: Path, rehearsed: Path, tmp_path: Path
) -> None:
    before = counts(rehearsed)
    out = tmp_path / "arkiv-2018"
    result = run("archive", "--root", str(sample_root), "--ledger", str(rehearsed),
                 "--from", "2018-01-01", "--to", "2018-12-31", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert counts(rehearsed) == before  # nothing deleted (or added) in the ledger

    index = [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    with Ledger(rehearsed) as ledger:
        published = ledger.rows("published")
        assert sorted(e["id"] for e in index) == sorted(r.id for r in published)
        assert len(index) == 82  # (the Ren Kraft studentvår message also goes to instagram-polisen)
        for entry in index:
            row = ledger.get(entry["id"])
            assert row is not None
            folder = out / entry["folder"]
            assert folder == out / "payloads" / safe_name(row.id)
            sent = ledger.archive(row.id)
            assert sorted(entry["files"]) == sorted(sent)
            for name, data in sent.items():
                assert (folder / name).read_bytes() == data  # exactly as sent
            assert json.loads((folder / "fields.json").read_text(encoding="utf-8")) == row.payload
            assert entry["channel"] == row.channel and entry["publisher"] == row.publisher
            assert entry["content_hash"] == row.content_hash
            assert entry["published_at"] == row.published_at.isoformat()  # type: ignore[union-attr]
            assert entry["due_at"] == row.due_at.isoformat()
    kinds = {name for e in index for name in e["files"]}
    assert {"press.eml", "post.json", "item.xml"} <= kinds

    manifest = (out / MANIFEST).read_text(encoding="utf-8").splitlines()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST)
    assert sorted(line.split("  ", 1)[1] for line in manifest) == files
    assert "index.jsonl" in files and "about.json" in files

    verified = run("archive", "--verify", str(out))
    assert verified.exit_code == 0, verified.output
    assert verified.output == f"{out}: every file is as it was exported\n"
    if shutil.which("sha256sum"):  # the package checks without samverkan too
        done = subprocess.run(["sha256sum", "--quiet", "-c", MANIFEST], cwd=out, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_one_changed_byte_fails_verify_and_names_the_file(sample_root: Path, rehearsed: Path, tmp_path: Path) -> None:
    out = tmp_path / "arkiv"
    assert run("archive", "--root", str(sample_root), "--ledger", str(rehearsed), "--from", "2018-08-01",
               "--to", "2018-09-30", "--out", str(out)).exit_code == 0
    [eml] = list(out.glob("payloads/2018-saker-skolstart.start.press/press.eml"))
    data = bytearray(eml.read_bytes())
    data[len(data) // 2] ^= 0x01
    eml.write_bytes(bytes(data))
    result = run("archive", "--verify", str(out))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "changed: payloads/2018-saker-skolstart.start.press/press.eml",
        f"{out}: 1 problem(s); the package is not as it was exported",
    ]


def test_missing_and_extra_files_are_named(sample_root: Path, rehearsed: Path, tmp_path: Path) -> None:
    out = tmp_path / "arkiv"
    run("archive", "--root", str(sample_root), "--ledger", str(rehearsed), "--from", "2018-08-13",
        "--to", "2018-08-13", "--out", str(out))
    index = [json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {e["id"] for e in index} == {
        "2018-saker-skolstart/start/webb", "2018-saker-skolstart/start/facebook-kommunen",
        "2018-saker-skolstart/start/facebook-polisen", "2018-saker-skolstart/start/press",
    }
    (out / "payloads" / "2018-saker-skolstart.start.webb" / "item.xml").unlink()
    (out / "payloads" / "note.txt").write_text("added later")
    result = run("archive", "--verify", str(out))
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        "missing: payloads/2018-saker-skolstart.start.webb/item.xml",
        "extra: payloads/note.txt",
    ]


def test_approvals_are_in_the_index(sample_root: Path, tmp_path: Path) -> None:
    for party, by in (("kommunen", "Karin Lindqvist"), ("polisen", "Mattias Ek")):
        result = run("approve", "--root", str(sample_root), "--now", "2018-08-01T10:00",
                     "2018-saker-skolstart/start", "--party", party, "--by", by)
        assert result.exit_code == 0, result.output
    reh = tmp_path / "reh"
    run("rehearse", "--root", str(sample_root), "--from", "2018-08-13", "--to", "2018-08-13", "--out", str(reh))
    out = tmp_path / "arkiv"
    assert run("archive", "--root", str(sample_root), "--ledger", str(reh / "rehearsal.db"), "--from", "2018-08-13",
               "--to", "2018-08-13", "--out", str(out)).exit_code == 0
    entry = next(json.loads(line) for line in (out / "index.jsonl").read_text(encoding="utf-8").splitlines()
                 if json.loads(line)["id"] == "2018-saker-skolstart/start/press")
    assert [(a["party"], a["by"], a["before_publication"]) for a in entry["approvals"]] == [
        ("kommunen", "Karin Lindqvist", True), ("polisen", "Mattias Ek", True)]
    assert all(len(a["content_hash"]) == 64 and a["at"].startswith("2018-08-01T08:00") for a in entry["approvals"])


def test_archive_from_the_plans_own_ledger(make_root: Callable[..., Path], tmp_path: Path) -> None:
    root = make_root(config=MINIMAL_CONFIG, campaigns={"skola": campaign(bases=None)})
    assert run("publish", "--root", str(root), "--now", "2018-08-13T07:30", "skola/start").exit_code == 0
    out = tmp_path / "arkiv"
    result = run("archive", "--root", str(root), "--from", "2018-08-13", "--to", "2018-08-13", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "archived 1 published deliveries" in result.output
    item = (out / "payloads" / "skola.start.webb" / "item.xml").read_bytes()
    assert b"<title>Nu b\xc3\xb6rjar skolan</title>" in item and b"<guid isPermaLink=\"false\">urn:uuid:" in item
    # The day before holds nothing: an empty, still verifiable package.
    empty = tmp_path / "tom"
    run("archive", "--root", str(root), "--from", "2018-08-12", "--to", "2018-08-12", "--out", str(empty))
    assert (empty / "index.jsonl").read_text() == ""
    assert run("archive", "--verify", str(empty)).exit_code == 0


def test_refuses_a_folder_that_is_not_empty_and_bad_options(sample_root: Path, rehearsed: Path, tmp_path: Path) -> None:
    out = tmp_path / "arkiv"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run("archive", "--root", str(sample_root), "--ledger", str(rehearsed), "--from", "2018-08-01",
                 "--to", "2018-08-31", "--out", str(out))
    assert result.exit_code == 1
    assert f"{out} is not an empty folder" in result.output
    assert (out / "keep.txt").read_text() == "mine"
    assert run("archive", "--verify", str(out), "--out", str(tmp_path / "x")).exit_code == 2
    assert run("archive", "--root", str(sample_root), "--from", "2018-08-01").exit_code == 2
    missing = run("archive", "--root", str(sample_root), "--ledger", str(tmp_path / "nope.db"), "--from", "2018-08-01",
                  "--to", "2018-08-31", "--out", str(tmp_path / "y"))
    assert missing.exit_code == 1 and "no ledger at" in missing.output
    not_package = run("archive", "--verify", str(tmp_path / "reh"))
    assert not_package.exit_code == 1 and "missing: MANIFEST.sha256" in not_package.output
