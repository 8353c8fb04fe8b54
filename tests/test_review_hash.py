"""A message's content hash covers the bytes of its image and logos: a picture replaced
under the same file name voids approvals and is noticed after publishing."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest

from samverkan import rendering
from samverkan.approvals import approve, awaiting
from samverkan.ledger import Ledger
from samverkan.loading import load_project
from samverkan.rendering import render_message
from tests.helpers.plans import FULL_CONFIG, PNG, TZ, full_root

NOW = datetime(2018, 8, 1, 9, tzinfo=TZ)


def replace(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    st = path.stat()  # a new mtime for certain, however coarse the file system's clock
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def hashes(root: Path) -> dict[str, str]:
    project = load_project(root)
    return {c: render_message(project, "skolstart", "start", c).content_hash() for c in ("webb", "press")}


@pytest.mark.parametrize("name", ["bild.png", "logo-polisen.png"])
def test_replacing_an_image_or_a_logo_changes_the_content_hash(make_root, name: str) -> None:
    root = full_root(make_root)
    before = hashes(root)
    assert hashes(root) == before  # stable
    replace(root / "content" / name, PNG + b"another picture")
    after = hashes(root)
    assert after["press"] != before["press"]  # the press release carries image and logos
    if name == "bild.png":
        assert after["webb"] != before["webb"]


def test_replacing_the_image_voids_the_approvals(make_root) -> None:
    root = full_root(make_root, config=FULL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    project = load_project(root)
    with Ledger(root / "state/samverkan.db") as ledger:
        for party in ("kommunen", "polisen"):
            approve(project, ledger, "skolstart/start", party, "Kim", None, NOW)
    assert awaiting(load_project(root), NOW) == []
    replace(root / "content/bild.png", PNG + b"another picture")
    waiting = awaiting(load_project(root), NOW)
    assert [(a.message_id, a.missing) for a in waiting] == [("skolstart/start", ["kommunen", "polisen"])]


def test_a_file_is_read_again_only_when_it_changes(tmp_path: Path, monkeypatch) -> None:
    from samverkan.rendering import file_digest

    path = tmp_path / "bild.png"
    path.write_bytes(PNG)
    first = file_digest(path)
    reads: list[Path] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    assert [file_digest(path) for _ in range(3)] == [first] * 3
    assert reads == []
    replace(path, PNG + b"x")
    assert file_digest(path) not in (first, None)
    assert reads == [path]
    assert file_digest(tmp_path / "missing.png") is None
    assert len(rendering._digests) <= rendering._DIGESTS_MAX
