"""Alerts: one mail per event to a real SMTP server on 127.0.0.1, never twice; the daily
digest; the alert command; and the checks ahead of a delivery against the fake Graph API."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

import pytest

from samverkan.alerts import AheadChecker, Alerter, open_alerts
from samverkan.ledger import Ledger
from samverkan.loading import Project, load_project
from samverkan.plan import Delivery, deliveries
from tests.helpers.daemon import wait_until
from tests.helpers.daemon import DaemonProcess
from tests.helpers.graph import GraphServer, graph_server  # noqa: F401 (fixture)
from tests.helpers.plans import TZ, campaign, dedent, message, with_channels
from tests.helpers.smtp import SmtpServer, smtp_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

PAGE = "112386409275163"
TOKEN = "EAAGm0PX4ZCpsBAHemligtAlertToken77"
PASSWORD = "alert-Pa55word-hemligt"
VAKT = ["vakt@kommun.example", "chef@polisen.example"]
T0 = datetime(2018, 8, 12, 8, 0, tzinfo=TZ)

CAMPAIGN = campaign(
    message(channels="[facebook-polisen]"),
    message("vecka", "2018-08-20 12:00", "Påminnelse", "Fortsätt köra lugnt.", channels="[webb]"),
)


def channels(server: SmtpServer, graph_url: str | None = None) -> str:
    out = (
        "  press:\n"
        "    publisher: mailer\n"
        f"    host: {server.host}\n"
        f"    port: {server.port}\n"
        "    security: starttls\n"
        f"    ca_file: {server.cafile}\n"
        "    username: ${SMTP_USER}\n"
        "    password: ${SMTP_PASSWORD}\n"
        '    from: "Samverkan larm <larm@kommun.example>"\n'
        "    recipients: presslista.csv\n"
        "    timeout: 5\n"
    )
    # The campaign names this channel; nothing contacts it unless a test checks it.
    out += (
        "  facebook-polisen:\n"
        "    publisher: facebook\n"
        f'    page_id: "{PAGE}"\n'
        "    token: ${FB_TOKEN_POLISEN}\n"
        f"    graph_url: {graph_url or 'http://127.0.0.1:9/'}\n"
        "    timeout: 2\n"
    )
    return out


def config(server: SmtpServer, alerts: str, graph_url: str | None = None) -> str:
    return with_channels(channels(server, graph_url), tail=alerts)


def mail_alerts(**extra: str) -> str:
    lines = ["alerts:", f"  mail: {{channel: press, to: [{', '.join(VAKT)}]}}"]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def server(smtp_server: Callable[..., SmtpServer]) -> SmtpServer:  # noqa: F811
    return smtp_server(tls="starttls", auth={"alertbot": PASSWORD})


@pytest.fixture
def env() -> dict[str, str]:
    return {"SMTP_USER": "alertbot", "SMTP_PASSWORD": PASSWORD, "FB_TOKEN_POLISEN": TOKEN}


@pytest.fixture
def setup(make_root: Callable[..., Path], env: dict[str, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    """``setup(config_text)`` → (project, ledger, alerter); the ledger is closed after the test.
    The alerter sends before it returns (the daemon's sends in a thread: test_review_second.py)."""
    opened: list[Ledger] = []

    def make(text: str, campaigns: dict[str, str] | None = None) -> tuple[Project, Ledger, Alerter]:
        root = make_root(config=text, campaigns=campaigns or {"skola": CAMPAIGN})
        (root / "presslista.csv").write_text("name,email,outlet\nLena,lena@tidning.example,Tidningen\n", encoding="utf-8")
        project = load_project(root)
        assert not project.problems.errors, project.problems
        ledger = Ledger(tmp_path / f"state{len(opened)}.db")
        opened.append(ledger)
        return project, ledger, Alerter(project, ledger, env=env, background=False)

    yield make
    for ledger in opened:
        ledger.close()


def mails(server: SmtpServer) -> list[EmailMessage]:
    return [message_from_bytes(m.data, policy=policy.default) for m in server.messages]  # type: ignore[misc]


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def row(ledger: Ledger, id: str, due: datetime) -> None:
    campaign, message, channel = id.split("@")[0].split("/")
    ledger.ensure(id=id, campaign=campaign, message=message, channel=channel, publisher="facebook", due_at=due, now=T0)


# --- one mail per event, never twice ------------------------------------------------------


def test_one_mail_per_event_and_never_twice(setup, server: SmtpServer) -> None:
    project, ledger, alerter = setup(config(server, mail_alerts()))
    reason = "the page token for facebook-polisen has expired: create a new one and set FB_TOKEN_POLISEN"
    fix = "samverkan publish skola/start/facebook-polisen"
    assert alerter.alert("failed", "skola/start/facebook-polisen", reason, fix, now=T0) is True
    assert alerter.alert("failed", "skola/start/facebook-polisen", reason, fix, now=T0 + timedelta(hours=1)) is False
    assert len(server.messages) == 1
    [msg] = mails(server)
    assert server.messages[0].rcpt_tos == VAKT
    assert msg["Subject"] == "samverkan: skola/start/facebook-polisen: failed"
    assert msg["From"] == "Samverkan larm <larm@kommun.example>"
    assert msg["Auto-Submitted"] == "auto-generated"
    text = body(msg)
    assert f"What happened: {reason}\n" in text
    assert f"What to do: {fix}\n" in text
    assert "Noticed: 2018-08-12 08:00 CEST" in text
    assert server.logins == [("alertbot", PASSWORD)]  # logged in, inside TLS
    # Another event (another delivery, or another reason) is alerted.
    assert alerter.alert("failed", "skola/vecka/webb", reason, fix, now=T0)
    assert alerter.alert("failed", "skola/start/facebook-polisen", "another reason", fix, now=T0)
    assert len(server.messages) == 3
    # A new Alerter on the same ledger (a restarted daemon) remembers.
    again = Alerter(project, ledger, env=alerter.env, background=False)
    assert again.alert("failed", "skola/start/facebook-polisen", reason, fix, now=T0) is False
    assert len(server.messages) == 3


def test_scan_alerts_what_needs_a_person_once(setup, server: SmtpServer) -> None:
    project, ledger, alerter = setup(config(server, mail_alerts()))
    now = T0
    row(ledger, "c/failed/facebook-polisen", now - timedelta(hours=1))
    ledger.failed("c/failed/facebook-polisen", now, error="Facebook refused the post (code 100)", state="failed")
    row(ledger, "c/unknown/facebook-polisen", now - timedelta(hours=2))
    ledger.set_state("c/unknown/facebook-polisen", "unknown", now, note="the process publishing it stopped")
    row(ledger, "c/missed/facebook-polisen", now - timedelta(hours=9))
    ledger.set_state("c/missed/facebook-polisen", "missed", now, note="due 2018-08-11 23:00, more than 6h ago")
    row(ledger, "c/held/facebook-polisen", now + timedelta(hours=20))
    ledger.set_state("c/held/facebook-polisen", "held", now, note="awaiting approval by kommunen, polisen")
    row(ledger, "c/later/facebook-polisen", now + timedelta(days=3))
    ledger.set_state("c/later/facebook-polisen", "held", now, note="awaiting approval by polisen")
    row(ledger, "c/fine/facebook-polisen", now + timedelta(hours=2))

    assert alerter.scan(now) == 4
    assert alerter.scan(now + timedelta(minutes=5)) == 0
    by_subject = {m["Subject"]: body(m) for m in mails(server)}
    assert sorted(by_subject) == [
        "samverkan: c/failed/facebook-polisen: failed",
        "samverkan: c/held/facebook-polisen: held",
        "samverkan: c/missed/facebook-polisen: missed",
        "samverkan: c/unknown/facebook-polisen: may or may not have gone out",
    ]
    assert ("What to do: samverkan approve c/held --party kommunen --by NAME; "
            "samverkan approve c/held --party polisen --by NAME") in by_subject["samverkan: c/held/facebook-polisen: held"]
    assert ("samverkan resolve c/unknown/facebook-polisen --as published|failed"
            in by_subject["samverkan: c/unknown/facebook-polisen: may or may not have gone out"])
    assert "Due: 2018-08-12 07:00 CEST" in by_subject["samverkan: c/failed/facebook-polisen: failed"]

    # The held one 3 days ahead comes within 24 h of its time: alerted then, once.
    assert alerter.scan(now + timedelta(days=2, hours=1)) == 1
    assert alerter.scan(now + timedelta(days=2, hours=2)) == 0
    assert len(server.messages) == 5

    # Settled and then failing again with the same reason: a new event, alerted again.
    ledger.begin("c/failed/facebook-polisen", "h", now, fields={}, files={})
    ledger.published("c/failed/facebook-polisen", now, external_id="1", url=None, note=None)
    assert alerter.scan(now + timedelta(hours=1)) == 0
    ledger.begin("c/failed/facebook-polisen", "h", now, force=True)
    ledger.failed("c/failed/facebook-polisen", now, error="Facebook refused the post (code 100)", state="failed")
    assert alerter.scan(now + timedelta(hours=2)) == 1
    assert len(server.messages) == 6


def test_daily_digest_sends_one_mail_with_several_events(setup, server: SmtpServer) -> None:
    project, ledger, alerter = setup(config(server, mail_alerts(digest="daily", digest_at='"07:00"')))
    early = datetime(2018, 8, 13, 6, 0, tzinfo=TZ)
    for i in range(3):
        assert alerter.alert("missed", f"c/m{i}/webb", f"due at 0{i}:00, more than 6h ago", f"samverkan publish c/m{i}/webb", now=early)
    assert alerter.alert("missed", "c/m0/webb", "due at 00:00, more than 6h ago", None, now=early) is False
    assert alerter.flush(early) == 0  # before 07:00: nothing yet
    assert server.messages == []
    assert alerter.flush(early.replace(hour=7, minute=5)) == 3
    assert len(server.messages) == 1
    [digest] = mails(server)
    assert digest["Subject"] == "samverkan: 3 alerts"
    text = body(digest)
    for i in range(3):
        assert f"c/m{i}/webb: missed" in text and f"What to do: samverkan publish c/m{i}/webb" in text
    # A later event the same day waits for tomorrow's digest.
    assert alerter.alert("failed", "c/x/webb", "the disk is full", None, now=early.replace(hour=9))
    assert alerter.flush(early.replace(hour=10)) == 0
    assert alerter.flush(early.replace(hour=23, minute=59)) == 0
    assert alerter.flush(early + timedelta(days=1, hours=1, minutes=1)) == 1
    assert len(server.messages) == 2
    assert mails(server)[1]["Subject"] == "samverkan: c/x/webb: failed"
    assert alerter.flush(early + timedelta(days=2, hours=1, minutes=1)) == 0  # nothing queued


def test_mail_that_could_not_be_sent_is_sent_later_once(setup, server: SmtpServer, env: dict[str, str]) -> None:
    env["SMTP_PASSWORD"] = "wrong-password"
    project, ledger, alerter = setup(config(server, mail_alerts()))
    assert alerter.alert("unknown", "c/m/press", "the daemon stopped while sending", None, now=T0)
    assert server.messages == []
    env["SMTP_PASSWORD"] = PASSWORD  # someone fixed it
    assert alerter.alert("unknown", "c/m/press", "the daemon stopped while sending", None, now=T0) is False
    assert alerter.flush(T0 + timedelta(minutes=1)) == 1
    assert alerter.flush(T0 + timedelta(minutes=30)) == 0
    assert len(server.messages) == 1


def test_alerts_never_contain_secrets(setup, server: SmtpServer) -> None:
    project, ledger, alerter = setup(config(server, mail_alerts()))
    # Should a message ever echo a secret, the alert blanks it.
    alerter.alert("failed", "c/m/press", f"the server said: 535 bad login {PASSWORD}", None, now=T0)
    data = server.messages[0].data
    assert PASSWORD.encode() not in data
    assert b"bad login ***" in data


def test_alert_command_gets_the_text_and_the_event_but_no_secrets(setup, server: SmtpServer, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "alert.json"
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        f"with open({str(out)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'text': sys.stdin.read(), 'env': dict(os.environ)}) + '\\n')\n"
    )
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    monkeypatch.setenv("FB_TOKEN_POLISEN", TOKEN)  # in the daemon's own environment too
    project, ledger, alerter = setup(config(server, f"alerts:\n  command: {json.dumps(command)}\n"))
    assert alerter.alert("unknown", "c/m/facebook-polisen", "stopped while sending", "samverkan resolve c/m/facebook-polisen --as published|failed", now=T0)
    assert alerter.alert("unknown", "c/m/facebook-polisen", "stopped while sending", None, now=T0) is False
    [record] = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["env"]["SAMVERKAN_ALERT_KIND"] == "unknown"
    assert record["env"]["SAMVERKAN_ALERT_DELIVERY"] == "c/m/facebook-polisen"
    assert "What to do: samverkan resolve c/m/facebook-polisen --as published|failed" in record["text"]
    assert TOKEN not in json.dumps(record) and "FB_TOKEN_POLISEN" not in record["env"]
    assert server.messages == []  # no mail configured


def test_failing_command_is_retried(setup, server: SmtpServer, tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    command = f"test -e {shlex.quote(str(flag))}"
    project, ledger, alerter = setup(config(server, f"alerts:\n  command: {json.dumps(command)}\n"))
    alerter.alert("missed", "c/m/webb", "too late", None, now=T0)
    assert alerter.flush(T0) == 0  # still failing
    flag.touch()
    assert alerter.flush(T0 + timedelta(minutes=5)) == 0  # not yet: tried again every 10 minutes
    assert alerter.flush(T0 + timedelta(minutes=11)) == 1


# --- checks ahead of time --------------------------------------------------------------------


def plan_of(*items: tuple[str, datetime]) -> list[Delivery]:
    return [Delivery(f"c/m{i}/{ch}", "c", f"m{i}", ch, at) for i, (ch, at) in enumerate(sorted(items, key=lambda x: x[1]))]


def test_ahead_checker_once_a_day_and_before_each_delivery() -> None:
    d1 = datetime(2018, 8, 13, 7, 30, tzinfo=TZ)
    plan = plan_of(("facebook-polisen", d1), ("press", d1 + timedelta(days=3)), ("webb", d1 - timedelta(days=3)))
    ahead = AheadChecker(timedelta(hours=24), TZ)
    start = datetime(2018, 8, 12, 0, 5, tzinfo=TZ)
    # The first look of a day: every channel still to be used (webb's delivery is past).
    assert ahead.due_checks(start, plan) == ["facebook-polisen", "press"]
    assert ahead.due_checks(start + timedelta(hours=1), plan) == []
    # 24 h before the Facebook delivery: its channel again, once.
    assert ahead.due_checks(d1 - timedelta(hours=24), plan) == ["facebook-polisen"]
    assert ahead.due_checks(d1 - timedelta(hours=23), plan) == []
    # Next day: the daily round again (Facebook's was checked yesterday).
    assert ahead.due_checks(datetime(2018, 8, 13, 0, 5, tzinfo=TZ), plan) == ["facebook-polisen", "press"]
    assert ahead.due_checks(d1 - timedelta(minutes=1), plan) == []
    # After the delivery only the press channel is left.
    assert ahead.due_checks(datetime(2018, 8, 14, 0, 5, tzinfo=TZ), plan) == ["press"]


@pytest.fixture
def expired_facebook(setup, server: SmtpServer, graph_server: GraphServer):  # type: ignore[no-untyped-def]  # noqa: F811
    """A plan whose Facebook page token has expired: (project, ledger, alerter, its
    facebook-polisen deliveries, a checker ahead)."""
    graph_server.add_token(TOKEN, profile_id=PAGE, expired=True)
    project, ledger, alerter = setup(config(server, mail_alerts(), graph_url=graph_server.url))
    plan = [d for d in deliveries(project) if d.channel == "facebook-polisen"]
    return project, ledger, alerter, plan, AheadChecker.for_project(project)


def test_expired_token_alerted_once_a_day_before_and_once_when_the_delivery_fails(
    expired_facebook, server: SmtpServer, graph_server: GraphServer, env: dict[str, str]  # noqa: F811
) -> None:
    from samverkan.publishing import Publishing

    project, ledger, alerter, plan, ahead = expired_facebook
    [d] = plan

    day_before = d.at - timedelta(hours=23)
    found = ahead.run(day_before, plan, project, alerter, env=env)
    assert [(ch, r.status) for ch, r in found] == [("facebook-polisen", "fail")]
    assert len(server.messages) == 1
    [msg] = mails(server)
    assert msg["Subject"] == "samverkan: facebook-polisen: channel check failed"
    text = body(msg)
    assert "What happened: the page token for facebook-polisen has expired: create a new one and set FB_TOKEN_POLISEN" in text
    assert "samverkan doctor" in text and TOKEN not in text
    # Checked again later (nothing due) or the next morning (still expired): no second mail.
    assert ahead.run(day_before + timedelta(hours=1), plan, project, alerter, env=env) == []
    assert ahead.run(d.at - timedelta(hours=7), plan, project, alerter, env=env)  # the next day's round
    assert len(server.messages) == 1
    assert not graph_server.writes()  # checks never post

    # At its time the delivery fails on the expired token: one alert, with the fix.
    clock = lambda: d.at  # noqa: E731
    outcome = Publishing(project, ledger, clock, env=env).publish(d)
    assert outcome.result == "failed"
    assert alerter.scan(d.at) == 1
    assert alerter.scan(d.at + timedelta(minutes=1)) == 0
    assert len(server.messages) == 2
    failed = mails(server)[1]
    assert failed["Subject"] == f"samverkan: {d.id}: failed"
    assert f"What to do: fix the cause above, then: samverkan publish {d.id}" in body(failed)


def test_a_channel_that_passes_again_closes_its_check_alert(expired_facebook, server: SmtpServer,
                                                            graph_server: GraphServer, env: dict[str, str]) -> None:  # noqa: F811
    project, ledger, alerter, plan, ahead = expired_facebook
    ahead.run(T0 - timedelta(days=2), plan, project, alerter, env=env)
    assert [(a.kind, a.subject) for a in open_alerts(ledger)] == [("check", "facebook-polisen")]
    graph_server.add_token(TOKEN, profile_id=PAGE)  # a new token was set
    ahead.run(T0 - timedelta(days=1), plan, project, alerter, env=env)
    assert open_alerts(ledger) == []  # closed
    graph_server.add_token(TOKEN, profile_id=PAGE, expired=True)  # and expired again
    ahead.run(T0, plan, project, alerter, env=env)
    assert [m["Subject"] for m in mails(server)] == ["samverkan: facebook-polisen: channel check failed"] * 2


def test_no_alert_settings_only_logs(setup, server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    project, ledger, alerter = setup(config(server, ""))
    assert alerter.alert("failed", "c/m/webb", "the disk is full", None, now=T0)
    assert server.messages == []
    assert any("alert failed c/m/webb: the disk is full" in r.getMessage() for r in caplog.records)
    assert alerter.alert("failed", "c/m/webb", "the disk is full", None, now=T0) is False


def test_checks_ahead_in_the_background(expired_facebook, server: SmtpServer, graph_server: GraphServer,  # noqa: F811
                                        env: dict[str, str]) -> None:
    project, ledger, alerter, plan, ahead = expired_facebook
    thread = ahead.start(T0, plan, project, alerter, env=env)
    assert thread is not None
    assert ahead.start(T0, plan, project, alerter, env=env) is None  # one round at a time / nothing due
    ahead.join(timeout=20)
    assert not thread.is_alive()
    assert [m["Subject"] for m in mails(server)] == ["samverkan: facebook-polisen: channel check failed"]


def test_an_alert_claimed_by_a_process_that_stopped_is_sent_by_the_next(setup, server: SmtpServer, env: dict[str, str]) -> None:
    project, ledger, alerter = setup(config(server, mail_alerts()))
    with ledger.transaction() as db:  # as a daemon killed while it was sending leaves it
        db.execute("INSERT INTO alerts (key, kind, subject, reason, fix, at, state) VALUES "
                   "('k', 'missed', 'c/m/webb', 'too late', NULL, '2018-08-12T06:00:00+00:00', 'sending pending mail')")
    restarted = Alerter(project, ledger, env=env, background=False)
    assert restarted.flush(T0) == 1
    assert restarted.flush(T0 + timedelta(hours=1)) == 0
    assert [m["Subject"] for m in mails(server)] == ["samverkan: c/m/webb: missed"]


# --- the daemon, as a real process ------------------------------------------------------------

DAEMON_TOKEN = "EAAGm0PX4ZCpsBAHemligtDaemonToken9"
DAEMON_PASSWORD = "daemon-alert-Pa55"


def _text_of(data: bytes) -> str:
    msg = message_from_bytes(data, policy=policy.default)
    return f"Subject: {msg['Subject']}\n" + msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def _daemon_root(make_root, server: SmtpServer, graph_url: str) -> Path:
    channels = dedent(f"""
        facebook-polisen:
          publisher: facebook
          page_id: "{PAGE}"
          token: ${{FB_TOKEN_POLISEN}}
          graph_url: {graph_url}
          timeout: 2
        press:
          publisher: mailer
          host: {server.host}
          port: {server.port}
          security: starttls
          ca_file: {server.cafile}
          username: ${{SMTP_USER}}
          password: ${{SMTP_PASSWORD}}
          from: "Samverkan larm <larm@kommun.example>"
          recipients: presslista.csv
        """)
    config = with_channels("".join("  " + line + "\n" for line in channels.splitlines()),
                           tail="alerts:\n  mail: {channel: press, to: [vakt@kommun.example]}\n")
    skola = campaign(message(at="2018-08-13 07:30:02", channels="[facebook-polisen]"), bases=None,
                     period=("2018-08-01", "2018-09-09"))
    root = make_root(config=config, campaigns={"skola": skola})
    (root / "presslista.csv").write_text("name,email,outlet\nLena,lena@tidning.example,Tidningen\n")
    return root


def _run_daemon(root: Path, now: str, env: dict[str, str], server: SmtpServer, mails: int,
                event: tuple[str, ...] = ("started",)) -> None:
    """Run the daemon at ``now`` until it has logged ``event`` and the server holds ``mails``
    mails; then, once it has started, SIGTERM must end it with exit code 0."""
    daemon = DaemonProcess(root, now=now, env=env)
    try:
        daemon.wait_event(*event)
        assert wait_until(lambda: len(server.messages) >= mails, 20)
        daemon.wait_event("started")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.stop()


def test_daemon_alerts_a_day_before_and_when_the_delivery_fails(make_root, smtp_server, graph_server) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"alertbot": DAEMON_PASSWORD})
    graph_server.add_token(DAEMON_TOKEN, profile_id=PAGE, expired=True)
    root = _daemon_root(make_root, server, graph_server.url)
    env = {**os.environ, "FB_TOKEN_POLISEN": DAEMON_TOKEN, "SMTP_USER": "alertbot", "SMTP_PASSWORD": DAEMON_PASSWORD}

    # A day before: the check ahead finds the expired token and tells a person, once.
    _run_daemon(root, "2018-08-12T07:40:00", env, server, mails=1)
    assert len(server.messages) == 1
    first = _text_of(server.messages[0].data)
    assert "Subject: samverkan: facebook-polisen: channel check failed" in first
    assert "has expired: create a new one and set FB_TOKEN_POLISEN" in first
    assert DAEMON_TOKEN not in first and DAEMON_PASSWORD not in first

    # At its time: the check again (still the same event: no mail), then the delivery fails.
    _run_daemon(root, "2018-08-13T07:30:00", env, server, mails=2, event=("failed", "skola/start/facebook-polisen"))
    assert len(server.messages) == 2
    second = _text_of(server.messages[1].data)
    assert "Subject: samverkan: skola/start/facebook-polisen: failed" in second
    assert "samverkan publish skola/start/facebook-polisen" in second
    assert [r.edge for r in graph_server.writes()] == ["feed"]  # checks never post; one try at its time


def test_a_delivery_left_in_flight_by_a_dead_process_is_alerted_with_what_happened(setup, server: SmtpServer) -> None:
    """Reaped after a crash it has no note: the alert still says what happened and what to do."""
    project, ledger, alerter = setup(config(server, mail_alerts()))
    row(ledger, "c/krasch/facebook-polisen", T0 - timedelta(minutes=5))
    ledger.set_state("c/krasch/facebook-polisen", "unknown", T0)
    assert alerter.scan(T0) == 1
    [mail] = mails(server)
    text = body(mail)
    assert "the process sending it stopped before it could record whether it went out" in text
    assert "samverkan resolve c/krasch/facebook-polisen --as published|failed" in text
    assert "unknown: unknown" not in text and ": unknown\n" not in text
