"""Content checks at validate time: readability, channel limits, privacy, press contacts."""

from __future__ import annotations

import random
import re

import pytest

from samverkan.contentchecks import _LETTER, _WORD, _without_urls, has_personnummer, lix, personnummer_spans, sentences
from tests.helpers.cli import validate
from tests.helpers.daemon import wait_until
from tests.helpers.plans import FULL_CAMPAIGN, FULL_CONFIG, full_root, message, with_message_keys

# --- LIX -----------------------------------------------------------------------------------


def test_lix_of_a_known_text() -> None:
    # 12 words, 2 sentences, 2 words over six letters (meningen, betydligt):
    # 12/2 + 100 * 2/12 = 22.67
    text = "Det här är en kort mening. Den andra meningen är betydligt längre."
    assert lix(text) == pytest.approx(6 + 100 * 2 / 12)
    # one long sentence of long words is hard to read
    assert lix("Kommunikationsavdelningen rekommenderar trafiksäkerhetsåtgärder omedelbart") == pytest.approx(4 + 100)
    assert lix("") == 0.0


def test_sentences_end_at_stops_and_line_breaks_not_at_abbreviations() -> None:
    assert sentences("Vi ses kl. 18.00 i aulan. Ta t.ex. cykeln! Så här:\n• Sänk farten\n• Öva") == [
        "Vi ses kl. 18.00 i aulan.", "Ta t.ex. cykeln!", "Så här:", "• Sänk farten", "• Öva",
    ]


def test_abbreviations_end_no_sentence_in_any_case_or_place() -> None:
    assert sentences("KL. 18 ses vi. Ta BL.A. cykeln, p.g.a. vägarbetet. Slut.") == [
        "KL. 18 ses vi.", "Ta BL.A. cykeln, p.g.a. vägarbetet.", "Slut.",
    ]
    # only the whole last word counts: "stakl." is no "kl.", and "kl." alone on a line ends it
    assert sentences("Vi cyklade stakl. Sedan hem.\nkl.\nNästa rad") == ["Vi cyklade stakl.", "Sedan hem.", "kl.", "Nästa rad"]
    # an address is no prose, in any of its forms
    assert lix("Läs mer på www.hultsfred.se/skolstart och (https://polisen.se/a-b).") == lix("Läs mer på och")


@pytest.mark.parametrize("text", ["Hej.\n\t\nDå.", "\xa0", "Hej.\r\n\r\nDå.", "www., ", "https://polisen.se https://hultsfred.se"])
def test_lines_of_nothing_but_spaces_are_no_sentences(text: str) -> None:
    """Such lines come from addresses taken out of a line, or a code block's empty lines."""
    assert all(s.strip() for s in sentences(text))
    assert lix(text) >= 0


def test_sentences_are_counted_as_they_are_split_on_generated_texts() -> None:
    """LIX counts sentences with two searches over the whole text; the count must be the
    number of sentences ``sentences`` gives, abbreviations in any case and place, line
    breaks and other spaces included (the Kelvin sign's lower case is "k", a long s's is
    itself)."""
    from samverkan.contentchecks import _sentence_count

    pieces = ["Vi", "ses", "kl.", "t.ex.", "KL.", "\u212aL.", "\u017ft.", "stakl.", "x.kl.", "(kl.", "kl.)", "p.g.a.", "P.G.A.",
              "o.s.v.", "st.", "nr.", "18.00", "1.", "Slut.", "a.", "covid-19", "åtta", "İ", "_", "•", "don't", "…", "–",
              ".", "..", ". .", "!", "!!", "?", ":", "?:", " ", " ", "  ", "\t", "\xa0", "\r", "\u2028", "\x1c", "\n", "\n\n"]
    rnd = random.Random(2611)
    for _ in range(30_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40)))
        assert _sentence_count(text) == len(sentences(text)), repr(text)


# The addresses LIX leaves out, as one expression (slow to search with: see _without_urls).
ADDRESS = re.compile(r"\(?\b(?:https?://|mailto:|www\.)\S+")


