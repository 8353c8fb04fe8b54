"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we build plain Python values from them and keep a
side table from each value's path (a tuple of keys and indices) to its line and column, so a
validation error deep in a model can still point at ``FILE:LINE:COL``. Duplicate keys, which
PyYAML accepts silently, are reported here. The table can be left to be made from the text
when a position is first asked for: most files of a plan have no problem to point at.

What one file may cost is limited (:data:`MAX_DEPTH`, :data:`MAX_VALUES`): aliases let a few
hundred bytes stand for millions of values, and an alias inside its own anchor for an
endless nesting; either is a :class:`YamlSyntaxError` at the value, not a hang or a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .i18n import _

try:  # the C parser is several times faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _BaseLoader

Path = tuple[Any, ...]

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_tags: dict[str, str] = {}

MAX_DEPTH = 32
"""How deep lists and mappings may nest in one file (a campaign needs five or six levels)."""
MAX_VALUES = 100_000
"""How many values one file may hold, each alias counted as the values it stands for (a
campaign of a hundred messages holds a few thousand)."""


class _Loader(_BaseLoader):  # type: ignore[misc]  # libyaml's class is untyped
    """The safe loader with its tag resolution memoised.

    Even with libyaml, PyYAML resolves each node's tag in Python, by regular expressions:
    a third of the loading time of a plan. The same short values (keys, channel names,
    dates) recur in every file, so their tags are looked up once. The safe loader has no
    path resolvers, so a tag depends on the value alone."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR  # quoted: always text
            if len(value) > 64:  # long texts rarely repeat; do not keep them alive
                return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]
            tag = _tags.get(value)
            if tag is None:
                if len(_tags) > 50_000:
                    _tags.clear()
                tag = _tags[value] = super().resolve(kind, value, implicit)
            return tag
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass  # no path resolvers to follow

    def ascend_resolver(self) -> None:
        pass
# Timestamps stay text: the models parse them, and the local-time rules need the wall time.
_KEEP_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp"}
# YAML 1.1 reads 7:30 as the number 450 (base 60); nobody here means that, and as text the
# models can say "write it as YYYY-MM-DD HH:MM" about what the officer actually wrote.
_SEXAGESIMAL = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


@dataclass
class Located:
    """A loaded document with the position of every value and mapping key (1-based).

    Loaded with ``positions=False``, the positions are read from ``source`` when first
    asked for: most files have no problem to point at."""

    data: Any
    # (two loads of one text are equal whether their positions were read yet or not)
    values: dict[Path, tuple[int, int]] = field(default_factory=dict, compare=False)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict, compare=False)
    duplicates: list[tuple[Path, tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    empty: bool = False  # no YAML node at all: an empty file, or only comments
    source: str | None = field(default=None, repr=False, compare=False)  # (positions not read yet)

    def read_positions(self) -> None:
        """Fill ``values`` and ``keys`` now, if they were left to be read."""
        if self.source is not None:
            full = load(self.source)
            self.values, self.keys, self.source = full.values, full.keys, None

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that has one."""
        if self.source is not None:
            self.read_positions()
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        p = tuple(path)
        while p:
            p = p[:-1]
            if p in self.values:
                return self.values[p]
        return (1, 1)


class YamlSyntaxError(Exception):
    def __init__(self, line: int, col: int, message: str):
        self.line, self.col, self.message = line, col, message
        super().__init__(f"{line}:{col}: {message}")


