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


def test_parallel_checks_find_exactly_what_serial_ones_find(make_root, monkeypatch) -> None:
    """Large plans are rendered in worker processes: the findings must not change."""
    import threading

    from samverkan import contentchecks
    from samverkan.loading import load_project

    config = FULL_CONFIG + "checks: {lix_max: 10, facebook_max_chars: 200}\n"
    campaigns = {f"skolstart-{i}": with_message_keys("") for i in range(6)}
    campaigns["trasig"] = with_message_keys("").replace("Nu börjar skolan", "Nu börjar skolan {{ x }}")
    root = full_root(make_root, campaigns, config=config,
                     templates={"facebook/post.txt.j2": "{{ message.title }} {{ saknas }}\n"})
    project = load_project(root)
    monkeypatch.setattr(contentchecks, "PARALLEL_FROM", 10**9)
    serial = sorted(contentchecks.check_content(project))
    monkeypatch.setattr(contentchecks, "PARALLEL_FROM", 1)
    monkeypatch.setattr(contentchecks, "usable_cpus", lambda: 3)  # two workers beside the parent, whatever the machine
    forked: list[int] = []
    real = contentchecks.Worker
    monkeypatch.setattr(contentchecks, "Worker", lambda work: (forked.append(1), real(work))[1])
    assert threading.active_count() == 1, threading.enumerate()  # else no worker is forked
    parallel = sorted(contentchecks.check_content(project))
    assert forked == [1, 1]
    assert parallel == serial
    assert any(p.file == "content/templates/facebook/post.txt.j2" for p in serial)
    assert sum("LIX" in p.message for p in serial) == 7


def alone_then_shared(monkeypatch, root, cpus: int = 3):
    """validate's report on ``root`` from one process; validate then shares large plans
    out, such as this one, among ``cpus - 1`` workers beside the parent."""
    import threading

    from samverkan import contentchecks
    from samverkan.validation import validate as run

    monkeypatch.setattr(contentchecks, "OVERLAP_FROM", 10**9)
    alone = run(root)
    monkeypatch.setattr(contentchecks, "OVERLAP_FROM", 1)
    monkeypatch.setattr(contentchecks, "usable_cpus", lambda: cpus)
    # Workers are forked only from a process without other threads (workers.can_fork): a
    # thread an earlier test left running would make every test of sharing out pass idle.
    assert threading.active_count() == 1, threading.enumerate()
    return alone


def a_worker_goes_first(monkeypatch, tmp_path) -> None:
    """Make the parent wait, before its first chunk, until a worker has loaded one: the
    workers then surely take part, however fast the parent is."""
    import os

    from samverkan import contentchecks

    parent, real, loaded = os.getpid(), contentchecks.load_share, tmp_path / "a-worker-loaded"
    waited: list[bool] = []

    def load_share(project, files):
        if os.getpid() != parent:
            share = real(project, files)
            loaded.touch()
            return share
        if not waited:
            waited.append(True)
            wait_until(loaded.exists, 30, step=0.005)
        return real(project, files)

    monkeypatch.setattr(contentchecks, "chunks", lambda n, processes: [(i, i + 1) for i in range(n)])
    monkeypatch.setattr(contentchecks, "load_share", load_share)


def test_loading_and_checking_overlapped_find_exactly_what_one_process_finds(make_root, monkeypatch) -> None:
    """validate on a large plan has forked workers load and check shares of it and send
    back what they loaded: the report and the plan must be the same as one process makes
    them, a template error met in several shares reported once, and the warning about a
    misnamed file given once."""
    from samverkan.validation import validate as run

    config = FULL_CONFIG + "checks: {lix_max: 10, facebook_max_chars: 200}\n"
    campaigns = {f"skolstart-{i}": with_message_keys("") for i in range(7)}
    campaigns["trasig"] = with_message_keys("").replace("Nu börjar skolan", "Nu börjar skolan {{ x }}")
    campaigns["ogiltig"] = with_message_keys("okand_nyckel: 1\n")
    root = full_root(make_root, campaigns, config=config,
                     templates={"facebook/post.txt.j2": "{{ message.title }} {{ saknas }}\n"})
    (root / "campaigns" / "felnamn.yml").write_text(with_message_keys(""), encoding="utf-8")
    alone = alone_then_shared(monkeypatch, root)
    overlapped = run(root)
    assert overlapped.problems == alone.problems
    # The plan as a whole too, in file order, though the workers' campaigns came pickled
    # without their positions (read again from the file when asked for).
    one, other = alone.project, overlapped.project
    assert list(other.campaigns) == list(one.campaigns)
    assert (other.broken, other.unchecked, other.problems) == (one.broken, one.unchecked, one.problems)
    assert any(c.located is None for c in other.campaigns.values())  # some did travel
    for key, campaign in one.campaigns.items():
        theirs = other.campaigns[key]
        assert (theirs.model, theirs.messages, theirs.events) == (campaign.model, campaign.messages, campaign.events)
        assert theirs.where("messages", 0, "title") == campaign.where("messages", 0, "title") != (1, 1)
    assert sum(p.file == "content/templates/facebook/post.txt.j2" for p in alone.problems) == 1
    assert sum("LIX" in p.message for p in alone.problems) == 8
    assert any(p.file == "campaigns/ogiltig.yaml" and p.severity == "error" for p in alone.problems)
    assert sum(p.file == "campaigns/felnamn.yml" for p in alone.problems) == 1