def reference_lix(text: str) -> float:
    """LIX as its definition reads, from the sentences themselves."""
    text = ADDRESS.sub("", text)
    parts = sentences(text)
    words = [w for s in parts for w in _WORD.findall(s)]
    if not words:
        return 0.0
    long_words = sum(1 for w in words if len(w) > 6 and (w.isalpha() or len(_LETTER.findall(w)) > 6))
    return len(words) / len(parts) + 100 * long_words / len(words)


def test_lix_counts_as_its_definition_on_generated_texts() -> None:
    pieces = ["Vi", "https://a.se", "(www.b.se", "xhttps://c.se", "((mailto:d@e.se)", "_www.f.se", "ses", "kl.", "t.ex.", "KL.", "stakl.", "p.g.a.", "18.00", "trafiksäkerhet", "covid-19", "A-traktor",
              "Ab12cdef", "åtta", "år", ".", "!", "?", ":", "…", "–", " ", " ", " ", "  ", "\n", "\n\n", "\t", "\xa0",
              "www.hultsfred.se", "(https://polisen.se/a)", "mailto:a@b.se", "•", "_", "don't", "1.", "Slut."]
    rnd = random.Random(1127)
    for _ in range(4000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40)))
        assert _without_urls(text) == ADDRESS.sub("", text), repr(text)
        assert lix(text) == pytest.approx(reference_lix(text), abs=1e-9), repr(text)


# --- personnummer --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "811218-9876", "8112189876", "19811218-9876", "198112189876", "811218+9876",
    "Anmälan från 811218-9876 i går", "(pnr 19811218-9876)", "samordningsnummer 701063-2391",
])
def test_personnummer_found(text: str) -> None:
    assert has_personnummer(text)


@pytest.mark.parametrize("text", [
    "811218-9875",          # wrong check digit
    "811318-9872",          # month 13
    "811200-9876",          # day 0
    "212000-0738",          # an organisation number (month 20)
    "0495-24 05 10",        # a phone number
    "+46 10 564 21 30",
    "1234567890123",        # a long number is not one
    "104718532690417",      # a Facebook page id
    "2018-08-13 07:30",
])
def test_personnummer_not_found(text: str) -> None:
    assert not has_personnummer(text)


def test_personnummer_spans() -> None:
    assert personnummer_spans("a 811218-9876 och 198112189876.") == [(2, 13), (18, 30)]


def test_personnummer_in_a_campaign_is_an_error_at_its_place_without_the_number(make_root) -> None:
    campaign = FULL_CAMPAIGN.replace("Sänk farten nära skolor.", "Sänk farten, sa 19811218-9876 i går.").replace(
        "location: Aulan", "location: Aulan\n    description: Anmäld av 8112189876"
    )
    root = full_root(make_root, {"skolstart": campaign}, templates={
        "snippets/events.txt.j2": "{% if events %}\n\nKontakt 811218+9876\n{% endif %}\n",
    })
    code, lines = validate(root)
    assert code == 1
    text = "error: a Swedish personal identity number (personnummer); remove it: a joint message must never name a private person"
    assert f"campaigns/skolstart.yaml:10:28: {text}" in lines  # the event's description
    assert f"campaigns/skolstart.yaml:18:23: {text}" in lines  # the body
    assert f"content/templates/snippets/events.txt.j2:3:9: {text}" in lines
    assert not any("9876" in line for line in lines)


# --- the other checks, through validate ------------------------------------------------------


def test_readability_and_facebook_length_are_warnings_with_the_figure(make_root) -> None:
    config = FULL_CONFIG + "checks: {lix_max: 10, facebook_max_chars: 200}\n"
    campaign = with_message_keys("""
        overrides:
          fb-polisen: {body: Kort.}
    """)
    code, lines = validate(full_root(make_root, {"skolstart": campaign}, config=config))
    assert code == 0, lines
    # "Nu börjar skolan / Sänk farten nära skolor. / • Öva skolvägen. / • Använd reflex (URL)":
    # 11 words in 4 sentences, 1 long word: 11/4 + 100/11 = 11.8 (the address is not counted)
    assert ("campaigns/skolstart.yaml:16:11: warning: LIX 12 is above 10 (checks.lix_max): the text is hard to read; "
            "write shorter sentences and fewer long words (channels: fb-kommunen, press, webb)") in lines
    assert ("campaigns/skolstart.yaml:16:11: warning: the Facebook post is 270 characters, over 200 "
            "(checks.facebook_max_chars); shorten it or give a short text in overrides (channel: fb-kommunen)") in lines
    # the Police page's short override text is readable and short enough ("Nu börjar skolan. Kort.")
    assert not any("fb-polisen" in line for line in lines)


