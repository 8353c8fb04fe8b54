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
- rendering it does nothing but write: it defines no macros, blocks or variables (an
  import reads those from the context its rendering fills) and extends no other
  template (whose blocks a child replaces).

Anything else (a message, a loop, an object) makes the template render as usual, and a
template that meets such a value again and again is no longer tried. A replayed
template's context is only made when it must run (see ``_Pending``): making one costs
more than replaying. The environment is
sandboxed and immutable, so a template cannot change what it reads, and our filters are
pure functions of their arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterator, Mapping

from jinja2.utils import missing

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


class SharedList(list):  # type: ignore[type-arg]
    """A list that many renderings are given as it is (a campaign's press contacts, its
    events still to come): its stand-in (see _freeze) is worked out once, on the list
    itself. It must not change once made; templates cannot change it (the sandbox is
    immutable). To a template it is a list: the same name in error messages, and its
    one attribute of its own is private (the sandbox refuses it)."""

    __slots__ = ("_frozen",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self._frozen: Any = None


# What templates and their error messages call it ("list object has no element 0").
SharedList.__name__ = SharedList.__qualname__ = "list"
SharedList.__module__ = "builtins"


def _freeze(value: Any) -> Any:
    """A hashable stand-in for ``value`` that is equal only for values that render alike."""
    kind = type(value)
    if kind is str:
        return value
    if kind is SharedList:
        if value._frozen is None:
            value._frozen = (list, tuple([v if type(v) is str else _freeze(v) for v in value]))
        return value._frozen  # (what a plain list of the same items stands for)
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


@dataclass(frozen=True)
class _Reading:
    """What one template's source says, found by parsing it once."""

    names: frozenset[str]  # the context names it reads itself
    refs: tuple[str | None, ...]  # the templates it includes, imports or extends (None: by variable)
    deterministic: bool  # no random filter, no lipsum
    only_writes: bool  # no macros, blocks, extends or variables


def _reading(env: Any, name: str) -> _Reading | None:
    readings = env.__dict__.setdefault("_samverkan_readings", {})
    if name not in readings:
        try:
            source, _, _ = env.loader.get_source(env, name)
            ast = env.parse(source, name)
        except Exception:
            readings[name] = None  # rendering reports it
        else:
            readings[name] = read(ast)
    return readings[name]  # type: ignore[no-any-return]


def remember_reading(env: Any, name: str, ast: Any) -> None:
    """Keep what ``ast``, just parsed to compile template ``name``, says: read now, before
    compiling changes it, it spares parsing the template a second time."""
    env.__dict__.setdefault("_samverkan_readings", {}).setdefault(name, read(ast))


def read(ast: Any) -> _Reading:
    """What a template's syntax tree says (see _Reading)."""
    from jinja2 import meta, nodes

    names = frozenset(meta.find_undeclared_variables(ast))
    return _Reading(
        names=names,
        refs=tuple(meta.find_referenced_templates(ast)),
        deterministic=not (names & _NONDETERMINISTIC_NAMES)
        and not any(f.name in _NONDETERMINISTIC_FILTERS for f in ast.find_all(nodes.Filter)),
        only_writes=not any(True for _ in ast.find_all(
            (nodes.Macro, nodes.Block, nodes.Extends, nodes.Assign, nodes.AssignBlock))),
    )


def referenced_templates(env: Any, name: str) -> tuple[str, ...]:
    """The templates ``name`` includes, imports or extends by name (none if it does not parse)."""
    reading = _reading(env, name)
    return tuple(r for r in reading.refs if r is not None) if reading is not None else ()


def template_names(env: Any, name: str, _seen: frozenset[str] = frozenset()) -> frozenset[str] | None:
    """The context names template ``name`` reads, with those of the templates it uses;
    None if they cannot be known or its output may differ between two renderings."""
    if name in _seen:
        return frozenset()  # a template including itself reads nothing more the second time
    reading = _reading(env, name)
    if reading is None or not reading.deterministic:
        return None
    names = set(reading.names)
    for ref in reading.refs:
        if ref is None:
            return None  # a template named at run time
        inner = template_names(env, ref, _seen | {name})
        if inner is None:
            return None
        names |= inner
    return frozenset(names)


def memoize(env: Any, template: Any) -> None:
    """Make ``template`` replay its output for contexts it has seen (see module doc)."""
    reading = _reading(env, template.name) if template.name else None
    if reading is None or not reading.only_writes:
        return
    names = template_names(env, template.name)
    if names is None:
        return
    render: Callable[[Any], Iterator[str]] = template.root_render_func
    real_context = template.new_context
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
        # Not a generator itself: a template that renders (given up, or a value that
        # cannot be compared) passes on its own pieces directly, not through a second one.
        if misses[0] >= GIVE_UP_AFTER:
            return render(_real(context))
        try:
            key = key_of(context)
        except _Unkeyable:
            misses[0] += 1
            if misses[0] >= GIVE_UP_AFTER:
                template.new_context = real_context  # no more contexts put off for nothing
            return render(_real(context))
        misses[0] = 0
        out = cache.get(key)
        if out is None:
            # One string instead of the template's many pieces: the same text, passed on
            # in one step. An error propagates before anything is kept.
            out = "".join(render(_real(context)))
            if len(cache) >= MAX_ENTRIES:
                cache.clear()
            cache[key] = out
        return _once(out)

    def pending_context(vars: dict[str, Any] | None = None, shared: bool = False,
                        locals: Mapping[str, Any] | None = None) -> _Pending:
        return _Pending(real_context, template.globals, vars or {}, shared, locals)

    template.new_context = pending_context
    template.root_render_func = replaying


def _once(text: str) -> Iterator[str]:
    yield text  # a generator, as the code of an include closes what it iterates


def _real(context: Any) -> Any:
    return context.real() if type(context) is _Pending else context


class _Pending:
    """A template context not made yet. Every rendering and include first makes a context
    (``Template.new_context``) and hands it to the template's code; for a replayed output
    none is needed, only the values of a few names. This answers for those as the context
    would (see ``jinja2.runtime.new_context`` and ``Context.resolve_or_missing``), and makes
    the real one when the template must run after all."""

    __slots__ = ("make", "globals", "vars", "shared", "locals", "made")

    def __init__(self, make: Callable[..., Any], globals: Mapping[str, Any], vars: dict[str, Any],
                 shared: bool, locals: Mapping[str, Any] | None):
        self.make, self.globals, self.vars, self.shared, self.locals = make, globals, vars, shared, locals
        self.made: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)  # anything else a caller of new_context uses

    def resolve_or_missing(self, key: str) -> Any:
        if self.locals and key in self.locals and self.locals[key] is not missing:
            return self.locals[key]
        if key in self.vars:
            return self.vars[key]
        if not self.shared and key in self.globals:
            return self.globals[key]
        return missing

    def get_exported(self) -> dict[str, Any]:
        return {}  # a replayed template sets no variables (see _Reading.only_writes)

    def real(self) -> Any:
        if self.made is None:
            self.made = self.make(self.vars, self.shared, self.locals)
        return self.made
