"""The daemon as a real process: on time, at most once, nothing lost."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import pytest

from publishers.rss import global_id
from samverkan.ledger import Ledger
from tests.helpers.daemon import DaemonProcess
from tests.helpers.graph import graph_server, late  # noqa: F401 (fixture)
from tests.helpers.smtp import smtp_server  # noqa: F401 (fixture)
from tests.helpers.plans import NOTEBOOK_CHANNEL, TZ, campaign, message, with_channels
from tests.helpers.plugin import install_plugin, read_notebook

AUGUST = ("2018-08-01", "2018-09-09")

pytestmark = pytest.mark.usefixtures("accounted")  # every delivery accounted for after each scenario


def notes_campaign(at: str = "2018-08-13 07:30:02", key: str = "start", title: str = "Nu börjar skolan",
                   channels: str = "[notes]") -> str:
    """A campaign in August 2018 with one message, on the notebook channel unless told."""
    return campaign(message(key, at, title, channels=channels), period=AUGUST)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return install_plugin(tmp_path / "site")


def plan(make_root, config_extra: str = "", *, notebook: str = "", **campaigns: str) -> Path:
    """A plan with the notebook channel (``notebook``: more of its settings), ``config_extra``
    (more channels or top-level keys) and ``campaigns``."""
    return make_root(config=with_channels(NOTEBOOK_CHANNEL + notebook, config_extra), campaigns=campaigns)


def states(root: Path) -> dict[str, str]:
    with Ledger(root / "state/samverkan.db") as ledger:
        return {r.id: r.state for r in ledger.rows()}


def killed_once_sent(root: Path, env: dict[str, str], sent: Callable[[], object]) -> DaemonProcess:
    """The daemon at 07:30, killed (no clean exit) as soon as ``sent()`` says the server
    has the delivery, which must be within 20 s."""
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        deadline = time.monotonic() + 20
        while not sent():
            assert time.monotonic() < deadline, daemon.raw
            time.sleep(0.05)
        daemon.kill()
    finally:
        daemon.stop()
    return daemon


def restarted_finds_unknown(root: Path, env: dict[str, str], delivery: str) -> DaemonProcess:
    """The daemon again at 07:31: it marks ``delivery`` unknown, then starts."""
    again = DaemonProcess(root, now="2018-08-13T07:31:00", env=env)
    try:
        again.wait_event("unknown", delivery)
        again.wait_event("started")
    finally:
        again.stop()
    return again


def test_publishes_on_time_once_and_sigterm_exits_cleanly(make_root, env) -> None:
    root = plan(make_root, skola=notes_campaign())
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        started = time.monotonic()
        daemon.wait_event("published", "skola/start/notes")
        assert time.monotonic() - started >= 1.0  # not before its time
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.stop()
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["skola/start/notes"]
    assert states(root) == {"skola/start/notes": "published"}
    with Ledger(root / "state/samverkan.db") as ledger:
        row = ledger.get("skola/start/notes")
    # By the daemon's own clock (the time above also counts its start): at its time, not before.
    due = datetime(2018, 8, 13, 7, 30, 2, tzinfo=TZ)
    assert row is not None and row.published_at is not None
    assert due - timedelta(milliseconds=20) <= row.published_at < due + timedelta(seconds=5)
    assert daemon.events("stopped")
    # a restart publishes nothing again
    again = DaemonProcess(root, now="2018-08-13T07:31:00", env=env)
    try:
        again.wait_event("started")
        again.signal(signal.SIGINT)
        assert again.wait() == 0
    finally:
        again.stop()
    assert len(read_notebook(root / "out/notes.jsonl")) == 1


def test_edit_while_running_is_published_in_new_form(make_root, env) -> None:
    root = plan(make_root, skola=notes_campaign(at="2018-08-13 07:30:04"))
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        daemon.wait_event("started")
        path = root / "campaigns/skola.yaml"
        path.write_text(notes_campaign(at="2018-08-13 07:30:03", title="Skolan har börjat"), encoding="utf-8")
        daemon.wait_event("reloaded", timeout=5)
        daemon.wait_event("published", "skola/start/notes")
    finally:
        daemon.stop()
    notes = read_notebook(root / "out/notes.jsonl")
    assert [n["title"] for n in notes] == ["Skolan har börjat"]


def test_broken_campaign_does_not_stop_another(make_root, env) -> None:
    root = plan(make_root, skola=notes_campaign(at="2018-08-13 07:30:04"),
                annan=notes_campaign(key="annan", at="2018-08-13 07:30:04"))
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        daemon.wait_event("started")
        broken = notes_campaign(key="annan").replace("title: Säker", "titel: Säker")
        (root / "campaigns/annan.yaml").write_text(broken, encoding="utf-8")
        bad = daemon.wait_event("invalid", timeout=5)
        assert "campaigns/annan.yaml:1:1: error: unknown key 'titel'; did you mean 'title'?" in bad["message"]
        daemon.wait_event("published", "skola/start/notes")
    finally:
        daemon.stop()
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["skola/start/notes"]


def test_downtime_within_catch_up_published_beyond_missed(make_root, env) -> None:
    root = plan(make_root, "catch_up: 1h\n",
                tidig=notes_campaign(at="2018-08-13 05:00"),
                sen=notes_campaign(at="2018-08-13 07:00"))
    # the daemon ran once before both were due (it records when it first ran)
    first = DaemonProcess(root, now="2018-08-13T04:00:00", env=env)
    try:
        first.wait_event("started")
    finally:
        first.stop()
    later = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        later.wait_event("published", "sen/start/notes")
        missed = later.wait_event("missed", "tidig/start/notes")
        assert "samverkan publish tidig/start/notes" in missed["message"]
    finally:
        later.stop()
    assert states(root) == {"sen/start/notes": "published", "tidig/start/notes": "missed"}
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["sen/start/notes"]


def test_permanent_error_is_failed_and_shown_by_status(make_root, env) -> None:
    root = plan(make_root, notebook="    fail: permanent\n", skola=notes_campaign(at="2018-08-13 07:30:01"))
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        daemon.wait_event("failed", "skola/start/notes")
    finally:
        daemon.stop()
    from click.testing import CliRunner

    from samverkan.cli import cli

    out = CliRunner().invoke(cli, ["status", "--root", str(root), "--now", "2018-08-13T07:31"]).output
    assert "failed    skola/start/notes" in out and "the notebook is closed" in out


def test_second_daemon_on_the_same_state_refuses(make_root, env) -> None:
    root = plan(make_root, skola=notes_campaign(at="2018-08-13 07:30:03"))
    first = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        first.wait_event("started")
        second = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
        assert second.wait() == 1
        assert any("another samverkan daemon" in line and "already running" in line for line in second.raw), second.raw
        first.wait_event("published", "skola/start/notes")
    finally:
        first.stop()
    assert len(read_notebook(root / "out/notes.jsonl")) == 1


def test_scheduler_thread_death_exits_non_zero(make_root, env) -> None:
    root = plan(make_root, skola=notes_campaign(at="2018-08-13 07:30:02"))
    # APScheduler 3's loop dies on an error in its own code; the daemon must notice.
    crash = (
        "import sys; from apscheduler.schedulers.base import BaseScheduler\n"
        "def boom(self): raise RuntimeError('scheduler loop failure')\n"
        "BaseScheduler._process_jobs = boom\n"
        "from samverkan.cli import main; sys.argv = ['samverkan', 'run'] + sys.argv[1:]; main()\n"
    )
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env, argv=[sys.executable, "-c", crash])
    try:
        code = daemon.wait(timeout=20)
    finally:
        daemon.stop()
    assert code != 0
    assert daemon.events("crashed")


def test_kill_while_graph_api_delays_leaves_unknown_and_no_second_post(make_root, env, graph_server) -> None:
    fb = f"""\
  fb:
    publisher: facebook
    page_id: "111"
    token: ${{FB_TEST_TOKEN}}
    graph_url: {graph_server.url}
    timeout: 20
