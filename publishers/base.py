"""What every publisher is, and the registry that finds them.

A publisher turns a rendered message into a publication on one channel. It is a class with:

- ``name``: the word used in a channel's ``publisher:`` setting;
- ``Settings``: a pydantic model of its channel settings (validated by ``samverkan validate``);
- ``parts``: which templates it needs rendered, part name → template file under
  ``content/templates``;
- ``__init__(channel)``: takes a :class:`Channel`;
- ``payload(message)``: builds exactly what would be sent, with no I/O (``preview`` shows it);
- ``publish(payload, delivery_id, journal)``: sends it and returns a :class:`Receipt`, or raises
  :class:`TransientError` (try again later) or :class:`PermanentError` (a person must act).

These are optional (the core looks them up with ``getattr``, never by publisher name):

- ``check()``: read-only checks of the channel (credentials valid, server reachable, folder
  writable) as a list of :class:`CheckResult`, run by ``samverkan doctor`` and by the daemon
  ahead of each delivery. Nothing may be published or sent. Without it: nothing to check.
- ``notify(to, subject, text)``: send a short plain-text notice to people (the mailer does);
  alerts go through it. Without it the channel cannot carry alerts.
- ``rehearsal(folder)``: a publisher of the same channel for ``samverkan rehearse``: it
  writes under ``folder`` (its channel: ``self.channel.rehearsal(settings)``), with no
  credentials and never touching the network. Without it the rehearsal writes each
  payload's files into ``folder``.
- ``finish()``: called once at the end of a rehearsal on every publisher that has it (the
  rss rehearsal writes its feed there, once, instead of at every delivery).
- ``press`` (class attribute, default False): True for a press channel (the mailer). An
  embargoed message reaches a press channel at its ``at``, marked with the embargo; every
  other channel is public and gets it only when the embargo ends.
- ``files(settings)`` (a static or class method): the files a channel's settings refer to
  that must exist, as (setting name, path relative to the root) pairs; ``samverkan
  validate`` reports a missing one at its setting in config.yaml, and one outside the
  plan's folder (see :func:`plan_file`).
- ``outputs(settings)`` (a static or class method): the files and folders a channel
  writes (a feed, an outbox), as (setting name, path relative to the root) pairs;
  ``samverkan validate`` reports one that lies outside the plan's folder.
- ``file_problems(settings, root)`` (a static or class method): what is wrong inside those
  files (the press list's bad lines), as (file, line, column, message); ``samverkan
  validate`` reports each as an error.

A file the plan names (a message's image, a logo, a press list) is read only through
:func:`plan_file`, by the core and by publishers alike: it must lie inside the plan's
folder once symlinks are followed, be a regular file under a size limit and, for an
image, be a PNG, JPEG or GIF by its content. ``validate`` reports one that is not; the
readers refuse it all the same, should validation have been skipped or the file changed.

Publishers import their heavy libraries inside ``publish`` so that ``validate`` stays light.
``publishers/rss.py`` is the simplest and the one to copy.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Annotated, Callable, ClassVar, Literal, Mapping, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict

ENTRY_POINT_GROUP = "samverkan.publishers"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ENV_ANY = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _env_ref(value: str) -> str:
    if not _ENV_REF.match(value):
        raise ValueError(
            "secrets are never written in YAML: put it in an environment variable and "
            "write ${NAME} here"
        )
    return value


EnvRef = Annotated[str, AfterValidator(_env_ref)]
"""A setting that must name an environment variable as ``${NAME}`` (tokens, passwords)."""


def expand(value: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """Replace ``${NAME}`` by the environment's value; None if a named variable is unset."""
    if value is None:
        return None
    env = os.environ if env is None else env
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        if m.group(1) not in env or env[m.group(1)] == "":
            missing = True
            return ""
        return env[m.group(1)]

    out = _ENV_ANY.sub(sub, value)
    return None if missing else out


def unset_names(value: str | None, env: Mapping[str, str] | None = None) -> list[str]:
    """The variables ``value`` names as ``${NAME}`` that are unset or empty in ``env``."""
    env = os.environ if env is None else env
    return [name for name in _ENV_ANY.findall(value or "") if not env.get(name)]


