"""The ledger: what happened to every delivery, in SQLite (WAL, synchronous=FULL).

YAML is the truth of what should happen; the ledger is the truth of what did. Every state
change is one ``BEGIN IMMEDIATE`` transaction, so two processes (the daemon and a person
running ``publish``) never both send the same delivery. Every published payload is kept
exactly as sent (the public-records archive); nothing is ever deleted by the tool.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Collection, Iterator

# The note of a delivery held because the platform has blocked its channel for now
# (Facebook's 368): it and the channel's next deliveries wait for a person (see blocked).
BLOCKED_NOTE = "the channel is blocked"

# Each entry migrates from version i to i+1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        campaign TEXT NOT NULL,
        message TEXT NOT NULL,
        channel TEXT NOT NULL,
        publisher TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL,
        content_hash TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_retry TEXT,
        uncertain INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        external_id TEXT,
        url TEXT,
        note TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        published_at TEXT,
        payload TEXT
    );
    CREATE INDEX deliveries_feed ON deliveries (channel, state, published_at);
    CREATE INDEX deliveries_state ON deliveries (state, due_at);
    CREATE TABLE archive (
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        name TEXT NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (delivery_id, attempt, name)
    );
    CREATE TABLE parts (
        delivery_id TEXT NOT NULL,
        part TEXT NOT NULL,
        state TEXT NOT NULL,
        detail TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (delivery_id, part)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX events_delivery ON events (delivery_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE approvals (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        party TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        note TEXT,
        content_hash TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX approvals_message ON approvals (message_id, content_hash);
    """,
    # Alerts told to a person (samverkan.alerts): an event is alerted once while it is open.
    """
    CREATE TABLE alerts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        fix TEXT,
        at TEXT NOT NULL,
        state TEXT NOT NULL,
        sent_at TEXT,
        resolved_at TEXT,
        last_error TEXT
    );
    CREATE INDEX alerts_open ON alerts (key, resolved_at);
    CREATE INDEX alerts_state ON alerts (state);
    """,
    # The press desk (samverkan.desk, samverkan.pauses, samverkan.approvalmail): who signed
    # what and how, requests for changes (verdict 'changes'), pauses, sign-in links and
    # sessions (only the hashes of their tokens), and the approval mails sent.
    """
    ALTER TABLE approvals ADD COLUMN verdict TEXT NOT NULL DEFAULT 'approve';
    ALTER TABLE approvals ADD COLUMN person TEXT;
    ALTER TABLE approvals ADD COLUMN way TEXT NOT NULL DEFAULT 'cli';
    ALTER TABLE approvals ADD COLUMN os_user TEXT;
    CREATE TABLE pauses (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        action TEXT NOT NULL,
        channel TEXT,
        reason TEXT,
        by TEXT NOT NULL,
        person TEXT,
        way TEXT NOT NULL,
        os_user TEXT,
        at TEXT NOT NULL
    );
    CREATE TABLE desk_links (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash TEXT UNIQUE,
        email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX desk_links_email ON desk_links (email, created_at);
    CREATE TABLE desk_sessions (
        token_hash TEXT PRIMARY KEY,
        email TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ended_at TEXT
    );
    CREATE TABLE approval_mails (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        message_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at TEXT NOT NULL,
        note TEXT
    );
    """,
]

# How many tries of a delivery that is harmless to send again (the RSS file) a process may
# die in before the delivery is left unknown instead of tried again at the next start.
REDO_LIMIT = 3

STATES = ("pending", "in_flight", "published", "failed", "unknown", "missed", "held")

# The states of a part (a press recipient) as groups a person reads: it got it, it may
# have (only a person can tell), it has not been sent it yet, or the server refused it.
UNCERTAIN_PARTS = ("in_flight", "unknown")
UNSENT_PARTS = ("queued", "deferred")
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "got_it": ("sent",),
    "uncertain": UNCERTAIN_PARTS,
    "never_tried": ("queued",),
    "not_received": ("deferred",),  # tried, and surely not delivered: sent again
    "refused": ("refused",),
}
PART_WORDS = {"sent": "got it", "queued": "was never tried", "deferred": "did not get it (it is sent again)",
              "refused": "was refused by the server"}
SETTLED_RECEIVED = "settled by hand: received"
STOPPED_WHILE_SENDING = "the sending stopped while it was being sent: it may have got it"
SETTLED_NOT_RECEIVED = "settled by hand: not received"