"""
    root = plan(make_root, fb, skola=notes_campaign(at="2018-08-13 07:30:01", channels="[fb]"))
    env = {**env, "FB_TEST_TOKEN": "secret-token-123"}
    graph_server.script(late(30))
    daemon = killed_once_sent(root, env, lambda: graph_server.page_posts("111"))
    assert states(root) == {"skola/start/fb": "in_flight"}
    again = restarted_finds_unknown(root, env, "skola/start/fb")
    assert states(root) == {"skola/start/fb": "unknown"}
    assert len(graph_server.writes()) == 1
    assert all("secret-token-123" not in line for line in daemon.raw + again.raw)


def test_transient_error_is_retried_then_succeeds_once(make_root, env) -> None:
    root = plan(make_root, "retry: {first: 1s, max_wait: 2s}\n", notebook="    fail: transient\n",
                skola=notes_campaign(at="2018-08-13 07:30:01"))
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        retry = daemon.wait_event("retry", "skola/start/notes")
        assert "the notebook is busy" in retry["message"]
        daemon.wait_event("published", "skola/start/notes")
    finally:
        daemon.stop()
    assert [n["id"] for n in read_notebook(root / "out/notes.jsonl")] == ["skola/start/notes"]
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("skola/start/notes").attempts == 2


ALL_CHANNELS = """\
  fb:
    publisher: facebook
    page_id: "111"
    token: ${{FB_TEST_TOKEN}}
    graph_url: {graph}
    timeout: 5
  press:
    publisher: mailer
    host: 127.0.0.1
    port: {smtp}
    security: none
    from: Trygghet <trygghet@kommun.example>
    recipients: presslista.csv
