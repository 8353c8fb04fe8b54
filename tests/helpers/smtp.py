"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what it gets, for tests and benches.

    from tests.helpers.smtp import smtp_server   # the fixture: a factory

    def test_x(smtp_server):
        server = smtp_server(tls="starttls", auth={"user": "secret"}, refuse={"a@x.se": 550})
        ... send to server.host, server.port, trusting server.cafile ...
        assert server.connections == 1
        assert [m.rcpt_tos for m in server.messages] == [["b@x.se"]]

What the server does with each message can be scripted, in order (:meth:`SmtpServer.script`):
keep it but answer only after the client has given up (:func:`late`), close the connection
at the DATA command before any of the message came (:func:`drop_at_data`), or after all of
it (:func:`drop_after_data`, kept or not), or answer the final ``.`` with another code
(:func:`reply`)::

    server.script(None, late(10))  # the first message as usual, the second answered late

Outside pytest, use :class:`SmtpServer` as a context manager.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax


@dataclass(frozen=True)
class Step:
    """What the server does with one message. ``at``: ``"data"`` acts at the DATA command,
    before the client has sent any of the message (nothing can be kept); ``"end"`` after the
    final ``.``. ``keep``: the message is stored. ``drop``: the connection is closed instead
    of answering. ``code``: the reply otherwise. ``delay``: seconds before the reply or drop."""

    at: Literal["data", "end"] = "end"
    keep: bool = True
    drop: bool = False
    code: int = 250
    delay: float = 0.0


def late(seconds: float) -> Step:
    """The message is kept, and its 250 comes ``seconds`` later (past the client's timeout)."""
    return Step(delay=seconds)


def drop_at_data() -> Step:
    """The connection is closed at the DATA command: the server has none of the message."""
    return Step(at="data", keep=False, drop=True)


def drop_after_data(*, keep: bool = False) -> Step:
    """The whole message arrives, then the connection is closed without an answer;
    ``keep``: the server stored it all the same."""
    return Step(keep=keep, drop=True)


def reply(code: int) -> Step:
    """The final ``.`` is answered with ``code`` (e.g. 451, 554); kept only if it is a 2xx."""
    return Step(keep=code < 300, code=code)


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message exactly as received (dot-unstuffed, CRLF line ends)
    connection: int  # which connection brought it, counting from 1
    login: str | None  # who had logged in on that connection
    at: float = 0.0  # time.monotonic() when the server stored it (to measure a sending rate)