def env_name(value: str | None) -> str | None:
    m = _ENV_REF.match(value or "")
    return m.group(1) if m else None


# --- what the channels can carry ---------------------------------------------------------

# Outside XML 1.0's Char production: the feed cannot hold these at all (lxml refuses the
# whole document), and control characters and lone surrogates break mail and the Graph API
# too. YAML lets them in through escapes in double quotes ("\v", "\0", "\uFFFE").
_UNCARRIABLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What str.splitlines() and the e-mail headers take as the end of a line.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _character(c: str) -> str:
    if "\ud800" <= c <= "\udfff":
        kind = "half a character (a lone surrogate)"
    else:
        kind = "a control character" if ord(c) < 0x20 else "a character that is not text"
    return f"{kind}, U+{ord(c):04X},"


def uncarriable(text: str) -> str | None:
    """Why ``text`` cannot be published on any channel (a character XML 1.0 forbids: the
    feed, mail and Facebook cannot carry it), or None."""
    m = _UNCARRIABLE.search(text)
    if m is None:
        return None
    return (f"character {m.start() + 1} is {_character(m.group())} which no channel can carry; "
            "remove it (in the file, an escape in double quotes such as \\v, \\0 or \\uFFFE)")


def breaks_line(text: str) -> bool:
    """Whether ``text`` has a line break of any kind (a header must be one line)."""
    return _LINE_BREAK.search(text) is not None


def mail_address(value: str) -> str:
    """The one well-formed e-mail address ``value`` is, as it is sent (an international
    domain name in its ASCII form); ValueError saying what is wrong otherwise. A name
    beside the address ("Name <a@b.se>") is not an address: see :func:`mailbox`."""
    from email_validator import EmailNotValidError, validate_email

    try:
        # No SMTPUTF8: an address that needs it fails at most servers, better said now.
        found = validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as e:
        reason = str(e).rstrip(".")
        raise ValueError(f"'{value}' is not one e-mail address ({reason[:1].lower()}{reason[1:]})") from None
    return str(found.ascii_email)


def mailbox(value: str) -> tuple[str, str]:
    """(display name, address) of ``"Name <a@b.se>"`` or ``a@b.se``: exactly one address,
    ValueError otherwise (two, none, or one that is not well formed)."""
    from email import policy

    if breaks_line(value) or uncarriable(value):
        raise ValueError(f"{value!r} is not one e-mail address: it has a line break or a control character")
    header = policy.SMTP.header_factory("From", value)
    if len(header.addresses) != 1 or header.defects:
        raise ValueError(f"'{value}' is not one e-mail address; write e.g. \"Trygg i Hultsfred <trygghet@kommun.se>\"")
    found = header.addresses[0]
    return found.display_name, mail_address(found.addr_spec)


def web_link(url: str) -> bool:
    """Whether ``url`` is an http(s) address with a host: the only links published
    (``javascript:``, ``data:`` or ``file:`` would run or read something in the reader's
    browser)."""
    from urllib.parse import urlsplit

    if uncarriable(url) or breaks_line(url) or url != url.strip():
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def private_folder(folder: Path) -> Path:
    """``folder``, with every missing folder on the way made readable by its owner only
    (0700) whatever the umask; folders that exist keep their mode."""
    return _folders(folder, 0o700)


def _folders(folder: Path, mode: int) -> Path:
    missing: list[Path] = []
    p = Path(folder)
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another process (or a file: the next mkdir says so)
        os.chmod(p, mode)  # a umask can take bits off mkdir's mode, even the owner's
    return folder


