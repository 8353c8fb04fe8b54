"""The language samverkan speaks: Swedish for a Swedish plan, English on request, and no
message without its Swedish translation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from click.testing import CliRunner

from samverkan import i18n
from samverkan.cli import cli
from tests.helpers.plans import CORPUS_CAMPAIGN, CORPUS_CONFIG, REPO, camp

PO = REPO / "samverkan" / "locale" / "sv" / "LC_MESSAGES" / "samverkan.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def code_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("samverkan", "publishers"):
        for _file, _line, message, _comments, _context in extract_from_dir(REPO / folder, keywords=KEYWORDS):
            found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def test_every_message_in_the_code_has_a_swedish_translation() -> None:
    with PO.open("rb") as f:
        catalog = read_po(f, locale="sv")
    translated: dict[str, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, (tuple, list)):  # singular and plural, each with its translation
            if all(m.string):
                translated.update(zip(m.id, m.string))
        elif m.string:
            translated[m.id] = m.string
    missing = sorted(code_messages() - set(translated))
    assert missing == [], "run make catalogs and translate these in samverkan/locale/sv/LC_MESSAGES/samverkan.po"
    for msgid, text in translated.items():  # the placeholders a message fills must be in its translation
        assert set(re.findall(r"\{(\w+)\}", msgid)) == set(re.findall(r"\{(\w+)\}", str(text))), msgid


def run(*args: str, lang: str | None = None) -> tuple[int, list[str]]:
    env = {"SAMVERKAN_LANG": lang} if lang else {"SAMVERKAN_LANG": ""}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output.splitlines()


def test_a_swedish_plan_is_told_of_in_swedish(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": camp("[trafik]", "[trafk]"), "b": CORPUS_CAMPAIGN})
    code, lines = run("validate", "--root", str(root))  # no --lang, no $SAMVERKAN_LANG: the plan's locale, sv
    assert code == 1
    assert lines[-2:] == ["hålls, inget av dem publiceras förrän de är godkända: campaigns/a.yaml",
                          "1 kampanjfil(er) godkända, 1 med fel; 1 fel, 4 varning(ar)"]
    code, lines = run("--lang", "en", "validate", "--root", str(root))
    assert lines[-1] == "1 campaign file(s) valid, 1 with errors; 1 error(s), 4 warning(s)"
    code, lines = run("validate", "--root", str(root), lang="en")
    assert lines[-1] == "1 campaign file(s) valid, 1 with errors; 1 error(s), 4 warning(s)"


def test_the_plan_table_and_the_rehearsal_summary_in_swedish(sample_root: Path, tmp_path: Path) -> None:
    code, lines = run("plan", "--root", str(sample_root), "--year", "2018")
    assert code == 0
    assert lines[1:4] == ["Plan 2018", "", "Kampanjer"]
    assert "Överenskommelsens krav" in lines and "  kampanjer: 5 av minst 4  ok" in lines
    code, lines = run("rehearse", "--root", str(sample_root), "--from", "2018-01-01", "--to", "2018-03-01",
                      "--out", str(tmp_path / "r"), "--assume-approved")
    assert code == 0
    assert re.fullmatch(r"Generalrepetition 2018-01-01 – 2018-03-01: 5 utskick på [\d.]+ s", lines[0])
    assert lines[2].split() == ["kanal", "publicerat"] and lines[4].split() == ["totalt", "5"]


def test_an_error_at_the_command_line_edge_in_swedish(tmp_path: Path) -> None:
    code, lines = run("validate", "--root", str(tmp_path), "--now", "i morgon", lang="sv")
    assert code == 2
    assert any("'i morgon' är inte ett datum och en tid i ISO-form, t.ex. 2018-08-13T07:30" in line for line in lines)


@pytest.mark.parametrize(("given", "chosen"), [("sv_SE", "sv"), ("en-GB", "en"), ("fi", "en"), ("SV", "sv")])
def test_languages_are_read_as_people_write_them(given: str, chosen: str) -> None:
    try:
        assert i18n.set_language(given) == chosen
    finally:
        i18n.set_language("en")


def test_a_catalog_not_compiled_is_read_from_its_po(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "sv" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(PO, folder / "samverkan.po")  # no .mo beside it
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    try:
        i18n.set_language("sv")
        assert i18n._("Campaigns") == "Kampanjer"
    finally:
        i18n.set_language("en")


def test_status_in_swedish(sample_root: Path) -> None:
    code, lines = run("status", "--root", str(sample_root), "--now", "2018-08-01T09:00")
    assert code == 0
    assert lines[:5] == ["Läget 2018-08-01 09:00", "", "Behöver en människa: inget", "",
                         "Väntar på godkännande (hålls vid sin tid tills de är godkända)"]
    assert "  2018-08-13 07:30  2018-saker-skolstart/start  av kommunen, polisen" in lines
    assert "Kommande" in lines and "Nyligen publicerat" in lines and "  inget än" in lines
    code, lines = run("status", "--root", str(sample_root), "--now", "2018-08-01T09:00", lang="en")
    assert lines[0] == "Status at 2018-08-01 09:00" and "Upcoming" in lines


def test_approvals_in_swedish(sample_root: Path) -> None:
    code, lines = run("approve", "2018-saker-skolstart/start", "--party", "polisen", "--by", "Mattias Ek",
                      "--root", str(sample_root), "--now", "2018-08-01T09:00")
    assert code == 0
    assert lines[0] == "2018-saker-skolstart/start: godkänt av polisen (Mattias Ek); väntar fortfarande på kommunen"
    code, lines = run("approvals", "--root", str(sample_root), "--now", "2018-08-01T09:30")
    assert lines[0] == "2018-08-13 07:30  2018-saker-skolstart/start  väntar på kommunen"
    assert any(re.fullmatch(r"      godkänt av polisen: Mattias Ek \(kommandoraden, användare .+\), 2018-08-01 09:00", line)
               for line in lines), lines


def test_the_most_common_mistakes_in_swedish(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={
        "a": camp("title: Säker skolstart", "titel: Säker skolstart"),
        "b": camp("summary: Trafiken runt skolorna.\n", ""),
        "c": camp("title: Nu börjar skolan", "title: 2018"),
    })
    code, lines = run("validate", "--root", str(root))
    errors = [line for line in lines if ": error: " in line]
    assert "campaigns/a.yaml:1:1: error: okänd nyckel 'titel'; menade du 'title'?" in errors
    assert "campaigns/b.yaml:1:1: error: nyckeln 'summary' saknas" in errors
    assert "campaigns/c.yaml:15:12: error: title: väntade text, fick talet 2018; sätt värdet inom citattecken" in errors


def test_references_times_and_the_agreement_in_swedish(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={
        "a": camp("[trafik]", "[trafk]"), "b": camp("at: 2018-08-13 07:30", "at: 2018-03-25 02:30")
            .replace("period: {start: 2018-08-13, end: 2018-09-09}", "period: {start: 2018-03-01, end: 2018-09-09}")})
    _, lines = run("validate", "--root", str(root))
    assert ("campaigns/a.yaml:3:18: error: okänt prioriterat område 'trafk'; menade du 'trafik'? "
            "(kända: trafik, brand)") in lines
    assert ("campaigns/b.yaml:13:9: error: at: 2018-03-25 02:30 finns inte i Europe/Stockholm (klockan ställs fram "
            "den natten); välj en annan tid, t.ex. 03:00, den första efter omställningen") in lines


def test_the_content_checks_in_swedish(make_root: Callable[..., Path]) -> None:
    text = CORPUS_CAMPAIGN.replace("body: Sänk farten.", "body: Ring 811218-9876 om du undrar.") \
        + "    image: {path: content/images/x.png, alt: ''}\n"
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": text})
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    _, lines = run("validate", "--root", str(root))
    assert ("campaigns/a.yaml:17:12: error: image: ingen alternativtext; lägg till alt: som beskriver bilden för den "
            "som inte ser den") in lines
    assert ("campaigns/a.yaml:16:16: error: ett svenskt personnummer; ta bort det: ett gemensamt meddelande får "
            "aldrig peka ut en privatperson") in lines


def test_yaml_syntax_in_swedish(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": camp("[trafik]", "[trafik")})
    _, lines = run("validate", "--root", str(root))
    assert ("campaigns/a.yaml:3:17: error: YAML-syntax: listan som börjar med '[' här stängs aldrig; lägg till ']' "
            "(och sätt citattecken kring delar som innehåller ',', ':' eller '#')") in lines


def test_the_campaigns_own_rules_in_swedish(make_root: Callable[..., Path]) -> None:
    twice = CORPUS_CAMPAIGN + "  - key: start\n    at: 2018-08-14 07:30\n    title: Igen\n    body: Igen.\n"
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": twice, "b": camp("at: 2018-08-13 07:30", "at: 2018-10-13 07:30")})
    _, lines = run("validate", "--root", str(root))
    assert ("campaigns/a.yaml:17:10: error: key: meddelandenyckeln 'start' används två gånger i filen "
            "(första gången på rad 12)") in lines
    assert any(line.startswith("campaigns/b.yaml:13:9: error: at: 2018-10-13 07:30 ligger utanför kampanjens period")
               for line in lines), lines