def load(text: str, *, positions: bool = True) -> Located:
    """Parse one YAML document; raise :class:`YamlSyntaxError` with a position. Without
    ``positions``, they are read again from ``text`` when first asked for (a fifth of
    the time to load a file goes to noting them); a document with a duplicate key has
    them at once, for the report."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text) from None
    except yaml.YAMLError as exc:  # pragma: no cover (libyaml marks what it refuses)
        raise YamlSyntaxError(1, 1, f"YAML syntax: {exc}") from None
    finally:
        loader.dispose()
    out = Located(data=None)
    if node is None:
        out.data, out.empty = {}, True
        return out
    try:
        if not positions:
            try:
                out.data = _data(node, loader, [MAX_VALUES], 0)
                out.source = text
                return out
            except _Duplicate:
                pass
        out.data = _build(node, (), out, loader, [MAX_VALUES])
    except _TooCostly as exc:
        raise exc.explained(node, text) from None
    return out


class _TooCostly(Exception):
    """Building the data stopped at ``node``: nested too deep, or too many values."""

    def __init__(self, node: yaml.Node, deep: bool):
        self.node, self.deep = node, deep

    def explained(self, root: yaml.Node, text: str) -> YamlSyntaxError:
        loop = _loop(root) if self.deep else None
        if loop is not None:
            line, col = _pos(loop)
            return YamlSyntaxError(line, col, (
                "YAML: an alias (*name) inside the value its anchor (&name) marks would repeat "
                "it without end; remove the alias or write the value out"
            ))
        line, col = _pos(self.node)
        if self.deep:
            return YamlSyntaxError(line, col, (
                f"YAML: lists and mappings are nested more than {MAX_DEPTH} levels deep here; "
                "remove the extra '[', '{' or indented levels (a campaign needs five or six)"
            ))
        if "*" in text:
            return YamlSyntaxError(line, col, (
                f"YAML: with its aliases (*name) written out, the file holds more than {MAX_VALUES:,} "
                "values; use fewer aliases (the value here is the one repeated) or split the file"
            ))
        return YamlSyntaxError(line, col, (
            f"YAML: the file holds more than {MAX_VALUES:,} values (a list or mapping here takes "
            "it past that); split it into several campaign files"
        ))


def _loop(root: yaml.Node) -> yaml.Node | None:
    """The first list or mapping that contains itself through an alias, if any."""
    open_: set[int] = set()  # on the path from the root
    done: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            open_.discard(id(node))
            done.add(id(node))
            continue
        if isinstance(node, yaml.ScalarNode) or id(node) in done:
            continue
        if id(node) in open_:
            return node
        open_.add(id(node))
        stack.append((node, True))
        children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
        stack.extend((child, False) for child in reversed(children))
    return None


def _reader_error(exc: yaml.reader.ReaderError, text: str) -> YamlSyntaxError:
    """A character YAML does not allow in a file (a NUL, a bell, U+FFFE...), at its place."""
    at = exc.position
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    char = exc.character
    code = ord(char) if isinstance(char, str) else char  # (libyaml gives its number)
    return YamlSyntaxError(line, col, (
        f"YAML: the character U+{code:04X} cannot be in a YAML file (a control character, "
        "unseen in most editors); delete it, retyping the text around it if need be"
    ))


def _char_at(text: str, line: int, col: int) -> str:
    lines = text.splitlines()
    if 1 <= line <= len(lines) and 1 <= col <= len(lines[line - 1]):
        return lines[line - 1][col - 1]
    return ""


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> YamlSyntaxError:
    """libyaml's message turned into what went wrong and how to fix it, placed where the
    fix goes: an unclosed bracket or quote at its opening, the rest where parsing stopped."""
    pm, cm = exc.problem_mark, exc.context_mark
    line, col = (pm.line + 1, pm.column + 1) if pm else (1, 1)
    cline, ccol = (cm.line + 1, cm.column + 1) if cm else (line, col)
    problem, context = exc.problem or "", exc.context or ""
    char = _char_at(text, line, col)

    def err(message: str, at: tuple[int, int] = (line, col)) -> YamlSyntaxError:
        return YamlSyntaxError(at[0], at[1], _("YAML syntax: {message}").format(message=message))

    if "tab character" in problem or (char == "\t" and "cannot start any token" in problem):
        return err(_("a tab character in the indentation; indent with spaces only"))
    if "cannot start any token" in problem:
        return err(_("a value cannot start with '{char}'; put the value in quotes").format(char=char))
    if "flow sequence" in context:
        return err(_("the list opened with '[' here is not closed; add ']' (and quote items that contain ',', ':' or '#')"), (cline, ccol))
    if "flow mapping" in context:
        return err(_("the mapping opened with '{' here is not closed; add '}' (and quote values that contain ',', ':' or '#')"), (cline, ccol))
    if "flow node" in context and "node content" in problem:
        if pm is not None and not text[pm.index :].strip():
            return err(_("the file ends inside a list '[' or a mapping '{'; close it with ']' or '}'"))
        return err(_("expected a value here; remove the extra ',' or put the value in quotes"))
    if "quoted scalar" in context and "end of stream" in problem:
        quote = _char_at(text, cline, ccol) or "quote"
        return err(_("the quoted text that starts here is never closed; add the closing {quote}").format(quote=quote), (cline, ccol))
    if "unknown escape character" in problem:
        return err(_("unknown escape after a backslash in double quotes; write \\\\ for a backslash or use single quotes"))
    if "sequence entries are not allowed" in problem:
        return err(_("a value that starts with '- ' is read as a list item; put the value in quotes"))
    if "mapping values are not allowed" in problem:
        return err(_("unexpected ':' here; check the indentation of this line, or put the value in quotes if it contains ': '"))
    lines = text.splitlines()
    mid_line = 1 <= line <= len(lines) and lines[line - 1][: col - 1].strip() != ""
    if mid_line and ("block collection" in context or "block mapping" in context):
        return err(_("unexpected text after the value; if the value starts with a quote, quote all of it"))
    if "block collection" in context and "'-' indicator" in problem:
        return err(_("this line does not line up with the list that starts on line {line}; check its indentation").format(line=cline))
    if "block mapping" in context and "expected key" in problem:
        return err(_("this line does not line up with the keys that start on line {line}; check its indentation").format(line=cline))
    if "simple key" in context and "expected ':'" in problem:
        return err(_("expected 'key: value' on this line; add the ':' after the key"), (cline, ccol))
    if "undefined alias" in problem:
        return err(_("'*' starts a reference to an anchor that is not defined; put the value in quotes"))
    if "maximum nesting depth" in problem:
        return err(_("lists and mappings are nested too deep here; remove the extra '[', '{{' or indented levels (at most {most})").format(most=MAX_DEPTH))
    if "another document" in problem:
        return err(_("a second document ('---') in the file; keep one document per file"))
    what = f"{context}, {problem}" if context else problem or "invalid YAML"
    return err(what)


def _pos(node: yaml.Node) -> tuple[int, int]:
    m = node.start_mark
    return (m.line + 1, m.column + 1)


class _Duplicate(Exception):
    pass


def _scalar(node: yaml.ScalarNode, loader: Any) -> Any:
    if node.tag in _KEEP_AS_TEXT or (node.tag in _SEXAGESIMAL and ":" in node.value):
        return node.value
    try:
        return loader.construct_object(node, deep=True)
    except Exception:  # a tag its value does not fit ('!!int x', '!!bool maybe', '0x_'): as written
        return node.value


def _key(node: yaml.Node, loader: Any) -> Any:
    """A mapping key as the data has it: text unless tagged otherwise (a date, a number)."""
    if not isinstance(node, yaml.ScalarNode):
        return _key_text(node, 0)
    if node.tag != _STR:
        try:
            key = loader.construct_object(node)
            hash(key)
            return key
        except Exception:  # (as in _scalar; and a key must be hashable)
            pass
    return node.value


def _key_text(node: yaml.Node, depth: int) -> str:
    """A list or mapping used as a key, as short text (it is an error the schema reports)."""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    if depth > 2:
        return "..."
    if isinstance(node, yaml.SequenceNode):
        items = [_key_text(n, depth + 1) for n in node.value[:4]]
        return "[" + ", ".join(items + ["..."] * (len(node.value) > 4)) + "]"
    pairs = [f"{_key_text(k, depth + 1)}: {_key_text(v, depth + 1)}" for k, v in node.value[:4]]
    return "{" + ", ".join(pairs + ["..."] * (len(node.value) > 4)) + "}"


def _data(node: yaml.Node, loader: Any, budget: list[int], depth: int) -> Any:
    """What :func:`_build` builds, without noting positions; _Duplicate at a duplicate key,
    _TooCostly past the limits (``budget``: how many values may still be built)."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, loader)
    budget[0] -= len(node.value)
    if budget[0] < 0 or depth >= MAX_DEPTH:
        raise _TooCostly(node, depth >= MAX_DEPTH)
    if isinstance(node, yaml.SequenceNode):
        return [_data(item, loader, budget, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key(key_node, loader)
            if key in result:
                raise _Duplicate
            result[key] = _data(value_node, loader, budget, depth + 1)
        return result
    return None  # pragma: no cover


def _build(node: yaml.Node, path: Path, out: Located, loader: Any, budget: list[int]) -> Any:
    out.values[path] = _pos(node)
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, loader)
    budget[0] -= len(node.value)
    if budget[0] < 0 or len(path) >= MAX_DEPTH:
        raise _TooCostly(node, len(path) >= MAX_DEPTH)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), out, loader, budget) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key(key_node, loader)
            child = path + (key,)
            if key in result:
                out.duplicates.append((child, _pos(key_node), out.keys[child]))
            out.keys[child] = _pos(key_node)
            result[key] = _build(value_node, child, out, loader, budget)
        return result
    return None  # pragma: no cover
