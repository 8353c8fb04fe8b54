"""The daemon asks each missing party's approvers by mail, reminds them, and tells the
officers before a message is held: each mail once, across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.cli import invoke
from tests.helpers.daemon import DaemonProcess
from tests.helpers.desk import desk_plan, mails_to
from tests.helpers.smtp import smtp_server  # noqa: F401 (fixture)

KIM, PAT, OLLE = "kim@kommun.example", "pat@polisen.example", "olle@kommun.example"


@pytest.fixture
def smtp(smtp_server):
    return smtp_server()


def run_daemon(root: Path, now: str, env: dict[str, str], *events: str) -> DaemonProcess:
    """The daemon at ``now`` until it has logged each of ``events`` (event names, repeated
    for as many as are expected), then stopped."""
    daemon = DaemonProcess(root, now=now, env=env)
    try:
        daemon.wait_event("started")
        for kind in set(events):
            want = events.count(kind)
            daemon.wait_for(lambda r, kind=kind, want=want: len(daemon.events(kind)) >= want)
    finally:
        daemon.stop()
    return daemon


def test_asked_reminded_and_alerted_once_each_across_restarts(make_root, smtp, plugin_env) -> None:
    root = desk_plan(make_root, smtp)  # skola/start at 2018-08-13 07:30
    first = run_daemon(root, "2018-08-08T07:30:00", plugin_env, "approval_request", "approval_request")
    assert sorted(r["delivery"] for r in first.events("approval_request")) == ["skola/start", "skola/start"]
    [to_kim], [to_pat] = mails_to(smtp, KIM), mails_to(smtp, PAT)
    assert to_pat["Subject"] == "Godkänn: Nu börjar skolan (måndag 13 augusti 2018 kl. 07.30)"
    text = to_pat.get_body(("plain",)).get_content()
    assert "Polisen behöver godkänna texten." in text
    assert "http://127.0.0.1/m/skola/start" in text
    assert "== notes ==" in text and "Sänk farten vid skolorna." in text  # the message as it will go out
    # the municipality approves; a restart a day before asks nobody again, and reminds the police only
    assert invoke("approve", "skola/start", "--party", "kommunen", "--by", "Kim", "--root", str(root),
                  "--now", "2018-08-10T10:00").exit_code == 0
    second = run_daemon(root, "2018-08-12T08:00:00", plugin_env, "approval_reminder")
    assert second.events("approval_request") == []
    assert len(mails_to(smtp, KIM)) == 1 and len(mails_to(smtp, PAT)) == 2
    assert mails_to(smtp, PAT)[-1]["Subject"].startswith("Påminnelse: Nu börjar skolan väntar på godkännande")
    third = run_daemon(root, "2018-08-13T05:45:00", plugin_env, "approval_alert")
    assert third.events("approval_request") == third.events("approval_reminder") == []
    [alert] = mails_to(smtp, OLLE)
    assert alert["Subject"] == "Hålls inne om inget händer: Nu börjar skolan (måndag 13 augusti 2018 kl. 07.30)"
    assert "väntar fortfarande på godkännande av Polisen" in alert.get_body(("plain",)).get_content()
    # once more, to the end of a round (run --once looks in the foreground): nothing new
    total = len(smtp.messages)
    assert invoke("run", "--root", str(root), "--now", "2018-08-13T05:50", "--once", env=plugin_env).exit_code == 0
    assert len(smtp.messages) == total == 4  # two requests, a reminder, an alert


def test_an_edited_text_is_asked_for_again(make_root, smtp, plugin_env) -> None:
    root = desk_plan(make_root, smtp)
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T07:30", "--once", env=plugin_env).exit_code == 0
    assert len(mails_to(smtp, PAT)) == 1
    path = root / "campaigns/skola.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Sänk farten", "Sänk farten nu"), encoding="utf-8")
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T08:30", "--once", env=plugin_env).exit_code == 0
    assert len(mails_to(smtp, PAT)) == 2


def test_nobody_is_asked_before_request_ahead(make_root, smtp, plugin_env) -> None:
    root = desk_plan(make_root, smtp, extra="")
    config = root / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "approval: [kommunen, polisen]", "approval: {parties: [kommunen, polisen], request_ahead: 2d}"), encoding="utf-8")
    assert invoke("run", "--root", str(root), "--now", "2018-08-10T07:30", "--once", env=plugin_env).exit_code == 0
    assert smtp.messages == []
    assert invoke("run", "--root", str(root), "--now", "2018-08-11T07:31", "--once", env=plugin_env).exit_code == 0
    assert len(smtp.messages) == 2


def test_a_request_within_the_last_day_is_not_followed_by_a_reminder(make_root, smtp, plugin_env) -> None:
    root = desk_plan(make_root, smtp)
    for now in ("2018-08-12T12:00", "2018-08-12T13:00"):
        assert invoke("run", "--root", str(root), "--now", now, "--once", env=plugin_env).exit_code == 0
    assert [m["Subject"].split(":")[0] for m in mails_to(smtp, PAT)] == ["Godkänn"]


def test_a_mail_that_could_not_be_sent_is_tried_again_ten_minutes_later(make_root, smtp, plugin_env) -> None:
    root = desk_plan(make_root, smtp)
    config = root / "config.yaml"
    good = config.read_text(encoding="utf-8")
    config.write_text(good.replace(f"port: {smtp.port}", "port: 1"), encoding="utf-8")  # nobody listens there
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T07:30", "--once", env=plugin_env).exit_code == 0
    config.write_text(good, encoding="utf-8")
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T07:35", "--once", env=plugin_env).exit_code == 0
    assert smtp.messages == []  # not yet: a server that is down is not asked every minute
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T07:41", "--once", env=plugin_env).exit_code == 0
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [KIM, PAT]
    assert invoke("run", "--root", str(root), "--now", "2018-08-08T07:52", "--once", env=plugin_env).exit_code == 0
    assert len(smtp.messages) == 2
