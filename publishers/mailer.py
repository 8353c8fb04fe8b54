"""Press releases by e-mail over SMTP: one connection, one envelope per journalist.

The payload is the whole RFC 5322 message as bytes (``press.eml``), built so that the
same rendered message sent at the same time always gives the same bytes: the preview
press staff sign off is what every journalist receives, but for the Date, which is the
time of sending. The payload is built when it is sent, and kept in the ledger's archive
as sent. Each recipient gets those bytes in an
envelope of their own, so nobody sees the rest of the press list, and each recipient's
outcome is recorded in the journal, so a retry reaches only those who did not get it.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Literal, Mapping

from pydantic import Field, field_validator, model_validator

from samverkan.rendering import IMAGE_CID, logo_cid

from .base import (
    Channel,
    CheckResult,
    EnvRef,
    Journal,
    Payload,
    PermanentError,
    PlanFileError,
    Receipt,
    Settings,
    TransientError,
    UnsettledError,
    env_name,
    expand,
    mail_address,
    mailbox,
    uncarriable,
    plan_file,
    unset_names,
    write_atomic,
)

if TYPE_CHECKING:
    import smtplib

    from samverkan.rendering import RenderedMessage

# Parts in these states are not sent again: ``in_flight`` and ``unknown`` mean a crash or
# a reply that never came left it open whether the journalist got it, and a duplicate
# press release is worse than asking a person (``samverkan resolve``). ``queued`` (about
# to be tried) and ``deferred`` (tried, surely not delivered) are sent.
_DONE = ("sent", "refused", "in_flight", "unknown")

_PROGRESS_MIN = 20  # lists shorter than this finish before a counter is worth showing
_WAIT_SLICE = 0.2  # seconds: how soon a wait for the sending rate sees the daemon stopping


class MailerSettings(Settings):
    host: str | None = None
    """The SMTP server, or ``${ENV}`` naming it. Not given → press releases go to the outbox;
    a named variable that is unset or empty → publishing fails and says so (never the outbox)."""
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: EnvRef | None = None
    password: EnvRef | None = None
    from_: str = Field(alias="from")
    recipients: str
    outbox: str | None = None
    timeout: float = Field(30.0, gt=0)
    ca_file: str | None = None
    """PEM file of the CA that signed the server's certificate, if not a public one."""
    auth: Literal["password", "xoauth2"] = "password"
    """``password``: AUTH with ``username`` and ``password`` (if given). ``xoauth2``: Microsoft
    365 with OAuth 2.0 (an app registration's client credentials): ``username`` is the
    mailbox it sends as, ``tenant``, ``client_id`` and ``client_secret`` or ``certificate``
    name environment variables (see publishers/m365.py)."""
    tenant: EnvRef | None = None
    client_id: EnvRef | None = None
    client_secret: EnvRef | None = None
    certificate: EnvRef | None = None
    """Names a variable holding the path of a PEM file: the app's private key and its certificate."""
    authority: str | None = None
    """The token endpoint's base; default ``https://login.microsoftonline.com/<tenant>``."""
    rate: float | None = Field(None, gt=0)
    """At most this many messages a minute (Exchange Online accepts 30); the mailer waits
    between messages instead of failing the release."""

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> MailerSettings:
        oauth = [k for k in ("tenant", "client_id", "client_secret", "certificate", "authority") if getattr(self, k)]
        if self.auth == "password":
            if oauth:
                raise ValueError(f"{', '.join(oauth)} belong to auth: xoauth2; set auth: xoauth2 or remove them")
            return self
        missing = [k for k in ("username", "tenant", "client_id") if not getattr(self, k)]
        if missing:
            raise ValueError(f"auth: xoauth2 needs {', '.join(missing)} (each as ${{NAME}})")
        if bool(self.client_secret) == bool(self.certificate):
            raise ValueError("auth: xoauth2 needs either client_secret or certificate (one of them)")
        if self.password:
            raise ValueError("auth: xoauth2 logs in with a token, not a password: remove password")
        if self.security == "none":
            raise ValueError("auth: xoauth2 sends a token, never unencrypted: set security to starttls or tls")
        return self

    @field_validator("from_")
    @classmethod
    def _one_address(cls, value: str) -> str:
        if not uncarriable(value):  # (config.yaml's own check says that)
            mailbox(value)  # every release would fail at the server: say so in validate
        return value


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    outlet: str


def valid_address(address: str) -> bool:
    """One well-formed address with nothing that could break a header (see
    :func:`publishers.base.mail_address`)."""
    try:
        mail_address(address)
    except ValueError:
        return False
    return True


def header_text(value: str) -> str:
    """One line of header text: line breaks and control characters become spaces.

    This is what makes header injection impossible: campaign text can never start a
    header of its own (a title with ``\\nBcc: x@y`` stays in the Subject).
    """
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


@dataclass(frozen=True)
class BadLine:
    """A line of the press list that names nobody who can be sent to."""

    line: int
    col: int
    message: str


class PressListError(PermanentError):
    """The press list as a whole cannot be read: nobody can be sent to."""

    def __init__(self, shown: str, line: int, col: int, message: str):
        self.file, self.line, self.col, self.message = shown, line, col, message
        super().__init__(f"{shown}:{line}: {message}")


@dataclass
class PressList:
    """The press list: who gets the release, and the lines that name nobody (each
    skipped, so one bad line does not keep the release from everyone else)."""

    recipients: list[Recipient]
    bad: list[BadLine]

    def skipped(self, shown: str) -> str:
        """The bad lines, said in one line: for receipts and checks."""
        lines = "; ".join(f"{shown}:{b.line}: {b.message}" for b in self.bad)
        return f"{len(self.bad)} line(s) of the press list skipped ({lines}); fix or remove them"


