"""Press mail to Microsoft 365 and as modern mail expects it: the OAuth (XOAUTH2) login, the
answer once password SMTP AUTH is off, the Date of sending and the sending rate, against
aiosmtpd and a fake token endpoint on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from email.parser import BytesParser
from email import policy
from pathlib import Path
from typing import Any, Callable

import pytest

from publishers.base import Channel, MemoryJournal, PermanentError, TransientError
from publishers.mailer import MailerPublisher, MailerSettings
from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.daemon import DaemonProcess, wait_until
from tests.helpers.oauth import TENANT, TokenServer, token_server  # noqa: F401  (the fixture)
from tests.helpers.plans import campaign, message, with_channels
from tests.helpers.smtp import BASIC_AUTH_OFF, SmtpServer, smtp_server  # noqa: F401  (the fixture)
from tests.test_mailer import FROM, PASSWORD, message as rendered

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

MAILBOX = "pressbot@hultsfred.example"
CLIENT, SECRET = "00000000-aaaa-bbbb-cccc-000000000001", "Cl1ent~Secret.Value"
PRESS = [f"j{i}@tidning{i}.example" for i in range(6)]
SCOPE = "https://outlook.office365.com/.default"
OAUTH_ENV = {"M365_USER": MAILBOX, "M365_TENANT": TENANT, "M365_CLIENT": CLIENT, "M365_SECRET": SECRET}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J {i},{a},T {i}\n" for i, a in enumerate(PRESS)), encoding="utf-8")
    return tmp_path


def mailer(root: Path, server: SmtpServer, env: dict[str, str] | None = None, **settings: Any) -> MailerPublisher:
    values: dict[str, Any] = {"publisher": "mailer", "from": FROM, "recipients": "presslista.csv", "timeout": 5,
                              "host": server.host, "port": server.port, "security": "starttls",
                              "ca_file": server.cafile}
    values.update(settings)
    return MailerPublisher(Channel("press", MailerSettings.model_validate(values), root, env=env or {}))


def oauth_mailer(root: Path, server: SmtpServer, tokens: TokenServer, env: dict[str, str] | None = None,
                 **settings: Any) -> MailerPublisher:
    values = {"auth": "xoauth2", "username": "${M365_USER}", "tenant": "${M365_TENANT}",
              "client_id": "${M365_CLIENT}", "client_secret": "${M365_SECRET}",
              "authority": f"{tokens.base}/${{M365_TENANT}}", **settings}
    if "certificate" in settings:
        del values["client_secret"]
    return mailer(root, server, {**OAUTH_ENV, "REQUESTS_CA_BUNDLE": tokens.cafile, **(env or {})}, **values)


def oauth_server(smtp_server: Callable[..., SmtpServer], token: str = "fake-access-token-Ab12") -> SmtpServer:
    return smtp_server(tls="starttls", xoauth2={MAILBOX: token}, auth_exclude=["PLAIN"])


# -- auth: xoauth2 ------------------------------------------------------------------------


def test_xoauth2_logs_in_with_a_token_from_the_client_credentials_grant(
        root: Path, smtp_server: Callable[..., SmtpServer], token_server: Callable[..., TokenServer],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("msal")
    caplog.set_level(logging.DEBUG)  # msal's and urllib3's logs too: neither secret nor token in them
    tokens = token_server(clients={CLIENT: SECRET})
    server = oauth_server(smtp_server)
    pub = oauth_mailer(root, server, tokens)
    msg = rendered(root=root)
    receipt = pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())

    assert receipt.note == "sent to 6 of 6"
    assert server.logins == [(MAILBOX, "XOAUTH2")]
    from publishers.m365 import xoauth2

    assert server.auth_commands == ["XOAUTH2 " + xoauth2(MAILBOX, "fake-access-token-Ab12")]
    assert {m.login for m in server.messages} == {MAILBOX}
    [form] = tokens.requests
    assert form["grant_type"] == "client_credentials" and form["scope"] == SCOPE
    assert form["client_id"] == CLIENT and form["client_secret"] == SECRET

    # The token is kept until it nears its end: a second release asks the endpoint nothing.
    other = rendered(root=root, delivery_id="skolstart/start/press@2018-08-20")
    pub.publish(pub.payload(other), other.delivery_id, MemoryJournal())
    assert len(tokens.requests) == 1 and server.connections == 2
    assert caplog.records and SECRET not in caplog.text and "fake-access-token" not in caplog.text


def test_the_xoauth2_string_is_the_one_microsoft_documents() -> None:
    from publishers.m365 import xoauth2

    # Microsoft's example: user=test@contoso.onmicrosoft.com, token EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA
    assert xoauth2("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA") == (
        "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==")


def test_xoauth2_with_a_certificate(root: Path, tmp_path: Path, smtp_server: Callable[..., SmtpServer],  # noqa: F811
                                    token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    pem = tmp_path / "app.pem"
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=samverkan"], check=True, capture_output=True)
    pem.write_text(key.read_text() + cert.read_text())
    tokens = token_server(clients={CLIENT: cert.read_text()})
    server = oauth_server(smtp_server)
    pub = oauth_mailer(root, server, tokens, env={"M365_CERT": str(pem)}, certificate="${M365_CERT}")
    msg = rendered(root=root)
    assert pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal()).note == "sent to 6 of 6"
    [form] = tokens.requests
    assert "client_secret" not in form and form["client_assertion_type"].endswith("jwt-bearer")


def test_a_refused_client_secret_names_the_variables_never_the_secret(
        root: Path, smtp_server: Callable[..., SmtpServer], token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    tokens = token_server(clients={CLIENT: "another secret"})
    server = oauth_server(smtp_server)
    pub = oauth_mailer(root, server, tokens)
    msg = rendered(root=root)
    with pytest.raises(PermanentError) as e:
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())
    text = str(e.value)
    assert "invalid_client: AADSTS7000215: Invalid client secret provided." in text
    assert "M365_TENANT, M365_CLIENT and M365_SECRET" in text and "SMTP.SendAsApp" in text
    assert SECRET not in text and "Trace ID" not in text
    assert server.connections == 0  # no token, no connection


def test_an_unknown_tenant_and_an_unreachable_endpoint(
        root: Path, smtp_server: Callable[..., SmtpServer], token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    tokens = token_server(clients={CLIENT: SECRET})
    server = oauth_server(smtp_server)
    msg = rendered(root=root)
    pub = oauth_mailer(root, server, tokens, env={"M365_TENANT": "no-such-tenant"})
    with pytest.raises(PermanentError, match="knows no such tenant: check M365_TENANT"):
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())
    tokens.stop()
    pub = oauth_mailer(root, server, tokens)
    with pytest.raises(TransientError, match="cannot reach the token endpoint"):
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())


def test_a_token_the_server_refuses(root: Path, smtp_server: Callable[..., SmtpServer],  # noqa: F811
                                    token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    tokens = token_server(clients={CLIENT: SECRET})
    server = oauth_server(smtp_server, token="another token")
    pub = oauth_mailer(root, server, tokens)
    msg = rendered(root=root)
    with pytest.raises(PermanentError) as e:
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())
    assert "refused the OAuth login as the mailbox in M365_USER (535 5.7.3" in str(e.value)
    assert "fake-access-token" not in str(e.value) and not server.messages


def test_xoauth2_to_a_server_that_does_not_offer_it(
        root: Path, smtp_server: Callable[..., SmtpServer], token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    tokens = token_server(clients={CLIENT: SECRET})
    server = smtp_server(tls="starttls", auth={"x": "y"})
    pub = oauth_mailer(root, server, tokens)
    msg = rendered(root=root)
    with pytest.raises(PermanentError, match="does not offer AUTH XOAUTH2 .it offers LOGIN, PLAIN"):
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())


def test_without_msal_the_error_says_how_to_install_it(
        root: Path, smtp_server: Callable[..., SmtpServer], token_server: Callable[..., TokenServer],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msal", None)  # import msal -> ImportError
    tokens = token_server(clients={CLIENT: SECRET})
    pub = oauth_mailer(root, oauth_server(smtp_server), tokens)
    msg = rendered(root=root)
    with pytest.raises(PermanentError, match=r"needs the msal library, which is not installed: pip install 'samverkan\[m365\]'"):
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())


@pytest.mark.parametrize("settings, said", [
    ({"auth": "xoauth2", "username": "${U}", "tenant": "${T}", "client_id": "${C}"}, "either client_secret or certificate"),
    ({"auth": "xoauth2", "tenant": "${T}", "client_id": "${C}", "client_secret": "${S}"}, "needs username"),
    ({"tenant": "${T}"}, "tenant belong to auth: xoauth2"),
    ({"auth": "xoauth2", "username": "${U}", "tenant": "tenant-in-clear", "client_id": "${C}", "client_secret": "${S}"},
     "secrets are never written in YAML"),
])
def test_xoauth2_settings_are_checked(settings: dict[str, str], said: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=said):
        MailerSettings.model_validate({"publisher": "mailer", "from": FROM, "recipients": "p.csv", **settings})


# -- 550 5.7.30 ---------------------------------------------------------------------------


def test_basic_auth_switched_off_says_so_and_names_the_ways_out(
        root: Path, smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"pressbot": PASSWORD}, password_answer=BASIC_AUTH_OFF)
    pub = mailer(root, server, {"SMTP_USER": "pressbot", "SMTP_PASSWORD": PASSWORD},
                 username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    msg = rendered(root=root)
    with pytest.raises(PermanentError) as e:
        pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal())
    text = str(e.value)
    assert "no longer accepts a password login (550 5.7.30 Basic authentication is not supported" in text
    assert "auth: xoauth2" in text and "relay" in text and "connector" in text
    assert "check SMTP_USER" not in text and PASSWORD not in text


def test_basic_auth_switched_off_fails_the_release_without_retries(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"pressbot": PASSWORD}, password_answer=BASIC_AUTH_OFF)
    root = press_plan(make_root, server, username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    result = invoke("publish", DELIVERY, "--root", str(root), "--now", "2018-08-13T07:31",
                    env={"SMTP_USER": "pressbot", "SMTP_PASSWORD": PASSWORD})
    assert "5.7.30" in result.output and "auth: xoauth2" in result.output
    with Ledger(root / "state/samverkan.db") as ledger:
        row = ledger.get(DELIVERY)
        assert row is not None and row.state == "failed" and row.next_retry is None


# -- Date: the time of sending ------------------------------------------------------------

DELIVERY = "skola/start/press"


def press_plan(make_root: Callable[..., Path], server: SmtpServer, **settings: Any) -> Path:
    values: dict[str, Any] = {"publisher": "mailer", "host": server.host, "port": server.port, "timeout": 5,
                              "from": "Trygghet <trygghet@kommun.example>", "recipients": "presslista.csv"}
    values.update({"security": "starttls", "ca_file": server.cafile} if server.tls else {"security": "none"})
    values.update(settings)
    channel = "  press:\n" + "".join(f"    {k}: {v}\n" for k, v in values.items())
    text = campaign(message(at="2018-08-13 07:30", channels="[press]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(channel), campaigns={"skola": text})
    (root / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J{i},{a},T{i}\n" for i, a in enumerate(PRESS[:3])), encoding="utf-8")
    return root


def test_a_late_release_is_dated_when_it_went_out_and_archived_as_sent(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    root = press_plan(make_root, server)
    result = invoke("publish", DELIVERY, "--root", str(root), "--now", "2018-08-13T09:47:12")
    assert result.exit_code == 0, result.output
    assert len(server.messages) == 3
    mail = BytesParser(policy=policy.default).parsebytes(server.messages[0].data)
    assert mail["Date"] == "Mon, 13 Aug 2018 09:47:12 +0200"  # planned for 07:30, sent at 09:47
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.archive(DELIVERY)["press.eml"] == server.messages[0].data


# -- the sending rate ---------------------------------------------------------------------


def gaps(server: SmtpServer) -> list[float]:
    times = [m.at for m in server.messages]
    return [b - a for a, b in zip(times, times[1:])]


def test_the_rate_is_kept_across_a_release_and_the_next(root: Path, smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    pub = mailer(root, server, security="none", ca_file=None, rate=600)  # one every 0.1 s
    msg = rendered(root=root)
    journal = MemoryJournal()
    assert pub.publish(pub.payload(msg), msg.delivery_id, journal).note == "sent to 6 of 6"
    other = rendered(root=root, delivery_id="skolstart/start/press@2018-08-20")
    pub.publish(pub.payload(other), other.delivery_id, MemoryJournal())
    assert len(server.messages) == 12 and server.connections == 2
    measured = gaps(server)
    assert min(measured) >= 0.1, measured  # the server's own clock, the second release included
    assert sum(measured) < 11 * 0.1 + 1.0  # and not much slower than asked


def test_without_a_rate_nothing_waits(root: Path, smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    pub = mailer(root, server, security="none", ca_file=None)
    pub.sleep = lambda s: pytest.fail("slept")  # type: ignore[assignment]
    msg = rendered(root=root)
    assert pub.publish(pub.payload(msg), msg.delivery_id, MemoryJournal()).note == "sent to 6 of 6"


def test_a_stop_during_the_wait_leaves_the_rest_queued_and_it_goes_later(
        root: Path, smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    stop = threading.Event()
    values = {"publisher": "mailer", "from": FROM, "recipients": "presslista.csv", "timeout": 5,
              "host": server.host, "port": server.port, "security": "none", "rate": 30}
    pub = MailerPublisher(Channel("press", MailerSettings.model_validate(values), root, env={}, stop=stop))
    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the injected clock: no real waiting
        slept.append(seconds)
        now[0] += seconds
        if len(server.messages) == 2 and not stopped:
            stopped.append(True)
            stop.set()  # SIGTERM while waiting for the third

    stopped: list[bool] = []

    pub.clock, pub.sleep = (lambda: now[0]), sleep
    msg = rendered(root=root)
    journal = MemoryJournal()
    with pytest.raises(TransientError, match=r"stopped \(the daemon is stopping, or the channel was paused\): sent to 2 of 6 recipients"):
        pub.publish(pub.payload(msg), msg.delivery_id, journal)
    assert [journal.part_state(a) for a in PRESS] == ["sent", "sent"] + ["queued"] * 4
    assert max(slept) <= 0.2  # in slices, so a stop is seen at once
    stop.clear()
    assert pub.publish(pub.payload(msg), msg.delivery_id, journal).note == "sent to 6 of 6"
    assert server.recipients == PRESS  # each once
    assert abs(sum(slept) - 5 * 2.0) < 1e-6  # 30 a minute: 2 s between messages, on the injected clock


def test_sigterm_while_the_daemon_keeps_the_rate(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    root = press_plan(make_root, server, rate=2)  # one every 30 s: the daemon would wait a minute
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env={**os.environ})
    try:
        assert wait_until(lambda: len(server.messages) == 1, 20)
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    finally:
        daemon.stop()
    assert len(server.messages) == 1
    with Ledger(root / "state/samverkan.db") as ledger:
        row = ledger.get(DELIVERY)
        assert row is not None and row.state == "pending"
        assert {p: s for p, (s, _) in ledger.parts(DELIVERY).items()} == {
            PRESS[0]: "sent", PRESS[1]: "queued", PRESS[2]: "queued"}


# -- doctor -------------------------------------------------------------------------------


def test_doctor_checks_the_oauth_login(make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer],  # noqa: F811
                                       token_server: Callable[..., TokenServer]) -> None:  # noqa: F811
    pytest.importorskip("msal")
    tokens = token_server(clients={CLIENT: SECRET})
    server = oauth_server(smtp_server)
    root = press_plan(make_root, server, auth="xoauth2", username="${M365_USER}", tenant="${M365_TENANT}",
                      client_id="${M365_CLIENT}", client_secret="${M365_SECRET}",
                      authority=f"{tokens.base}/${{M365_TENANT}}")
    env = {**OAUTH_ENV, "REQUESTS_CA_BUNDLE": tokens.cafile}
    ok = invoke("doctor", "--root", str(root), env=env)
    assert f"OAuth token obtained from {tokens.authority}, XOAUTH2 login accepted" in ok.output, ok.output
    assert not server.messages
    bad = invoke("doctor", "--root", str(root), env={**env, "M365_SECRET": "wrong"})
    assert bad.exit_code != 0 and "Microsoft refused the app's token request (invalid_client" in bad.output
    assert "wrong" not in bad.output.replace("went wrong", "")


def test_a_pause_stops_a_press_list_under_way_and_resume_sends_the_rest_once(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    """A pause stops publishing on its channel within a second, even in the middle of a
    long list kept at a slow rate; on resume the rest get it, nobody twice."""
    import time

    server = smtp_server()
    root = press_plan(make_root, server, rate=6)  # one every 10 s
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env={**os.environ})
    try:
        assert wait_until(lambda: len(server.messages) == 1, 20)
        paused = invoke("pause", "--channel", "press", "--reason", "Fel bild", "--root", str(root),
                        "--now", "2018-08-13T07:30:05")
        assert paused.exit_code == 0, paused.output
        asked = time.monotonic()
        with Ledger(root / "state/samverkan.db") as ledger:
            assert wait_until(lambda: (r := ledger.get(DELIVERY)) is not None and r.state != "in_flight", 5)
        assert time.monotonic() - asked < 2  # within a second (and the ledger's look twice a second)
        assert len(server.messages) == 1
        resumed = invoke("resume", "--channel", "press", "--root", str(root), "--now", "2018-08-13T07:30:10")
        assert resumed.exit_code == 0, resumed.output
        assert wait_until(lambda: len(server.messages) == 3, 40), "\n".join(daemon.raw)
    finally:
        daemon.stop()
    assert sorted(server.recipients) == sorted(PRESS[:3])  # each once
