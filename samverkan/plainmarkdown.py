"""The plain Markdown most message bodies are written in, converted without the full
converter: paragraphs, flat lists, **strong**, *emphasis* and [links](https://...).

The full converter (Python-Markdown, in ``rendering``) costs ~160 µs a body, most of a
large plan's validate. Bodies are mostly this small subset, for which the HTML and the
plain text are written here directly, character for character what the converter gives
(``tests/test_plainmarkdown.py`` compares the two on every sample body and on thousands
of generated ones). Anything outside the subset, or near its edges, gives None and goes
to the converter: declining is always safe, a wrong acceptance is not.
"""

from __future__ import annotations

import re

# What the subset leaves to the converter wherever it stands: code, escapes, raw HTML and
# autolinks, underscore emphasis, control characters and exotic line ends (see _refused).
_REFUSED_CHAR = re.compile("[`\\\\<>_\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029]")
_ENTITY = re.compile(r"&(?:#[0-9]+|#x[0-9a-f]+|[0-9a-z]+);", re.IGNORECASE)
# A line that could start a block of its own (heading, quote, rule, list, setext line,
# code), or a line with leading space: in a paragraph, the converter may split there.
_BLOCK_START = re.compile(r"[#>=\s-]|[*+](?:\s|$)|\*\*\*|\d+\.")
_ANY_BLOCK_START = re.compile(r"^(?:[#>=\s-]|[*+](?:\s|$)|\*\*\*|\d+\.)", re.MULTILINE)  # (at any line of a block)
_UL_ITEM = re.compile(r"[-*+] (?=\S)")
_OL_ITEM = re.compile(r"(\d+)\. (?=\S)")
_STRONG = re.compile(r"\*\*([^\s*\[\]](?:[^*\[\]\n]*[^\s*\[\]])?)\*\*(?!\*)")
_EM = re.compile(r"\*([^\s*\[\]](?:[^*\[\]\n]*[^\s*\[\]])?)\*(?!\*)")
_LINK = re.compile(r"\[([^\[\]*\n]*[^\s\[\]*][^\[\]*\n]*)\]\((https?://[^\s()<>\"'\[\]\\]+)\)")
_SPECIAL = re.compile(r"[*\[\]]")


def convert(text: str) -> tuple[str, str] | None:
    """``text`` as (HTML, plain text), exactly as the converter gives them, or None when
    ``text`` is not plain Markdown of this subset."""
    text = text.rstrip("\n")
    if not text or _refused(text):
        return None
    html: list[str] = []
    plain: list[str] = []
    previous_list = False
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if not lines[0]:
            return None  # three newlines in a row: leave the blank-line rules to the converter
        first = lines[0]
        ordered = _OL_ITEM.match(first)
        if ordered or _UL_ITEM.match(first):
            if previous_list:
                return None  # two lists apart by a blank line are one loose list there
            items = _list(lines, _OL_ITEM if ordered else _UL_ITEM)
            if items is None:
                return None
            start = int(ordered.group(1)) if ordered else 1
            tag = "ol" if ordered else "ul"
            opening = f'<ol start="{start}">' if ordered and start != 1 else f"<{tag}>"
            html.append(opening + "\n" + "\n".join([f"<li>{h}</li>" for h, _ in items]) + f"\n</{tag}>")
            plain.append("\n".join(
                (f"{start + n}. " if ordered else "• ") + " ".join(p.split()) for n, (_, p) in enumerate(items)))
            previous_list = True
            continue
        if _ANY_BLOCK_START.search(block):
            return None
        inline = _inline(block)
        if inline is None:
            return None
        html.append(f"<p>{inline[0]}</p>")
        plain.append(" ".join(inline[1].split()))
        previous_list = False
    # Every piece of text is escaped the same, and the tags written here have no "&": the
    # HTML is escaped once, whole.
    return "\n".join(html).replace("&", "&amp;"), "\n\n".join([p for p in plain if p])


def _refused(text: str) -> bool:
    """Whether ``text`` holds what the subset leaves to the converter anywhere: besides the
    characters of _REFUSED_CHAR, an image, trailing spaces (a line break), a leading blank
    line, and entities (which the converter's output keeps as typed)."""
    return bool(_REFUSED_CHAR.search(text) or "![" in text or " \n" in text or text[-1] == " "
                or text[0] == "\n" or ("&" in text and _ENTITY.search(text)))


def _list(lines: list[str], item: re.Pattern[str]) -> list[tuple[str, str]] | None:
    """The items of a flat, tight list whose every line is an item, as (HTML, plain)."""
    out = []
    for line in lines:
        m = item.match(line)
        if m is None:
            return None  # a continuation line: nesting and laziness are the converter's
        content = line[m.end():]
        if _BLOCK_START.match(content):
            return None
        inline = _inline(content)
        if inline is None:
            return None
        out.append(inline)
    return out


def _inline(text: str) -> tuple[str, str] | None:
    """The HTML and plain text of a paragraph's or an item's text: links, strong and
    emphasis, none nested; any other ``*``, ``[`` or ``]`` declines."""
    m = _SPECIAL.search(text)
    if m is None:
        return text, text  # (most items and many paragraphs)
    html: list[str] = []
    plain: list[str] = []
    pos = 0
    while True:
        if m is None:
            tail = text[pos:]
            html.append(tail)
            plain.append(tail)
            return "".join(html), "".join(plain)
        before = text[pos:m.start()]
        html.append(before)
        plain.append(before)
        at = m.start()
        if text[at] == "[":
            link = _LINK.match(text, at)
            if link is None:
                return None
            label, href = link.groups()
            html.append(f'<a href="{href}">{label}</a>')
            shown = " ".join(label.split())
            plain.append(label if shown == href else f"{label} ({href})")
            pos = link.end()
        elif text[at] == "*":
            span = _STRONG.match(text, at) if text.startswith("**", at) else _EM.match(text, at)
            if span is None:
                return None
            tag = "strong" if text.startswith("**", at) else "em"
            html.append(f"<{tag}>{span.group(1)}</{tag}>")
            plain.append(span.group(1))
            pos = span.end()
        else:
            return None  # a "]" outside a link
        m = _SPECIAL.search(text, pos)
