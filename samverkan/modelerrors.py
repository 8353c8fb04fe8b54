"""Pydantic's validation errors, said as a communication officer needs to hear them."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .i18n import _, ngettext
from .models import FieldError
from .problems import Problems
from .yamlpos import Located, Path


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` was most likely meant to be, if any is close enough."""
    close = difflib.get_close_matches(str(word), [c for c in choices if c is not None], n=1, cutoff=0.6)
    return close[0] if close else None


def suggest(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a close match exists, else ``''``."""
    close = closest(word, choices)
    return _did_you_mean(close) if close else ""


def _did_you_mean(name: str) -> str:
    """``; did you mean 'name'?``: the wording of every suggestion."""
    return _("; did you mean '{name}'?").format(name=name)


def _quoted_list(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + _(" and ") + quoted[-1]


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def meant(model: type[BaseModel], loc: Path) -> tuple[list[str], str | None]:
    """For the unknown key at ``loc``: the keys allowed beside it, and the one it most
    likely was meant to be (if any is close enough)."""
    holder = model_at(model, loc[:-1])
    keys = keys_of(holder) if holder else []
    return keys, closest(str(loc[-1]), keys)


def model_at(model: type[BaseModel], path: Path) -> type[BaseModel] | None:
    """The model class that holds the mapping at ``path`` (for "did you mean")."""
    tp: Any = model
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or n: f for n, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return _("a mapping")
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, bool):
        return _("true/false")
    if isinstance(value, (int, float)):
        return _("the number {value}").format(value=value)
    if value is None:
        return _("nothing")
    return f"'{value}'"


def describe(err: ErrorDetails) -> str:
    """One pydantic error as a sentence, without its place."""
    kind, value = err["type"], err.get("input")
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"):
        return _("{value} is not a valid date; write it as YYYY-MM-DD").format(value=_kind(value))
    if kind.startswith("datetime_"):
        return _("{value} is not a valid date and time; write it as YYYY-MM-DD HH:MM").format(value=_kind(value))
    if kind in ("string_type",):
        # Usually YAML read yes/no/on/off as true/false or 2018 as a number: quotes fix it.
        hint = _("; put the value in quotes") if isinstance(value, (bool, int, float)) else ""
        if isinstance(value, list):
            hint = _("; a text that starts with '- ' is a list in YAML: put the text in quotes")
        elif isinstance(value, dict):
            hint = _("; a text with ': ' in it is a mapping in YAML: put the text in quotes")
        elif value is None:
            hint = _("; if the text starts with '#', YAML took it for a comment: put the text in quotes")
        return _("expected text, got {value}").format(value=_kind(value)) + hint
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("expected a whole number, got {value}").format(value=_kind(value))
    if kind in ("float_parsing", "float_type"):
        return _("expected a number, got {value}").format(value=_kind(value))
    if kind in ("list_type",):
        hint = ("; " + _("write [{value}]").format(value=value)
                if isinstance(value, (str, int)) and not isinstance(value, bool) else "")
        return _("expected a list such as [a, b], got {value}").format(value=_kind(value)) + hint
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if err["loc"] and err["loc"][-1] == "image" and isinstance(value, str):
            return _("write the image with its alt text: image: {{path: {path}, alt: what the picture shows}}").format(path=value)
        return _("expected a mapping of keys and values, got {value}").format(value=_kind(value))
    if kind == "literal_error":
        return _("{value} is not allowed; use one of: {allowed}").format(value=_kind(value), allowed=err["ctx"]["expected"])
    if kind == "too_short":
        n = err["ctx"]["min_length"]
        return ngettext("needs at least {n} item", "needs at least {n} items", n).format(n=n)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {"greater_than_equal": ("ge", "at least"), "less_than_equal": ("le", "at most"),
                 "greater_than": ("gt", "more than"), "less_than": ("lt", "less than")}[kind]
        return f"must be {bound[1]} {err['ctx'][bound[0]]}, got {value}"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{_kind(value)} does not have the expected form ({err['ctx']['pattern']})"
    return err["msg"][0].lower() + err["msg"][1:]


def _at(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _split_by_comma(data: Any, path: Path) -> str | None:
    """For an unknown key with no value right after a key with text: the comma of a
    ``{ }`` mapping that cut a value in two (``location: Kulturhuset Rosen, Hultsfred}``)."""
    holder = _at(data, path[:-1])
    if not isinstance(holder, dict) or holder.get(path[-1], "") is not None:
        return None
    keys = list(holder)
    i = keys.index(path[-1])
    if i == 0 or not isinstance(holder[keys[i - 1]], str):
        return None
    before, after = keys[i - 1], path[-1]
    whole = f"{holder[before]}, {after}"
    return _("unknown key '{key}': the comma in {{ }} cut {before}: {whole} in two; "
             "put the whole value in quotes: {before}: \"{whole}\"").format(key=after, before=before, whole=whole)


def report(
    exc: ValidationError,
    model: type[BaseModel],
    located: Located,
    file: str,
    problems: Problems,
    *,
    prefix: Path = (),
    label: str = "",
) -> None:
    """Add one problem per error of ``exc``, placed at its YAML node."""
    errors = exc.errors()
    # A misspelt key shows up twice, as unknown and as missing: say it once, as the
    # unknown key with its "did you mean", since renaming it fixes both.
    unknown = {loc: meant(model, loc) for loc in (tuple(e["loc"]) for e in errors if e["type"] == "extra_forbidden")}
    renamed = {loc[:-1] + (name,) for loc, (_, name) in unknown.items() if name is not None}
    missing: dict[Path, list[str]] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc not in renamed:
            missing.setdefault(loc[:-1], []).append(str(loc[-1]))
    for holder_loc, names in missing.items():
        # One line per mapping: several missing keys share the mapping's position.
        line, col = located.where(prefix + holder_loc)
        problems.error(file, line, col, label + ngettext("missing key {names}", "missing keys {names}", len(names))
                       .format(names=_quoted_list(names)))
    for err in errors:
        loc = tuple(err["loc"])
        full = prefix + loc
        if err["type"] == "missing":
            continue
        if err["type"] == "extra_forbidden":
            line, col = located.where(full, key=True)
            keys, name = unknown[loc]
            split = None if name else _split_by_comma(located.data, full)
            hint = _did_you_mean(name) if name else (
                _("; keys allowed here: {keys}").format(keys=", ".join(keys)) if keys else "")
            text = split or _("unknown key '{key}'").format(key=loc[-1]) + hint
        elif loc and loc[-1] == "[key]":  # a mapping key itself is malformed (a channel name)
            line, col = located.where(full[:-1], key=True)
            names = [str(p) for p in loc[:-2] if isinstance(p, str)]
            text = (names[-1] + ": " if names else "") + describe(err)
        else:
            error = (err.get("ctx") or {}).get("error")
            if err["type"] == "value_error" and isinstance(error, FieldError):
                loc, full = loc + (error.field,), full + (error.field,)
            line, col = located.where(full)
            names = [str(p) for p in loc if isinstance(p, str)]
            field = names[-1] + ": " if names else ""
            text = field + describe(err)
        problems.error(file, line, col, label + text)