def part_groups(parts: dict[str, tuple[str, str | None]]) -> dict[str, list[tuple[str, str | None]]]:
    """A delivery's parts (``Ledger.parts``) by group of :data:`PART_GROUPS`: (part, detail)."""
    groups: dict[str, list[tuple[str, str | None]]] = {g: [] for g in PART_GROUPS}
    for part, (state, detail) in sorted(parts.items()):
        for group, states in PART_GROUPS.items():
            if state in states:
                groups[group].append((part, detail))
    return groups


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_only(path: Path, *, create: bool) -> None:
    """Make ``path`` (0600) if ``create`` and it is missing; take the group's and others'
    access off one of ours that has it."""
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.fchmod(fd, 0o600)  # whatever the umask (an empty file is an empty database)
            os.close(fd)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(path, st.st_mode & 0o700)


def ledger_trouble(exc: sqlite3.Error, path: Path, retry: timedelta | None = None) -> str:
    """What is wrong with the ledger, and what a person does about it, in one line."""
    text = str(exc)
    again = (f"; nothing is sent meanwhile, and the daemon tries again every {int(retry.total_seconds())} s"
             if retry is not None else "; nothing was sent")
    if "full" in text:
        return f"cannot write the ledger {path}: the disk is full ({text}); free space on that disk" + again
    if "malformed" in text or "not a database" in text:
        return (f"the ledger {path} is damaged ({text}); stop the daemon, repair it (sqlite3 {path} \".recover\") "
                "or restore it from a backup, then start the daemon again" + again)
    if "I/O error" in text:
        return (f"cannot write the ledger {path}: {text} (a full disk, a limit on file sizes or a failing disk); "
                "check the free space (df) and the disk") + again
    return f"cannot use the ledger {path}: {text}; check the disk and the file's permissions" + again


def _owner_alive(owner: str | None) -> bool:
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's process: we cannot tell, so assume it lives
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


@dataclass
class Row:
    id: str
    campaign: str
    message: str
    channel: str
    publisher: str
    due_at: datetime
    state: str
    content_hash: str | None
    attempts: int
    next_retry: datetime | None
    uncertain: bool
    owner: str | None
    external_id: str | None
    url: str | None
    note: str | None
    last_error: str | None
    updated_at: datetime
    published_at: datetime | None
    payload: dict[str, Any] | None

    @classmethod
    def of(cls, r: sqlite3.Row, payload: bool = True) -> Row:
        def dt(v: str | None) -> datetime | None:
            return datetime.fromisoformat(v) if v else None

        return cls(
            r["id"], r["campaign"], r["message"], r["channel"], r["publisher"],
            datetime.fromisoformat(r["due_at"]), r["state"], r["content_hash"], r["attempts"],
            dt(r["next_retry"]), bool(r["uncertain"]), r["owner"], r["external_id"], r["url"],
            r["note"], r["last_error"], datetime.fromisoformat(r["updated_at"]),
            dt(r["published_at"]), json.loads(r["payload"]) if payload and r["payload"] else None,
        )

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k, v in d.items():
            if isinstance(v, datetime):
                d[k] = v.isoformat()
        d.pop("payload", None)
        d.pop("owner", None)
        return d


class Conflict(Exception):
    """The delivery is not in a state that allows this change."""


