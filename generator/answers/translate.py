"""pydantic's validation errors, worded for a person: `field.path: what is wrong — how to fix it`.

Each problem names the field as the user wrote it, says what was expected, and suggests the closest valid key
or choice ("did you mean 'budget'?"); the fix reuses the field's own description and example.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from pydantic import BaseModel

from generator.answers.schema import UNKNOWN_CHOICE, Answers, ExamplePair, Facts
from generator.errors import Problem

MISSING = "is required but missing"

_KIND_NAMES = {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list",
               dict: "a mapping", type(None): "empty"}  # fmt: skip
_EXPECTED = {
    "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
    "model_type": "a mapping of keys to values", "dict_type": "a mapping of keys to values",
    "finite_number": "a finite number", "model_attributes_type": "a mapping of keys to values",
}  # fmt: skip
MAX_SHOWN_CHARS = 80  # a value quoted in a message: enough to recognise it, never a screenful


def shown(value: Any) -> str:
    """`repr` of a value, short: a 400-digit number or a megabyte of text is named, not printed."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_SHOWN_CHARS:
        return f"a number of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[:MAX_SHOWN_CHARS]}... ({len(text)} characters)"


_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")


def kind_of(value: Any) -> str:
    return _KIND_NAMES.get(type(value), type(value).__name__)


def loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of `loc` (for suggestions and descriptions)."""
    model: type[BaseModel] = Answers
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model is Answers and part == "facts":
            model = Facts
        elif model is Answers and part == "example_pairs":
            model = ExamplePair
        else:
            return None
    return model


def _field_info(loc: tuple[Any, ...]) -> tuple[str, Any] | None:
    model, name = _model_at(loc), loc[-1] if loc else None
    if model is None or not isinstance(name, str) or name not in model.model_fields:
        return None
    info = model.model_fields[name]
    return info.description or "", (info.examples or [None])[0]


def _example_text(example: Any) -> str:
    return json.dumps(example, ensure_ascii=False) if not isinstance(example, str) else example


def _fix_for(loc: tuple[Any, ...]) -> str:
    if loc and isinstance(loc[-1], int):  # an item of a list: say what one item looks like
        if loc[:-1] == ("example_pairs",):
            return 'write each pair as `- {input: "My card was charged twice", output: billing}`'
        return f"write each item of {loc_path(loc[:-1])} as text"
    found = _field_info(loc)
    if found is None:
        return ""
    description, example = found
    return f"{description} e.g. `{loc[-1]}: {_example_text(example)}`"


def _choice_problem(path: str, value: Any, choices: list[str], hint: str | None) -> Problem:
    fix = f"did you mean '{hint}'?" if hint else f"use one of: {' | '.join(choices)}"
    return Problem(path, f"must be one of {' | '.join(choices)}, got {shown(value)}", fix)


def translate(errors: list[Any]) -> list[Problem]:
    """One Problem per pydantic error (`exc.errors(include_url=False)`), in pydantic's order."""
    problems: list[Problem] = []
    for err in errors:
        loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
        path = loc_path(loc)
        ctx = err.get("ctx") or {}
        if kind == "missing":
            problems.append(Problem(path, MISSING, f"add it: {_fix_for(loc)}"))
        elif kind == "extra_forbidden":
            problems.append(_unknown_key(loc))
        elif kind == "literal_error":
            choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            hint = difflib.get_close_matches(str(value), choices, n=1)
            problems.append(_choice_problem(path, value, choices, hint[0] if hint else None))
        elif kind == UNKNOWN_CHOICE:
            problems.append(_choice_problem(path, value, list(ctx.get("choices", [])), ctx.get("hint") or None))
        elif kind in _BOUNDS:
            bound = next(iter(ctx.values()), "")
            problems.append(Problem(path, f"must be {_BOUNDS[kind]} {bound}, got {shown(value)}", _fix_for(loc)))
        elif kind in ("string_too_short", "too_short"):
            problems.append(Problem(path, "must not be empty", _fix_for(loc)))
        elif kind in _EXPECTED:
            got = f"{shown(value)} ({kind_of(value)})" if not isinstance(value, dict | list) else kind_of(value)
            fix = _fix_for(loc)
            if isinstance(value, bool) and kind == "string_type":
                fix = "YAML reads yes/no/on/off/true/false as true/false: put the value in quotes"
            problems.append(Problem(path, f"must be {_EXPECTED[kind]}, got {got}", fix))
        else:
            problems.append(Problem(path, str(err.get("msg", "is not valid")), _fix_for(loc)))
    return problems


def suggested_key(problem: Problem) -> str | None:
    """The full path of the key a 'did you mean' problem suggests, so its 'missing' twin can be dropped."""
    match = _DID_YOU_MEAN.search(problem.fix)
    if match is None or "not a known key" not in problem.message:
        return None
    parent = problem.field.rpartition(".")[0]
    return f"{parent}.{match.group(1)}" if parent else match.group(1)


def _unknown_key(loc: tuple[Any, ...]) -> Problem:
    path, name = loc_path(loc), str(loc[-1])
    model = _model_at(loc)
    if model is Answers and name in Facts.model_fields:
        return Problem(path, f"key '{name}' belongs under facts:", f"move it: `facts: {{{name}: ...}}`")
    if model is Facts and name in Answers.model_fields:
        return Problem(path, f"key '{name}' is a top-level key, not a fact", "move it out of facts:")
    valid = list(model.model_fields) if model else []
    hint = difflib.get_close_matches(name.lower(), valid, n=1, cutoff=0.6)
    fix = f"did you mean '{hint[0]}'?" if hint else f"valid keys here: {', '.join(valid)}"
    return Problem(path, f"key '{name}' is not a known key", fix)
