"""The second review's findings: alerts sent from a thread of their own, alerts and checks
ahead across the night the clocks go back, SMTP logins with å/ä/ö, the Facebook photo
kept with the payload, the way out of "posted earlier but no longer on the page", and
what ``status`` shows (failing channel checks, a repeated message's next occurrence)."""

from __future__ import annotations

import json
import shlex
import socket
import sqlite3
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from publishers.base import Channel, CheckResult, MemoryJournal, PermanentError
from publishers.facebook import FacebookPublisher, FacebookSettings
from publishers.mailer import MailerPublisher, MailerSettings
from samverkan.alerts import AheadChecker, Alerter, open_alerts
from samverkan.ledger import Ledger
from samverkan.loading import load_project
from samverkan.plan import Delivery
from samverkan.rendering import ImageRef, RenderedMessage
from tests.helpers.cli import invoke
from tests.helpers.daemon import Clock, started_daemon, wait_until
from tests.helpers.graph import GraphServer, closed_port_url, graph_server  # noqa: F401 (fixture)
from tests.helpers.plans import (
    MINIMAL_CONFIG,
    NOTEBOOK_CHANNEL,
    PNG,
    TZ,
    campaign,
    full_root,
    message,
    with_channels,
)
from tests.helpers.smtp import SmtpServer, smtp_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

T0 = datetime(2018, 8, 12, 8, 0, tzinfo=TZ)
VAKT = "vakt@kommun.example"


# --- 1. alerts are sent from a thread of their own -------------------------------------------