def _write_in_place(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # whatever the umask, and a file that existed too
        f.write(data)


def write_private(path: Path, data: bytes) -> None:
    """``data`` into ``path``, readable by its owner only (0600), in place; missing folders
    are made as :func:`private_folder` makes them."""
    private_folder(path.parent)
    _write_in_place(path, data, 0o600)


def public_image_name(name: str, data: bytes) -> str:
    """The file name an image is published under: its own, with a digest of its bytes,
    so that a corrected picture gets a new address and old items keep the old one."""
    import hashlib

    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"{stem}-{digest}.{suffix}" if dot else f"{name}-{digest}"


def write_atomic(path: Path, data: bytes, *, durable: bool = True, public: bool = False) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old file or the new
    one, never half of one, and no temp file is left behind.

    The file is readable by its owner only (0600), and missing folders are made so (0700),
    whatever the umask: an outbox holds unpublished, possibly embargoed text. ``public``
    is for what a web server must read (a feed): 0644, and missing folders 0755.

    ``durable=False`` is for a rehearsal's files, which nobody reads while they are
    written and which need not survive a power cut: written in place, one file operation."""
    mode = 0o644 if public else 0o600
    _folders(path.parent, 0o755 if public else 0o700)
    if not durable:
        _write_in_place(path, data, mode)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if public:
            os.chmod(tmp, mode)  # mkstemp makes it 0600; a web server must read a feed
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


MAX_IMAGE_BYTES = 4 * 1024 * 1024
"""The largest image a message or logo may have: Facebook's limit for a photo (4 MB)."""
MAX_PLAN_FILE_BYTES = 4 * 1024 * 1024
"""The largest other file the plan names (a press list: 10,000 lines are under 1 MB)."""
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
               b"GIF87a": "image/gif", b"GIF89a": "image/gif"}
"""The images every channel takes (e-mail, the feed's enclosure, Facebook), by the bytes
they start with."""


@dataclass(frozen=True)
class PlanFile:
    """A file of the plan that may be read (see :func:`plan_file`)."""

    path: Path  # resolved
    size: int
    mime: str | None  # an image's type, by its content
    data: bytes | None  # its bytes, when they were asked for