# A row of the list: its line, where its e-mail address starts (column), and its fields.
_Row = tuple[int, int, dict[str, Any]]


def read_press_list(path: Path, shown: str, root: Path | None = None) -> PressList:
    """The press list from a CSV (``name,email,outlet``) or YAML file (a list of those):
    every line that names nobody is in ``bad``, at its line in the file. An address listed
    twice is kept once. PressListError when the file as a whole cannot be read; with
    ``root``, also when it is not a file of the plan's (see plan_file), and it is read
    only then, in the same step, so a file outside or over the size limit never is."""
    try:
        if root is not None:
            data = plan_file(root, path).data or b""
            text = data.decode("utf-8-sig")  # -sig: lists saved from Excel
        else:
            text = path.read_text(encoding="utf-8-sig")
    except PlanFileError as e:
        raise PressListError(shown, 1, 1, str(e)) from None
    except FileNotFoundError:
        raise PressListError(shown, 1, 1, "the press list does not exist") from None
    except (OSError, UnicodeError) as e:
        raise PressListError(shown, 1, 1, f"cannot read the press list: {e}") from None
    bad: list[BadLine] = []
    rows = _yaml_rows(text, shown, bad) if path.suffix in (".yaml", ".yml") else _csv_rows(text, shown, bad)
    found: dict[str, Recipient] = {}
    for line, col, row in rows:
        email = str(row.get("email") or "").strip()
        try:
            address = mail_address(email)  # (an international domain in its ASCII form)
        except ValueError as e:
            bad.append(BadLine(line, col, f"{e}" if email else "no e-mail address"))
            continue
        name, outlet = (header_text(str(row.get(k) or "")) for k in ("name", "outlet"))
        found.setdefault(address.lower(), Recipient(name, address, outlet))
    return PressList(list(found.values()), sorted(bad, key=lambda b: b.line))


def read_recipients(path: Path, shown: str) -> list[Recipient]:
    """The press list's recipients; PermanentError naming every bad line if it has any
    (``doctor``'s and the tests' strict reading; publishing skips them instead)."""
    press = read_press_list(path, shown)
    if press.bad:
        raise PermanentError("\n".join(f"{shown}:{b.line}: {b.message}" for b in press.bad)
                             + "\nfix or remove these lines of the press list")
    return press.recipients


def _csv_rows(text: str, shown: str, bad: list[BadLine]) -> list[_Row]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        names = [f.strip().lower() for f in reader.fieldnames or []]
    except csv.Error as e:
        raise PressListError(shown, 1, 1, f"not a CSV file: {e}") from None
    if "email" not in names:
        raise PressListError(shown, 1, 1, "the first line must name the columns: name,email,outlet")
    reader.fieldnames = names
    lines = text.splitlines()
    rows: list[_Row] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as e:  # a NUL byte, an unclosed quote at the end
            bad.append(BadLine(reader.line_num, 1, f"not a CSV line: {e}"))
            continue
        line = reader.line_num
        if None in row:  # (DictReader keeps the extra fields under None)
            bad.append(BadLine(line, 1, f"{len(names) + len(row[None])} fields where the first line names "
                                        f"{len(names)} ({','.join(names)}); put a field with a comma in quotes"))
            continue
        email = str(row.get("email") or "").strip()
        raw = lines[line - 1] if 0 < line <= len(lines) else ""
        rows.append((line, raw.find(email) + 1 if email and email in raw else 1, row))


def _yaml_rows(text: str, shown: str, bad: list[BadLine]) -> list[_Row]:
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        raise PressListError(shown, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                             f"not valid YAML: {e.problem}") from None
    except (yaml.YAMLError, RecursionError) as e:  # a NUL, or brackets nested past any list's need
        what = "nested too deep" if isinstance(e, RecursionError) else str(e).splitlines()[0]
        raise PressListError(shown, 1, 1, f"not valid YAML ({what}); write one {{name, email, outlet}} per item") from None
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise PressListError(shown, node.start_mark.line + 1, node.start_mark.column + 1,
                             "expected a list of {name, email, outlet}")
    rows: list[_Row] = []
    for item in node.value:
        line, col = item.start_mark.line + 1, item.start_mark.column + 1
        if not isinstance(item, yaml.MappingNode):
            bad.append(BadLine(line, col, "expected {name, email, outlet}"))
            continue
        values = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        email = values.get("email")
        if email is not None and not isinstance(email, yaml.ScalarNode):
            bad.append(BadLine(email.start_mark.line + 1, email.start_mark.column + 1, "email: expected one address"))
            continue
        if email is not None:
            line, col = email.start_mark.line + 1, email.start_mark.column + 1
        rows.append((line, col, {k: v.value for k, v in values.items() if isinstance(v, yaml.ScalarNode)}))
    return rows


