"""Pydantic's validation errors, said as a communication officer needs to hear them."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Iterable

from pydantic import BaseModel, ValidationError

from .problems import Problems
from .yamlpos import Located, Path


def suggest(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when a close match exists, else ``''``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


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


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(model: type[BaseModel], path: Path) -> type[BaseModel] | None:
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
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if value is None:
        return "nothing"
    return f"'{value}'"


def describe(err: dict[str, Any]) -> str:
    """One pydantic error as a sentence, without its place."""
    kind, value = err["type"], err.get("input")
    if kind in ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"):
        return f"{_kind(value)} is not a valid date; write it as YYYY-MM-DD"
    if kind.startswith("datetime_"):
        return f"{_kind(value)} is not a valid date and time; write it as YYYY-MM-DD HH:MM"
    if kind in ("string_type",):
        return f"expected text, got {_kind(value)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number, got {_kind(value)}"
    if kind in ("float_parsing", "float_type"):
        return f"expected a number, got {_kind(value)}"
    if kind in ("list_type",):
        return f"expected a list such as [a, b], got {_kind(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys and values, got {_kind(value)}"
    if kind == "literal_error":
        return f"{_kind(value)} is not allowed; use one of: {err['ctx']['expected']}"
    if kind == "too_short":
        return f"needs at least {err['ctx']['min_length']} item(s)"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "string_pattern_mismatch":
        return f"{_kind(value)} does not have the expected form ({err['ctx']['pattern']})"
    return err["msg"][0].lower() + err["msg"][1:]


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
    for err in exc.errors():
        loc: Path = tuple(err["loc"])
        full = prefix + loc
        if err["type"] == "extra_forbidden":
            line, col = located.where(full, key=True)
            holder = _model_at(model, loc[:-1])
            hint = suggest(str(loc[-1]), _keys_of(holder)) if holder else ""
            text = f"unknown key '{loc[-1]}'{hint}"
        elif err["type"] == "missing":
            line, col = located.where(full[:-1])
            text = f"missing key '{loc[-1]}'"
        else:
            line, col = located.where(full)
            names = [str(p) for p in loc if isinstance(p, str)]
            field = names[-1] + ": " if names else ""
            text = field + describe(err)
        problems.error(file, line, col, label + text)
