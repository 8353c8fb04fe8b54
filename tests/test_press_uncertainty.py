"""Press mail: who got it, who may have, who was never tried; and a person's word on each
(``samverkan status`` and ``samverkan resolve``), against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.daemon import DaemonProcess
from tests.helpers.plans import campaign, message, with_channels
from tests.helpers.smtp import SmtpServer, late, smtp_server  # noqa: F401 (fixture)

DELIVERY = "skola/start/press"
PRESS = ["ada@tidning.example", "bo@radio.example", "cy@tv.example", "di@blad.example", "ed@nyheter.example"]

PRESS_CHANNEL = """\
  press:
    publisher: mailer
    host: 127.0.0.1
    port: {port}
    security: none
    timeout: {timeout}
    from: Trygghet <trygghet@kommun.example>
    recipients: presslista.csv
"""


def press_plan(make_root: Callable[..., Path], server: SmtpServer, timeout: float = 30, tail: str = "") -> Path:
    """A plan whose one message goes to the press channel at 07:30:01, to five journalists;
    ``tail``: more top-level keys of config.yaml."""
    text = campaign(message(at="2018-08-13 07:30:01", channels="[press]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(PRESS_CHANNEL.format(port=server.port, timeout=timeout), tail=tail),
                     campaigns={"skola": text})
    (root / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J{i},{a},T{i}\n" for i, a in enumerate(PRESS)), encoding="utf-8")
    return root


def cli(root: Path, *args: str, now: str = "2018-08-13T07:40") -> tuple[int, str]:
    result = invoke(*args, "--root", str(root), "--now", now)
    return result.exit_code, result.output


def needs_a_person(root: Path) -> str:
    """The "Needs a person" section of ``status``, each run of spaces as one."""
    text = cli(root, "status")[1]
    return " ".join(text.split("\n\n", 2)[1].split())


def spaced(text: str) -> str:
    return " ".join(text.split())


def groups(root: Path) -> dict[str, list[str]]:
    data = json.loads(cli(root, "status", "--format", "json")[1])
    [row] = [r for r in data["needs_attention"] if r["id"] == DELIVERY]
    return {g: [m["address"] for m in members] for g, members in row["recipients"].items()}


def test_after_kill_9_mid_list_status_names_each_recipient_and_resolve_settles_each(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    server.script(None, None, late(60))  # the third is kept; its 250 would come a minute later
    root = press_plan(make_root, server)
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00")
    try:
        deadline = time.monotonic() + 30
        while len(server.messages) < 3:  # the server has cy's copy; the daemon waits for its answer
            assert time.monotonic() < deadline and daemon.proc.poll() is None, "\n".join(daemon.raw)
            time.sleep(0.05)
        daemon.kill()  # SIGKILL: no chance to record anything
    finally:
        daemon.stop()

    text = needs_a_person(root)
    assert f"unknown {DELIVERY} due 2018-08-13 07:30" in text
    assert "recipients: 2 got it, 1 uncertain, 2 never tried" in text
    assert f"got it: {PRESS[0]}, {PRESS[1]}" in text
    assert f"uncertain: {PRESS[2]} (the sending stopped while it was being sent: it may have got it)" in text
    assert f"never tried: {PRESS[3]}, {PRESS[4]}" in text
    assert f"samverkan resolve {DELIVERY} --recipient ADDRESS --as published|failed" in text
    assert f"samverkan resolve {DELIVERY} --send-untried" in text
    assert groups(root) == {"got_it": PRESS[:2], "uncertain": [PRESS[2]], "never_tried": PRESS[3:],
                            "not_received": [], "refused": []}

    # Those never tried get it; the uncertain one is left alone, and the delivery stays unknown.
    code, out = cli(root, "resolve", DELIVERY, "--send-untried")
    assert code == 0, out
    assert out.startswith(f"unknown   {DELIVERY}")
    assert sorted(server.recipients) == sorted(PRESS)  # each exactly once
    assert groups(root) == {"got_it": [PRESS[0], PRESS[1], PRESS[3], PRESS[4]], "uncertain": [PRESS[2]],
                            "never_tried": [], "not_received": [], "refused": []}

    # cy says it arrived: nothing is open any more.
    code, out = cli(root, "resolve", DELIVERY, "--recipient", PRESS[2].upper(), "--as", "published")
    assert code == 0, out
    assert f"{DELIVERY} is now published" in out
    assert "Needs a person: nothing" in cli(root, "status")[1]
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get(DELIVERY).state == "published"
        assert {p: s for p, (s, _) in ledger.parts(DELIVERY).items()} == {a: "sent" for a in PRESS}
    assert len(server.messages) == 5


def test_the_daemon_sends_a_release_answered_too_late_once_and_asks_a_person(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    server.script(None, late(10))  # bo's copy is kept; its 250 comes long after the client's timeout
    root = press_plan(make_root, server, timeout=1, tail="retry: {first: 1s, max_wait: 2s}\n")
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00")
    try:
        retry = daemon.wait_event("retry", DELIVERY)
        assert f"after the release was sent to {PRESS[1]}" in retry["message"]
        unknown = daemon.wait_event("unknown", DELIVERY, timeout=30)  # the rest went out on the retry
        assert f"1 uncertain (the server may have it; not sent again): {PRESS[1]}" in unknown["message"]
        assert daemon.proc.poll() is None
    finally:
        daemon.stop()
    assert sorted(server.recipients) == sorted(PRESS)  # bo once, not again on the retry
    assert groups(root)["uncertain"] == [PRESS[1]]


def test_a_reply_after_the_timeout_is_asked_about_and_a_no_sends_it_again(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    server.script(None, late(5))  # bo's copy is kept, its answer comes after the client gave up
    root = press_plan(make_root, server, timeout=1)
    code, out = cli(root, "publish", DELIVERY, now="2018-08-13T07:31")
    assert code == 1 and out.startswith(f"retry     {DELIVERY}"), out
    assert f"after the release was sent to {PRESS[1]}" in out
    code, out = cli(root, "publish", DELIVERY, now="2018-08-13T07:33")  # the retry, as the daemon's
    assert code == 1 and out.startswith(f"unknown   {DELIVERY}"), out
    assert sorted(server.recipients) == sorted(PRESS)  # bo once: the server has it
    text = needs_a_person(root)
    assert "recipients: 4 got it, 1 uncertain" in text
    assert f"uncertain: {PRESS[1]} (no answer after the message was sent (" in text
    assert "--send-untried" not in text  # nobody is waiting for it

    # What cannot be settled says why, and changes nothing.
    code, out = cli(root, "resolve", DELIVERY, "--recipient", PRESS[0], "--as", "failed")
    assert code == 1 and f"{PRESS[0]} got it, it is not uncertain" in out
    code, out = cli(root, "resolve", DELIVERY, "--recipient", "nobody@x.example", "--as", "failed")
    assert code == 1 and f"is not among the recipients of {DELIVERY}; uncertain: {PRESS[1]}" in out
    assert invoke("resolve", DELIVERY, "--root", str(root)).exit_code == 2
    assert invoke("resolve", DELIVERY, "--recipient", PRESS[1], "--root", str(root)).exit_code == 2

    # bo did not get it after all: the delivery waits for a person to send it on.
    code, out = cli(root, "resolve", DELIVERY, "--recipient", PRESS[1], "--as", "failed")
    assert code == 0, out
    assert f"{DELIVERY} is now failed: settled by hand; 1 not sent it yet" in out
    assert f"did not get it: {PRESS[1]} (settled by hand: not received)" in spaced(out)
    code, out = cli(root, "resolve", DELIVERY, "--send-untried")
    assert code == 0 and out.startswith(f"published {DELIVERY}"), out
    assert sorted(server.recipients) == sorted(PRESS + [PRESS[1]])  # bo again, on a person's word
    assert "Needs a person: nothing" in cli(root, "status")[1]


def test_settling_the_whole_release_still_leaves_those_never_tried_to_a_person(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    root = press_plan(make_root, server)
    with Ledger(root / "state/samverkan.db") as ledger:  # as a crash after two of five leaves it
        now = datetime(2018, 8, 13, 5, 30, 2, tzinfo=timezone.utc)
        ledger.ensure(id=DELIVERY, campaign="skola", message="start", channel="press", publisher="mailer",
                      due_at=now, now=now)
        ledger.begin(DELIVERY, "h", now)
        ledger.queue_parts(DELIVERY, PRESS, now)
        ledger.set_part(DELIVERY, PRESS[0], "sent", None, now)
        ledger.set_part(DELIVERY, PRESS[1], "unknown", None, now)
        ledger.set_state(DELIVERY, "unknown", now)
    code, out = cli(root, "resolve", DELIVERY, "--as", "published")  # the spec's form
    assert code == 0, out
    assert f"{DELIVERY} is now failed: settled by hand; 3 not sent it yet" in out
    code, out = cli(root, "resolve", DELIVERY, "--send-untried")
    assert code == 1 and "has changed since it was sent to the others" in out  # "h" is not its text
    assert server.messages == []
    with sqlite3.connect(root / "state/samverkan.db") as db:  # an old row: no text on record to compare
        db.execute("UPDATE deliveries SET content_hash = NULL")
    code, out = cli(root, "resolve", DELIVERY, "--send-untried")
    assert code == 0 and out.startswith(f"published {DELIVERY}"), out
    assert server.recipients == PRESS[2:]
    code, out = cli(root, "resolve", DELIVERY, "--send-untried")
    assert code == 1 and "is published; --send-untried is for a press release left unknown or failed" in out
    assert len(server.messages) == 3