class MailerPublisher:
    name: ClassVar[str] = "mailer"
    label: ClassVar[str] = "pressmeddelande via e-post"
    Settings: ClassVar[type[MailerSettings]] = MailerSettings
    press: ClassVar[bool] = True  # embargoed releases go out early, marked; see publishers.base
    parts: ClassVar[dict[str, str]] = {
        "subject": "press/subject.txt.j2",
        "text": "press/release.txt.j2",
        "html": "press/release.html.j2",
    }

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: MailerSettings = channel.settings
        self._headers: dict[tuple[str, str], Any] = {}  # parsed once: parsing is most of a header's cost
        self._press_list: tuple[tuple[int, int], PressList] | None = None
        self._tokens: Any = None  # publishers.m365.TokenSource, made at the first xoauth2 login
        # The sending rate is kept across releases sent back to back: the time the last
        # message ended, on this clock; tests inject both.
        self.clock: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep
        self._last_message: float | None = None

    @staticmethod
    def outputs(settings: MailerSettings) -> list[tuple[str, str]]:
        """What the channel writes without a mail host: its outbox."""
        return [("outbox", settings.outbox)] if settings.outbox else []

    @staticmethod
    def files(settings: MailerSettings) -> list[tuple[str, str]]:
        """The press list (and the CA file, if given) must exist: ``validate`` says so."""
        out = [("recipients", settings.recipients)]
        # An absolute CA file is the machine's (/etc/ssl/...), not the plan's, and is never
        # sent anywhere: it need not be inside the plan's folder as the rest must.
        if settings.ca_file and not Path(settings.ca_file).is_absolute():
            out.append(("ca_file", settings.ca_file))
        return out

    def rehearsal(self, folder: Path) -> MailerPublisher:
        """This channel in a rehearsal: every release written to ``folder`` as ``.eml``, no
        server, no login."""
        update = {"host": None, "username": None, "password": None, "outbox": str(folder), "auth": "password",
                  "tenant": None, "client_id": None, "client_secret": None, "certificate": None, "authority": None,
                  "rate": None}
        return MailerPublisher(self.channel.rehearsal(self.settings.model_copy(update=update)))

    # -- building -------------------------------------------------------------------

    def press_list(self) -> PressList:
        """The press list, read again only when the file changed."""
        path = self.channel.path(self.settings.recipients)
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (-1, -1)  # read_press_list says what is wrong
        if self._press_list is None or self._press_list[0] != stamp:
            self._press_list = (stamp, read_press_list(path, self.settings.recipients, self.channel.root))
        return self._press_list[1]

    def recipients(self) -> list[Recipient]:
        """Who gets the release: the press list without its bad lines."""
        return self.press_list().recipients

    @classmethod
    def file_problems(cls, settings: MailerSettings, root: Path) -> list[tuple[str, int, int, str]]:
        """The press list's bad lines, at their place in it: ``validate`` reports them."""
        shown = settings.recipients
        if not (root / shown).is_file():
            return []  # the loader says it is missing
        try:
            plan_file(root, shown, read=False)
        except PlanFileError:
            return []  # not the plan's file to read (outside it, too large): said at the setting
        try:
            press = read_press_list(root / shown, shown, root)
        except PressListError as e:
            return [(e.file, e.line, e.col, f"{e.message}; nobody on the press list can get a release")]
        return [(shown, b.line, b.col, f"{b.message}; fix or remove the line (the release goes to the others without it)")
                for b in press.bad]

    def _header(self, name: str, value: Any) -> Any:
        """A header parsed once per channel (From, To, Reply-To repeat in every release)."""
        from email import policy

        key = (name, str(value))
        if key not in self._headers:
            self._headers[key] = policy.SMTP.header_factory(name, str(value))
        return self._headers[key]

    def sender(self) -> tuple[str, str]:
        """(display name, address) of the ``from`` setting."""
        try:
            name, address = mailbox(self.settings.from_)
        except ValueError:
            name = address = ""
        if not address or header_text(self.settings.from_) != self.settings.from_:
            raise PermanentError(
                f"channel {self.channel.name}: from: {self.settings.from_!r} is not an e-mail "
                'address; write e.g. "Trygg i Hultsfred <trygghet@kommun.se>"'
            )
        return header_text(name), address

    def payload(self, message: RenderedMessage) -> Payload:
        """``press.eml``: the exact bytes every journalist gets; ``press.html``: its HTML
        part as a web page (images inline as ``data:`` URIs) for the preview."""
        from email import policy
        from email.headerregistry import Address
        from email.message import EmailMessage
        from email.utils import format_datetime

        from_name, from_addr = self.sender()
        press = self.press_list()
        if press.bad and not press.recipients:  # (a bad line alone is skipped; see publish)
            raise PermanentError(f"{self.settings.recipients}: the press list has nobody on it; "
                                 f"{press.skipped(self.settings.recipients)}")
        domain = from_addr.rpartition("@")[2]
        embargo = _swedish_time(message.embargo) if message.embargo else None
        subject = header_text(message.parts.get("subject") or message.title)
        text, html = message.parts["text"], message.parts["html"]
        for part, value in (("text", text), ("html", html)):
            problem = uncarriable(value)
            if problem:  # (where validation was skipped: the mail could not be encoded)
                raise PermanentError(f"{self.channel.name}: the press release's {part} part cannot be sent: "
                                     f"{problem}; run samverkan validate")
        if embargo:
            if not subject.upper().startswith("EMBARGO"):
                subject = f"EMBARGO {embargo}: {subject}"
            text, html = _mark_embargo(text, html, embargo)
        inline = self._inline_files(message)
        # RFC 2392: a Content-ID is an addr-spec like a Message-ID, <id@domain>.
        cids = {cid: f"{cid}@{domain}" for cid in inline}
        html = re.sub(r"cid:([A-Za-z0-9._-]+)(?![A-Za-z0-9._@-])",
                      lambda m: f"cid:{cids[m[1]]}" if m[1] in cids else m[0], html)
        message_id = _message_id(message.delivery_id, domain, subject, text, html,
                                 [data for _, data, _ in inline.values()])

        reply_to: dict[str, Address] = {}
        for c in message.contacts:
            try:
                address = mail_address(c.email)
            except ValueError:
                raise PermanentError(f"press contact {c.name} ({c.party}): {c.email!r} is not an e-mail address") from None
            reply_to.setdefault(address.lower(), Address(header_text(c.name), addr_spec=address))

        msg = EmailMessage(policy=policy.SMTP)  # SMTP: CRLF line ends, as sent
        # The time it goes out (RFC 5322 3.6.1: "the date and time at which the creator of
        # the message indicated that the message was complete and ready to enter the mail
        # delivery system"), not the planned one: a release sent late, after a catch-up or a
        # retry, says when it was sent. In the plan's zone, as the planned time is.
        sent = message.sent_at.astimezone(message.at.tzinfo) if message.sent_at else message.at
        msg["Date"] = format_datetime(sent)
        msg["From"] = self._header("From", Address(from_name, addr_spec=from_addr))
        # Everyone gets the same bytes addressed to the list itself; the real recipient
        # is only in the envelope.
        msg["To"] = self._header("To", Address("Pressmeddelande", addr_spec=from_addr))
        if reply_to:
            msg["Reply-To"] = self._header("Reply-To", ", ".join(str(a) for a in reply_to.values()))
        msg["Subject"] = subject
        msg["Message-ID"] = message_id
        msg["List-Unsubscribe"] = self._header("List-Unsubscribe", f"<mailto:{from_addr}?subject=unsubscribe>")
        # RFC 2919: lets journalists' mail programs sort and filter the releases as one list.
        msg["List-Id"] = self._header("List-Id", f"{from_name or 'Pressmeddelanden'} <{self.channel.name}.{domain}>")
        # Quoted-printable keeps every line short and 7-bit, so no server needs 8BITMIME
        # and no body can contain our "=_" boundaries.
        msg.set_content(text, cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        html_part = msg.get_body(("html",))
        assert html_part is not None
        for cid, (path, data, mime) in inline.items():
            # Only what the HTML shows: an unreferenced inline part turns up as a stray
            # attachment in most mail programs.
            if f"cid:{cids[cid]}" in html:
                maintype, _, subtype = mime.partition("/")
                html_part.add_related(data, maintype, subtype, cid=f"<{cids[cid]}>",
                                      disposition="inline", filename=header_text(path.name))
        msg["Content-Language"] = "sv"  # after the body: set_content() drops Content-* headers
        _fix_mime(msg, message.delivery_id)
        data = msg.as_bytes()

        fields = {
            "subject": subject,
            "from": str(msg["From"]),
            "reply_to": [str(a) for a in reply_to.values()],
            "message_id": message_id,
            "recipients": len(press.recipients),
            "embargo": message.embargo.isoformat() if message.embargo else None,
        }
        page = _data_uris(html, {cids[cid]: (data_, mime) for cid, (_, data_, mime) in inline.items()})
        return Payload(fields, {"press.eml": data, "press.html": page.encode("utf-8")})

    def _inline_files(self, message: RenderedMessage) -> dict[str, tuple[Path, bytes, str]]:
        # The HTML template refers to them by these ids (samverkan.rendering names them).
        files = [(logo.cid or logo_cid(logo.party), logo.path) for logo in message.logos]
        if message.image:
            files.append((message.image.cid or IMAGE_CID, message.image.path))
        out: dict[str, tuple[Path, bytes, str]] = {}
        for cid, path in files:
            if cid not in out:
                # (PlanFileError, a PermanentError, for what is not a picture inside the plan)
                found = plan_file(self.channel.root, path, image=True)
                assert found.data is not None and found.mime is not None
                out[cid] = (path, found.data, found.mime)
        return out

    # -- sending --------------------------------------------------------------------

    def outbox(self) -> bool:
        # Only when config.yaml gives no host: a host that names an unset variable is a
        # mistake in the daemon's environment, and quietly writing files would hide it.
        return not self.settings.host

    def _host(self) -> str:
        """The SMTP server's name; PermanentError when a variable ``host`` names is unset."""
        s = self.settings
        host = expand(s.host, self.channel.env)
        if not host:
            raise PermanentError(
                f"{_unset(s.host, self.channel.env)} is not set in the daemon's environment: set it, or "
                f"remove host: from channel {self.channel.name} in config.yaml to write press releases "
                "to the outbox"
            )
        return host

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        """Send to everyone on the press list who has not had it yet, over one connection."""
        data = payload.files["press.eml"]
        message_id = payload.fields["message_id"]
        if self.outbox():
            return self._write_outbox(data, delivery_id)
        press = self.press_list()
        recipients = press.recipients
        if not recipients:
            skipped = f"; {press.skipped(self.settings.recipients)}" if press.bad else ""
            raise PermanentError(f"{self.settings.recipients}: the press list has nobody on it{skipped}")
        todo = [r for r in recipients if journal.part_state(r.email.lower()) not in _DONE]
        lost = None
        if todo:
            # Everyone about to be tried is on record first: after a crash the ledger tells
            # who got it, who may have and who was never tried.
            journal.queue_parts([r.email.lower() for r in todo])
            with self._connect() as smtp:
                lost = self._send(smtp, todo, data, journal)
        receipt = self._receipt(recipients, journal, message_id, delivery_id, lost)
        if press.bad:  # sent to everyone else; the ledger's note says who was left out
            receipt.note = f"{receipt.note}; {press.skipped(self.settings.recipients)}"
        return receipt

    # -- checking and notices ---------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Read-only: the press list and the sender parse; the server answers, offers TLS
        and accepts the login. No MAIL command is given, so nothing can be sent."""
        return [self._check_server(), self._check_list(), self._check_from()]

    def _port(self) -> int:
        s = self.settings
        return s.port or {"starttls": 587, "tls": 465, "none": 25}[s.security]

    def _outbox_name(self) -> str:
        return self.channel.outbox(self.settings.outbox)

    def _check_server(self) -> CheckResult:
        s = self.settings
        if not s.host:
            return CheckResult.warn(
                "smtp", f"writes .eml files to {self._outbox_name()} (no SMTP host configured)",
                "to send press releases, set host: in config.yaml",
            )
        if not expand(s.host, self.channel.env):
            name = _unset(s.host, self.channel.env)
            return CheckResult.fail(
                "smtp", f"{name} is not set in the daemon's environment: press releases would fail",
                f"set {name} to the SMTP server's name, or remove host: from channel {self.channel.name} "
                "in config.yaml to write press releases to the outbox",
            )
        host = self._host()
        port = self._port()
        try:
            login = self._credentials()
            with self._connect():
                pass  # connected, TLS up and logged in: nothing more to ask of it
        except PermanentError as e:
            return CheckResult.fail("smtp", str(e))
        except TransientError as e:
            if "token endpoint" in str(e):
                return CheckResult.fail("smtp", str(e), "check that this machine reaches it (a proxy, a firewall) "
                                                        f"and authority: of {self.channel.name}")
            return CheckResult.fail("smtp", str(e), f"check host and port of {self.channel.name} and that the server runs")
        how = {"starttls": "STARTTLS works", "tls": "TLS works", "none": "no encryption"}[s.security]
        said = f"{host}:{port} answers, {how}" + (", login accepted" if login else "")
        if s.auth == "xoauth2":
            said += f", OAuth token obtained from {self._tokens.authority}, XOAUTH2 login accepted"
        if s.security == "none":
            return CheckResult.warn("smtp", said + "; embargoed press releases travel unencrypted",
                                    "set security: starttls or tls")
        return CheckResult.ok("smtp", said)

    def _check_list(self) -> CheckResult:
        try:
            press = self.press_list()
        except PermanentError as e:
            return CheckResult.fail("press list", str(e))
        people = press.recipients
        if press.bad:
            return CheckResult.fail("press list", "\n".join(f"{self.settings.recipients}:{b.line}: {b.message}" for b in press.bad),
                                    "fix or remove these lines of the press list (releases go to the others without them)")
        if not people:
            return CheckResult.fail("press list", f"{self.settings.recipients}: the press list has nobody on it",
                                    "add journalists as name,email,outlet lines")
        return CheckResult.ok("press list", f"{self.settings.recipients}: {len(people)} recipient(s), every address well formed")

    def _check_from(self) -> CheckResult:
        try:
            _, address = self.sender()
        except PermanentError as e:
            return CheckResult.fail("from", str(e))
        return CheckResult.ok("from", f"sends as {address}")

    def notify(self, to: list[str], subject: str, text: str) -> str:
        """Send a short plain-text notice (an alert) to ``to`` over this channel's server,
        with the TLS and login rules of press releases; without a host, write it as an
        ``.eml`` file into the outbox. Returns what was done."""
        from email import policy
        from email.headerregistry import Address
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        bad = [a for a in to if not valid_address(a)]
        if bad or not to:
            raise PermanentError(f"alerts: {', '.join(map(repr, bad)) or 'nobody'} is not an e-mail address list; fix alerts.mail.to")
        to = [mail_address(a) for a in to]  # (an international domain in its ASCII form: the envelope is ASCII)
        name, from_addr = self.sender()
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = Address(name, addr_spec=from_addr)
        msg["To"] = ", ".join(to)
        msg["Subject"] = header_text(subject)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=from_addr.rpartition("@")[2])  # domain given: no DNS
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
        msg.set_content(text)
        data = msg.as_bytes()
        if self.outbox():
            stamp = hashlib.sha256(data).hexdigest()[:12]
            name_ = f"alert-{stamp}.eml"
            write_atomic(self.channel.path(self._outbox_name()) / name_, data, durable=self.channel.durable)
            return f"written to {self._outbox_name()}/{name_} (no SMTP host configured)"
        import smtplib

        with self._connect() as smtp:
            try:
                refused = smtp.sendmail(from_addr, to, data)
            except smtplib.SMTPRecipientsRefused as e:
                raise PermanentError(f"the SMTP server refused every alert recipient: {_some(list(e.recipients))}") from None
        if refused:
            return f"sent to {len(to) - len(refused)} of {len(to)}; refused: {_some(list(refused))}"
        return f"sent to {len(to)}"

    def _credentials(self) -> tuple[str, str] | None:
        s, env = self.settings, self.channel.env
        if s.auth == "xoauth2" or (not s.username and not s.password):
            return None
        if not (s.username and s.password):
            raise PermanentError(
                f"channel {self.channel.name}: set both username and password, or neither"
            )
        user, password = expand(s.username, env), expand(s.password, env)
        for value, ref in ((user, s.username), (password, s.password)):
            if not value:
                raise PermanentError(
                    f"channel {self.channel.name}: the environment variable {env_name(ref)} is not set in "
                    "the daemon's environment: set it, or remove username: and password: from the channel "
                    "in config.yaml to send without logging in"
                )
        assert user and password
        return user, password

    def _oauth(self) -> tuple[str, str] | None:
        """``auth: xoauth2``: (mailbox, access token), the token from Microsoft's endpoint
        (or the one ``authority`` names); None for a password login."""
        s, env, name = self.settings, self.channel.env, self.channel.name
        if s.auth != "xoauth2":
            return None
        from .m365 import AUTHORITY, TokenSource, read_certificate

        refs = {"username": s.username, "tenant": s.tenant, "client_id": s.client_id,
                "client_secret": s.client_secret, "certificate": s.certificate}
        values: dict[str, str] = {}
        for key, ref in refs.items():
            value = expand(ref, env) if ref else None
            if ref and not value:
                raise PermanentError(
                    f"channel {name}: the environment variable {env_name(ref)} ({key}) is not set in the "
                    "daemon's environment: set it (see the app registration in Microsoft Entra)"
                )
            if value:
                values[key] = value
        if self._tokens is None:
            names = {k: env_name(v) or k for k, v in refs.items()}
            certificate = None
            if s.certificate:
                certificate = read_certificate(values["certificate"], name, names["certificate"])
            authority = expand(s.authority, env) if s.authority else AUTHORITY.format(tenant=values["tenant"])
            if not authority:
                raise PermanentError(f"channel {name}: {_unset(s.authority, env)} (authority:) is not set in the daemon's environment")
            self._tokens = TokenSource(name, authority, values["client_id"], secret=values.get("client_secret"),
                                       certificate=certificate, names=names, timeout=s.timeout,
                                       ca_bundle=env.get("REQUESTS_CA_BUNDLE") or None)
        return values["username"], self._tokens.token()

    @contextmanager
    def _connect(self) -> Iterator[smtplib.SMTP]:
        """A logged-in connection; the password or token only ever travels inside TLS."""
        import smtplib
        import ssl

        s = self.settings
        host = self._host()
        port = self._port()
        where = f"the SMTP server {host}:{port}"
        login = self._credentials()
        oauth = self._oauth()  # before connecting: no token, no connection
        if login and s.security == "none":
            raise PermanentError(
                f"channel {self.channel.name}: a password is configured but security is none; "
                "it is never sent unencrypted: set security to starttls or tls"
            )
        try:
            context = ssl.create_default_context(cafile=str(self.channel.path(s.ca_file)) if s.ca_file else None)
        except (OSError, ssl.SSLError) as e:
            raise PermanentError(f"channel {self.channel.name}: ca_file {s.ca_file}: {e.strerror or e}") from None
        smtp: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(host, port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                # Required, not opportunistic: a server (or someone in between) that
                # drops STARTTLS must not get the password or the embargoed text.
                if not smtp.has_extn("starttls"):
                    raise PermanentError(
                        f"{where} does not offer STARTTLS; nothing was sent (and no password): "
                        "use a server that does, or security: tls"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if login:
                self._login(smtp, *login, where)
            elif oauth:
                self._login_xoauth2(smtp, *oauth, where)
            yield smtp
        except ssl.SSLCertVerificationError as e:
            raise PermanentError(
                f"{where}: its certificate is not trusted ({e.verify_message}); "
                "if it uses a private CA, set ca_file"
            ) from None
        except smtplib.SMTPAuthenticationError as e:
            if _basic_auth_off(e.smtp_code, e.smtp_error):
                raise PermanentError(self._basic_auth_off(where, e.smtp_code, e.smtp_error)) from None
            if oauth:
                raise PermanentError(
                    f"{where} refused the OAuth login as the mailbox in {env_name(s.username)} "
                    f"({e.smtp_code} {_text(e.smtp_error)}): check that the app registration has SMTP.SendAsApp, "
                    "that its service principal is registered in Exchange Online with permission on that mailbox, "
                    "and that SMTP AUTH is enabled for the mailbox"
                ) from None
            user, password = env_name(s.username), env_name(s.password)
            utf8 = ""
            if login and not (login[0].isascii() and login[1].isascii()):
                utf8 = (f"; {self._non_ascii(*login)} has characters outside ASCII, sent as UTF-8 (RFC 4616): "
                        "a server that expects another encoding refuses them")
            raise PermanentError(
                f"{where} refused the login ({e.smtp_code} {_text(e.smtp_error)}): "
                f"check {user} and {password}{utf8}"
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentError(f"{where} does not offer AUTH; remove username and password or use another server") from None
        except smtplib.SMTPResponseException as e:
            if _basic_auth_off(e.smtp_code, e.smtp_error):
                raise PermanentError(self._basic_auth_off(where, e.smtp_code, e.smtp_error)) from None
            kind = PermanentError if e.smtp_code >= 500 else TransientError
            raise kind(f"{where} said {e.smtp_code} {_text(e.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise TransientError(f"cannot talk to {where}: {e or type(e).__name__}") from None
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

    def _basic_auth_off(self, where: str, code: int, reply: bytes | str) -> str:
        """Exchange Online's answer once password SMTP AUTH is off (by default from the end
        of December 2026): not a wrong password, and no retry will help."""
        return (
            f"{where} no longer accepts a password login ({code} {_text(reply)}): Microsoft 365 has turned "
            "off password SMTP AUTH (Basic authentication). Nothing was sent. Two ways out: set auth: xoauth2 "
            f"on channel {self.channel.name} with an app registration (tenant, client_id and client_secret "
            "or certificate; see the README), or send through a relay: an Exchange Online connector for "
            "the municipality's own mail server, or another SMTP relay"
        )

    def _login_xoauth2(self, smtp: smtplib.SMTP, user: str, token: str, where: str) -> None:
        """``AUTH XOAUTH2`` with the token, as Microsoft documents it (publishers/m365.py)."""
        import smtplib

        from .m365 import xoauth2

        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        offered = smtp.esmtp_features["auth"].upper().split()
        if "XOAUTH2" not in offered:
            raise PermanentError(
                f"{where} does not offer AUTH XOAUTH2 (it offers {', '.join(offered) or 'no mechanism'}): "
                "auth: xoauth2 is for Microsoft 365 (host: smtp.office365.com)"
            )
        code, reply = smtp.docmd("AUTH", "XOAUTH2 " + xoauth2(user, token))
        if code == 334:
            # A refusal comes as a challenge holding the error; an empty line ends the exchange.
            code, reply = smtp.docmd("")
        if code not in (235, 503):
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _non_ascii(self, user: str, password: str) -> str:
        """Which credential has characters outside ASCII, by its variable's name only."""
        s = self.settings
        named = [f"the {what} in {env_name(ref)}" for what, value, ref in
                 (("user name", user, s.username), ("password", password, s.password)) if not value.isascii()]
        return " and ".join(named)

    def _login(self, smtp: smtplib.SMTP, user: str, password: str, where: str) -> None:
        """Log in. smtplib sends a user name and password as ASCII only; one with other
        characters (å, ä, ö) goes in AUTH PLAIN as UTF-8, which RFC 4616 defines for it."""
        import base64
        import smtplib

        if user.isascii() and password.isascii():
            smtp.login(user, password)
            return
        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        offered = smtp.esmtp_features["auth"].upper().split()
        if "PLAIN" not in offered:
            raise PermanentError(
                f"channel {self.channel.name}: {self._non_ascii(user, password)} has characters outside "
                f"ASCII, which only AUTH PLAIN can send (as UTF-8), and {where} offers "
                f"{', '.join(offered) or 'no mechanism'}: use only ASCII characters in it"
            )
        token = base64.b64encode(b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")).decode("ascii")
        code, reply = smtp.docmd("AUTH", "PLAIN " + token)
        if code == 334:  # a server that wants the credentials after an empty challenge
            code, reply = smtp.docmd(token)
        if code not in (235, 503):  # 503: already logged in
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _send(self, smtp: smtplib.SMTP, todo: list[Recipient], data: bytes, journal: Journal) -> str | None:
        """Send to each of ``todo`` in turn; on a lost connection stop and say so (the rest
        waits for a retry)."""
        import smtplib

        _, from_addr = self.sender()
        # Dot-stuffed and ended as RFC 5321 has it, once for the whole list; the payload's
        # lines already end in CRLF.
        body = re.sub(rb"(?m)^\.", b"..", data)
        wire = body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"
        progress = _Progress(self.channel.name, len(todo))
        try:
            for done, r in enumerate(todo):
                if not self._keep_rate():
                    # The rest stays queued: sent at the next attempt, none twice.
                    return (f"stopped (the daemon is stopping, or the channel was paused): sent to {done} of "
                            f"{len(todo)} recipients; the rest get it at the next attempt")
                part = r.email.lower()
                journal.set_part(part, "in_flight")
                try:
                    state, detail = self._envelope(smtp, from_addr, r.email, len(data), wire)
                except _Lost as e:
                    if e.after_data:
                        # The whole message went, its answer did not come: the server may
                        # have it and a second copy would be worse than asking a person.
                        journal.set_part(part, "unknown", f"no answer after the message was sent ({e.why}): "
                                                          "the server may have it")
                        return (f"no answer from the SMTP server after the release was sent to {r.email} "
                                f"({e.why}): it may have it, so it is not sent again until a person settles it; "
                                f"connection lost after {done} of {len(todo)} recipients")
                    # Lost before the final "." went: the server cannot have taken it.
                    journal.set_part(part, "deferred", f"connection lost: {e.why}")
                    return f"connection lost after {done} of {len(todo)} recipients"
                except smtplib.SMTPSenderRefused as e:
                    journal.set_part(part, "deferred", f"{e.smtp_code} {_text(e.smtp_error)}")
                    if _basic_auth_off(e.smtp_code, e.smtp_error):
                        raise PermanentError(self._basic_auth_off("the SMTP server", e.smtp_code, e.smtp_error)) from None
                    kind = PermanentError if e.smtp_code >= 500 else TransientError
                    raise kind(f"the SMTP server refused the sender {from_addr}: {e.smtp_code} {_text(e.smtp_error)}") from None
                finally:
                    self._last_message = self.clock()
                journal.set_part(part, state, detail)
                progress.show(done + 1)
        finally:
            progress.close()
        return None

    def _keep_rate(self) -> bool:
        """Wait until the next message keeps ``rate``, counted from the end of the last one
        (so the server, too, sees them at least 60/rate seconds apart); False when the daemon
        is stopping (SIGTERM, SIGINT), which a long press list at 30 a minute must not delay."""
        rate, stop = self.settings.rate, self.channel.stop
        if stop is not None and stop.is_set():
            return False
        if not rate:
            return True
        due = (self._last_message if self._last_message is not None else -float("inf")) + 60.0 / rate
        while not (stop is not None and stop.is_set()):
            left = due - self.clock()
            if left <= 0:
                return True
            # In slices: the signal handler only sets the flag, and sleep resumes after it.
            self.sleep(min(left, _WAIT_SLICE))
        return False

    @staticmethod
    def _envelope(smtp: smtplib.SMTP, from_addr: str, to: str, size: int, wire: bytes) -> tuple[str, str | None]:
        """One envelope, step by step, so that a failure says whether the server can have
        the message (``wire``: as sent after DATA, dot-stuffed, with its final ``.``):
        (``sent`` | ``refused`` | ``deferred``, the server's reason), or :class:`_Lost` when
        the connection fails (``after_data``: once all of it was sent)."""
        import smtplib

        def reason(code: int, reply: bytes | str) -> tuple[str, str]:
            return ("refused" if code >= 500 else "deferred"), f"{code} {_text(reply)}"

        try:
            options = [f"SIZE={size}"] if smtp.has_extn("size") else []
            code, reply = smtp.mail(from_addr, options)
            if code != 250:
                _reset(smtp)
                raise smtplib.SMTPSenderRefused(code, reply, from_addr)
            code, reply = smtp.rcpt(to)
            if code not in (250, 251):
                _reset(smtp)
                return reason(code, reply)
            code, reply = smtp.docmd("DATA")
            if code != 354:
                _reset(smtp)
                return reason(code, reply)
            smtp.send(wire)
        except smtplib.SMTPSenderRefused:
            raise
        except (smtplib.SMTPException, OSError) as e:  # before the final "." went: not delivered
            raise _Lost(False, str(e) or type(e).__name__) from None
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            raise _Lost(True, str(e) or type(e).__name__) from None
        return ("sent", None) if code == 250 else reason(code, reply)

    def _receipt(self, recipients: list[Recipient], journal: Journal, message_id: str, delivery_id: str,
                 lost: str | None = None) -> Receipt:
        states = {r.email: journal.part_state(r.email.lower()) for r in recipients}
        total = len(recipients)
        waiting = [a for a, s in states.items() if s not in _DONE]
        if waiting:
            if lost:
                raise TransientError(f"{lost}; will retry the rest")
            raise TransientError(f"{len(waiting)} of {total} recipients deferred; will retry")
        sent = sum(1 for s in states.values() if s == "sent")
        note = f"sent to {sent} of {total}"
        refused = [a for a, s in states.items() if s == "refused"]
        unknown = [a for a, s in states.items() if s in ("in_flight", "unknown")]
        if refused and len(refused) == total:
            # Nobody got it: recorded as published it would be neither retried nor alerted.
            reasons = [f"{a}: {journal.part_detail(a.lower()) or 'refused'}" for a in refused]
            raise PermanentError(
                f"no recipient accepted the press release: {len(refused)} refused ({_some(reasons, 5)}); "
                f"check the addresses in {self.settings.recipients} and the server's reasons"
            )
        if refused:
            note += f"; {len(refused)} refused: {_some(refused)}"
        if unknown:
            raise UnsettledError(
                f"{note}; {len(unknown)} uncertain (the server may have it; not sent again): {_some(unknown)}; "
                f"ask them or the server's log, then: samverkan resolve {delivery_id} --recipient ADDRESS "
                "--as published|failed"
            )
        return Receipt(external_id=message_id, note=note)

    def _write_outbox(self, data: bytes, delivery_id: str) -> Receipt:
        folder_name = self._outbox_name()
        name = re.sub(r"[^A-Za-z0-9._@-]+", "_", delivery_id) + ".eml"
        write_atomic(self.channel.path(folder_name) / name, data, durable=self.channel.durable)
        return Receipt(note=f"written to {folder_name}/{name} (no SMTP host configured)")


class _Lost(Exception):
    """The connection failed during one envelope; ``after_data``: once the whole message
    had been sent, so the server may have it."""

    def __init__(self, after_data: bool, why: str):
        super().__init__(why)
        self.after_data, self.why = after_data, why


def _reset(smtp: smtplib.SMTP) -> None:
    """RSET after a refusal; a connection that is gone shows at the next envelope."""
    import smtplib

    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        pass


class _Progress:
    """``\\rpress: 120/1000`` on a terminal; nothing in logs or pipes."""

    def __init__(self, label: str, total: int):
        self.label, self.total = label, total
        self.on = total >= _PROGRESS_MIN and sys.stderr.isatty()
        self.every = max(1, total // 100)

    def show(self, done: int) -> None:
        if self.on and (done % self.every == 0 or done == self.total):
            sys.stderr.write(f"\r{self.label}: {done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.on:
            sys.stderr.write("\n")


def _unset(value: str | None, env: Mapping[str, str]) -> str:
    """The names of the variables ``value`` refers to that are unset or empty, for a message."""
    return " and ".join(unset_names(value, env)) or "the variable named by host:"


def _basic_auth_off(code: int, reply: bytes | str) -> bool:
    """Exchange Online's "550 5.7.30 Basic authentication is not supported for Client Submission"."""
    return code >= 500 and _text(reply).startswith("5.7.30")


def _some(addresses: list[str], shown: int = 10) -> str:
    more = f" and {len(addresses) - shown} more" if len(addresses) > shown else ""
    return ", ".join(addresses[:shown]) + more


def _text(reply: bytes | str) -> str:
    return header_text(reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply)


def _swedish_time(at: Any) -> str:
    """``13 augusti 2018 kl. 07.30``."""
    from babel.dates import format_datetime

    return format_datetime(at, "d MMMM y 'kl.' HH.mm", locale="sv", tzinfo=at.tzinfo)


def _mark_embargo(text: str, html: str, when: str) -> tuple[str, str]:
    """Put the embargo at the top of both bodies, unless the template already did."""
    notice = f"EMBARGO: får inte publiceras före {when}."
    if "embargo" not in text.lower():
        text = f"{notice}\n\n{text}"
    if "embargo" not in html.lower():
        from html import escape

        block = f'<p><strong>{escape(notice)}</strong></p>\n'
        body = re.search(r"<body[^>]*>", html, re.IGNORECASE)
        html = html[: body.end()] + "\n" + block + html[body.end():] if body else block + html
    return text, html


def _message_id(delivery_id: str, domain: str, subject: str, text: str, html: str, files: list[bytes]) -> str:
    """The same for the same release (a retry is recognised as the mail already had),
    another for a corrected one: mail stores that drop a Message-ID they have seen
    (Gmail's among them) would otherwise drop the correction without a word."""
    digest = hashlib.sha256(delivery_id.encode())
    for part in (subject, text, html):
        digest.update(b"\0" + hashlib.sha256(part.encode()).digest())
    for data in files:
        digest.update(b"\0" + hashlib.sha256(data).digest())
    return f"<{digest.hexdigest()[:32]}@{domain}>"


def _fix_mime(msg: Any, delivery_id: str) -> None:
    """Deterministic boundaries, and MIME-Version only at the top (as RFC 2045 has it)."""
    seed = hashlib.sha256(delivery_id.encode()).hexdigest()
    for i, part in enumerate(msg.walk()):
        if i and "MIME-Version" in part:
            del part["MIME-Version"]
        if part.is_multipart():
            # "=_" cannot occur in quoted-printable or base64 bodies, so it cannot clash.
            part.set_boundary(f"=_{seed[:24]}_{i}")


def _data_uris(html: str, files: dict[str, tuple[bytes, str]]) -> str:
    """The HTML part as a web page: ``cid:`` references become ``data:`` URIs."""
    import base64

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in files:
            return m.group(0)
        data, mime = files[m.group(1)]
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    return re.sub(r"cid:([A-Za-z0-9._@-]+)", sub, html)