class SmtpServer:
    """An aiosmtpd server on a free port of 127.0.0.1, in a thread.

    ``tls``: None (plain), ``"starttls"`` or ``"implicit"``, with a self-signed certificate
    for localhost/127.0.0.1 (``cafile`` to trust it). ``auth``: login → password; AUTH is
    offered only inside TLS unless ``auth_without_tls`` (a trap for clients that would
    send a password in clear). ``auth_exclude``: AUTH mechanisms not offered (e.g.
    ``["PLAIN"]``: LOGIN only). ``refuse``: address → 550 or 450 at RCPT. ``drop_after``:
    on the first connection that has delivered that many messages, close the connection
    at the next DATA instead of confirming it (once; set it again for another drop).
    ``reply_delay``: seconds to wait, after keeping a message, before the 250 that confirms it.
    ``xoauth2``: mailbox → access token: AUTH XOAUTH2 is offered and accepts those, as
    Microsoft 365 does (a wrong one: a 334 challenge holding the error, then 535).
    ``password_answer``: the answer to every password login instead of checking it, e.g.
    Exchange Online's once Basic authentication is off (:data:`BASIC_AUTH_OFF`).
    """

    def __init__(
        self,
        *,
        tls: Literal["starttls", "implicit"] | None = None,
        auth: dict[str, str] | None = None,
        auth_without_tls: bool = False,
        auth_exclude: Iterable[str] = (),
        refuse: dict[str, int] | None = None,
        drop_after: int | None = None,
        reply_delay: float = 0.0,
        xoauth2: dict[str, str] | None = None,
        password_answer: str | None = None,
    ) -> None:
        self.tls, self.auth = tls, auth
        self.xoauth2, self.password_answer = xoauth2, password_answer
        self.refuse = {k.lower(): v for k, v in (refuse or {}).items()}
        self.drop_after = drop_after
        self.reply_delay = reply_delay  # seconds between storing a message and its 250
        self.messages: list[Received] = []
        self.connections = 0
        self.steps: list[Step | None] = []  # the script: one per message, None = as usual
        self.auth_commands: list[str] = []  # every AUTH command line seen, accepted or not
        self.logins: list[tuple[str, str]] = []  # (login, password) of successful logins
        self.dropped = 0
        self.cafile: str | None = None
        self._lock = threading.Lock()
        self._per_connection: dict[int, int] = {}
        tls_context = None
        if tls:
            cert, key = self_signed_cert()
            self.cafile = cert
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(cert, key)
        self._controller = _Controller(
            (_OAuthHandler if xoauth2 is not None else _Handler)(self),
            self,
            hostname="127.0.0.1",
            port=0,
            server_hostname="localhost",  # not socket.getfqdn(): that can wait on DNS
            ssl_context=tls_context if tls == "implicit" else None,
            tls_context=tls_context if tls == "starttls" else None,
            # Implicit TLS is invisible to aiosmtpd's own check, which would refuse AUTH.
            auth_require_tls=not (auth_without_tls or tls == "implicit"),
            authenticator=self._authenticate if auth is not None or password_answer else None,
            auth_exclude_mechanism=list(auth_exclude),
        )

    host = "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def recipients(self) -> list[str]:
        """Every RCPT of every delivered message, in order."""
        return [r for m in self.messages for r in m.rcpt_tos]

    def script(self, *steps: Step | None) -> None:
        """Queue what to do with the next messages, one step each (``None``: as usual)."""
        with self._lock:
            self.steps.extend(steps)

    def _next_step(self, at: str) -> Step | None:
        """The script's next step if it acts ``at`` this point (taken from the queue)."""
        with self._lock:
            if not self.steps:
                return None
            head = self.steps[0]
            if (head.at if head is not None else "end") != at:
                return None
            return self.steps.pop(0)

    def start(self) -> SmtpServer:
        self._controller.start()
        with self._lock:
            # aiosmtpd's own start-up probe connected once; it is not a client.
            self.connections = 0
            self._per_connection.clear()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- called from the server thread ------------------------------------------------

    def _connected(self) -> int:
        with self._lock:
            self.connections += 1
            self._per_connection[self.connections] = 0
            return self.connections

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        if self.password_answer:
            return AuthResult(success=False, handled=False, message=self.password_answer)
        assert self.auth is not None
        login, password = auth_data.login.decode(), auth_data.password.decode()
        if self.auth.get(login) == password:
            with self._lock:
                self.logins.append((login, password))
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


