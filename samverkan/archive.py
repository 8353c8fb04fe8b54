"""``samverkan archive``: everything published in a period, as a package for the public
records, and the check that such a package is still what was exported.

A package is a folder:

- ``index.jsonl``: one JSON object per published delivery (id, channel, publisher, due and
  published time, external id and URL, content hash, the message's approvals, and the
  SHA-256 of each payload file);
- ``payloads/<delivery>/``: the files exactly as sent, from the ledger's archive (the
  ``.eml``, the Facebook request and the photo it uploaded, the RSS item), and
  ``fields.json``, the payload's fields;
- ``pauses.jsonl``: the pauses and resumes in the period (who, when, why), if any;
- ``about.json``: the period, when and from which ledger it was made;
- ``MANIFEST.sha256``: the SHA-256 of every other file, in ``sha256sum`` format, so
  ``sha256sum -c MANIFEST.sha256`` checks it too, without samverkan.

The ledger is only read: the tool never deletes anything from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .ledger import Ledger, Row
from .problems import SamverkanError

MANIFEST = "MANIFEST.sha256"
INDEX = "index.jsonl"
ABOUT = "about.json"
PAYLOADS = "payloads"
FIELDS = "fields.json"
PAUSES = "pauses.jsonl"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


@dataclass
class Exported:
    out: Path
    deliveries: list[str] = field(default_factory=list)
    files: int = 0


def safe_name(delivery_id: str) -> str:
    """A folder name for a delivery id: ``c/m/ch@2018-08-20`` → ``c.m.ch@2018-08-20``.

    Keys never hold a dot, so the name is as unique as the id and reads like it."""
    name = delivery_id.replace("/", ".")
    return "".join(c if c.isalnum() or c in "-_.@" else "_" for c in name).lstrip(".") or "_"


def _file_name(name: str) -> str:
    """A payload file's name, kept to one harmless path component."""
    clean = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in Path(name).name).lstrip(".")
    return clean or "_"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(timezone.utc).isoformat() if when else None


def published_between(ledger: Ledger, start: datetime, end: datetime) -> list[Row]:
    """Deliveries published in ``[start, end)``, in the order they were published."""
    rows = [r for r in ledger.rows("published", payloads=True) if r.published_at is not None and start <= r.published_at < end]
    rows.sort(key=lambda r: (r.published_at or start, r.id))
    return rows


def export(ledger: Ledger, start: datetime, end: datetime, out: Path, *, source: str = "") -> Exported:
    """Write the package of everything published in ``[start, end)`` into ``out`` (a new or
    empty folder)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SamverkanError(f"{out} is not an empty folder; archive into a new one (nothing is overwritten)")
    from publishers.base import private_folder, write_private

    rows = published_between(ledger, start, end)
    private_folder(out)  # personal data of the press list: the owner's only, as the ledger
    result = Exported(out)
    written: dict[str, str] = {}  # relative path → sha256
    folders: set[str] = set()

    def write(rel: str, data: bytes) -> str:
        write_private(out / rel, data)
        digest = written[rel] = _sha256(data)
        return digest

    index_lines = []
    for row in rows:
        folder = safe_name(row.id)
        while folder in folders:  # only if an id held characters safe_name had to replace
            folder += "_"
        folders.add(folder)
        files: dict[str, str] = {}
        for name, data in sorted(ledger.archive(row.id).items()):
            stored = _file_name(name)
            if stored == FIELDS:  # a publisher's own file of that name keeps it apart from ours
                stored = "sent-" + FIELDS
            files[stored] = write(f"{PAYLOADS}/{folder}/{stored}", data)
        fields_json = json.dumps(row.payload or {}, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        fields_hash = write(f"{PAYLOADS}/{folder}/{FIELDS}", fields_json.encode("utf-8"))
        message_id = f"{row.campaign}/{row.message}"
        approvals = [
            {"party": a["party"], "by": a["approved_by"], "at": a["at"], "content_hash": a["content_hash"],
             "note": a["note"], "verdict": a["verdict"], "person": a["person"], "way": a["way"],
             "os_user": a["os_user"], "before_publication": bool(row.published_at and
                                                           datetime.fromisoformat(a["at"]) <= row.published_at)}
            for a in ledger.approvals(message_id)
        ]
        index_lines.append(json.dumps({
            "id": row.id,
            "campaign": row.campaign,
            "message": row.message,
            "channel": row.channel,
            "publisher": row.publisher,
            "due_at": _iso(row.due_at),
            "published_at": _iso(row.published_at),
            "external_id": row.external_id,
            "url": row.url,
            "note": row.note,
            "content_hash": row.content_hash,
            "attempts": row.attempts,
            "approvals": approvals,
            "folder": f"{PAYLOADS}/{folder}",
            "files": files,
            "fields_sha256": fields_hash,
        }, ensure_ascii=False, sort_keys=True))
        result.deliveries.append(row.id)
    write(INDEX, ("\n".join(index_lines) + "\n" if index_lines else "").encode("utf-8"))
    from .pauses import history

    paused = [json.dumps(p, ensure_ascii=False, sort_keys=True) for p in history(ledger, start, end)]
    if paused:  # who stopped publishing, when and why
        write(PAUSES, ("\n".join(paused) + "\n").encode("utf-8"))
    about = {
        "what": "samverkan archive: everything published in the period, exactly as sent",
        "from": start.isoformat(),
        "to_exclusive": end.isoformat(),
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ledger": source or str(ledger.path),
        "deliveries": len(rows),
        "verify": "samverkan archive --verify DIR, or: sha256sum -c MANIFEST.sha256",
    }
    write(ABOUT, (json.dumps(about, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    manifest = "".join(f"{written[rel]}  {rel}\n" for rel in sorted(written))
    write_private(out / MANIFEST, manifest.encode("utf-8"))
    result.files = len(written)
    return result


def verify(folder: Path) -> list[str]:
    """What is wrong with a package: ``changed: PATH``, ``missing: PATH``, ``extra: PATH`` or
    a malformed manifest line; empty when every file is as exported."""
    manifest = folder / MANIFEST
    if not folder.is_dir():
        return [f"{folder}: no such folder"]
    if not manifest.is_file():
        return [f"missing: {MANIFEST} (not an archive package, or its manifest was removed)"]
    problems: list[str] = []
    listed: dict[str, str] = {}
    base = folder.resolve()
    for n, line in enumerate(manifest.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            problems.append(f"{MANIFEST}:{n}: not a sha256sum line")
            continue
        digest, rel = m.groups()
        target = (folder / rel).resolve()
        if not target.is_relative_to(base) or rel == MANIFEST:
            problems.append(f"{MANIFEST}:{n}: {rel} is outside the package")
            continue
        listed[rel] = digest
    for rel, digest in sorted(listed.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"missing: {rel}")
        elif _sha256(path.read_bytes()) != digest:
            problems.append(f"changed: {rel}")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel != MANIFEST and rel not in listed:
            problems.append(f"extra: {rel}")
    return problems