class SilentServer:
    """Accepts connections on 127.0.0.1 and never says a word: a hung SMTP server."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting: close() alone does not
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def alert_root(make_root: Callable[..., Path], host: str, port: int, *, timeout: float = 2,
               campaigns: dict[str, str] | None = None) -> Path:
    larm = (
        "  larm:\n"
        "    publisher: mailer\n"
        f"    host: {host}\n"
        f"    port: {port}\n"
        "    security: none\n"
        '    from: "Samverkan larm <larm@kommun.example>"\n'
        "    recipients: content/presslista.csv\n"  # make_root writes it
        f"    timeout: {timeout}\n"
    )
    config = with_channels(larm, tail=f"alerts:\n  mail: {{channel: larm, to: [{VAKT}]}}\n")
    return make_root(config=config, campaigns=campaigns or {})


def alert_states(ledger: Ledger) -> list[str]:
    return [r["state"] for r in ledger.read("SELECT state FROM alerts ORDER BY seq")]


def test_alerts_are_sent_in_the_background_and_a_silent_server_delays_nothing(
    make_root: Callable[..., Path], silent: SilentServer, tmp_path: Path
) -> None:
    project = load_project(alert_root(make_root, "127.0.0.1", silent.port))
    with Ledger(tmp_path / "state.db") as ledger:
        alerter = Alerter(project, ledger, env={})
        started = time.monotonic()
        assert alerter.alert("failed", "c/a/webb", "the disk is full", None, now=T0)
        assert alerter.alert("missed", "c/b/webb", "too late", None, now=T0)
        alerter.flush(T0)
        assert time.monotonic() - started < 1.0  # each mail waits 2 s on the server: not here
        # The one being sent is claimed ("sending ..."): only one try of it at a time.
        assert wait_until(lambda: "sending pending mail" in alert_states(ledger), 5)
        # An unresolved alert of the same event (same key) exists: it is not alerted again.
        assert alerter.alert("failed", "c/a/webb", "the disk is full", None, now=T0) is False
        assert alerter.join(timeout=30)
        assert alert_states(ledger) == ["pending mail", "pending mail"]  # tried later again
        errors = [r["last_error"] for r in ledger.read("SELECT last_error FROM alerts")]
        assert all("cannot talk to the SMTP server" in e for e in errors)
    assert len(silent.conns) == 2  # one try each: never the same alert twice at once


def test_join_lets_the_alert_in_flight_finish_and_what_is_left_goes_out_later(
    make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer], tmp_path: Path  # noqa: F811
) -> None:
    server = smtp_server(reply_delay=1.0)  # a slow server: a second before each 250
    project = load_project(alert_root(make_root, server.host, server.port, timeout=10))
    with Ledger(tmp_path / "state.db") as ledger:
        alerter = Alerter(project, ledger, env={})
        started = time.monotonic()
        assert alerter.alert("unknown", "c/a/webb", "stopped while sending", None, now=T0)
        assert time.monotonic() - started < 0.5
        assert alerter.join(timeout=30)  # as Daemon.close() does: the mail in flight finishes
        assert len(server.messages) == 1 and alert_states(ledger) == ["sent"]
        # After join nothing more is sent by it; the alert waits in the ledger ...
        assert alerter.alert("missed", "c/b/webb", "too late", None, now=T0)
        assert alerter.flush(T0 + timedelta(minutes=11)) == 0  # handed to no sender
        assert alert_states(ledger) == ["sent", "pending mail"] and len(server.messages) == 1
        # ... for the next process.
        again = Alerter(project, ledger, env={}, background=False)
        assert again.flush(T0 + timedelta(minutes=1)) == 1
    assert [m.data.count(b"c/b/webb") > 0 for m in server.messages] == [False, True]


def test_the_daemon_watch_returns_at_once_when_the_mail_server_hangs(
    make_root: Callable[..., Path], silent: SilentServer
) -> None:
    skola = campaign(message(at="2018-08-13 07:30"), period=("2018-08-01", "2018-09-09"))
    root = alert_root(make_root, "127.0.0.1", silent.port, campaigns={"skola": skola})
    clock = Clock("2018-08-13T08:00")
    now = clock.now
    d = started_daemon(root, clock, env={})
    try:
        for i in range(3):
            did = f"skola/m{i}/webb"
            d.ledger.ensure(id=did, campaign="skola", message=f"m{i}", channel="webb", publisher="rss",
                            due_at=now - timedelta(minutes=30), now=now)
            d.ledger.failed(did, now, error="the disk is full", state="failed")
        started = time.monotonic()
        d.watch()  # checks ahead, then three alerts to a server that never answers
        assert time.monotonic() - started < 1.0
        # ... which were sent all the same, in the background: tried, and kept for later.
        assert wait_until(lambda: len(silent.conns) >= 1, 5)
        silent.close()
        assert d.alerter is not None and d.alerter.join(timeout=30)
        assert alert_states(d.ledger) == ["pending mail"] * 3
    finally:
        d.close()  # joins the check round and the alert sender too


# --- 2. the night the clocks go back ---------------------------------------------------------


@pytest.mark.parametrize(("settings", "kind"), [
    pytest.param("", "failed", id="an alert"),
    pytest.param('  digest: daily\n  digest_at: "02:00"\n', "missed", id="the digest"),
])
def test_a_failed_sending_is_retried_after_ten_real_minutes_on_the_night_the_clocks_go_back(
    make_root: Callable[..., Path], tmp_path: Path, settings: str, kind: str
) -> None:
    flag = tmp_path / "ok"
    command = f"test -e {shlex.quote(str(flag))}"
    root = make_root(config=MINIMAL_CONFIG + f"alerts:\n  command: {json.dumps(command)}\n{settings}")
    project = load_project(root)
    with Ledger(tmp_path / "state.db") as ledger:
        alerter = Alerter(project, ledger, env={}, background=False)
        t0 = datetime(2018, 10, 28, 0, 55, tzinfo=timezone.utc).astimezone(TZ)  # 02:55 CEST
        assert alerter.alert(kind, "c/s/webb", "boom", None, now=t0)
        assert alerter.flush(t0) == 0  # the command fails
        flag.touch()
        later = (t0.astimezone(timezone.utc) + timedelta(minutes=5)).astimezone(TZ)
        assert alerter.flush(later) == 0  # not yet
        later = (t0.astimezone(timezone.utc) + timedelta(minutes=10)).astimezone(TZ)  # 02:05 CET
        assert later.fold == 1
        assert alerter.flush(later) == 1


def test_a_channel_is_checked_ahead_of_a_delivery_in_the_repeated_hour() -> None:
    # The delivery is at 02:30 CET, the second 02:30 of the night; at 02:35 CEST it is
    # still 55 minutes ahead, not past.
    at = datetime(2018, 10, 28, 1, 30, tzinfo=timezone.utc).astimezone(TZ)
    assert at.fold == 1
    plan = [Delivery("c/m/facebook", "c", "m", "facebook", at)]
    ahead = AheadChecker(timedelta(hours=1), TZ)
    assert ahead.due_checks(datetime(2018, 10, 28, 0, 5, tzinfo=TZ), plan) == ["facebook"]  # the daily round
    now = datetime(2018, 10, 28, 0, 35, tzinfo=timezone.utc).astimezone(TZ)  # 02:35 CEST
    assert ahead.due_checks(now, plan) == ["facebook"]  # within check_ahead of it
    assert ahead.due_checks(now + timedelta(minutes=1), plan) == []


# --- 3. an SMTP password with å, ä or ö -------------------------------------------------------

SWEDISH = "hemlig-lösen-42"


def press_message() -> RenderedMessage:
    return RenderedMessage(
        delivery_id="skola/start/press", campaign="skola", message="start", channel="press",
        publisher="mailer", at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ), embargo=None,
        title="Nu börjar skolan",
        parts={"subject": "Nu börjar skolan", "text": "Sänk farten.\n",
               "html": "<html><body><p>Sänk farten.</p></body></html>"},
        link=None, image=None, logos=(), contacts=(), parties=("Testkommun",),
    )


def press(root: Path, server: SmtpServer) -> MailerPublisher:
    (root / "presslista.csv").write_text("name,email,outlet\nLena,lena@tidning.example,T\n", encoding="utf-8")
    settings = MailerSettings.model_validate({
        "publisher": "mailer", "from": "Trygg <trygghet@kommun.example>", "recipients": "presslista.csv",
        "host": server.host, "port": server.port, "security": "starttls", "ca_file": server.cafile,
        "username": "${SMTP_USER}", "password": "${SMTP_PASSWORD}", "timeout": 5,
    })
    return MailerPublisher(Channel("press", settings, root, env={"SMTP_USER": "pressbot", "SMTP_PASSWORD": SWEDISH}))


def test_a_password_with_swedish_letters_logs_in_with_auth_plain_in_utf8(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]  # noqa: F811
) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": SWEDISH})
    pub = press(tmp_path, server)
    smtp = pub.check()[0]
    assert (smtp.status, smtp.message.endswith("login accepted")) == ("ok", True), smtp
    receipt = pub.publish(pub.payload(press_message()), "skola/start/press", MemoryJournal())
    assert receipt.note == "sent to 1 of 1"
    assert server.logins == [("pressbot", SWEDISH)] * 2
    assert [c.split()[0].upper() for c in server.auth_commands] == ["PLAIN"] * 2
    assert server.recipients == ["lena@tidning.example"]


def test_a_password_with_swedish_letters_and_no_auth_plain_names_the_variable_only(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]  # noqa: F811
) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": SWEDISH}, auth_exclude=["PLAIN"])  # LOGIN only
    pub = press(tmp_path, server)
    with pytest.raises(PermanentError) as caught:
        pub.publish(pub.payload(press_message()), "skola/start/press", MemoryJournal())
    text = str(caught.value)
    assert "the password in SMTP_PASSWORD has characters outside ASCII" in text
    assert "offers LOGIN" in text
    for leak in ("ö", "\\xf6", "position", "lösen", "hemlig", "Traceback"):
        assert leak not in text
    logged = "".join(traceback.format_exception(caught.value))  # what a log would show
    assert "ö" not in logged and "\\xf6" not in logged and "UnicodeEncodeError" not in logged
    [smtp, *_] = pub.check()
    assert smtp.status == "fail" and "SMTP_PASSWORD has characters outside ASCII" in smtp.message
    assert "ö" not in smtp.message and "position" not in smtp.message
    assert server.messages == []


def test_a_wrong_password_with_swedish_letters_is_refused_with_a_hint(
    tmp_path: Path, smtp_server: Callable[..., SmtpServer]  # noqa: F811
) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": "annat-lösen"})
    pub = press(tmp_path, server)
    with pytest.raises(PermanentError) as caught:
        pub.publish(pub.payload(press_message()), "skola/start/press", MemoryJournal())
    text = str(caught.value)
    assert "refused the login (535" in text and "check SMTP_USER and SMTP_PASSWORD" in text
    assert "sent as UTF-8" in text and "lösen" not in text and "ö" not in text


def test_cli_publish_with_a_swedish_password(make_root: Callable[..., Path],
                                             smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"pressbot": SWEDISH})
    channel = (
        "  press:\n    publisher: mailer\n"
        f"    host: {server.host}\n    port: {server.port}\n    security: starttls\n    ca_file: {server.cafile}\n"
        "    username: ${SMTP_USER}\n    password: ${SMTP_PASSWORD}\n"
        '    from: "T <trygghet@kommun.example>"\n    recipients: press.csv\n'
    )
    skola = campaign(message(channels="[press]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(channel), campaigns={"skola": skola})
    (root / "press.csv").write_text("name,email,outlet\nA,a@x.example,X\n", encoding="utf-8")
    env = {"SMTP_USER": "pressbot", "SMTP_PASSWORD": SWEDISH}
    result = invoke("publish", "skola/start/press", "--root", str(root), "--now", "2018-08-13T07:31", env=env)
    assert result.exit_code == 0, result.output
    assert server.logins == [("pressbot", SWEDISH)]
    assert server.recipients == ["a@x.example"]


# --- 4. the Facebook photo is part of the payload ---------------------------------------------

PAGE = "112386409275163"
FB_TOKEN = "EAAGm0PX4ZCpsBAHemligtSecondReview1"


def fb(root: Path, url: str) -> FacebookPublisher:
    settings = FacebookSettings(publisher="facebook", page_id=PAGE, token="${FB_TOKEN}", graph_url=url, timeout=2)
    return FacebookPublisher(Channel("facebook", settings, root, env={"FB_TOKEN": FB_TOKEN}))


def fb_message(image: ImageRef | None = None) -> RenderedMessage:
    return RenderedMessage(
        delivery_id="skola/start/facebook", campaign="skola", message="start", channel="facebook",
        publisher="facebook", at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ), embargo=None, title="Hej",
        parts={"text": "Nu börjar skolan – sänk farten!"}, link=None, image=image, logos=(), contacts=(),
        parties=("Testkommun",),
    )


def test_the_photo_uploaded_is_the_one_in_the_payload(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    image = tmp_path / "content" / "bild.JPG"
    image.parent.mkdir()
    image.write_bytes(b"\xff\xd8\xff" + b"first" * 40)
    pub = fb(tmp_path, graph_server.url)
    payload = pub.payload(fb_message(ImageRef(image, "Ett övergångsställe")))
    assert payload.files["photo.jpg"] == b"\xff\xd8\xff" + b"first" * 40
    assert payload.fields["source"]["file"] == "photo.jpg"
    image.write_bytes(b"\xff\xd8\xff" + b"second" * 40)  # replaced between building and sending
    pub.publish(payload, "skola/start/facebook", MemoryJournal())
    [req] = graph_server.writes()
    assert req.files["source"].data == payload.files["photo.jpg"]


def test_a_missing_photo_is_a_permanent_error_when_the_payload_is_built(tmp_path: Path) -> None:
    pub = fb(tmp_path, closed_port_url())
    with pytest.raises(PermanentError, match=r"cannot read the image content/gone\.png"):
        pub.payload(fb_message(ImageRef(tmp_path / "content" / "gone.png", "x")))


def test_the_ledger_archive_keeps_the_photo_bytes_posted(make_root: Callable[..., Path], tmp_path: Path) -> None:
    root = full_root(make_root)
    result = invoke("publish", "skolstart/start/fb-kommunen", "--root", str(root), "--now", "2018-08-13T07:31")
    assert result.exit_code == 0, result.output
    (root / "content" / "bild.png").write_bytes(b"another picture")  # replaced afterwards
    with Ledger(root / "state" / "samverkan.db") as ledger:
        files = ledger.archive("skolstart/start/fb-kommunen")
    assert sorted(files) == ["photo.png", "post.json", "post.txt"]
    assert files["photo.png"] == PNG
    out = tmp_path / "arkiv"
    result = invoke("archive", "--root", str(root), "--from", "2018-08-01", "--to", "2018-09-01", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "payloads" / "skolstart.start.fb-kommunen" / "photo.png").read_bytes() == PNG


# --- 5. "posted earlier but no longer on the page" ---------------------------------------------


def test_a_sent_post_gone_from_the_page_points_to_publish_force(tmp_path: Path, graph_server: GraphServer) -> None:  # noqa: F811
    pub = fb(tmp_path, graph_server.url)
    journal = MemoryJournal()
    journal.set_part("post", "sent", f"{PAGE}_1001")  # posted, then removed by a moderator
    with pytest.raises(PermanentError) as caught:
        pub.publish(pub.payload(fb_message()), "skola/start/facebook", journal)
    text = str(caught.value)
    assert "samverkan publish skola/start/facebook --force" in text
    assert "resolve" not in text
    assert graph_server.writes() == []  # not posted again without a person's word


def test_publish_force_gets_out_of_the_sent_dead_end(make_root: Callable[..., Path], graph_server: GraphServer) -> None:  # noqa: F811
    channel = (f'  fb:\n    publisher: facebook\n    page_id: "{PAGE}"\n    token: ${{FB_TOKEN}}\n'
               f"    graph_url: {graph_server.url}\n    timeout: 2\n")
    skola = campaign(message(channels="[fb]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(channel), campaigns={"skola": skola})
    env = {"FB_TOKEN": FB_TOKEN}
    args = ("--root", str(root))
    assert invoke("publish", "skola/start/fb", *args, "--now", "2018-08-13T07:31", env=env).exit_code == 0
    # The delivery failed with its post part still "sent" (a crash, then resolve --as failed
    # before it cleared the parts), and the post is gone from the page.
    db = sqlite3.connect(root / "state" / "samverkan.db")
    db.execute("UPDATE deliveries SET state = 'failed', published_at = NULL WHERE id = 'skola/start/fb'")
    db.commit()
    db.close()
    graph_server.posts.clear()
    result = invoke("publish", "skola/start/fb", *args, "--now", "2018-08-13T07:42", env=env)
    assert result.exit_code == 1
    assert "samverkan publish skola/start/fb --force" in result.output
    result = invoke("publish", "skola/start/fb", *args, "--force", "--now", "2018-08-13T07:43", env=env)
    assert result.exit_code == 0, result.output
    assert len(graph_server.page_posts(PAGE)) == 1


# --- 6. status shows failing channel checks -----------------------------------------------------


def test_status_lists_open_channel_check_alerts(make_root: Callable[..., Path]) -> None:
    channel = '  fb:\n    publisher: facebook\n    page_id: "101"\n    token: ${FB_TOKEN}\n'
    skola = campaign(message(channels="[fb]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(channel), campaigns={"skola": skola})
    project = load_project(root)
    now = datetime(2018, 8, 13, 6, 0, tzinfo=TZ)
    failing = [CheckResult.fail("token", "FB_TOKEN is not set in the daemon's environment", "set FB_TOKEN")]
    with Ledger(root / "state" / "samverkan.db") as ledger:
        alerter = Alerter(project, ledger, env={}, background=False)
        assert alerter.check_results("fb", failing, now) == 1
        assert [(a.kind, a.subject) for a in open_alerts(ledger)] == [("check", "fb")]
        assert open_alerts(ledger, "failed") == []
    args = ("--root", str(root), "--now", "2018-08-13T06:01")
    text = invoke("status", *args).output
    assert "Needs a person: nothing" not in text
    needs = text.split("Needs a person\n", 1)[1].split("\n\n", 1)[0]
    assert "check     fb  failing since 2018-08-13 06:00" in needs
    assert "FB_TOKEN is not set in the daemon's environment" in needs
    assert "set FB_TOKEN; then check with: samverkan doctor" in needs
    data = json.loads(invoke("status", *args, "--format", "json").output)
    [check] = data["failing_channel_checks"]
    assert check["channel"] == "fb" and "FB_TOKEN is not set" in check["reason"]
    # The channel passes again: the alert is closed and status says so.
    with Ledger(root / "state" / "samverkan.db") as ledger:
        Alerter(project, ledger, env={}, background=False).check_results("fb", [CheckResult.ok("token", "ok")], now)
    assert "Needs a person: nothing" in invoke("status", *args).output
    assert json.loads(invoke("status", *args, "--format", "json").output)["failing_channel_checks"] == []


# --- 7. awaiting approval: the next occurrence -----------------------------------------------------


def test_status_shows_a_repeated_message_awaiting_approval_at_its_next_occurrence(
    make_root: Callable[..., Path], plugin_env: dict[str, str]
) -> None:
    config = with_channels(NOTEBOOK_CHANNEL, config=MINIMAL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    text = campaign(message("vecka", "2018-08-20 12:00", repeat="{every: 7d, until: 2018-09-09}", channels="[notes]"),
                    message("start", "2018-09-01 09:00", channels="[notes]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=config, campaigns={"skola": text})
    args = ("--root", str(root), "--now", "2018-08-28T00:00")
    out = invoke("status", *args).output
    awaiting = out.split("Awaiting approval", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    assert awaiting == [
        "  2018-09-01 09:00  skola/start  by kommunen, polisen",
        "  2018-09-03 12:00  skola/vecka  by kommunen, polisen",  # not its first, 2018-08-20
    ]
    data = json.loads(invoke("status", *args, "--format", "json").output)
    assert [(a["message"], a["next_at"]) for a in data["awaiting_approval"]] == [
        ("skola/start", "2018-09-01T09:00:00+02:00"), ("skola/vecka", "2018-09-03T12:00:00+02:00")]
