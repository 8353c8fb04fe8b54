"""Replaying a template's output when everything it reads is the same as before.

Snippets such as the joint signature or the list of coming events are included by every
template of every message, while what they read (the parties' contacts, the campaign's
events) changes only from campaign to campaign. ``validate`` renders every message on
every channel, so on a large plan most of its time went to writing the same signature
again. A template is replayed only when that is exact:

- every name it reads (those of the templates it includes or imports too) is known from
  its source, and each one's value in the context can be compared in full: strings,
  numbers, dates, ``None``, and lists, tuples and dicts of those (a date with its time
  zone, a ``Markup`` string apart from a plain one); names that resolve to the
  environment's own globals count by name;
- it uses nothing that differs between two renderings of the same values (the ``random``
  filter, ``lipsum``);
- rendering it does nothing but write: it defines no macros, blocks or top-level
  variables (an import reads those from the context its rendering fills) and extends
  no other template (whose blocks a child replaces).

Anything else (a message, a loop, an object) makes the template render as usual, and a
template that meets such a value again and again is no longer tried. The environment is
sandboxed and immutable, so a template cannot change what it reads, and our filters are
pure functions of their arguments.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable, Iterator

MAX_ENTRIES = 512
"""Outputs kept per template (a large plan has one signature per set of parties and one
events list per campaign and date)."""
GIVE_UP_AFTER = 16
"""Renderings in a row whose context could not be compared before the template is no
longer tried."""

_NONDETERMINISTIC_FILTERS = frozenset({"random"})
_NONDETERMINISTIC_NAMES = frozenset({"lipsum"})
_SCALARS = (str, int, float, bool, type(None), date)


class _Unkeyable(Exception):
    pass


def _freeze(value: Any) -> Any:
    """A hashable stand-in for ``value`` that is equal only for values that render alike."""
    kind = type(value)
    if kind is str:
        return value
    # A plain string stands for itself (as above) without a call: most values are.
    if kind is dict:
        return (dict, tuple([(k, v if type(v) is str else _freeze(v)) for k, v in value.items()]))
    if kind is list or kind is tuple:
        return (kind, tuple([v if type(v) is str else _freeze(v) for v in value]))
    if kind is datetime:
        # Equal instants in two time zones are written differently.
        return (datetime, value, value.tzinfo, value.fold)
    if isinstance(value, _SCALARS):
        return (kind, value)  # the type too: Markup("a") == "a", True == 1
    raise _Unkeyable


def template_names(env: Any, name: str, _seen: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The context names template ``name`` reads, with those of the templates it uses;
    None if they cannot be known or its output may differ between two renderings."""
    from jinja2 import meta, nodes

    if name in _seen:
        return frozenset()  # a template including itself reads nothing more the second time
    try:
        source, _, _ = env.loader.get_source(env, name)
        ast = env.parse(source, name)
    except Exception:
        return None  # rendering reports it
    names = set(meta.find_undeclared_variables(ast))
    if names & _NONDETERMINISTIC_NAMES:
        return None
    if any(f.name in _NONDETERMINISTIC_FILTERS for f in ast.find_all(nodes.Filter)):
        return None
    for ref in meta.find_referenced_templates(ast):
        if ref is None:
            return None  # a template named at run time
        inner = template_names(env, ref, _seen | {name})
        if inner is None:
            return None
        names |= inner
    return frozenset(names)


def _only_writes(env: Any, name: str) -> bool:
    from jinja2 import nodes

    try:
        source, _, _ = env.loader.get_source(env, name)
        ast = env.parse(source, name)
    except Exception:
        return False
    if any(True for _ in ast.find_all((nodes.Macro, nodes.Block, nodes.Extends))):
        return False
    return not any(isinstance(n, (nodes.Assign, nodes.AssignBlock)) for n in ast.body)


def memoize(env: Any, template: Any) -> None:
    """Make ``template`` replay its output for contexts it has seen (see module doc)."""
    if not template.name or not _only_writes(env, template.name):
        return
    names = template_names(env, template.name)
    if names is None:
        return
    render: Callable[[Any], Iterator[str]] = template.root_render_func
    order = sorted(names)
    env_globals = env.globals
    cache: dict[Any, str] = {}
    misses = [0]

    def key_of(context: Any) -> Any:
        values = []
        for n in order:
            value = context.resolve_or_missing(n)
            if n in env_globals and value is env_globals[n]:
                values.append(("global", n))
            else:
                values.append(_freeze(value))
        return tuple(values)

    def replaying(context: Any) -> Iterator[str]:
        try:
            key = key_of(context)
        except _Unkeyable:
            misses[0] += 1
            if misses[0] >= GIVE_UP_AFTER:
                template.root_render_func = render
            yield from render(context)
            return
        misses[0] = 0
        out = cache.get(key)
        if out is None:
            # One string instead of the template's many pieces: the same text, passed on
            # in one step. An error propagates before anything is kept.
            out = "".join(render(context))
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = out
        yield out

    template.root_render_func = replaying
