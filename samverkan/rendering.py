"""Rendering a delivery's message for its channel: the publisher's parts through Jinja2.

Templates are looked up first in the plan's own ``content/templates/``, then in the
defaults shipped in ``samverkan/templates/``; a plan's template may include the default it
replaces as ``builtin/<name>`` (e.g. ``{% include "builtin/snippets/signature.txt.j2" %}``).
The environment is sandboxed, strict about undefined variables, and escapes HTML only in
``.html.j2`` and ``.xml.j2`` templates.

A message body is Markdown, never a template: ``{{`` in a campaign text comes out as
written. Raw HTML in a body is shown as text, not passed through.

Per-channel overrides (``overrides:`` of a message) are looked up by publisher name, then
by channel name; the channel's fields win, ``vars`` are merged. ``template`` names a
template file that replaces the template of the channel's *main part*: the part (other
than ``subject``) whose default template is of the same type (``.txt.j2``, ``.html.j2``,
``.xml.j2``). For the mailer, ``press/kort.html.j2`` replaces the HTML body and
``press/kort.txt.j2`` the plain-text alternative; for facebook and rss it is their one part.
"""

from __future__ import annotations

import functools
import html
import re
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable
from zoneinfo import ZoneInfo

from publishers.base import MAX_IMAGE_BYTES, PlanFileError, plan_file
from publishers.base import get as publisher_class
from publishers.base import uncarriable, web_link

from . import plainmarkdown
from .problems import SamverkanError

if TYPE_CHECKING:
    import jinja2

    from .loading import LoadedCampaign, LoadedMessage, Project
    from .plan import Delivery
    from .problems import Problem

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
PLAN_TEMPLATES = "content/templates"
BUILTIN_PREFIX = "builtin"
IMAGE_CID = "image"
"""Content id of the message's image in an HTML e-mail (``src="cid:image"``)."""


def logo_cid(party_key: str) -> str:
    """Content id of a party's logo in an HTML e-mail (``src="cid:logo-<party>"``)."""
    return f"logo-{party_key}"


@dataclass(frozen=True)
class Contact:
    party: str  # the party's name
    name: str
    title: str | None
    phone: str | None
    email: str


@dataclass(frozen=True)
class Logo:
    party: str  # the party's key in config.yaml
    path: Path  # absolute
    alt: str
    cid: str = ""  # logo_cid(party): how the HTML e-mail refers to it


@dataclass(frozen=True)
class ImageRef:
    path: Path  # absolute
    alt: str
    cid: str = IMAGE_CID