class _RecordingSMTP(SMTP):
    def __init__(self, handler: Any, server: SmtpServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.recorder = server
        self.number = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._original_transport is None:  # not the TLS layer STARTTLS adds
            self.number = self.recorder._connected()
        super().connection_made(transport)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        step = self.recorder._next_step("data")
        if step is None:
            await super().smtp_DATA(arg)
            return
        if step.delay:
            await asyncio.sleep(step.delay)
        if step.drop:
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.abort()
            return
        await self.push(f"{step.code} 4.3.0 not now" if step.code < 500 else f"{step.code} 5.3.0 no")

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        with self.recorder._lock:
            self.recorder.auth_commands.append(arg)
        await super().smtp_AUTH(arg)


class _Controller(Controller):
    def __init__(self, handler: Any, server: SmtpServer, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.recorder = server

    def factory(self) -> SMTP:
        return _RecordingSMTP(self.handler, self.recorder, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Bound to port 0: learn the port the OS chose before aiosmtpd probes it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


BASIC_AUTH_OFF = "550 5.7.30 Basic authentication is not supported for Client Submission."
"""Exchange Online's answer to a password login once Basic authentication is off."""


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.s = server

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        code = self.s.refuse.get(address.lower())
        if code and code >= 500:
            return f"{code} 5.1.1 <{address}>: mailbox unavailable"
        if code:
            return f"{code} 4.2.1 <{address}>: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        s = self.s
        number = server.number  # type: ignore[attr-defined]
        step = s._next_step("end")
        with s._lock:
            if step is not None:
                drop = False
                if step.keep:
                    s._per_connection[number] += 1
                    s.messages.append(self._received(session, envelope, number))
            elif s.drop_after is not None and s._per_connection[number] >= s.drop_after:
                s.drop_after = None
                s.dropped += 1
                drop = True
            else:
                drop = False
                s._per_connection[number] += 1
                s.messages.append(self._received(session, envelope, number))
        if step is not None:
            if step.delay:
                await asyncio.sleep(step.delay)  # kept (if kept) at once: a window to kill the client in
            if step.drop:
                assert isinstance(server.transport, asyncio.Transport)
                server.transport.abort()
                return "421 4.3.0 gone"  # never reaches the client
            if step.code >= 500:
                return f"{step.code} 5.3.0 message refused"
            return f"{step.code} 4.3.0 try again later" if step.code >= 400 else f"{step.code} 2.0.0 OK"
        if drop:
            # Gone before the 250: the client cannot know the message arrived (it did not).
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 4.3.0 gone"  # never reaches the client
        if s.reply_delay:
            # Accepted and kept, but the client hears so only later: a window to kill it in.
            await asyncio.sleep(s.reply_delay)
        return "250 2.0.0 OK"


    @staticmethod
    def _received(session: Session, envelope: Envelope, number: int) -> Received:
        return Received(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            connection=number,
            login=session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            at=time.monotonic(),
        )


class _OAuthHandler(_Handler):
    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: ``user=U^Aauth=Bearer T^A^A`` in base64, as the initial response or
        after an empty challenge."""
        import base64
        import binascii
        import json

        if len(args) > 1:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        else:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = answer
        fields = dict(f.split("=", 1) for f in blob.decode("utf-8", "replace").split("\x01") if "=" in f)
        user, bearer = fields.get("user", ""), fields.get("auth", "")
        assert self.s.xoauth2 is not None
        if blob.endswith(b"\x01\x01") and bearer == f"Bearer {self.s.xoauth2.get(user)}":
            with self.s._lock:
                self.s.logins.append((user, "XOAUTH2"))
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        # As Microsoft and Google answer a bad token: a challenge with the error, then 535.
        await server.challenge_auth(json.dumps({"status": "401", "schemes": "bearer"}))
        return AuthResult(success=False, handled=False, message="535 5.7.3 Authentication unsuccessful")


@lru_cache(maxsize=None)
def self_signed_cert() -> tuple[str, str]:
    """(certificate, key) PEM files for localhost and 127.0.0.1, made once per test run."""
    folder = tempfile.mkdtemp(prefix="samverkan-tls-")
    atexit.register(shutil.rmtree, folder, True)
    cert, key = str(Path(folder, "cert.pem")), str(Path(folder, "key.pem"))
    # The openssl command line: the venv has no `cryptography`, and an EC key is instant.
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         # keyUsage: urllib3 2 verifies strictly (VERIFY_X509_STRICT), and a CA without it
         # is refused there (the fake token endpoint of tests/helpers/oauth.py).
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign", "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """A factory: ``smtp_server(**options)`` starts an :class:`SmtpServer`; all stop after the test."""
    started: list[SmtpServer] = []

    def start(**options: Any) -> SmtpServer:
        server = SmtpServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