def plan_file(root: Path, name: str | os.PathLike[str], *, image: bool = False, read: bool = True) -> PlanFile:
    """The file ``name`` (relative to the plan's folder ``root``, or absolute) if it may be
    read as part of the plan: inside ``root`` once symlinks are followed, a regular file,
    at most :data:`MAX_IMAGE_BYTES` (an image, which must also be one of
    :data:`IMAGE_TYPES` by its content) or :data:`MAX_PLAN_FILE_BYTES`; with ``read``,
    its bytes. :class:`PlanFileError` otherwise, saying what to do.

    This is what keeps ``image: {path: /proc/self/environ}`` (or ``../../etc/passwd``, or a
    symlink out of ``content/``) from mailing the daemon's secrets to the press."""
    if "\0" in os.fspath(name):  # (the OS would refuse it with a ValueError)
        raise PlanFileError(f"{os.fspath(name)!r} holds a NUL character; write the file's name as it is")
    base = root.resolve()
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        raise PlanFileError(f"'{os.fspath(name)}' is a symlink that leads back to itself; name the file itself") from None
    named = Path(os.path.normpath(base / name))  # where it seems to be, before symlinks
    # (as the plan names it: a publisher is given absolute paths)
    shown = named.relative_to(base).as_posix() if named.is_relative_to(base) else os.fspath(name)
    if not path.is_relative_to(base):
        how = " through a symlink" if named.is_relative_to(base) else ""
        raise PlanFileError(
            f"'{shown}' leads outside the plan's folder{how}; put the file under content/ and "
            "name it relative to the folder of config.yaml"
        )
    limit = MAX_IMAGE_BYTES if image else MAX_PLAN_FILE_BYTES
    try:
        # Not a pipe's writer waited for (O_NONBLOCK), not a symlink swapped in since resolve().
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise PlanFileError(f"no {'image ' if image else ''}file '{shown}' (paths are relative to the folder of config.yaml)") from None
    except OSError as exc:
        raise PlanFileError(f"cannot read '{shown}': {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PlanFileError(f"'{shown}' is not a regular file; name a file under content/")
        if st.st_size > limit:
            raise PlanFileError(
                f"'{shown}' is {-(-st.st_size * 10 // 2**20) / 10} MB, over the {limit // 2**20} MB "
                + ("an image may be (Facebook's limit for a photo); make the picture smaller" if image
                   else "a file of the plan may be")
            )
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1) if read else f.read(16)
    except OSError as exc:
        raise PlanFileError(f"cannot read '{shown}': {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if read and len(data) > limit:  # grew since fstat
        raise PlanFileError(f"'{shown}' is over the {limit // 2**20} MB a file of the plan may be")
    mime = None
    if image:
        mime = next((m for magic, m in IMAGE_TYPES.items() if data.startswith(magic)), None)
        if mime is None:
            raise PlanFileError(
                f"'{shown}' is not a PNG, JPEG or GIF image (by its content, whatever its name); "
                "save the picture as PNG or JPEG"
            )
    return PlanFile(path, st.st_size, mime, data if read else None)


class Settings(BaseModel):
    """Base of every publisher's settings model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    publisher: str


class Halt(Protocol):
    """What :attr:`Channel.stop` may be: something to ask whether to stop now."""

    def is_set(self) -> bool: ...


@dataclass
class Channel:
    """One configured channel, as a publisher sees it."""

    name: str
    settings: Any
    root: Path
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    durable: bool = True  # False in a rehearsal: files are written without fsync
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc), compare=False)
    """The time for checks that depend on it (``--now``: a Graph API version ending soon)."""
    stop: threading.Event | Halt | None = None
    """Set when the daemon is stopping (SIGTERM, SIGINT) or the channel is paused: a
    publisher that sends in steps (the mailer, a recipient at a time) or waits (for its
    sending rate, for Instagram's container) looks at ``stop.is_set()`` between them, and
    leaves the rest for the next attempt."""

    def path(self, relative: str) -> Path:
        """A setting's path: relative ones are relative to the plan's folder."""
        # normpath, not resolve(): no symlink walk (a stat per part) on every delivery.
        return Path(os.path.normpath(self.root.absolute() / relative))

    def outbox(self, setting: str | None) -> str:
        """The folder a channel without a token or server writes to: its ``outbox``
        setting, else ``outbox/<channel>``."""
        return setting or f"outbox/{self.name}"

    def rehearsal(self, settings: Any) -> Channel:
        """This channel in a rehearsal, with ``settings``: no environment (no secrets),
        files written without fsync."""
        return Channel(self.name, settings, self.root, {}, durable=False, clock=self.clock)


@dataclass
class Payload:
    """Exactly what goes out: JSON-able fields and the files a preview writes."""

    fields: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Receipt:
    external_id: str | None = None
    url: str | None = None
    note: str | None = None  # e.g. "written to outbox/press (no SMTP host configured)"


class PublishError(Exception):
    """A publication did not happen; the message is for a person and never holds a secret."""


class TransientError(PublishError):
    """Try again later: nothing or not everything was sent."""

    retry_after: timedelta | None = None
    """How long to wait when the platform said (Meta's estimated_time_to_regain_access):
    used instead of the generic backoff."""


class UncertainError(TransientError):
    """The publication may exist; look before trying again."""


class UnsettledError(PublishError):
    """Some of it may have gone out and the publisher cannot look (a mail server that took
    the message but never said so): the delivery is ``unknown`` until a person settles it."""


class PermanentError(PublishError):
    """Will not work until a person acts."""

    hold_channel: bool = False
    """True when the channel itself is blocked for now: the delivery is held, not failed."""


class OutcomeUnknown(PermanentError):
    """After an uncertain attempt, looking could not tell whether the publication exists:
    the delivery becomes ``unknown`` for a person to settle, and is never sent again by
    itself."""


class PlanFileError(PermanentError):
    """A file the plan names may not be read (see :func:`plan_file`); the message says why
    and what to do, and never holds the file's content."""


@dataclass(frozen=True)
class CheckResult:
    """One finding of a channel check: ``ok``, ``warn`` (works, but look at it) or ``fail``
    (publishing would fail). ``message`` says what was found, ``fix`` what to do about it;
    neither ever holds a secret."""

    status: Literal["ok", "warn", "fail"]
    message: str
    fix: str | None = None
    what: str = ""
    """A short name of what was checked: ``token``, ``smtp``, ``press list``, ``output``..."""

    @classmethod
    def ok(cls, what: str, message: str) -> CheckResult:
        return cls("ok", message, None, what)

    @classmethod
    def warn(cls, what: str, message: str, fix: str | None = None) -> CheckResult:
        return cls("warn", message, fix, what)

    @classmethod
    def fail(cls, what: str, message: str, fix: str | None = None) -> CheckResult:
        return cls("fail", message, fix, what)

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "status": self.status, "message": self.message, "fix": self.fix}


class Journal(Protocol):
    """The ledger as one delivery's publisher sees it.

    A publisher that sends in several parts (the mailer: one part per recipient) records
    each part's state here, so a retry sends only what did not go out, and a crash between
    sending and recording leaves that part ``in_flight`` (unknown), never re-sent.
    """

    def part_state(self, part: str) -> str | None:
        """``None``, ``queued`` (not tried yet), ``in_flight``, ``sent``, ``deferred`` (retry),
        ``refused`` (permanent) or ``unknown`` (it may have gone out: a person settles it)."""

    def set_part(self, part: str, state: str, detail: str | None = None) -> None: ...

    def queue_parts(self, parts: list[str]) -> None:
        """Record ``parts`` as ``queued`` in one write, before any is sent (those with a
        state keep it): after a crash the ledger names the ones never tried."""

    def part_detail(self, part: str) -> str | None:
        """What was recorded with the part's state (e.g. when an attempt started)."""

    def published(self, limit: int) -> list[dict[str, Any]]:
        """The payload fields of this channel's published deliveries, newest first."""


class Publisher(Protocol):
    name: ClassVar[str]
    Settings: ClassVar[type[Settings]]
    parts: ClassVar[Mapping[str, str]]

    def __init__(self, channel: Channel) -> None: ...

    def payload(self, message: Any) -> Payload:
        """Exactly what ``publish`` will send, built without I/O (``preview`` writes it)."""

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        """Send it; raise TransientError, UncertainError or PermanentError otherwise.

        After an UncertainError the same delivery comes back with its journal showing an
        attempt in flight: a publisher whose post may exist looks for it before sending
        again (see publishers/facebook.py)."""

    def outbox(self) -> bool:
        """True when publishing writes to a local folder (no credentials configured)."""

    # Optional, see the module's docstring:
    #   check(self) -> list[CheckResult]          read-only checks (default: nothing to check)
    #   notify(self, to, subject, text) -> str    alerts to people
    #   rehearsal(self, folder: Path) -> Publisher  the same channel, writing under folder
    #   finish(self) -> None                      the end of a rehearsal
    #   press: ClassVar[bool]                     a press channel (default False: public)
    #   idempotent: ClassVar[bool]                publishing again is harmless (a crash mid-way
    #                                             is redone, not left unknown for a person)
    #   max_chars: ClassVar[int]                  the channel's text limit, checked by validate
    #   label: ClassVar[str]                      what the channel is, for people (previews)
    #   files(settings) -> list[tuple[str, str]]  (setting, relative path) that must exist
    #   file_problems(settings, root) -> list[tuple[str, int, int, str]]  errors inside those files


class MemoryJournal:
    """A journal kept in memory: for previews, dry runs and tests."""

    def __init__(self, published: list[dict[str, Any]] | None = None) -> None:
        self.parts: dict[str, tuple[str, str | None]] = {}
        self._published = list(published or [])

    def part_state(self, part: str) -> str | None:
        return self.parts.get(part, (None, None))[0]

    def set_part(self, part: str, state: str, detail: str | None = None) -> None:
        self.parts[part] = (state, detail)

    def queue_parts(self, parts: list[str]) -> None:
        for part in parts:
            self.parts.setdefault(part, ("queued", None))

    def part_detail(self, part: str) -> str | None:
        return self.parts.get(part, (None, None))[1]

    def published(self, limit: int) -> list[dict[str, Any]]:
        return self._published[:limit]


_registry: dict[str, type[Publisher]] | None = None


def _discover() -> dict[str, type[Publisher]]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def registry() -> dict[str, Any]:
    """Publisher name → entry point (loaded lazily by :func:`get`)."""
    global _registry
    if _registry is None:
        _registry = _discover()
    return _registry


def register(name: str, cls: type[Publisher]) -> None:
    """Register a publisher class directly (tests, or embedding samverkan)."""
    registry()[name] = cls


def get(name: str) -> type[Publisher]:
    """The publisher class named ``name``; KeyError with the installed names otherwise."""
    reg = registry()
    if name not in reg:
        installed = ", ".join(sorted(reg)) or "none"
        raise KeyError(f'no publisher named "{name}"; installed: {installed}')
    item = reg[name]
    if not isinstance(item, type):
        item = item.load()
        reg[name] = item
    return item
