"""Sign-in links, sessions and CSRF tokens of the desk, kept in the ledger.

Only the SHA-256 of a link's or a session's token is stored: someone who reads the ledger
(a backup, the archive's source) learns who signed in when, but cannot sign in. A link is
good once, for :data:`LINK_LIFETIME`; an address gets at most :data:`LINKS_PER_WINDOW`
links in that time, known to the desk or not, so the answer tells nobody which addresses
are.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from ..ledger import Ledger

LINK_LIFETIME = timedelta(minutes=15)
LINKS_PER_WINDOW = 3
SESSION_LIFETIME = timedelta(hours=12)


class RateLimited(Exception):
    """Too many sign-in links asked for one address within :data:`LINK_LIFETIME`."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def request_link(ledger: Ledger, email: str, now: datetime, *, known: bool) -> str | None:
    """A new sign-in token for ``email`` (None for an address the desk does not know, which
    is counted all the same); RateLimited past the limit."""
    email = email.strip().lower()
    token = secrets.token_urlsafe(32) if known else None
    with ledger.transaction() as db:
        recent = db.execute("SELECT COUNT(*) FROM desk_links WHERE email = ? AND created_at > ?",
                            (email, _iso(now - LINK_LIFETIME))).fetchone()[0]
        if recent >= LINKS_PER_WINDOW:
            raise RateLimited(email)
        db.execute("INSERT INTO desk_links (token_hash, email, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (_hash(token) if token else None, email, _iso(now), _iso(now + LINK_LIFETIME)))
    return token


def check_link(ledger: Ledger, token: str, now: datetime) -> str | None:
    """Why the link cannot be used (``unknown``, ``used``, ``expired``), or None if it can."""
    rows = ledger.read("SELECT expires_at, used_at FROM desk_links WHERE token_hash = ?", (_hash(token),))
    if not rows:
        return "unknown"
    if rows[0]["used_at"]:
        return "used"
    if datetime.fromisoformat(rows[0]["expires_at"]) <= now:
        return "expired"
    return None


def use_link(ledger: Ledger, token: str, now: datetime) -> tuple[str | None, str | None]:
    """(the address, None) for a good link, which is used up; else (None, why not)."""
    with ledger.transaction() as db:
        r = db.execute("SELECT seq, email, expires_at, used_at FROM desk_links WHERE token_hash = ?",
                       (_hash(token),)).fetchone()
        if r is None:
            return None, "unknown"
        if r["used_at"]:
            return None, "used"
        if datetime.fromisoformat(r["expires_at"]) <= now:
            return None, "expired"
        db.execute("UPDATE desk_links SET used_at = ? WHERE seq = ?", (_iso(now), r["seq"]))
        return str(r["email"]), None


def open_session(ledger: Ledger, email: str, now: datetime) -> str:
    """A new session's token (for the cookie)."""
    token = secrets.token_urlsafe(32)
    with ledger.transaction() as db:
        db.execute("INSERT INTO desk_sessions (token_hash, email, created_at, expires_at) VALUES (?, ?, ?, ?)",
                   (_hash(token), email, _iso(now), _iso(now + SESSION_LIFETIME)))
    return token


def session_email(ledger: Ledger, token: str, now: datetime) -> str | None:
    """Who the session cookie ``token`` belongs to, if it is open and not expired."""
    rows = ledger.read("SELECT email, expires_at, ended_at FROM desk_sessions WHERE token_hash = ?", (_hash(token),))
    if not rows or rows[0]["ended_at"] or datetime.fromisoformat(rows[0]["expires_at"]) <= now:
        return None
    return str(rows[0]["email"])


def close_session(ledger: Ledger, token: str, now: datetime) -> None:
    with ledger.transaction() as db:
        db.execute("UPDATE desk_sessions SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL",
                   (_iso(now), _hash(token)))


def new_secret() -> str:
    """The value of a visitor's CSRF cookie before they sign in."""
    return secrets.token_urlsafe(32)


def csrf_token(secret: str) -> str:
    """The token forms carry, derived from the session's (or the visitor's) cookie: another
    site can neither read it nor work it out, and the ledger's hashes do not give it."""
    return hmac.new(secret.encode(), b"samverkan desk csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str | None, token: str | None) -> bool:
    return bool(secret and token) and hmac.compare_digest(csrf_token(secret or ""), token or "")