class Ledger:
    """One SQLite file. Safe to share between threads; other processes coordinate through
    SQLite's own locking (``BEGIN IMMEDIATE``)."""

    def __init__(self, path: Path, *, durable: bool = True):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._batch_every = 0  # > 0 inside batch()
        self._batched = 0
        try:
            from publishers.base import private_folder

            # Journalists' addresses and embargoed texts: the owner's only. SQLite makes
            # the -wal and -shm files with the database file's mode.
            private_folder(self.path.parent)
            _owner_only(self.path, create=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            for suffix in ("-wal", "-shm"):  # left by an older version with the umask's mode
                _owner_only(Path(f"{self.path}{suffix}"), create=False)
            # A rehearsal's throw-away ledger need not survive a power cut; the real one must.
            self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            from .problems import SamverkanError

            if isinstance(exc, sqlite3.DatabaseError) and any(w in str(exc) for w in ("malformed", "not a database", "full")):
                raise SamverkanError(ledger_trouble(exc, self.path)) from None
            why = getattr(exc, "strerror", None) or str(exc)
            raise SamverkanError(
                f"cannot open the ledger {self.path}: {why}; check state: in config.yaml, and that the "
                "folder exists, is a folder and may be written by this user"
            ) from None

    def check(self) -> None:
        """SQLite's own check of the whole file (``PRAGMA quick_check``); the damage as a
        sqlite3.DatabaseError, as reading a damaged page raises it."""
        with self._lock:
            found = [r[0] for r in self._db.execute("PRAGMA quick_check").fetchall()]
        if found != ["ok"]:
            raise sqlite3.DatabaseError(f"database disk image is malformed ({'; '.join(found[:3])})")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One state change, all or nothing. Inside :meth:`batch` it is a savepoint of the
        batch's transaction, which commits every so many changes."""
        with self._lock:
            if self._batch_every:
                self._db.execute("SAVEPOINT change")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK TO change")
                    self._db.execute("RELEASE change")
                    raise
                self._db.execute("RELEASE change")
                self._batched += 1
                if self._batched >= self._batch_every:
                    self._db.execute("COMMIT")
                    self._db.execute("BEGIN IMMEDIATE")
                    self._batched = 0
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    @contextmanager
    def batch(self, every: int = 500) -> Iterator[None]:
        """Group many changes into few commits, for a ledger no one else writes (a
        rehearsal's): a commit per change rewrites the same pages thousands of times."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._batch_every, self._batched = every, 0
        try:
            yield
        finally:
            with self._lock:
                self._batch_every = 0
                self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for i in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[i]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {i + 1}")

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # --- reading --------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Row | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return Row.of(r) if r else None

    def rows(self, *states: str, channel: str | None = None, payloads: bool = False) -> list[Row]:
        """The deliveries (in ``states``, on ``channel``), by time; without their payloads
        unless ``payloads``: decoding every one is most of the time on a long ledger, and
        only the archive reads them."""
        sql, args = "SELECT * FROM deliveries", []
        where = []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += list(states)
        if channel:
            where.append("channel = ?")
            args.append(channel)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY due_at, id"
        with self._lock:
            return [Row.of(r, payloads) for r in self._db.execute(sql, args)]

    def published_payloads(self, channel: str, limit: int) -> list[dict[str, Any]]:
        """The payload fields of a channel's newest published deliveries, newest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT payload FROM deliveries WHERE channel = ? AND state = 'published' "
                "ORDER BY published_at DESC, id DESC LIMIT ?",
                (channel, limit),
            )
            return [json.loads(r[0]) for r in cur if r[0]]

    def archive(self, delivery_id: str) -> dict[str, bytes]:
        """The files of the last published attempt, exactly as sent."""
        with self._lock:
            cur = self._db.execute(
                "SELECT name, content FROM archive WHERE delivery_id = ? AND attempt = "
                "(SELECT MAX(attempt) FROM archive WHERE delivery_id = ?)",
                (delivery_id, delivery_id),
            )
            return {r[0]: bytes(r[1]) for r in cur}

    def parts(self, delivery_id: str) -> dict[str, tuple[str, str | None]]:
        with self._lock:
            cur = self._db.execute("SELECT part, state, detail FROM parts WHERE delivery_id = ? ORDER BY part", (delivery_id,))
            return {r[0]: (r[1], r[2]) for r in cur}

    def events(self, delivery_id: str | None = None, since_seq: int = 0) -> list[dict[str, Any]]:
        sql = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [since_seq]
        if delivery_id:
            sql += " AND delivery_id = ?"
            args.append(delivery_id)
        with self._lock:
            return [dict(r) for r in self._db.execute(sql + " ORDER BY seq", args)]

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """The rows of a read-only query, without taking the write lock (for modules that
        keep a table of their own here, such as :mod:`samverkan.alerts`)."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def meta(self, key: str) -> str | None:
        with self._lock:
            r = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return r[0] if r else None

    def set_meta(self, key: str, value: str, *, only_if_missing: bool = False) -> str:
        """Set ``key``; with ``only_if_missing`` keep an existing value. Returns the value kept."""
        with self.transaction() as db:
            verb = "INSERT OR IGNORE" if only_if_missing else "INSERT OR REPLACE"
            db.execute(f"{verb} INTO meta (key, value) VALUES (?, ?)", (key, value))
            return str(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    # --- writing --------------------------------------------------------------------------

    def _event(self, db: sqlite3.Connection, delivery_id: str, now: datetime, kind: str, detail: str | None) -> None:
        db.execute("INSERT INTO events (delivery_id, at, kind, detail) VALUES (?, ?, ?, ?)", (delivery_id, _iso(now), kind, detail))

    def ensure(self, *, id: str, campaign: str, message: str, channel: str, publisher: str,
               due_at: datetime, now: datetime, state: str = "pending") -> Row:
        """The delivery's row, created in ``state`` if new; an unpublished row follows the
        plan's time when it moved."""
        with self.transaction() as db:
            r = db.execute("SELECT state, due_at FROM deliveries WHERE id = ?", (id,)).fetchone()
            if r is None:
                db.execute(
                    "INSERT INTO deliveries (id, campaign, message, channel, publisher, due_at, state, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (id, campaign, message, channel, publisher, _iso(due_at), state, _iso(now), _iso(now)),
                )
            elif r["state"] in ("pending", "held", "missed", "failed") and r["due_at"] != _iso(due_at):
                # Moved in the YAML: the new time counts, and a missed or failed one gets its
                # chance again then.
                state = "pending" if r["state"] in ("missed", "failed") else r["state"]
                db.execute("UPDATE deliveries SET due_at = ?, state = ?, updated_at = ? WHERE id = ?",
                           (_iso(due_at), state, _iso(now), id))
                if state != r["state"]:
                    self._event(db, id, now, "moved", f"planned again for {_iso(due_at)}")
        row = self.get(id)
        assert row is not None
        return row

    def set_state(self, delivery_id: str, state: str, now: datetime, *, note: str | None = None,
                  expect: tuple[str, ...] | None = None, event: str | None = None) -> bool:
        """Move a delivery to ``state`` (only from ``expect`` states if given)."""
        assert state in STATES
        with self.transaction() as db:
            r = db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if r is None or (expect is not None and r["state"] not in expect):
                return False
            db.execute(
                "UPDATE deliveries SET state = ?, note = COALESCE(?, note), owner = NULL, updated_at = ? WHERE id = ?",
                (state, note, _iso(now), delivery_id),
            )
            self._event(db, delivery_id, now, event or state, note)
        return True

    def begin(self, delivery_id: str, content_hash: str, now: datetime, *, force: bool = False,
              fields: dict[str, Any] | None = None, files: dict[str, bytes] | None = None) -> Row:
        """Mark the delivery ``in_flight`` before anything is sent, keeping the payload about
        to be sent (so a delivery later settled by hand as published is archived too);
        Conflict if it may not be sent."""
        allowed = {"pending", "held", "missed", "failed"}
        if force:
            allowed |= {"published"}
        with self.transaction() as db:
            r = db.execute("SELECT state, owner FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if r is None:
                raise Conflict(f"{delivery_id} is not in the ledger")
            if r["state"] not in allowed:
                raise Conflict(f"{delivery_id} is {r['state']}")
            db.execute(
                "UPDATE deliveries SET state = 'in_flight', owner = ?, content_hash = ?, attempts = attempts + 1, "
                "note = NULL, updated_at = ? WHERE id = ?",
                (owner_token(), content_hash, _iso(now), delivery_id),
            )
            if fields is not None:
                self._keep_payload(db, delivery_id, fields, files or {})
            self._event(db, delivery_id, now, "in_flight", None)
        row = self.get(delivery_id)
        assert row is not None
        return row

    def published(self, delivery_id: str, now: datetime, *, external_id: str | None, url: str | None,
                  note: str | None) -> None:
        """Record the receipt, in one transaction (the payload as sent was kept when sending
        began: ``begin(fields=..., files=...)``)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = 'published', owner = NULL, external_id = ?, url = ?, note = ?, "
                "last_error = NULL, uncertain = 0, next_retry = NULL, published_at = ?, updated_at = ? "
                "WHERE id = ?",
                (external_id, url, note, _iso(now), _iso(now), delivery_id),
            )
            self._event(db, delivery_id, now, "published", url or external_id or note)

    def _keep_payload(self, db: sqlite3.Connection, delivery_id: str, fields: dict[str, Any],
                      files: dict[str, bytes]) -> None:
        """The payload of the current attempt: its fields on the row, its files in the archive."""
        attempts = db.execute("SELECT attempts FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]
        db.execute("UPDATE deliveries SET payload = ? WHERE id = ?",
                   (json.dumps(fields, ensure_ascii=False, sort_keys=True), delivery_id))
        db.execute("DELETE FROM archive WHERE delivery_id = ? AND attempt = ?", (delivery_id, attempts))
        for name, content in files.items():
            db.execute("INSERT INTO archive (delivery_id, attempt, name, content) VALUES (?, ?, ?, ?)",
                       (delivery_id, attempts, name, content))

    def settle(self, delivery_id: str, state: str, now: datetime) -> bool:
        """A person's word on an ``unknown`` delivery: ``published`` (it went out: the payload
        kept when it was sent is its archive; every uncertain part got it) or ``failed`` (it
        may be sent again). Parts never sent stay so: the delivery is then ``failed`` (see
        :meth:`_settled`)."""
        assert state in ("published", "failed")
        with self.transaction() as db:
            r = db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if r is None or r["state"] != "unknown":
                return False
            if state == "published":
                db.execute(
                    f"UPDATE parts SET state = 'sent', detail = ?, updated_at = ? WHERE delivery_id = ? "
                    f"AND state IN ({_quoted(UNCERTAIN_PARTS)})",
                    (SETTLED_RECEIVED, _iso(now), delivery_id),
                )
                self._event(db, delivery_id, now, "resolved", state)
                self._settled(db, delivery_id, now)
                return True
            db.execute(
                "UPDATE deliveries SET state = ?, note = ?, owner = NULL, updated_at = ? WHERE id = ?",
                (state, f"settled by hand as {state}", _iso(now), delivery_id),
            )
            # what was not surely sent may go out again; what was stays sent
            db.execute("DELETE FROM parts WHERE delivery_id = ? AND state != 'sent'", (delivery_id,))
            self._event(db, delivery_id, now, "resolved", state)
        return True

    def settle_part(self, delivery_id: str, part: str, state: str, now: datetime) -> None:
        """A person's word on one uncertain part (a press recipient): ``published`` (they got
        it) or ``failed`` (they did not: it is sent to them with the rest). An ``unknown``
        delivery with no uncertain part left is settled too. Conflict if that cannot be."""
        assert state in ("published", "failed")
        with self.transaction() as db:
            r = db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if r is None:
                raise Conflict(f"no delivery '{delivery_id}' in the ledger")
            if r["state"] == "in_flight":
                raise Conflict(f"{delivery_id} is being sent right now; settle it when that is over")
            p = db.execute("SELECT state FROM parts WHERE delivery_id = ? AND part = ?", (delivery_id, part)).fetchone()
            if p is None:
                uncertain = [x[0] for x in db.execute(
                    f"SELECT part FROM parts WHERE delivery_id = ? AND state IN ({_quoted(UNCERTAIN_PARTS)}) "
                    "ORDER BY part", (delivery_id,))]
                which = f"; uncertain: {', '.join(uncertain)}" if uncertain else "; none of them is uncertain"
                raise Conflict(f"{part} is not among the recipients of {delivery_id}{which}")
            if p["state"] not in UNCERTAIN_PARTS:
                raise Conflict(f"{part} {PART_WORDS.get(p['state'], p['state'])}, it is not uncertain; "
                               "only uncertain recipients are settled by hand")
            new, detail = ("sent", SETTLED_RECEIVED) if state == "published" else ("deferred", SETTLED_NOT_RECEIVED)
            db.execute("UPDATE parts SET state = ?, detail = ?, updated_at = ? WHERE delivery_id = ? AND part = ?",
                       (new, detail, _iso(now), delivery_id, part))
            self._event(db, delivery_id, now, "resolved", f"{part}: {state}")
            if r["state"] == "unknown":
                self._settled(db, delivery_id, now)

    def _settled(self, db: sqlite3.Connection, delivery_id: str, now: datetime) -> None:
        """An ``unknown`` delivery after a person's word on its parts: still ``unknown`` while
        a part is uncertain; ``failed`` while some were not sent it yet (a person sends it on
        to them: ``resolve --send-untried``, never the daemon by itself); else ``published``."""
        states = [x[0] for x in db.execute("SELECT state FROM parts WHERE delivery_id = ?", (delivery_id,))]
        if any(s in UNCERTAIN_PARTS for s in states):
            return
        unsent = sum(s in UNSENT_PARTS for s in states)
        if unsent:
            db.execute(
                "UPDATE deliveries SET state = 'failed', owner = NULL, last_error = NULL, note = ?, updated_at = ? "
                "WHERE id = ?",
                (f"settled by hand; {unsent} not sent it yet: samverkan resolve {delivery_id} --send-untried "
                 "sends it to them", _iso(now), delivery_id),
            )
            return
        db.execute(
            "UPDATE deliveries SET state = 'published', note = 'settled by hand as published', owner = NULL, "
            "uncertain = 0, updated_at = ?, published_at = ? WHERE id = ?",
            (_iso(now), _iso(now), delivery_id),
        )

    def blocked(self, channel: str, exclude: str | None = None) -> str | None:
        """A delivery held because its channel is blocked (``None`` if none is)."""
        with self._lock:
            r = self._db.execute(
                # The pattern written into the statement: bound as a parameter, SQLite
                # evaluates it four times slower, and this runs before every delivery.
                f"SELECT id FROM deliveries WHERE channel = ? AND state = 'held' AND note LIKE '{BLOCKED_NOTE}%' "
                "AND id != ? ORDER BY updated_at LIMIT 1",
                (channel, exclude or ""),
            ).fetchone()
        return r[0] if r else None

    def changes(self) -> tuple[int, int, int]:
        """Grows with every event, approval and pause, whoever wrote it: the daemon's cue to
        look at the ledger again (a retry planned by hand, an approval, a resume)."""
        with self._lock:
            row = self._db.execute(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM approvals), "
                "(SELECT COALESCE(MAX(seq), 0) FROM pauses)"
            ).fetchone()
            return int(row[0]), int(row[1]), int(row[2])

    def failed(self, delivery_id: str, now: datetime, *, error: str, state: str,
               next_retry: datetime | None = None, uncertain: bool = False, note: str | None = None) -> None:
        """Record a failed attempt: ``pending`` with a retry time, or ``failed``/``held``."""
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, owner = NULL, last_error = ?, next_retry = ?, uncertain = ?, "
                "note = ?, updated_at = ? WHERE id = ?",
                (state, error, _iso(next_retry) if next_retry else None, int(uncertain), note, _iso(now), delivery_id),
            )
            self._event(db, delivery_id, now, "retry" if state == "pending" else state, error)

    def set_part(self, delivery_id: str, part: str, state: str, detail: str | None, now: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO parts (delivery_id, part, state, detail, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (delivery_id, part) DO UPDATE SET state = excluded.state, detail = excluded.detail, "
                "updated_at = excluded.updated_at",
                (delivery_id, part, state, detail, _iso(now)),
            )

    def queue_parts(self, delivery_id: str, parts: list[str], now: datetime) -> None:
        """Record ``parts`` as ``queued`` (about to be tried), keeping those with a state."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO parts (delivery_id, part, state, detail, updated_at) VALUES (?, ?, 'queued', NULL, ?)",
                [(delivery_id, part, _iso(now)) for part in parts],
            )

    def clear_parts(self, delivery_id: str) -> None:
        """Forget which parts (recipients, posts) went out: all are sent again (--force)."""
        with self.transaction() as db:
            db.execute("DELETE FROM parts WHERE delivery_id = ?", (delivery_id,))

    def reap(self, now: datetime, *, redo_publishers: tuple[str, ...] = (), everyone: bool = False) -> list[str]:
        """Settle ``in_flight`` rows whose process is gone: ``unknown`` (never silently
        re-sent), or ``pending`` for publishers where sending again is harmless.
        ``everyone``: also rows whose owner looks alive (the daemon at start holds the lock)."""
        settled = []
        with self.transaction() as db:
            for r in db.execute("SELECT id, owner, publisher, attempts FROM deliveries WHERE state = 'in_flight'").fetchall():
                if not everyone and _owner_alive(r["owner"]):
                    continue
                # A delivery whose sending killed the process again and again is not tried
                # once more at every restart: a person looks at it.
                redo = r["publisher"] in redo_publishers and r["attempts"] < REDO_LIMIT
                state = "pending" if redo else "unknown"
                db.execute("UPDATE deliveries SET state = ?, owner = NULL, updated_at = ? WHERE id = ?", (state, _iso(now), r["id"]))
                # A publisher's own detail (when the attempt started) is kept for it.
                db.execute("UPDATE parts SET state = 'unknown', detail = COALESCE(detail, ?), updated_at = ? "
                           "WHERE delivery_id = ? AND state = 'in_flight'", (STOPPED_WHILE_SENDING, _iso(now), r["id"]))
                self._event(db, r["id"], now, "unknown" if state == "unknown" else "redo", "the process publishing it stopped before recording the outcome")
                settled.append(r["id"])
        return settled

    def approve(self, message_id: str, party: str, by: str, note: str | None, content_hash: str, now: datetime, *,
                verdict: str = "approve", person: str | None = None, way: str = "cli", os_user: str | None = None) -> None:
        """Record a party's word on one text: ``approve``, or ``changes`` (a request for
        changes, ``note`` its comment); ``way`` is ``desk`` or ``cli``, ``person`` the
        signed-in person's address, ``os_user`` the operating-system user of a command."""
        assert verdict in ("approve", "changes") and way in ("desk", "cli")
        with self.transaction() as db:
            db.execute(
                "INSERT INTO approvals (message_id, party, approved_by, note, content_hash, at, verdict, person, way, os_user) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, party, by, note, content_hash, _iso(now), verdict, person, way, os_user),
            )

    def approvals(self, message_id: str | None = None) -> list[dict[str, Any]]:
        """Every approval and request for changes ever given (the archive), oldest first."""
        sql = ("SELECT message_id, party, approved_by, note, content_hash, at, verdict, person, way, os_user "
               "FROM approvals")
        args = []
        if message_id:
            sql += " WHERE message_id = ?"
            args.append(message_id)
        with self._lock:
            return [dict(r) for r in self._db.execute(sql + " ORDER BY seq", args)]

    def verdicts(self, message_id: str, content_hash: str) -> dict[str, dict[str, Any]]:
        """Each party's last word on this text: its approval or its request for changes."""
        with self._lock:
            cur = self._db.execute(
                "SELECT party, approved_by, note, at, verdict, person, way, os_user FROM approvals "
                "WHERE message_id = ? AND content_hash = ? ORDER BY seq", (message_id, content_hash)
            )
            return {r["party"]: dict(r) for r in cur}

    def approved_parties(self, message_id: str, content_hash: str, desk_only: Collection[str] = ()) -> set[str]:
        """The parties whose last word on this text is an approval (a later request for
        changes takes it back); for a party in ``desk_only``, an approval on the desk."""
        return {p for p, v in self.verdicts(message_id, content_hash).items()
                if v["verdict"] == "approve" and (p not in desk_only or v["way"] == "desk")}

    def journal(self, delivery_id: str, channel: str, clock: Any) -> LedgerJournal:
        return LedgerJournal(self, delivery_id, channel, clock)