"""

PRESS_LIST = "name,email,outlet\nAda,ada@tidning.example,Tidningen\nBo,bo@radio.example,Radion\n"


def all_channels_plan(make_root, graph_url: str, smtp_port: int, **campaigns: str) -> Path:
    root = plan(make_root, ALL_CHANNELS.format(graph=graph_url, smtp=smtp_port), **campaigns)
    (root / "presslista.csv").write_text(PRESS_LIST, encoding="utf-8")
    return root


def test_each_delivery_arrives_once_at_every_server(make_root, env, graph_server, smtp_server) -> None:
    import feedparser

    smtp = smtp_server()
    two = campaign(message(at="2018-08-13 07:30:01", channels="[webb, fb, press]"),
                   message("igen", "2018-08-13 07:30:03", "Kör lugnt", "Barnen är tillbaka.", channels="[webb, fb, press]"),
                   period=AUGUST)
    root = all_channels_plan(make_root, graph_server.url, smtp.port, skola=two)
    env = {**env, "FB_TEST_TOKEN": "secret-token-123"}
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=env)
    try:
        for key in ("start", "igen"):
            for channel in ("webb", "fb", "press"):
                daemon.wait_event("published", f"skola/{key}/{channel}")
    finally:
        daemon.stop()
    again = DaemonProcess(root, now="2018-08-13T07:35:00", env=env)
    try:
        again.wait_event("started")
    finally:
        again.stop()
    assert len(graph_server.writes()) == 2
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(["ada@tidning.example", "bo@radio.example"] * 2)
    # one connection per press release for the whole list (the channel check adds its own)
    assert len({m.connection for m in smtp.messages}) == 2
    feed = feedparser.parse((root / "public/feed.xml").read_bytes())
    assert feed.bozo == 0
    assert sorted(e.id for e in feed.entries) == sorted(global_id("https://kommun.example/trygghet", g) for g in ("skola/igen/webb", "skola/start/webb"))
    assert all("secret-token-123" not in line for line in daemon.raw + again.raw)


def test_kill_after_smtp_accepts_before_ledger_write_leaves_recipient_unknown(make_root, env, graph_server, smtp_server) -> None:
    smtp = smtp_server(reply_delay=30)
    root = all_channels_plan(make_root, graph_server.url, smtp.port,
                             skola=notes_campaign(at="2018-08-13 07:30:01", channels="[press]"))
    killed_once_sent(root, env, lambda: smtp.messages)  # the server has the mail; its 250 has not reached the daemon
    smtp.reply_delay = 0
    restarted_finds_unknown(root, env, "skola/start/press")
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.get("skola/start/press").state == "unknown"
        assert ledger.parts("skola/start/press")["ada@tidning.example"][0] == "unknown"
    assert [m.rcpt_tos for m in smtp.messages] == [["ada@tidning.example"]]
