"""``samverkan rehearse``: a year of the sample plan into files, never the network."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
from click.testing import CliRunner

from samverkan.cli import cli
from samverkan.loading import load_project
from samverkan.plan import deliveries


def rehearse(root: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(cli, ["rehearse", "--root", str(root), "--from", "2018-01-01", "--to", "2018-12-31",
                                    "--out", str(out), *extra])


def test_a_year_of_the_sample_plan_into_files(sample_root: Path, tmp_path: Path, monkeypatch) -> None:
    # Tokens and an SMTP host in the environment must not matter: a rehearsal never sends.
    monkeypatch.setenv("FB_TOKEN_KOMMUNEN", "real-looking-token")
    monkeypatch.setenv("SAMVERKAN_SMTP_HOST", "192.0.2.1")
    out = tmp_path / "rehearsal"
    result = rehearse(sample_root, out, "--assume-approved")
    assert result.exit_code == 0, result.output
    planned = [d for d in deliveries(load_project(sample_root)) if d.at.year == 2018]
    by_channel: dict[str, int] = {}
    for d in planned:
        by_channel[d.channel] = by_channel.get(d.channel, 0) + 1
    assert f"{len(planned)} deliveries" in result.output
    assert f"--assume-approved: {len(planned)} deliveries lack an approval" in result.output
    assert len(list((out / "press").glob("*.eml"))) == by_channel["press"]
    assert len(list((out / "facebook-kommunen").glob("*.json"))) == by_channel["facebook-kommunen"]
    feed = feedparser.parse((out / "webb" / "feed.xml").read_bytes())
    assert feed.bozo == 0 and len(feed.entries) == min(50, by_channel["webb"])
    report = json.loads((out / "rehearsal.json").read_text(encoding="utf-8"))
    assert len(report["deliveries"]) == len(planned)
    assert all(r["result"] == "published" and r["lacks_approval_of"] == ["kommunen", "polisen"] for r in report["deliveries"])
    assert not (sample_root / "state").exists()  # the real ledger is neither used nor made


def test_without_approvals_everything_is_held(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "rehearsal"
    result = rehearse(sample_root, out)
    assert result.exit_code == 1
    assert "awaiting approval by kommunen, polisen" in result.output
    report = json.loads((out / "rehearsal.json").read_text(encoding="utf-8"))
    assert {r["result"] for r in report["deliveries"]} == {"held"}
    assert not list(out.rglob("*.eml")) and not (out / "webb" / "feed.xml").exists()


def test_approvals_of_the_real_ledger_count(sample_root: Path, tmp_path: Path) -> None:
    for party in ("kommunen", "polisen"):
        r = CliRunner().invoke(cli, ["approve", "2018-saker-skolstart", "--party", party, "--by", "X", "--root", str(sample_root)])
        assert r.exit_code == 0, r.output
    out = tmp_path / "rehearsal"
    rehearse(sample_root, out)
    report = json.loads((out / "rehearsal.json").read_text(encoding="utf-8"))
    published = {r["delivery"].split("/")[0] for r in report["deliveries"] if r["result"] == "published"}
    assert published == {"2018-saker-skolstart"}


VALIDATE_FEED = Path(__file__).resolve().parents[2] / "shared" / "tools" / "validate-feed"


def test_the_w3c_feed_validator_passes_a_rehearsed_years_rss_and_atom_feeds(sample_root: Path, tmp_path: Path) -> None:
    """The W3C Feed Validator's own code, offline, on the feeds of a year with images."""
    import subprocess
    import sys

    import pytest

    if not VALIDATE_FEED.exists():
        pytest.skip(f"the W3C Feed Validator is not at {VALIDATE_FEED} (../shared is absent)")
    out = tmp_path / "rehearsal"
    result = rehearse(sample_root, out, "--assume-approved")
    assert result.exit_code == 0, result.output
    rss = feedparser.parse((out / "webb" / "feed.xml").read_bytes())
    assert [e for e in rss.entries if e.get("enclosures")], "the sample year has messages with images"
    assert list((out / "webb" / "media").iterdir()), "the images were copied for the site"
    for name, self_url in (("feed.xml", "https://www.hultsfred.se/trygghet/nyheter.xml"),
                           ("feed.atom", "https://www.hultsfred.se/trygghet/nyheter.atom")):
        proc = subprocess.run([sys.executable, str(VALIDATE_FEED), str(out / "webb" / name), self_url],
                              capture_output=True, text=True, timeout=120)
        assert (proc.returncode, proc.stdout.strip()) == (0, "valid"), f"{name}: {proc.stdout}{proc.stderr}"


def test_the_websites_items_leave_the_press_contacts_to_the_press_release(sample_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "rehearsal"
    assert rehearse(sample_root, out, "--assume-approved").exit_code == 0
    feed = (out / "webb" / "feed.xml").read_text(encoding="utf-8")
    assert "Ett gemensamt meddelande från Hultsfreds kommun och Polisen" in feed
    assert "Presskontakt" not in feed and "karin.lindqvist@hultsfred.se" not in feed
    release = next((out / "press").glob("*.eml")).read_text(encoding="utf-8")
    assert "Presskontakt" in release


TRICKY_TITLES = [
    "När det blir mörkt – skydda hemmet mot inbrott i höst, säger kommunen och polisen",
    "Åäö–ÅÄÖ: “citat” — och ett långt ord som Trafiksäkerhetsarbetsgruppsmötesprotokoll",
    "Kort: ö",
    "Två  mellanslag och\ttabb – får de stå kvar?",
]


def test_every_subject_of_a_rehearsed_year_decodes_to_its_title(sample_root: Path, tmp_path: Path) -> None:
    """As mail programs read it (the standard library's default policy): no space lost or
    added between encoded words, embargoed and not."""
    from email import policy
    from email.header import decode_header, make_header
    from email.parser import BytesParser

    path = sample_root / "campaigns" / "2018-saker-skolstart.yaml"
    text = path.read_text(encoding="utf-8")
    extra = "".join(
        f"  - key: svar{i}\n    at: 2018-08-{14 + i} 09:00\n    channels: [press]\n    title: \"{t}\"\n"
        f"    body: Text.\n" + (f"    embargo: 2018-08-{14 + i} 12:00\n" if i % 2 else "")
        for i, t in enumerate(TRICKY_TITLES)
    )
    path.write_text(text.replace("messages:\n", "messages:\n" + extra, 1), encoding="utf-8")
    out = tmp_path / "rehearsal"
    result = rehearse(sample_root, out, "--assume-approved")
    assert result.exit_code == 0, result.output
    project = load_project(sample_root)
    expected = {}
    for d in deliveries(project):
        if d.channel == "press" and d.at.year == 2018:
            message = project.campaigns[d.campaign].message(d.message)
            assert message is not None
            expected[d.id.replace("/", "_")] = (" ".join(message.model.title.split()), message.embargo is not None)
    embargoed = 0
    for name, (title, embargo) in expected.items():
        msg = BytesParser(policy=policy.default).parsebytes((out / "press" / f"{name}.eml").read_bytes())
        subject = str(msg["Subject"])
        if embargo:
            assert subject.startswith("EMBARGO till ") and subject.endswith(f": {title}"), (subject, title)
            embargoed += 1
        else:
            assert subject == title
        # and as older programs join decoded words (the compat32 way)
        raw = BytesParser(policy=policy.compat32).parsebytes((out / "press" / f"{name}.eml").read_bytes())
        assert str(make_header(decode_header(raw["Subject"]))) == subject
    assert embargoed >= 3 and len(expected) >= 8