def test_press_contact_link_and_image_alt(make_root) -> None:
    config = FULL_CONFIG.replace(
        '      press_contact: {name: Pat Polis, title: Kommunpolis, phone: "+46 2", email: press@polisen.example}\n', ""
    )
    campaign = FULL_CAMPAIGN.replace("link: https://", "link: http://").replace("alt: Ett övergångsställe", 'alt: ""')
    code, lines = validate(full_root(make_root, {"skolstart": campaign}, config=config))
    assert code == 1
    assert ("campaigns/skolstart.yaml:11:5: warning: the press release has no press contact for Polisen Test; "
            "add press_contact under agreement.parties.polisen in config.yaml (channel: press)") in lines
    assert ("campaigns/skolstart.yaml:14:11: warning: link: 'http://kommun.example/skolstart' is not an https:// "
            "address; use https so readers reach the page safely") in lines
    assert ("campaigns/skolstart.yaml:15:12: error: image: no alt text; add alt: describing the picture for readers "
            "who cannot see it") in lines


def test_press_contact_warning_points_at_the_press_channel(make_root) -> None:
    config = FULL_CONFIG.replace(
        '      press_contact: {name: Kim Kommun, title: Presschef, phone: "+46 1", email: press@kommun.example}\n', ""
    )
    campaign = with_message_keys("channels: [webb, press]\n")
    code, lines = validate(full_root(make_root, {"skolstart": campaign}, config=config))
    assert ("campaigns/skolstart.yaml:21:22: warning: the press release has no press contact for Testkommun; "
            "add press_contact under agreement.parties.kommunen in config.yaml (channel: press)") in lines


def test_flagged_words_in_a_press_release_only(make_root) -> None:
    campaign = FULL_CAMPAIGN.replace("Sänk farten nära skolor.", "En Misstänkt förare kördes bort.")
    other = message("fb", "2018-08-14 10:00", "Bara Facebook", "En misstänkt förare.", channels="[fb-kommunen]")
    code, lines = validate(full_root(make_root, {"skolstart": campaign + other}))
    flagged = [line for line in lines if "flagged_words" in line]
    assert flagged == [
        "campaigns/skolstart.yaml:16:11: warning: the press release uses 'misstänkt' in the body "
        "(checks.flagged_words): make sure it is objective and points out no one (channel: press)"
    ]


def test_a_clean_plan_has_no_content_problems(make_root) -> None:
    code, lines = validate(full_root(make_root))
    assert code == 0
    assert [line for line in lines if line.startswith(("campaigns/", "content/"))] == []


def test_an_unknown_locale_is_one_error_and_the_plan_still_whole(make_root) -> None:
    from samverkan.validation import validate as run

    config = FULL_CONFIG + "locale: xx_XX\n"
    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(5)}, config=config)
    report = run(root)
    assert [str(p) for p in report.problems if p.severity == "error"] == [
        "config.yaml:42:9: error: locale: unknown locale 'xx_XX'; write e.g. sv"
    ]
    assert list(report.project.campaigns) == [f"skolstart-{i}" for i in range(5)]


def test_the_quick_test_for_six_digits_in_a_row_agrees_with_the_regex() -> None:
    """The files searched for personal identity numbers are first tested for six digits
    in a row on their bytes; it must say what a search of the text says."""
    import random
    import re

    from samverkan.contentchecks import _has_digit_run

    six = re.compile(r"[0-9]{6}")
    rng = random.Random(7)
    alphabet = "0123456789 aåä–-\n.\r١٢٣٤٥٦𝟘𝟙"  # (other scripts' digits are not searched for)
    texts = ["", "123456", "12345 6", "åäö123456", "١٢٣٤٥٦"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(50_000)
    ]
    results = [_has_digit_run(t.encode("utf-8")) for t in texts]
    assert results == [bool(six.search(t)) for t in texts]
    assert sum(results) > 500
