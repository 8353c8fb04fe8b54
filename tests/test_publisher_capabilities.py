"""The optional parts of a publisher (publishers/base.py): ``rehearsal`` and ``finish``,
``press`` and ``files``. The core finds them on the class, never by a built-in's name, so a
third-party publisher registered here gets exactly what the built-ins get."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

import feedparser
import pytest

from publishers import base
from publishers.base import Channel, MemoryJournal, Payload, Receipt, Settings
from publishers.facebook import FacebookPublisher, FacebookSettings
from publishers.mailer import MailerPublisher, MailerSettings
from publishers.rss import RssPublisher, RssSettings, global_id
from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.rehearsal import rehearse
from tests.helpers.plans import REPO, TZ, campaign, message, with_channels


class WireSettings(Settings):
    subscribers: str


class Wire:
    """A news agency's wire: a third party's press channel, with a rehearsal of its own."""

    name: ClassVar[str] = "wire"
    Settings: ClassVar[type[WireSettings]] = WireSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2"}
    press: ClassVar[bool] = True

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings = channel.settings
        self.sent: list[str] = []

    @staticmethod
    def files(settings: WireSettings) -> list[tuple[str, str]]:
        return [("subscribers", settings.subscribers)]

    def payload(self, message: Any) -> Payload:
        return Payload({"id": message.delivery_id}, {"wire.txt": message.parts["text"].encode()})

    def publish(self, payload: Payload, delivery_id: str, journal: Any) -> Receipt:
        raise AssertionError("a rehearsal must never reach the wire itself")

    def lookup(self, payload: Payload, delivery_id: str) -> Receipt | None:
        return None

    def outbox(self) -> bool:
        return False

    def rehearsal(self, folder: Path) -> WireRehearsal:
        return WireRehearsal(self.channel, folder)


class WireRehearsal(Wire):
    def __init__(self, channel: Channel, folder: Path) -> None:
        super().__init__(channel)
        self.folder = folder

    def publish(self, payload: Payload, delivery_id: str, journal: Any) -> Receipt:
        self.sent.append(delivery_id)
        return Receipt(note="collected")

    def finish(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "sent.txt").write_text("\n".join(self.sent) + "\n", encoding="utf-8")


class Plain(Wire):
    """A public channel with neither rehearsal nor press: the defaults."""

    name: ClassVar[str] = "plain"
    press: ClassVar[bool] = False
    rehearsal = None  # type: ignore[assignment]  # as if it had none


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(base.registry(), "wire", Wire)
    monkeypatch.setitem(base.registry(), "plain", Plain)
    yield


CHANNELS = """\
  wire:
    publisher: wire
    subscribers: content/subscribers.txt
  plain:
    publisher: plain
    subscribers: content/subscribers.txt
