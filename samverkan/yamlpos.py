"""YAML loading that remembers where every value came from.

PyYAML's composer gives nodes with marks; we build plain Python values from them and keep a
side table from each value's path (a tuple of keys and indices) to its line and column, so a
validation error deep in a model can still point at ``FILE:LINE:COL``. Duplicate keys, which
PyYAML accepts silently, are reported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C parser is several times faster; fall back where libyaml is missing
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[Any, ...]

_STR = "tag:yaml.org,2002:str"
# Timestamps stay text: the models parse them, and the local-time rules need the wall time.
_KEEP_AS_TEXT = {_STR, "tag:yaml.org,2002:timestamp"}


@dataclass
class Located:
    """A loaded document with the position of every value and mapping key (1-based)."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Path, tuple[int, int], tuple[int, int]]] = field(default_factory=list)

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path``, or of its nearest ancestor that has one."""
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


def load(text: str) -> Located:
    """Parse one YAML document; raise :class:`YamlSyntaxError` with a position."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{exc.context}, {what}"
        raise YamlSyntaxError(line, col, f"YAML syntax: {what}") from None
    finally:
        loader.dispose()
    out = Located(data=None)
    if node is None:
        out.data = {}
        return out
    out.data = _build(node, (), out, loader)
    return out


def _pos(node: yaml.Node) -> tuple[int, int]:
    m = node.start_mark
    return (m.line + 1, m.column + 1)


def _build(node: yaml.Node, path: Path, out: Located, loader: Any) -> Any:
    out.values[path] = _pos(node)
    if isinstance(node, yaml.ScalarNode):
        if node.tag in _KEEP_AS_TEXT:
            return node.value
        try:
            return loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), out, loader) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key_node.tag != _STR and isinstance(key_node, yaml.ScalarNode):
                try:
                    key = loader.construct_object(key_node)
                except yaml.YAMLError:
                    pass
            child = path + (key,)
            if key in result:
                out.duplicates.append((child, _pos(key_node), out.keys[child]))
            out.keys[child] = _pos(key_node)
            result[key] = _build(value_node, child, out, loader)
        return result
    return None  # pragma: no cover