@dataclass(frozen=True)
class RenderedMessage:
    """One message rendered for one channel: what a publisher turns into a payload."""

    delivery_id: str
    campaign: str
    message: str
    channel: str
    publisher: str
    at: datetime
    embargo: datetime | None
    title: str
    parts: dict[str, str]  # part name (publisher.parts) -> rendered text
    link: str | None = None
    image: ImageRef | None = None
    logos: tuple[Logo, ...] = ()
    contacts: tuple[Contact, ...] = ()
    parties: tuple[str, ...] = ()  # the parties' names, in config order
    extra: dict[str, Any] = field(default_factory=dict)  # the message's vars (e.g. image_url)
    body_text: str = ""  # the body as plain text, after this channel's overrides (for checks)
    sent_at: datetime | None = None
    """When it goes out: the publishing time, given when it is published (a late release, a
    retry); None in a preview, where the planned ``at`` stands in. Not in the content hash."""

    def content_hash(self) -> str:
        """SHA-256 over everything that is published (approvals and re-publish checks),
        the bytes of the image and the logos included: a picture replaced under the same
        name is a new text to approve."""
        import hashlib
        import json

        blob = json.dumps(
            {
                "title": self.title,
                "parts": self.parts,
                "link": self.link,
                # the picture's bytes and its name, not its folder: moving the plan's folder
                # (a laptop to the server) must not void approvals
                "image": [self.image.path.name, self.image.alt, file_digest(self.image.path)] if self.image else None,
                "logos": [[logo.party, file_digest(logo.path)] for logo in self.logos],
                "embargo": self.embargo.isoformat() if self.embargo else None,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# path -> ((mtime_ns, size), digest): a plan's few pictures are hashed once each, not once
# per message, channel and status run.
_digests: dict[Path, tuple[tuple[int, int], str]] = {}
_DIGESTS_MAX = 1024


def file_digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes (None if it cannot be read), cached by path, mtime and size."""
    import hashlib
    import stat

    try:
        st = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_IMAGE_BYTES:
        return None  # (rendering refused it already; a device would never end)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _digests.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    if len(_digests) >= _DIGESTS_MAX:
        _digests.clear()
    _digests[path] = (stamp, digest)
    return digest


class RenderError(SamverkanError):
    """A message could not be rendered; ``file``/``line`` blame the template (relative to
    the plan's root, or ``samverkan/templates/...`` for a default) or the campaign file."""

    def __init__(self, file: str, line: int, col: int, message: str, context: str = ""):
        self.file, self.line, self.col, self.message, self.context = file, line, col, message, context
        super().__init__(str(self.problem()))

    def problem(self) -> Problem:
        from .problems import Problem

        text = f"{self.message} ({self.context})" if self.context else self.message
        return Problem(self.file, self.line, self.col, "error", text)


# --- Markdown ------------------------------------------------------------------------------

_SAFE_SCHEMES = ("http:", "https:", "mailto:", "tel:")
_local = threading.local()  # a Markdown instance is not thread-safe; the preview server is


def _markdown() -> Any:
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = new_markdown()
    return md


def new_markdown() -> Any:
    """The Markdown converter of the message bodies plainmarkdown leaves to it."""
    import markdown
    from markdown.treeprocessors import Treeprocessor
    from markdown.util import AMP_SUBSTITUTE

    class SafeLinks(Treeprocessor):  # type: ignore[misc]
        # A body may not smuggle in javascript: or data: links, nor a picture from a file:
        # or data: address (a reader's program would open it): only a web address.
        def run(self, root: Any) -> None:
            for el in root.iter("a"):
                href = html.unescape(el.get("href", "").replace(AMP_SUBSTITUTE, "&")).strip().lower()
                if href and not href.startswith(_SAFE_SCHEMES) and not href.startswith(("#", "/")):
                    del el.attrib["href"]
            for el in list(root.iter("img")):
                src = html.unescape(el.get("src", "").replace(AMP_SUBSTITUTE, "&")).strip()
                if not web_link(src):
                    del el.attrib["src"]

    class PlainText(Treeprocessor):  # type: ignore[misc]
        # The finished tree, as plain text: one conversion gives both forms.
        def run(self, root: Any) -> None:
            self.md.plain_text = _tree_text(root)

    md = markdown.Markdown(extensions=["sane_lists"], output_format="html")
    # Raw HTML in a body is shown as the characters typed, never passed on as markup.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.inlinePatterns.deregister("entity")
    md.treeprocessors.register(SafeLinks(md), "safe_links", 15)
    md.treeprocessors.register(PlainText(md), "plain_text", -10)
    return md


@functools.lru_cache(maxsize=8192)
def _convert(text: str) -> tuple[str, str]:
    plain = plainmarkdown.convert(text)  # most bodies: the same output, seven times sooner
    if plain is not None:
        return plain
    md = _markdown()
    md.reset()
    out = str(md.convert(text))
    return out, md.plain_text


def markdown_html(text: str) -> str:
    """Markdown → HTML; raw HTML in ``text`` is escaped, unsafe link schemes dropped."""
    return _convert(text)[0]


def markdown_text(text: str) -> str:
    """Markdown → readable plain text: paragraphs, "• " bullets, links as "text (url)"."""
    return _convert(text)[1]


_BR = "\x00"  # a <br> while the soft line breaks of the source become spaces
_ENTITY = re.compile("\x02amp\x03#(\\d+);")  # markdown's obfuscated e-mail addresses
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


def _clean(text: str) -> str:
    text = _ENTITY.sub(lambda m: chr(int(m.group(1))), text)
    text = " ".join(text.split())
    return "\n".join(line.strip() for line in text.split(_BR)).strip()


def _inline(el: Any) -> str:
    """The text of ``el`` and its inline children (tails included for children)."""
    out = [html.unescape(el.text) if el.tag == "code" and el.text else (el.text or "")]
    for child in el:
        out.append(_inline_child(child))
        out.append(child.tail or "")
    return "".join(out)


def _inline_child(el: Any) -> str:
    if el.tag == "br":
        return _BR
    if el.tag == "img":
        return str(el.get("alt", ""))
    label = _inline(el)
    if el.tag == "a" and el.get("href"):
        href = _ENTITY.sub(lambda m: chr(int(m.group(1))), el.get("href"))
        target = href[len("mailto:"):] if href.startswith("mailto:") else href
        shown = _clean(label)
        if not shown:
            return target
        if shown != target:
            return f"{label} ({target})"
    return label


def _list_lines(lst: Any, depth: int) -> list[str]:
    lines: list[str] = []
    n = int(lst.get("start", "1")) if lst.tag == "ol" and lst.get("start", "1").isdigit() else 1
    for li in lst:
        if li.tag != "li":
            continue
        text, nested = [li.text or ""], []
        for child in li:
            if child.tag in ("ul", "ol"):
                nested += _list_lines(child, depth + 1)
            elif child.tag == "p" or child.tag in _HEADINGS:
                text.append(" " + _inline(child) + " ")
            else:
                text.append(_inline_child(child))
            text.append(child.tail or "")
        marker = f"{n}. " if lst.tag == "ol" else "• "
        lines.append("  " * depth + marker + _clean("".join(text)))
        lines += nested
        n += 1
    return lines


def _blocks(el: Any, out: list[str]) -> None:
    if el.text and el.text.strip():
        out.append(_clean(el.text))
    for child in el:
        if child.tag in ("ul", "ol"):
            out.append("\n".join(_list_lines(child, 0)))
        elif child.tag in ("blockquote", "div"):
            _blocks(child, out)
        elif child.tag == "pre":
            out.append(html.unescape("".join(child.itertext())).rstrip())
        elif child.tag != "hr":
            text = _clean(_inline(child))
            if text:
                out.append(text)


def _tree_text(root: Any) -> str:
    out: list[str] = []
    _blocks(root, out)
    return "\n\n".join(b for b in out if b)


# --- dates ---------------------------------------------------------------------------------

# Swedish typography writes "kl. 07.30"; CLDR's sv time format is "HH:mm", so we say it here.
_PATTERNS: dict[str, tuple[str, str, str]] = {
    "sv": ("EEEE d MMMM y", "HH.mm", "{date} kl. {time}"),
}


# Babel is slow per call and a plan repeats its dates (a campaign's events in every message).
@functools.lru_cache(maxsize=4096)
def _babel_date(value: Any, pattern: str, locale: str) -> str:
    from babel.dates import format_date

    return format_date(value, pattern, locale=locale)


@functools.lru_cache(maxsize=4096)
def _babel_time(value: datetime, pattern: str, locale: str) -> str:
    from babel.dates import format_time

    return format_time(value, pattern, locale=locale)


@dataclass(frozen=True)
class _Dates:
    locale: str
    tz: ZoneInfo

    @functools.cached_property
    def patterns(self) -> tuple[str, str, str]:
        from babel import Locale
        from babel.dates import get_date_format, get_time_format

        loc = Locale.parse(self.locale)
        if loc.language in _PATTERNS:
            return _PATTERNS[loc.language]
        return (get_date_format("full", loc).pattern, get_time_format("short", loc).pattern, "{date} {time}")

    def _local(self, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise TypeError(f"expected a date and time, got {type(value).__name__}")
        return value.astimezone(self.tz) if value.tzinfo else value.replace(tzinfo=self.tz)

    def date(self, value: Any) -> str:
        if isinstance(value, datetime):
            value = self._local(value).date()
        return _babel_date(value, self.patterns[0], self.locale)

    def time(self, value: Any) -> str:
        return _babel_time(self._local(value), self.patterns[1], self.locale)

    def datetime(self, value: Any) -> str:
        return self.patterns[2].format(date=self.date(value), time=self.time(value))

    def span(self, start: Any, end: Any = None) -> str:
        """"onsdag 22 augusti 2018 kl. 18.00–19.30"; an end on another day is written out."""
        if end is None:
            return self.datetime(start)
        if self._local(start).date() == self._local(end).date():
            return f"{self.datetime(start)}–{self.time(end)}"
        return f"{self.datetime(start)} – {self.datetime(end)}"


# --- the environment -----------------------------------------------------------------------


def _fingerprint(folder: Path) -> tuple[tuple[str, int], ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted((p.as_posix(), p.stat().st_mtime_ns) for p in folder.rglob("*.j2") if p.is_file()))


_DICT_ATTRS = frozenset(dir(dict))

# What one part of one message may cost to render: a template is the plan's code, and a
# loop in a loop must not hold up every other campaign nor fill the memory.
MAX_RANGE = 1000  # items one range() may give (Jinja's sandbox allows 100,000)
MAX_RANGE_ITEMS = 100_000  # items all the range() calls of one rendering may give: loops in loops
MAX_OUTPUT = 1_000_000  # characters of one rendered part
MAX_SECONDS = 2.0  # to render one part

_budget = threading.local()  # what is left of MAX_RANGE_ITEMS in this thread's rendering


def _too_costly(text: str) -> Exception:
    """A SecurityError (said as what a template may not do) that marks its template as too
    costly to render again in this load of the plan."""
    from jinja2.exceptions import SecurityError

    exc = SecurityError(text)
    exc.too_costly = True  # type: ignore[attr-defined]
    return exc


def _bounded_range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise _too_costly(f"range() of {len(found)} items, over the {MAX_RANGE} a template may loop over")
    left = getattr(_budget, "left", MAX_RANGE_ITEMS) - len(found)
    if left < 0:  # an inner loop's range() is called once for each turn of the outer one
        raise _too_costly(f"the template's loops run over more than {MAX_RANGE_ITEMS:,} items in all; "
                          "look for loops in loops")
    _budget.left = left
    return found


def _bounded_join(chunks: Iterable[str]) -> str:
    """The rendered chunks joined, or a SecurityError once they pass MAX_OUTPUT
    characters or MAX_SECONDS (looked at every 256 chunks)."""
    import time

    out: list[str] = []
    size, start = 0, time.monotonic()
    for n, chunk in enumerate(chunks):
        out.append(chunk)
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise _too_costly(f"the template writes more than {MAX_OUTPUT:,} characters; a message is far shorter")
        if n % 256 == 255 and time.monotonic() - start > MAX_SECONDS:
            raise _too_costly(f"the template takes more than {MAX_SECONDS:g} s to render; look for loops in loops")
    return "".join(out)


def _sandbox_class() -> type:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        """The immutable sandbox, with a fast path for our own plain-data views: their
        attributes need none of the sandbox's checks, and a validate run over thousands of
        messages makes about thirty such look-ups per rendering."""

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.prepared: dict[str, Any] = {}

        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict and attribute in obj and attribute not in _DICT_ATTRS:
                return obj[attribute]
            if type(obj) is MessageView and attribute in MessageView.FIELDS:
                return getattr(obj, attribute)
            return super().getattr(obj, attribute)

        def get_template(self, name: Any, parent: str | None = None, globals: Any = None) -> Any:
            # Every template is fetched here, the ones included by others too: each is
            # prepared once, when it is first compiled, and then found in one look-up
            # (templates never change in an environment; an edit makes a new one).
            if globals is None and type(name) is str:
                template = self.prepared.get(name)
                if template is not None:
                    return template
            template = super().get_template(name, parent, globals)
            if globals is None and type(name) is str:
                # A plain dict instead of Jinja's ChainMap over the environment's globals
                # (which never change once built): every rendering copies and iterates it.
                template.globals = dict(template.globals)
                self.prepared[name] = template
            return template

    return Sandbox


def _by_name(autoescape: Any) -> Any:
    """``autoescape`` (a function of a template's name) answered once per name: every
    rendering asks it."""
    answers: dict[str | None, bool] = {}

    def answer(name: str | None) -> bool:
        found = answers.get(name)
        if found is None:
            found = answers[name] = autoescape(name)
        return found

    return answer


def _plan_loader(plan_dir: str, root: str) -> jinja2.BaseLoader:
    """The loader of the plan's own templates: a template file (or a symlink in the template
    folder) that leads outside the plan's folder ``root``, or is not a regular file of a
    bounded size, is refused rather than rendered into what is published."""
    import jinja2
    from jinja2.loaders import split_template_path

    class PlanLoader(jinja2.FileSystemLoader):  # type: ignore[misc]
        def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
            path = Path(plan_dir, *split_template_path(template))
            if path.is_file() or path.is_symlink():
                try:
                    plan_file(Path(root), path, read=False)
                except PlanFileError as exc:
                    raise jinja2.TemplateError(f"template {template}: {exc}") from None
            return super().get_source(environment, template)  # type: ignore[no-any-return]

    return PlanLoader(plan_dir)


@functools.lru_cache(maxsize=8)
def _build_environment(
    plan_dir: str, locale: str, timezone: str, fingerprint: tuple[Any, ...], root: str = ""
) -> jinja2.Environment:
    # ``fingerprint`` (names and mtimes of the template files) is only part of the cache key:
    # an edited or added template makes a new environment, an unchanged plan reuses one.
    import jinja2
    from markupsafe import Markup

    builtin = jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES))
    loader = jinja2.ChoiceLoader([
        jinja2.PrefixLoader({BUILTIN_PREFIX: builtin}),
        _plan_loader(plan_dir, root) if root else jinja2.FileSystemLoader(plan_dir),
        builtin,
    ])
    env: jinja2.Environment = _sandbox_class()(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=_by_name(jinja2.select_autoescape(enabled_extensions=("html.j2", "xml.j2"), default_for_string=False, default=False)),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["range"] = _bounded_range  # a template's loops stay small (see MAX_RANGE)
    dates = env.dates = _Dates(locale, ZoneInfo(timezone))  # (the filters' own, shared by _State)
    env.filters.update({
        "datetime": dates.datetime,
        "date": dates.date,
        "time": dates.time,
        "timespan": lambda event: dates.span(event["start"], event.get("end")) if isinstance(event, dict) else dates.span(event),
        "markdown": lambda text: Markup(markdown_html(str(text))),
        "plaintext": lambda text: markdown_text(str(text)),
        "format_list": lambda items: _format_list(tuple(str(i) for i in items), locale),
        # Jinja's capitalize lowercases the rest, which would spoil "Monday, August 13"
        "capfirst": lambda text: str(text)[:1].upper() + str(text)[1:],
    })
    return env


@functools.lru_cache(maxsize=1024)
def _format_list(items: tuple[str, ...], locale: str) -> str:
    """"a, b och c" (babel's list patterns are slow to look up, and names repeat)."""
    from babel.lists import format_list

    return format_list(list(items), locale=locale)


class _State:
    """What rendering keeps per loaded project: the environment, compiled templates, and
    the views of parties and campaigns that every message shares."""

    def __init__(self, project: Project):
        assert project.config is not None
        # Not the project itself: it holds this state, and a cycle would keep a whole plan
        # alive until the collector's next full pass (or the end of the process).
        self.root = project.root
        self.config = project.config
        self.plan_dir = (project.root / PLAN_TEMPLATES).resolve()
        try:
            from babel import Locale

            Locale.parse(self.config.locale)
        except Exception:
            raise RenderError("config.yaml", *project.config_where("locale"),
                              f"locale: unknown locale '{self.config.locale}'; write e.g. sv") from None
        self.env = _build_environment(
            str(self.plan_dir), self.config.locale, self.config.timezone,
            (_fingerprint(self.plan_dir), _fingerprint(BUILTIN_TEMPLATES)), str(self.root),
        )
        self.dates: _Dates = self.env.dates  # type: ignore[attr-defined]
        self.failed: dict[str, tuple[Any, tuple[Any, ...]]] = {}  # template name -> its error
        self.too_costly: dict[str, BaseException] = {}  # template name -> the limit it ran into
        self.campaigns: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self.images: dict[str, Path] = {}
        self.parties = self._parties()
        self.agreement_view = {"title": self.config.agreement.title}
        self.channel_views: dict[str, dict[str, str]] = {}

    def channel_view(self, channel: str, publisher: str) -> dict[str, str]:
        view = self.channel_views.get(channel)
        if view is None:  # a channel's publisher is fixed by this project's config
            view = self.channel_views[channel] = {"name": channel, "publisher": publisher}
        return view

    def _parties(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key, p in self.config.agreement.parties.items():
            logo = None
            if p.logo:
                logo = {"path": p.logo, "alt": f"Logotyp: {p.name}", "cid": logo_cid(key), "src": f"cid:{logo_cid(key)}"}
            contact = None
            if p.press_contact:
                c = p.press_contact
                contact = {"name": c.name, "title": c.title, "phone": c.phone, "email": c.email}
            out[key] = {"key": key, "name": p.name, "short_name": p.short_name, "website": p.website,
                        "logo": logo, "contact": contact}
        return out

    def file_of(self, filename: str | None) -> str | None:
        """A template's file as the user names it, or None if it is not a template file."""
        if not filename:
            return None
        path = Path(filename).resolve()
        for base, shown in ((self.plan_dir, PLAN_TEMPLATES), (BUILTIN_TEMPLATES, "samverkan/templates")):
            try:
                return f"{shown}/{path.relative_to(base).as_posix()}"
            except ValueError:
                continue
        return None

    def template(self, name: str) -> Any:
        """The compiled template (kept by the environment, see Sandbox.get_template); a
        syntax error or a missing template is kept here, so it is reported, not re-parsed."""
        failed = self.failed.get(name)
        if failed is None:
            try:
                return self.env.get_template(name)
            except Exception as exc:
                import jinja2

                if isinstance(exc, jinja2.TemplateSyntaxError):
                    file = self.file_of(exc.filename) or f"{PLAN_TEMPLATES}/{name}"
                    failed = (RenderError, (file, exc.lineno or 1, 1, f"template syntax: {exc.message}"))
                elif isinstance(exc, jinja2.TemplateNotFound):
                    failed = (jinja2.TemplateNotFound, (exc.name,))
                else:
                    raise
                self.failed[name] = failed
        # a fresh exception each time: re-raising one instance would grow its traceback
        raise failed[0](*failed[1])

    def render(self, name: str, ctx: dict[str, Any]) -> str:
        """What ``self.template(name).render(ctx)`` gives, in a context that shares ``ctx``
        (which must hold the environment's globals) instead of copying it and them for
        each part of each message."""
        template = self.template(name)
        env = self.env
        if name in self.too_costly:  # it failed so once: every rendering of it would again
            raise self.too_costly[name]
        _budget.left = MAX_RANGE_ITEMS
        try:
            # (what template.new_context(ctx, shared=True) makes, without its two calls)
            context = env.context_class(env, ctx, template.name, template.blocks, globals=template.globals)
            return _bounded_join(template.root_render_func(context))
        except Exception as exc:
            try:
                self.env.handle_exception()  # the traceback at the template's lines, as render() does
            except Exception as shown:
                if getattr(exc, "too_costly", False):
                    self.too_costly[name] = shown
                raise
            raise  # (handle_exception always raises)

    def locate(self, exc: BaseException, name: str, context: str) -> RenderError:
        """A RenderError at the innermost template line of ``exc``'s traceback."""
        import jinja2
        from jinja2.exceptions import SecurityError

        if isinstance(exc, jinja2.TemplateSyntaxError):  # in an included template
            file = self.file_of(exc.filename) or f"{PLAN_TEMPLATES}/{exc.name or name}"
            return RenderError(file, exc.lineno or 1, 1, f"template syntax: {exc.message}")
        found: str | None = None
        line = 1
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            found = self.file_of(frame.filename)
            if found is not None:
                line = frame.lineno or 1
                break
        file = found or (f"{PLAN_TEMPLATES}/{name}" if (self.plan_dir / name).is_file() else f"samverkan/templates/{name}")
        if isinstance(exc, SecurityError):
            text = f"not allowed in a template: {exc}"
        elif isinstance(exc, jinja2.UndefinedError):
            text = f"{exc.message}; give it in the message's vars or test it with 'is defined'"
        elif isinstance(exc, jinja2.TemplateNotFound):
            text = f"no template '{exc.name}' in {PLAN_TEMPLATES}/ or the built-in defaults"
        elif isinstance(exc, jinja2.TemplateError):
            text = exc.message or type(exc).__name__
        else:
            text = f"{type(exc).__name__}: {exc}"
        return RenderError(file, line, 1, text, context)

    def campaign_view(self, campaign: LoadedCampaign) -> tuple[dict[str, Any], dict[str, Any]]:
        """``campaign`` in a template, and what a RenderedMessage carries besides the text;
        built once per campaign."""
        both = self.campaigns.get(campaign.key)
        if both is None:
            ag = self.config.agreement
            m = campaign.model
            events = [
                {"title": e.title, "start": e.start, "end": e.end, "location": e.location,
                 "description": e.description, "when": self.dates.span(e.start, e.end)}
                for e in campaign.events
            ]
            view = {
                "key": campaign.key, "kind": m.kind, "title": m.title, "summary": m.summary,
                "areas": [{"key": a, "label": ag.priority_areas.get(a, a)} for a in m.priority_areas],
                "bases": [{"key": b, "label": ag.bases.get(b, b)} for b in m.bases],
                "partners": list(m.partners),
                "period": {"start": m.period.start, "end": m.period.end},
                "parties": [self.parties[p] for p in (m.parties or list(ag.parties)) if p in self.parties],
                "events": events,
            }
            parties = view["parties"]
            view["joint"] = _format_list(tuple(p["name"] for p in parties), self.config.locale)
            root = self.root
            extras = {
                "logos": tuple(
                    Logo(p["key"], (root / p["logo"]["path"]).resolve(), p["logo"]["alt"], p["logo"]["cid"])
                    for p in parties if p["logo"]
                ),
                "contacts": tuple(
                    Contact(p["name"], p["contact"]["name"], p["contact"]["title"], p["contact"]["phone"], p["contact"]["email"])
                    for p in parties if p["contact"]
                ),
                "contact_views": list(dict(p["contact"], party=p["name"], party_short=p["short_name"])
                                            for p in parties if p["contact"]),
                "parties": tuple(p["name"] for p in parties),
                "upcoming": {},  # see upcoming_events
            }
            both = self.campaigns[campaign.key] = (view, extras)
        return both

    @staticmethod
    def upcoming_events(cview: dict[str, Any], extras: dict[str, Any], at: datetime) -> list[Any]:
        """The campaign's events still to come at ``at``: one list for all the messages
        that see the same ones."""
        events = cview["events"]
        kept = tuple([i for i, e in enumerate(events) if (e["end"] or e["start"]) >= at])
        found = extras["upcoming"].get(kept)
        if found is None:
            found = extras["upcoming"][kept] = [events[i] for i in kept]
        return found


def _state(project: Project) -> _State:
    # Kept on the project object itself: it lives exactly as long as this load of the plan,
    # and a reload (daemon, preview server) starts afresh.
    state = vars(project).get("_rendering")
    if state is None:
        state = _State(project)
        vars(project)["_rendering"] = state
    return state


def format_datetime(project: Project, value: datetime) -> str:
    """``value`` as the templates write it: "måndag 13 augusti 2018 kl. 07.30"."""
    return _state(project).dates.datetime(value)


def format_date(project: Project, value: Any) -> str:
    """"måndag 13 augusti 2018" in the plan's locale and time zone."""
    return _state(project).dates.date(value)


def format_time(project: Project, value: datetime) -> str:
    return _state(project).dates.time(value)


def environment(project: Project) -> jinja2.Environment:
    """The project's Jinja2 environment (sandboxed, StrictUndefined), built once."""
    return _state(project).env


# --- rendering -----------------------------------------------------------------------------


class MessageView:
    """``message`` in a template; the body is converted only if a template asks for it."""

    FIELDS = frozenset({"key", "title", "body", "link", "image", "embargo", "at", "vars", "body_html", "body_text"})

    def __init__(self, key: str, title: str, body: str, link: str | None, image: dict[str, Any] | None,
                 embargo: datetime | None, at: datetime, vars: dict[str, Any]):
        self.key, self.title, self.body, self.link, self.image = key, title, body, link, image
        self.embargo, self.at, self.vars = embargo, at, vars

    @functools.cached_property
    def body_html(self) -> Any:
        from markupsafe import Markup

        return Markup(markdown_html(self.body))

    @functools.cached_property
    def body_text(self) -> str:
        return markdown_text(self.body)


@dataclass
class Resolved:
    """A message's fields for one channel after its overrides."""

    title: str
    body: str
    template: str | dict[str, str] | None
    vars: dict[str, Any]
    sources: dict[str, tuple[Any, ...]]  # field -> YAML path it came from (for positions)


def resolve(message: LoadedMessage, channel: str, publisher: str) -> Resolved:
    """The message's title, body, template and vars for ``channel`` (publisher's overrides,
    then the channel's, which win)."""
    m = message.model
    base: tuple[Any, ...] = ("messages", message.index)
    out = Resolved(m.title, m.body, None, dict(m.vars), {"title": base + ("title",), "body": base + ("body",)})
    for target in (publisher, channel):
        o = m.overrides.get(target)
        if o is None:
            continue
        where = base + ("overrides", target)
        if o.title is not None:
            out.title, out.sources["title"] = o.title, where + ("title",)
        if o.body is not None:
            out.body, out.sources["body"] = o.body, where + ("body",)
        if o.template is not None:
            out.template, out.sources["template"] = o.template, where + ("template",)
        out.vars.update(o.vars)
    return out


def _type(name: str) -> str:
    parts = name.rsplit("/", 1)[-1].split(".")
    return parts[-2] if len(parts) >= 3 else ""


def part_templates(parts: dict[str, str], template: str | dict[str, str] | None) -> dict[str, str]:
    """The publisher's part → template map after a ``template`` override (see module doc);
    ValueError if the override fits no part."""
    out = dict(parts)
    if template is None:
        return out
    if isinstance(template, dict):
        for part, name in template.items():
            if part not in out:
                raise ValueError(f"template: no part '{part}' (parts: {', '.join(out)})")
            out[part] = name
        return out
    kind = _type(template)
    fits = [p for p, name in out.items() if p != "subject" and _type(name) == kind]
    if not fits:
        kinds = ", ".join(f".{_type(n)}.j2" for p, n in out.items() if p != "subject")
        raise ValueError(f"template: '{template}' fits none of this channel's parts; name a {kinds} file")
    out[fits[0]] = template
    return out


def render(project: Project, delivery: Delivery) -> RenderedMessage:
    """Render ``delivery``'s message for its channel; RenderError on any problem."""
    campaign = project.campaigns.get(delivery.campaign)
    message = campaign.message(delivery.message) if campaign else None
    if campaign is None or message is None:
        file = project.broken.get(delivery.campaign, f"campaigns/{delivery.campaign}.yaml")
        raise RenderError(file, 1, 1, f"no valid message {delivery.message} in campaign {delivery.campaign}; run samverkan validate")
    return render_loaded(project, campaign, message, delivery.channel, delivery.at, delivery.id)


def render_message(
    project: Project, campaign_key: str, message_key: str, channel: str, at: datetime | None = None
) -> RenderedMessage:
    """Render one message for one channel, at its first time unless ``at`` (a time of the
    message) is given; on a public channel of an embargoed message, at the embargo."""
    from .plan import delivery_id

    campaign = project.campaigns[campaign_key]
    message = campaign.message(message_key)
    if message is None:
        raise KeyError(message_key)
    when, suffix = message.times[0] if message.times else (message.model.at.replace(tzinfo=project.tz), None)
    if at is not None:
        when, suffix = next(((t, s) for t, s in message.times if t == at), (at, None))
    return render_loaded(project, campaign, message, channel, message.due(when, channel),
                         delivery_id(campaign.key, message.key, channel, suffix))


def render_loaded(
    project: Project, campaign: LoadedCampaign, message: LoadedMessage, channel: str,
    at: datetime, delivery_id: str,
) -> RenderedMessage:
    """Render a loaded message for ``channel`` at ``at`` (the core of :func:`render`)."""
    state = _state(project)
    publisher, res, parts, view = _render_parts(state, project, campaign, message, channel, at, None)
    for part, text in (("title", res.title), *parts.items()):
        problem = uncarriable(text)
        if problem:  # validate says so; this holds for every channel where it was skipped
            raise RenderError(campaign.file, *campaign.where("messages", message.index),
                              f"the {part} for channel {channel} cannot be published: {problem}")
    extras = state.campaign_view(campaign)[1]
    m = message.model
    image_path = None
    if m.image is not None:
        image_path = _plan_image(state, project, m.image.path, "path: ",
                                 lambda: (campaign.file, *campaign.where("messages", message.index, "image", "path")))
    for logo in extras["logos"]:
        _plan_image(state, project, str(logo.path), "logo: ",
                    lambda: ("config.yaml", *project.config_where("agreement", "parties", logo.party, "logo")))
    return RenderedMessage(
        delivery_id=delivery_id,
        campaign=campaign.key,
        message=message.key,
        channel=channel,
        publisher=publisher,
        at=at,
        embargo=view.embargo,
        title=res.title,
        parts=parts,
        link=_published_link(m.link),
        image=ImageRef(image_path, m.image.alt) if m.image and image_path else None,
        logos=extras["logos"],
        contacts=extras["contacts"],
        parties=extras["parties"],
        extra=dict(res.vars),
        body_text=view.body_text,
    )


def _published_link(link: str | None) -> str | None:
    """The message's link as every channel and preview gets it: only an http(s) address
    (validate refuses any other; this holds where validation was skipped)."""
    return link if link is not None and web_link(link) else None


def _plan_image(
    state: _State, project: Project, name: str, label: str, where: Callable[[], tuple[str, int, int]]
) -> Path:
    """The image ``name`` resolved, if it may be published (see publishers.base.plan_file):
    checked here too, so that a plan whose validation was skipped, or whose picture was
    replaced by a link to a secret since, never gets its bytes to a publisher."""
    found = state.images.get(name)
    if found is None:
        try:
            found = plan_file(project.root, name, image=True, read=False).path
        except PlanFileError as exc:
            raise RenderError(*where(), f"{label}{exc}") from None
        state.images[name] = found
    return found


def render_parts(
    project: Project, campaign: LoadedCampaign, message: LoadedMessage, channel: str, at: datetime,
    resolved: Resolved | None = None, seen: MessageView | None = None,
) -> tuple[dict[str, str], MessageView]:
    """What :func:`render_loaded` renders, alone: the parts' texts, and the message as the
    templates saw it (``title``, ``body_text``). For checks, which need no more of a
    RenderedMessage. ``seen``: the view of this message on a channel rendered before,
    used again (with its Markdown converted) if the message is the same on this one."""
    _, _, parts, view = _render_parts(_state(project), project, campaign, message, channel, at, resolved, seen)
    return parts, view


def _render_parts(
    state: _State, project: Project, campaign: LoadedCampaign, message: LoadedMessage, channel: str,
    at: datetime, resolved: Resolved | None, seen: MessageView | None = None,
) -> tuple[str, Resolved, dict[str, str], MessageView]:
    """The channel's publisher, the message's fields for it, the rendered parts and the view."""
    settings = project.channel_settings.get(channel)
    if settings is None:
        raise RenderError(campaign.file, *campaign.where("messages", message.index, "channels"),
                          f"channel {channel} is not configured or its settings do not validate")
    publisher = settings.publisher
    cls = publisher_class(publisher)
    res = resolved if resolved is not None else resolve(message, channel, publisher)
    try:
        templates = part_templates(cls.parts, res.template)
    except ValueError as exc:
        raise RenderError(campaign.file, *campaign.where(*res.sources["template"]), str(exc)) from None

    m = message.model
    if seen is not None and seen.at == at and seen.key == m.key and seen.title is res.title \
            and seen.body is res.body and seen.vars is res.vars:
        view = seen
    else:
        image = None
        if m.image is not None:
            image = {"path": m.image.path, "alt": m.image.alt, "cid": IMAGE_CID, "src": f"cid:{IMAGE_CID}"}
        embargo = message.embargo if message.embargo is not None and message.embargo > at else None
        view = MessageView(m.key, res.title, res.body, _published_link(m.link), image, embargo, at, res.vars)
    cview, extras = state.campaign_view(campaign)
    ctx = dict(state.env.globals)  # (range, dict, ...: shared by the parts, see _State.render)
    if res.vars:
        ctx.update((k, v) for k, v in res.vars.items() if isinstance(k, str))
    ctx.update({  # the names every template relies on win over a var of the same name
        "agreement": state.agreement_view,
        "campaign": cview,
        "message": view,
        # events still to come when the message goes out; campaign.events has them all
        "events": state.upcoming_events(cview, extras, at),
        "parties": cview["parties"],
        "joint": cview["joint"],  # "Hultsfreds kommun och Polisen, ..."
        "contacts": extras["contact_views"],
        "channel": state.channel_view(channel, publisher),
        "vars": res.vars,
    })

    parts: dict[str, str] = {}
    for part, name in templates.items():
        try:
            text = state.render(name, ctx)
        except RenderError:
            raise
        except Exception as exc:  # the template is user code: any failure is its line's
            raise _failure(project, campaign, message, res, cls, channel, part, name, exc) from None
        # Surrounding blank lines are template layout, not content; a subject is a header
        # and so one line, whatever the template did.
        parts[part] = " ".join(text.split()) if part == "subject" else text.strip()
    return publisher, res, parts, view


def _failure(
    project: Project, campaign: LoadedCampaign, message: LoadedMessage, res: Resolved,
    cls: Any, channel: str, part: str, name: str, exc: Exception,
) -> RenderError:
    """The RenderError for ``exc``, raised rendering ``part`` (template ``name``)."""
    import jinja2

    if isinstance(exc, jinja2.TemplateNotFound) and exc.name == name:  # the part's own template, not one it includes
        return _missing_template(project, campaign, res, cls, channel, part, name)
    return _state(project).locate(exc, name, f"rendering {campaign.key}/{message.key} for {channel}")


def _missing_template(
    project: Project, campaign: LoadedCampaign, res: Resolved,
    cls: Any, channel: str, part: str, name: str,
) -> RenderError:
    if cls.parts.get(part) != name:  # the message's own override names it
        return RenderError(campaign.file, *campaign.where(*res.sources["template"]),
                           f"template: no template '{name}' in {PLAN_TEMPLATES}/ or the built-in defaults")
    return RenderError("config.yaml", *project.config_where("channels", channel, "publisher"),
                       f"channel {channel}: publisher {cls.name} needs the template '{name}'; add it under {PLAN_TEMPLATES}/")


# --- helpers for previews ------------------------------------------------------------------


def inline_images(page: str, rendered: RenderedMessage) -> str:
    """``page`` with each ``cid:`` reference replaced by a data: URI of the file, so an HTML
    e-mail shows its logos and image in a browser."""
    import base64

    files = {logo.cid: logo.path for logo in rendered.logos if logo.cid}
    if rendered.image:
        files[rendered.image.cid] = rendered.image.path

    def sub(m: re.Match[str]) -> str:
        path = files.get(m.group(1))
        if path is None:
            return m.group(0)
        try:  # (inside the plan, as render() checked: an image still, and of a bounded size)
            found = plan_file(path.parent, path.name, image=True)
        except PlanFileError:
            return m.group(0)
        assert found.data is not None
        return f"data:{found.mime};base64,{base64.b64encode(found.data).decode('ascii')}"

    return re.sub(r"cid:([A-Za-z0-9._-]+)", sub, page)

