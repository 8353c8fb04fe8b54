"""Checks of what each message says on each channel (rendering, readability, privacy).

Every message of every valid campaign is rendered once per channel (repeats share their
text) and checked:

- a template that fails is reported at the template's file and line, once;
- LIX readability above ``checks.lix_max`` (warning: the plain-language law asks public
  bodies to write simply);
- a text longer than its channel can take (Facebook's 63,206 characters: error, it would
  be refused) or than ``checks.facebook_max_chars`` (warning);
- a rendered text (a template's own words included) with a character no channel can
  carry (error: the feed's XML would not be written);
- a press release without a press contact, a link that is not https (warnings);
- an image without alt text, and a Swedish personal identity number anywhere in a
  published text (errors: a joint message must never name private persons);
- words from ``checks.flagged_words`` in a press release (warning).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from collections import defaultdict
from typing import Iterable, Iterator

from publishers.base import PlanFileError, get, plan_file, uncarriable

from .i18n import N_, _, ngettext
from .loading import LoadedCampaign, LoadedMessage, Project, load_project
from .problems import Problem
from .rendering import BUILTIN_TEMPLATES, PLAN_TEMPLATES, MessageView, RenderError, Resolved, render_parts, resolve

# --- LIX -----------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
_LETTER = re.compile(r"[^\W\d_]")
_URL = re.compile(r"(?:https?://|mailto:|www\.)\S+")
_WORD_CHAR = re.compile(r"\w")
_STOP = re.compile(r"[.!?:]\s+")  # a stop and the spaces after it
# Abbreviations whose full stop ends no sentence (as the last word, in any case).
_ABBREVIATIONS = frozenset(
    "t.ex. bl.a. s.k. m.m. o.s.v. osv. d.v.s. dvs. p.g.a. pga. kl. ca. nr. f.d. jfr. resp. tel. enl. inkl. exkl. st.".split()
)


def _sentence_spans(line: str) -> Iterator[tuple[int, int]]:
    """Where each sentence of one line starts and ends (see :func:`sentences`)."""
    start = 0  # where the current sentence began
    for m in _STOP.finditer(line):
        end = m.start() + 1
        if line[m.start()] == "." and line[start:end].rsplit(None, 1)[-1].lower() in _ABBREVIATIONS:
            continue  # (every abbreviation ends with a full stop)
        yield start, end
        start = m.end()
    if start < len(line):
        yield start, len(line)


def sentences(text: str) -> list[str]:
    """Sentences end at . ! ? : before a space, and at a line break (list items and
    headings often lack a full stop); "kl. 18" and "t.ex. när" do not end one. The spaces
    after a stop inside a sentence (after an abbreviation) are written as one."""
    return [
        _STOP.sub(lambda m: m.group(0)[0] + " ", line[start:end])
        for line in text.split("\n")
        for start, end in _sentence_spans(line)
        if _WORD.search(line, start, end)
    ]


def _letters(letter: str) -> str:
    """The characters whose lower case is ``letter`` (KELVIN SIGN's is "k"), as a class."""
    return f"[{letter}{letter.upper()}{chr(0x212A) if letter == 'k' else ''}]"


# The full stop of an abbreviation (a whole word: see _sentence_spans), which ends no
# sentence (where no space follows it ends none anyway). The expression starts at the
# stop, so a search finds candidates quickly.
_ABBREVIATION_STOP = re.compile(r"\.(?:" + "|".join(
    "(?<=(?<!\\S)" + "".join(_letters(c) if c.isalpha() else re.escape(c) for c in a) + ")"
    for a in sorted(_ABBREVIATIONS)
) + ")")
# A sentence, from its first word character to its stop (one followed by a space that is
# no line break) or to the line break: each sentence of a text, once its abbreviations'
# stops are out of the way.
_SENTENCE = re.compile(r"[^\W_][^.!?:\n]*(?:[.!?:](?![^\S\n])[^.!?:\n]*)*")


def _sentence_count(text: str) -> int:
    """``len(sentences(text))``, counted by two searches without building the sentences:
    validate computes a LIX for every text of a plan. An abbreviation's stop becomes an
    "_", which neither ends a sentence nor makes one."""
    if "." in text:
        text = _ABBREVIATION_STOP.sub("_", text)
    return len(_SENTENCE.findall(text))


def _without_urls(text: str) -> str:
    """``text`` without its web and e-mail addresses (each with an opening parenthesis
    right before it), where one starts a word: an address is not prose. One search per
    address, not a try at every character as ``\\(?\\b`` before the address would make."""
    out, kept, pos = [], 0, 0
    while (m := _URL.search(text, pos)) is not None:
        start = m.start()
        if start and _WORD_CHAR.match(text, start - 1):  # inside a word: no address
            pos = start + 1
            continue
        if start > kept and text[start - 1] == "(":
            start -= 1
        out.append(text[kept:start])
        kept = pos = m.end()
    out.append(text[kept:])
    return "".join(out)


@functools.lru_cache(maxsize=8192)
def lix(text: str) -> float:
    """LIX readability: words per sentence + 100 × words longer than six letters / words.

    Below 30 is very easy, 40 ordinary newspaper text, above 50 hard; 0 for no words.
    """
    if "://" in text or "mailto:" in text or "www." in text:
        text = _without_urls(text)  # an address is not prose
    words = _WORD.findall(text)  # (no word spans a sentence's end: those are spaces)
    if not words:
        return 0.0
    long_words = [w for w in words if len(w) > 6]
    n_long = len(long_words) if all(map(str.isalpha, long_words)) else \
        sum(1 for w in long_words if w.isalpha() or len(_LETTER.findall(w)) > 6)
    return len(words) / _sentence_count(text) + 100 * n_long / len(words)


# --- personnummer --------------------------------------------------------------------------

# YYMMDD-NNNN, YYMMDDNNNN, YYYYMMDD-NNNN, YYYYMMDDNNNN, and "+" for people over 100.
_PNR = re.compile(r"(?<![\d])(\d{6}|\d{8})([-+]?)(\d{4})(?![\d])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def personnummer_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds a plausible Swedish personal identity (or coordination) number:
    a real month and day (day + 60 for a coordination number) and a valid check digit."""
    found = []
    for m in _PNR.finditer(text):
        date, last = m.group(1), m.group(3)
        if len(date) == 8:
            if date[:2] not in ("18", "19", "20"):
                continue
            date = date[2:]
        month, day = int(date[2:4]), int(date[4:6])
        if not 1 <= month <= 12 or not (1 <= day <= 31 or 61 <= day <= 91):
            continue
        if _luhn(date + last):
            found.append(m.span())
    return found


def has_personnummer(text: str) -> bool:
    return bool(personnummer_spans(text))


# --- the checks ----------------------------------------------------------------------------

PNR_TEXT = N_(
    "a Swedish personal identity number (personnummer); remove it: "
    "a joint message must never name a private person"
)
# Every byte a digit is written with in UTF-8 as "0", any other as " ".
_DIGIT_BYTES = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


def _has_digit_run(raw: bytes) -> bool:
    """Whether UTF-8 ``raw`` has six digits in a row, as every personal identity number
    has: most files have none, and this says so ten times sooner than a regex search
    (a digit is one byte, and no other character's bytes are digits)."""
    return b"000000" in raw.translate(_DIGIT_BYTES)


# Words that name a picture without saying what is in it (WCAG 2.1, 1.1.1: a text
# alternative serves the same purpose as the picture).
_GENERIC_ALT = frozenset({"bild", "bilden", "foto", "fotot", "fotografi", "illustration", "image", "img", "photo",
                          "picture", "logo", "logga", "logotyp", "grafik", "graphic", "alt", "alt-text", "alttext"})


def alt_says_nothing(alt: str, path: str) -> str | None:
    """Why ``alt`` does not describe its picture (a file name, one generic word), or None."""
    text = alt.strip().strip(".").lower()
    if text == path.rsplit("/", 1)[-1].lower() or re.fullmatch(r"\S+\.(png|jpe?g|gif|webp|svg)", text):
        return _("is a file name")
    if text in _GENERIC_ALT:
        return _("only names it as a picture")
    return None


class _Findings:
    """Problems grouped by place and text, each with the channels it concerns, so a body
    shared by four channels gives one line, not four."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, int, int, str, str], set[str]] = defaultdict(set)

    def add(self, file: str, pos: tuple[int, int], severity: str, text: str, channel: str | None = None) -> None:
        channels = self.by_key[(file, pos[0], pos[1], severity, text)]
        if channel:
            channels.add(channel)

    def problems(self) -> list[Problem]:
        out = []
        for (file, line, col, severity, text), channels in self.by_key.items():
            if channels:
                text = f"{text} (" + ngettext("channel: {names}", "channels: {names}", len(channels)).format(
                    names=", ".join(sorted(channels))) + ")"
            out.append(Problem(file, line, col, severity, text))  # type: ignore[arg-type]
        return out


_Result = tuple[dict[tuple[str, int, str], Problem], list[Problem]]
"""A campaign's template errors (by template file, line and message) and other findings."""


class _Checker:
    def __init__(self, project: Project):
        assert project.config is not None
        self.project = project
        self.checks = project.config.checks
        self.findings = _Findings()
        self.template_errors: dict[tuple[str, int, str], Problem] = {}
        words = [w.strip() for w in self.checks.flagged_words if w.strip()]
        lowered = {w.lower() for w in words}
        # (a word holding another, "misstänkta" and "misstänkt", needs no test of its own)
        self.flagged_lower = tuple(w for w in lowered if not any(o != w and o in w for o in lowered))
        self.flagged_seen: dict[str, list[str]] = {}
        self.publishers: dict[str, tuple[int | None, int | None, bool]] = {}
        self.last_lix: tuple[str, str, float] | None = None
        self.flagged = (
            re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE)
            if words else None
        )

    def campaign_results(self, campaigns: Iterable[LoadedCampaign]) -> dict[str, _Result]:
        """The template errors and findings of each of ``campaigns``, apart."""
        out = {}
        for campaign in campaigns:
            key = campaign.key
            self.findings, self.template_errors = _Findings(), {}
            for message in campaign.messages:
                self.message(campaign, message)
            self.search_file(campaign.file, self.project.root / campaign.file)
            out[key] = (self.template_errors, self.findings.problems())
        return out

    def merged(self, results: dict[str, _Result]) -> list[Problem]:
        """The problems of ``results`` and of the personal identity number search. A
        template error met by several campaigns is reported once, as the first campaign in
        plan order met it, however the campaigns were shared out."""
        first: dict[tuple[str, int, str], Problem] = {}
        found: list[Problem] = []
        for key in [*self.project.campaigns, *self.project.salvaged]:
            if key in results:
                errors, problems = results[key]
                for tkey, problem in errors.items():
                    first.setdefault(tkey, problem)
                found += problems
        self.findings = _Findings()
        self.personnummer()
        return list(first.values()) + found + self.findings.problems()

    def run(self) -> list[Problem]:
        # A broken file's messages that validate on their own are checked too: one run
        # reports every problem of a file, not the schema's first and the content's later.
        return self.merged(self.campaign_results([*self.project.campaigns.values(), *self.project.salvaged.values()]))

    def render_error(self, exc: RenderError) -> None:
        key = (exc.file, exc.line, exc.message)
        if key not in self.template_errors:
            self.template_errors[key] = exc.problem()

    def message(self, campaign: LoadedCampaign, message: LoadedMessage) -> None:
        m = message.model
        file = campaign.file
        base = ("messages", message.index)
        if m.link is not None and not m.link.startswith("https://"):
            self.findings.add(file, campaign.where(*base, "link"), "warning",
                              "link: " + _("'{link}' is not an https:// address; use https so readers reach the page "
                                           "safely").format(link=m.link))
        if m.image is not None and not m.image.alt.strip():
            self.findings.add(file, campaign.where(*base, "image"), "error",
                              "image: " + _("no alt text; add alt: describing the picture for readers who cannot see it"))
        elif m.image is not None and (why := alt_says_nothing(m.image.alt, m.image.path)):
            self.findings.add(file, campaign.where(*base, "image", "alt"), "warning",
                              "alt: " + _("'{alt}' {why}; say what the picture shows for readers who cannot see it, "
                                          "e.g. 'Barn vid ett övergångsställe'").format(alt=m.image.alt.strip(), why=why))
        if not message.times:
            return  # nothing is sent: the loader reports why
        # The first occurrence, each channel at its own time (a public channel of an
        # embargoed message at the embargo), as it will be published.
        # Every rendering error (the environment's own too: an unknown locale) ends here, so
        # each is reported once, however many messages meet it.
        when = message.times[0][0]
        res = view = None
        for channel in message.channels:
            settings = self.project.channel_settings.get(channel)
            if settings is None:
                continue  # reported by the loader
            if res is None or message.model.overrides:  # (without overrides, the same on every channel)
                res = resolve(message, channel, settings.publisher)
            try:
                parts, view = render_parts(self.project, campaign, message, channel, message.due(when, channel), res, view)
            except RenderError as exc:
                self.render_error(exc)
                continue
            self.rendered(campaign, message, channel, settings.publisher, parts, view, res)

    def rendered(self, campaign: LoadedCampaign, message: LoadedMessage, channel: str, publisher: str,
                 parts: dict[str, str], view: MessageView, res: Resolved) -> None:
        file = campaign.file
        title, body_text = view.title, view.body_text
        last = self.last_lix
        if last is not None and last[0] is title and last[1] is body_text:
            figure = last[2]  # (the message's other channels, unless an override changed it)
        else:
            figure = lix(f"{title}\n{body_text}")
            self.last_lix = (title, body_text, figure)
        if figure > self.checks.lix_max:
            self.findings.add(file, campaign.where(*res.sources["body"]), "warning",
                              _("LIX {lix} is above {most} (checks.lix_max): the text is hard to read; write shorter "
                                "sentences and fewer long words").format(lix=f"{figure:.0f}", most=f"{self.checks.lix_max:g}"),
                              channel)
        hard, limit, press = self.publisher_checks(publisher)
        if limit is not None:  # a channel with a text limit: Facebook's, or stricter by config
            n = len(parts.get("text", ""))
            if hard is not None and n > hard:
                self.findings.add(file, campaign.where(*res.sources["body"]), "error",
                                  _("the Facebook post is {n} characters, over Facebook's limit of {limit}: it would be "
                                    "refused; shorten it or give a short text in overrides").format(n=n, limit=hard), channel)
            elif n > limit:
                self.findings.add(file, campaign.where(*res.sources["body"]), "warning",
                                  _("the Facebook post is {n} characters, over {limit} (checks.facebook_max_chars); "
                                    "shorten it or give a short text in overrides").format(n=n, limit=limit), channel)
        for part, text in parts.items():
            problem = uncarriable(text)
            if problem:  # (the message's own fields are checked as they are loaded: a template's words)
                self.findings.add(file, campaign.where("messages", message.index), "error",
                                  f"the {part} part as rendered: {problem}; look in its template and "
                                  "the template variables", channel)
        if press:
            self.press(campaign, message, channel, parts, res)

    def publisher_checks(self, publisher: str) -> tuple[int | None, int | None, bool]:
        """A publisher's own text limit, that limit within checks.facebook_max_chars, and
        whether it sends press releases."""
        found = self.publishers.get(publisher)
        if found is None:
            cls = get(publisher)
            limit = getattr(cls, "max_chars", None)
            found = self.publishers[publisher] = (
                limit, min(limit, self.checks.facebook_max_chars) if limit is not None else None,
                bool(getattr(cls, "press", False)))
        return found

    def press(self, campaign: LoadedCampaign, message: LoadedMessage, channel: str, parts: dict[str, str],
              res: Resolved) -> None:
        assert self.project.config is not None
        file, base = campaign.file, ("messages", message.index)
        parties = self.project.config.agreement.parties
        for key in campaign.model.parties or list(parties):
            party = parties.get(key)
            if party is not None and party.press_contact is None:
                pos = campaign.where(*base, "channels", message.model.channels.index(channel)) \
                    if message.model.channels and channel in message.model.channels else campaign.where(*base)
                self.findings.add(file, pos, "warning",
                                  _("the press release has no press contact for {party}; add press_contact under "
                                    "agreement.parties.{key} in config.yaml").format(party=party.name, key=key), channel)
        if self.flagged is None:
            return
        sources = [(N_("title"), res.sources["title"], res.title), (N_("body"), res.sources["body"], res.body)]
        seen = False
        for what, path, text in sources:
            for word in self.flagged_in(text, remember=True):
                seen = True
                self.findings.add(file, campaign.where(*path), "warning",
                                  _("the press release uses '{word}' in the {what} (checks.flagged_words): make sure it "
                                    "is objective and points out no one").format(word=word, what=_(what)), channel)
        if not seen:
            for word in self.flagged_in(f"{parts.get('subject', '')}\n{parts.get('text', '')}"):
                self.findings.add(file, campaign.where(*base), "warning",
                                  _("the press release uses '{word}' (from a template or a template variable; "
                                    "checks.flagged_words): make sure it is objective and points out no one").format(word=word),
                                  channel)

    def flagged_in(self, text: str, remember: bool = False) -> list[str]:
        """The flagged words in ``text``, lower case, sorted. Most texts have none, and a
        substring test of the lowered text says so five times faster than the regex.
        ``remember`` a text that comes again (a message's title and body: once per channel)."""
        assert self.flagged is not None
        found = self.flagged_seen.get(text) if remember else None
        if found is None:
            low = text.lower()
            found = sorted({w.lower() for w in self.flagged.findall(text)}) if any(w in low for w in self.flagged_lower) else []
            if remember and len(self.flagged_seen) < 8192:
                self.flagged_seen[text] = found
        return found

    def personnummer(self) -> None:
        """Every text a message is made of lives in config.yaml, a campaign file or a
        template, so those files are searched line by line: each finding has its exact
        place, and each file is read once however many messages use it. These are the
        files all campaigns share; each campaign's own file is searched with its
        messages (:meth:`campaign_results`)."""
        self.search_file("config.yaml", self.project.root / "config.yaml")
        for folder, shown in ((self.project.root / PLAN_TEMPLATES, PLAN_TEMPLATES), (BUILTIN_TEMPLATES, "samverkan/templates")):
            if folder.is_dir():
                for path in sorted(folder.rglob("*.j2")):
                    self.search_file(f"{shown}/{path.relative_to(folder).as_posix()}", path)

    def search_file(self, rel: str, path: Path) -> None:
        try:  # (a regular file of a bounded size: a link to a device would never end)
            raw = plan_file(path.parent, path.name).data or b""
        except PlanFileError:
            return  # the loader reports unreadable files
        if not _has_digit_run(raw):
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return
        for n, line in enumerate(text.splitlines(), 1):
            if rel.endswith(".yaml") and line.lstrip().startswith("#"):
                continue  # a YAML comment is never published
            for start, _end in personnummer_spans(line):
                # Say where it is, never what it is: the report must not spread it.
                self.findings.add(rel, (n, start + 1), "error", _(PNR_TEXT))


def check_message(project: Project, campaign: LoadedCampaign, message: LoadedMessage) -> list[Problem]:
    """The checks of one message on each of its channels (for previews)."""
    if project.config is None:
        return []
    checker = _Checker(project)
    checker.message(campaign, message)
    return sorted(list(checker.template_errors.values()) + checker.findings.problems())


def check_content(project: Project) -> list[Problem]:
    """Render every message for every channel and check what it says."""
    if project.config is None:
        return []
    return _Checker(project).run()


def load_and_check(root: Path) -> tuple[Project, list[Problem]]:
    """Load the plan and run :func:`check_content` on it."""
    project = load_project(root)
    return project, check_content(project)


def campaign_errors(project: Project, campaign: LoadedCampaign) -> list[Problem]:
    """The content errors that keep a campaign from being published: what ``validate``
    reports as errors for its messages, the templates they use and the files they come from."""
    if project.config is None:
        return []
    checker = _Checker(project)
    problems = checker.merged(checker.campaign_results([campaign]))
    return sorted({p for p in problems if p.severity == "error"})