@pytest.mark.parametrize("sent", [0, 2])
def test_a_worker_that_dies_has_the_rest_of_its_share_checked_by_the_parent(make_root, monkeypatch, tmp_path, sent) -> None:
    """The plan is taken a campaign at a time; the worker sends ``sent`` campaigns and dies
    loading the next, which it had taken: the parent keeps what came, and loads and checks
    the rest itself, the one the worker took too."""
    import os

    from samverkan import contentchecks
    from samverkan.validation import validate as run

    config = FULL_CONFIG + "checks: {lix_max: 10}\n"
    campaigns = {f"skolstart-{i}": with_message_keys("") for i in range(10)}
    root = full_root(make_root, campaigns, config=config)
    alone = alone_then_shared(monkeypatch, root, cpus=2)
    monkeypatch.setattr(contentchecks, "chunks", lambda n, processes: [(i, i + 1) for i in range(n)])
    real = contentchecks.load_share
    loaded: list[int] = []
    died = tmp_path / "died"

    def dying(project, files):
        if os.getpid() != parent:
            if len(loaded) == sent:
                died.touch()
                os._exit(3)
        elif not loaded:  # the parent's first: wait until the worker has died
            wait_until(died.exists, 30, step=0.005)
        loaded.append(len(files))
        return real(project, files)

    parent = os.getpid()
    monkeypatch.setattr(contentchecks, "load_share", dying)
    shared = run(root)
    assert died.exists()
    assert shared.problems == alone.problems
    assert list(shared.project.campaigns) == list(alone.project.campaigns)
    assert sum("LIX" in p.message for p in alone.problems) == 10
    assert sum(loaded) == 10 - sent  # the parent loaded all but what the worker sent


def test_workers_that_cannot_be_started_leave_their_shares_to_the_parent(make_root, monkeypatch, tmp_path) -> None:
    """The second fork fails (a process limit, say): the first worker's chunks come back,
    the parent takes the rest."""
    import os

    from samverkan import workers
    from samverkan.validation import validate as run

    config = FULL_CONFIG + "checks: {lix_max: 10}\n"
    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(6)}, config=config)
    alone = alone_then_shared(monkeypatch, root)
    forks = []
    real_fork = os.fork

    def fork() -> int:
        forks.append(1)
        if len(forks) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_fork()

    monkeypatch.setattr(workers.os, "fork", fork)
    a_worker_goes_first(monkeypatch, tmp_path)
    shared = run(root)
    assert len(forks) == 2
    assert shared.problems == alone.problems
    assert list(shared.project.campaigns) == list(alone.project.campaigns)
    assert any(c.located is None for c in shared.project.campaigns.values())  # (the worker's travelled)


def test_without_a_pipe_for_the_chunks_the_parent_takes_them_all(make_root, monkeypatch) -> None:
    """No pipe to be had (a limit on open files, say): no worker is started, and the
    report is the one process's."""
    from samverkan import contentchecks, workers
    from samverkan.validation import validate as run

    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(6)})
    alone = alone_then_shared(monkeypatch, root)

    def no_pipe(n: int) -> None:
        raise OSError(24, "Too many open files")

    def no_fork() -> int:
        raise AssertionError("no worker should be started")

    monkeypatch.setattr(contentchecks, "Tasks", no_pipe)
    monkeypatch.setattr(workers.os, "fork", no_fork)
    shared = run(root)
    assert shared.problems == alone.problems
    assert list(shared.project.campaigns) == list(alone.project.campaigns)


def test_a_broken_config_on_a_large_plan_is_reported_as_one_process_reports_it(make_root, monkeypatch) -> None:
    from samverkan.validation import validate as run

    config = FULL_CONFIG.replace("timezone: Europe/Stockholm", "timezone: Europe/Stockholm\nokand: 1")
    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(4)}, config=config)
    alone = alone_then_shared(monkeypatch, root)
    shared = run(root)
    assert any(p.file == "config.yaml" and "okand" in p.message for p in alone.errors)
    assert (shared.problems, shared.project.unchecked) == (alone.problems, alone.project.unchecked)


def test_an_unknown_locale_is_one_error_whether_the_plan_is_shared_out_or_not(make_root, monkeypatch, tmp_path) -> None:
    """Every process meets the environment's own error; it is reported once, and the
    plan is still whole (each worker's campaigns came back)."""

    from samverkan.validation import validate as run

    config = FULL_CONFIG + "locale: xx_XX\n"
    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(5)}, config=config)
    alone = alone_then_shared(monkeypatch, root)
    a_worker_goes_first(monkeypatch, tmp_path)
    overlapped = run(root)
    assert any(c.located is None for c in overlapped.project.campaigns.values())  # (a worker's travelled)
    assert [str(p) for p in alone.problems if p.severity == "error"] == [
        "config.yaml:42:9: error: locale: unknown locale 'xx_XX'; write e.g. sv"
    ]
    assert overlapped.problems == alone.problems
    assert list(overlapped.project.campaigns) == list(alone.project.campaigns) == [f"skolstart-{i}" for i in range(5)]


def test_no_worker_is_forked_while_another_thread_runs(make_root, monkeypatch) -> None:
    """A fork copies only the thread that calls it: a lock another thread holds (logging's,
    say) would stay held in the worker for good. With threads about, the plan is checked
    in the one process."""
    import threading

    from samverkan import contentchecks
    from samverkan.validation import validate as run

    root = full_root(make_root, {f"skolstart-{i}": with_message_keys("") for i in range(4)},
                     config=FULL_CONFIG + "checks: {lix_max: 10}\n")
    alone = alone_then_shared(monkeypatch, root)

    def no_fork(*args: object, **kwargs: object) -> None:
        raise AssertionError("a worker was forked beside another thread")

    monkeypatch.setattr(contentchecks, "Worker", no_fork)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert run(root).problems == alone.problems
    finally:
        stop.set()
        other.join()
    with pytest.raises(AssertionError, match="forked"):
        run(root)  # the thread gone, it would fork again


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