"""

EMBARGOED = campaign(message(channels="[wire, plain, webb]") + "    embargo: 2018-08-13 10:00\n")


def plan(make_root: Callable[..., Path], campaigns: dict[str, str] | None = None) -> Path:
    root = make_root(config=with_channels(CHANNELS), campaigns=campaigns or {"skola": EMBARGOED})
    (root / "content").mkdir(exist_ok=True)
    (root / "content" / "subscribers.txt").write_text("redaktion@tt.example\n", encoding="utf-8")
    return root


# -- press ------------------------------------------------------------------------------------


def test_a_press_channel_gets_an_embargoed_message_early_whoever_publishes_it(
        make_root: Callable[..., Path], registered: None) -> None:
    project = load_project(plan(make_root))
    assert not project.problems.errors, project.problems
    due = {d.channel: d.at for d in deliveries(project)}
    assert due == {"wire": datetime(2018, 8, 13, 7, 30, tzinfo=TZ),  # press: at its time, marked
                   "plain": datetime(2018, 8, 13, 10, 0, tzinfo=TZ),  # public: when the embargo ends
                   "webb": datetime(2018, 8, 13, 10, 0, tzinfo=TZ)}


def test_the_mailer_is_the_built_in_press_channel() -> None:
    assert MailerPublisher.press is True
    assert not any(getattr(cls, "press", False) for cls in (RssPublisher, FacebookPublisher))


# -- files ------------------------------------------------------------------------------------


def test_a_missing_press_list_is_reported_at_its_setting(make_root: Callable[..., Path]) -> None:
    press = ("  press:\n    publisher: mailer\n    from: Trygg <trygghet@kommun.example>\n"
             "    recipients: content/presse.csv\n    ca_file: certs/ca.pem\n")
    root = make_root(config=with_channels(press))
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == [
        "config.yaml:31:17: error: channel press: recipients: no file 'content/presse.csv' "
        "(paths are relative to the folder of config.yaml)",
        "config.yaml:32:14: error: channel press: ca_file: no file 'certs/ca.pem' "
        "(paths are relative to the folder of config.yaml)",
    ]


def test_a_third_party_publisher_names_its_files_too(make_root: Callable[..., Path], registered: None) -> None:
    root = plan(make_root)
    (root / "content" / "subscribers.txt").unlink()
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == [
        "config.yaml:30:18: error: channel wire: subscribers: no file 'content/subscribers.txt' "
        "(paths are relative to the folder of config.yaml)",
        "config.yaml:33:18: error: channel plain: subscribers: no file 'content/subscribers.txt' "
        "(paths are relative to the folder of config.yaml)",
    ]


# -- rehearsal and finish ---------------------------------------------------------------------


def test_rehearsal_uses_the_publishers_own_rehearsal_and_finishes_it(
        make_root: Callable[..., Path], registered: None, tmp_path: Path) -> None:
    project = load_project(plan(make_root))
    out = tmp_path / "rehearsal"
    summary = rehearse(project, datetime(2018, 1, 1, tzinfo=TZ), datetime(2019, 1, 1, tzinfo=TZ), out)
    assert {o.result for o in summary.outcomes} == {"published"}
    assert (out / "wire" / "sent.txt").read_text(encoding="utf-8") == "skola/start/wire\n"
    # Without rehearsal(): the payload's files, one folder per delivery.
    assert (out / "plain" / "skola__start__plain" / "wire.txt").is_file()
    feed = feedparser.parse((out / "webb" / "feed.xml").read_bytes())
    assert feed.bozo == 0 and [e.id for e in feed.entries] == [global_id("https://kommun.example/trygghet", "skola/start/webb")]
    assert not (project.root / "public").exists()  # the real feed is not touched


def test_rehearsal_names_no_built_in_publisher() -> None:
    tree = ast.parse((REPO / "samverkan" / "rehearsal.py").read_text(encoding="utf-8"))
    words = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not words & {"rss", "facebook", "mailer"}
    assert not modules & {"publishers.rss", "publishers.facebook", "publishers.mailer"}


def rss_item(n: int) -> dict[str, Any]:
    at = datetime(2018, 1, 1, 8, 0, tzinfo=TZ) + timedelta(days=n)
    return {"guid": f"c/m{n}/webb", "title": f"Nyhet {n}", "link": f"https://kommun.example/{n}",
            "description": "<p>Text</p>", "pubDate": at.isoformat()}


def test_the_rss_rehearsal_writes_the_feed_once_at_the_end(tmp_path: Path) -> None:
    settings = RssSettings(publisher="rss", output="public/feed.xml", atom_output="public/feed.atom", title="Nyheter",
                           link="https://kommun.example/", self_url="https://kommun.example/feed.xml",
                           description="Nyheter", max_items=3)
    real = RssPublisher(Channel("webb", settings, tmp_path, env={}))
    pub = real.rehearsal(tmp_path / "out")
    assert pub.channel.durable is False
    for n in range(20):
        pub.publish(Payload(rss_item(n)), f"c/m{n}/webb", MemoryJournal())
        assert len(pub.items) <= 4 * 3  # memory stays flat over a long rehearsal
    assert not (tmp_path / "out").exists()
    pub.finish()
    feed = feedparser.parse((tmp_path / "out" / "feed.xml").read_bytes())
    assert [e.id for e in feed.entries] == [global_id("https://kommun.example/", f"c/m{i}/webb") for i in (19, 18, 17)]
    assert (tmp_path / "out" / "feed.atom").is_file()
    assert not (tmp_path / "public").exists()


def test_facebook_and_mailer_rehearsals_write_files_even_with_credentials(tmp_path: Path) -> None:
    fb = FacebookPublisher(Channel("fb", FacebookSettings(publisher="facebook", page_id="1", token="${T}"),
                                   tmp_path, env={"T": "a-real-looking-token"}))
    mail = MailerPublisher(Channel("press", MailerSettings.model_validate(
        {"publisher": "mailer", "host": "${H}", "username": "${U}", "password": "${P}",
         "from": "a@kommun.example", "recipients": "p.csv"}), tmp_path, env={"H": "192.0.2.1", "U": "u", "P": "p"}))
    for pub, folder in ((fb, tmp_path / "fb"), (mail, tmp_path / "press")):
        rehearsal = pub.rehearsal(folder)
        assert type(rehearsal) is type(pub) and rehearsal.channel.name == pub.channel.name
        assert rehearsal.outbox() is True and rehearsal.channel.durable is False
        assert dict(rehearsal.channel.env) == {}
        assert rehearsal.channel.path(rehearsal.settings.outbox) == folder
