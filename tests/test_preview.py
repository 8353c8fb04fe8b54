"""``samverkan preview``: the payload files each channel's own publisher builds."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from publishers import base
from samverkan.cli import cli
from samverkan.loading import load_project
from samverkan.preview import build, preview, select
from samverkan.problems import InvalidInput, SamverkanError
from tests.helpers.plans import FULL_CAMPAIGN, FULL_CONFIG, full_root, message
from tests.helpers.smtp import smtp_server  # noqa: F401  (the fixture)

NOW = "2018-08-01T09:00"
REPEATING = FULL_CAMPAIGN + message("paminnelse", "2018-08-20 12:00", "Skolvägen", "Sänk farten.",
                                    repeat="{every: 7d, until: 2018-09-09}", channels="[webb]")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["preview", *args])


def test_preview_writes_each_channels_payload(make_root, tmp_path: Path) -> None:
    root = full_root(make_root)
    out = tmp_path / "out"
    result = run("skolstart/start", "--root", str(root), "--out", str(out), "--now", NOW)
    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.output.splitlines()]
    assert all(p.is_file() for p in printed)
    assert {p.parent.relative_to(out).as_posix() for p in printed} == {
        "skolstart/start/webb", "skolstart/start/fb-kommunen", "skolstart/start/fb-polisen", "skolstart/start/press",
    }
    # exactly what the channel's publisher builds from the rendered message
    project = load_project(root)
    from datetime import datetime

    for d in select(project, "skolstart/start", None, datetime.fromisoformat(NOW + "+02:00")):
        _, payload = build(project, d)
        folder = out / "skolstart/start" / d.channel
        for name, data in payload.files.items():
            assert (folder / name).read_bytes() == data
        assert json.loads((folder / "payload.json").read_text(encoding="utf-8")) == json.loads(
            json.dumps(payload.fields, default=str)
        )
        assert {p.name for p in folder.iterdir()} == set(payload.files) | {"payload.json"}


def test_the_press_release_eml_has_both_logos_contacts_and_the_image(make_root, tmp_path: Path) -> None:
    root = full_root(make_root)
    paths = preview(load_project(root), "skolstart/start", channel="press", out=tmp_path)
    eml = next(p for p in paths if p.suffix == ".eml")
    msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert msg["Subject"] == "Nu börjar skolan"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    ids = {f"{name}@{msg['From'].addresses[0].domain}" for name in ("logo-kommunen", "logo-polisen", "image")}
    assert all(f'src="cid:{i}"' in html for i in ids)
    assert {part["Content-ID"] for part in msg.walk() if part["Content-ID"]} == {f"<{i}>" for i in ids}
    for contact in ("Kim Kommun", "Pat Polis"):
        assert contact in text and contact in html


def test_preview_eml_is_the_bytes_the_mailer_sends(make_root, tmp_path: Path, smtp_server) -> None:  # noqa: F811
    server = smtp_server()
    config = FULL_CONFIG.replace(
        "    publisher: mailer\n", f"    publisher: mailer\n    host: {server.host}\n    port: {server.port}\n    security: none\n"
    )
    root = full_root(make_root, config=config)
    out = tmp_path / "out"
    assert run("skolstart/start", "--channel", "press", "--root", str(root), "--out", str(out), "--now", NOW).exit_code == 0
    sent = CliRunner().invoke(cli, ["publish", "skolstart/start", "--channel", "press", "--root", str(root),
                                    "--now", "2018-08-13T07:30"])
    assert sent.exit_code == 0, sent.output
    assert len(server.messages) == 1
    previewed = (out / "skolstart/start/press/press.eml").read_bytes()
    assert server.messages[0].data.replace(b"\r\n", b"\n") == previewed.replace(b"\r\n", b"\n")


def test_a_repeating_message_shows_its_next_time(make_root, tmp_path: Path) -> None:
    root = full_root(make_root, {"skolstart": REPEATING})
    for now, day in (("2018-08-01T00:00", "2018-08-20"), ("2018-08-21T00:00", "2018-08-27"), ("2018-12-01T00:00", "2018-08-20")):
        result = run("skolstart/paminnelse", "--root", str(root), "--out", str(tmp_path), "--now", now)
        assert result.exit_code == 0, result.output
        fields = json.loads((tmp_path / "skolstart/paminnelse/webb/payload.json").read_text(encoding="utf-8"))
        assert fields["guid"] == f"skolstart/paminnelse/webb@{day}"


def test_channel_filter_and_whole_campaign(make_root, tmp_path: Path) -> None:
    root = full_root(make_root, {"skolstart": REPEATING})
    result = run("skolstart", "--channel", "webb", "--root", str(root), "--out", str(tmp_path), "--now", NOW)
    assert result.exit_code == 0, result.output
    assert sorted({Path(p).parent.relative_to(tmp_path).as_posix() for p in result.output.splitlines()}) == [
        "skolstart/paminnelse/webb", "skolstart/start/webb",
    ]
    bad = run("skolstart/paminnelse", "--channel", "press", "--root", str(root), "--out", str(tmp_path))
    assert bad.exit_code == 1
    assert "error: skolstart/paminnelse is not sent to channel press" in bad.output


def test_unknown_names_say_what_exists(make_root, tmp_path: Path) -> None:
    root = full_root(make_root)
    result = run("skolstrat", "--root", str(root), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "error: no campaign 'skolstrat'; did you mean 'skolstart'? (campaigns: skolstart)" in result.output
    result = run("skolstart/slut", "--root", str(root), "--out", str(tmp_path))
    assert "error: no message 'slut' in skolstart (messages: start)" in result.output
    result = run("skolstart", "--channel", "fb", "--root", str(root), "--out", str(tmp_path))
    assert "error: no channel 'fb'" in result.output
    assert run("--root", str(root)).exit_code == 2
    assert run("skolstart", "--serve", "--root", str(root)).exit_code == 2


def test_a_broken_campaign_shows_its_problems(make_root, tmp_path: Path) -> None:
    root = full_root(make_root, {"skolstart": FULL_CAMPAIGN.replace("trafik]", "trafk]")})
    result = run("skolstart", "--root", str(root), "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "campaigns/skolstart.yaml:3:18: error: unknown priority area 'trafk'" in result.output
    assert not (tmp_path / "skolstart").exists()


def test_a_template_error_writes_nothing(make_root, tmp_path: Path) -> None:
    root = full_root(make_root, templates={"facebook/post.txt.j2": "{{ message.title }}\n{{ saknas }}"})
    with pytest.raises(InvalidInput) as info:
        preview(load_project(root), "skolstart/start", out=tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "content/templates/facebook/post.txt.j2:2:1: error: 'saknas' is undefined; give it in the message's vars "
        "or test it with 'is defined' (rendering skolstart/start for fb-kommunen)"
    ]
    assert not (tmp_path / "skolstart").exists()


class NoteSettings(base.Settings):
    folder: str


class NotePublisher:
    """A third-party publisher as preview sees it: parts to render, and a payload."""

    name: ClassVar[str] = "note"
    Settings: ClassVar[type[NoteSettings]] = NoteSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2", "html": "rss/item.html.j2"}

    def __init__(self, channel: base.Channel) -> None:
        self.channel = channel

    def payload(self, message: Any) -> base.Payload:
        return base.Payload({"title": message.title, "at": message.at},
                            {"note.txt": message.parts["text"].encode(), "../../escape.html": message.parts["html"].encode()})


def test_a_plugin_publishers_files_stay_in_their_folder(make_root, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(base.registry(), "note", NotePublisher)  # for this test only
    config = FULL_CONFIG.replace("defaults:", "  notes:\n    publisher: note\n    folder: notes\ndefaults:")
    root = full_root(make_root, {"skolstart": FULL_CAMPAIGN.replace("    title: Nu", "    channels: [notes]\n    title: Nu")},
                     config=config)
    paths = preview(load_project(root), "skolstart/start", out=tmp_path)
    folder = tmp_path / "skolstart/start/notes"
    assert paths == [folder / "note.txt", folder / "escape.html", folder / "payload.json"]
    assert (folder / "note.txt").read_text(encoding="utf-8").startswith("Nu börjar skolan\n\nSänk farten nära skolor.")
    assert json.loads((folder / "payload.json").read_text(encoding="utf-8")) == {
        "title": "Nu börjar skolan", "at": "2018-08-13 07:30:00+02:00",
    }


def test_select_errors_are_samverkan_errors(make_root) -> None:
    project = load_project(full_root(make_root))
    from datetime import datetime

    with pytest.raises(SamverkanError, match="is not CAMPAIGN or CAMPAIGN/MESSAGE"):
        select(project, "a/b/c/d", None, datetime.now(project.tz))