def _quoted(values: tuple[str, ...]) -> str:
    """Constant states written into a statement (never values from outside)."""
    return ", ".join(f"'{v}'" for v in values)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class LedgerJournal:
    """The :class:`publishers.base.Journal` of one delivery, backed by the ledger."""

    def __init__(self, ledger: Ledger, delivery_id: str, channel: str, clock: Any):
        self.ledger, self.delivery_id, self.channel, self.clock = ledger, delivery_id, channel, clock

    @functools.cached_property
    def _parts(self) -> dict[str, tuple[str, str | None]]:  # read when first asked
        return self.ledger.parts(self.delivery_id)

    def part_state(self, part: str) -> str | None:
        return self._parts.get(part, (None, None))[0]

    def set_part(self, part: str, state: str, detail: str | None = None) -> None:
        self.ledger.set_part(self.delivery_id, part, state, detail, self.clock())
        self._parts[part] = (state, detail)

    def queue_parts(self, parts: list[str]) -> None:
        self.ledger.queue_parts(self.delivery_id, parts, self.clock())
        for part in parts:
            self._parts.setdefault(part, ("queued", None))

    def part_detail(self, part: str) -> str | None:
        return self._parts.get(part, (None, None))[1]

    def published(self, limit: int) -> list[dict[str, Any]]:
        return self.ledger.published_payloads(self.channel, limit)
