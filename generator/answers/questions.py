"""`ftplan init`: the questions, in the schema's order, each validated as you type by its own field.

Prompts are the fields' descriptions, so a question and the error for a wrong answer say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple, cast, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from generator.answers.schema import MAX_EXAMPLE_PAIRS, MIN_EXAMPLE_PAIRS, Answers, ExamplePair, Facts
from generator.answers.translate import translate
from generator.errors import Problem, UserError


class Question(NamedTuple):
    """One interactive question. `validate(text)` returns an error or None; `convert(text)` the value.

    With `repeat`, the CLI asks again until `min_count` answers (and stops at `max_count`); for
    example_pairs each answer is one `input -> output` line.
    """

    field: str
    prompt: str
    default: str | None
    validate: Callable[[str], str | None]
    convert: Callable[[str], Any]
    repeat: bool = False
    min_count: int = 1
    max_count: int = 1


def _field_value(model: type[BaseModel], name: str, text: str) -> Any:
    """Typed text -> the field's value; lists are comma-separated; empty optional answers are None."""
    text = text.strip()
    info = model.model_fields[name]
    if text == "" and not info.is_required():
        return None
    if "list" in str(info.annotation):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _field_errors(model: type[BaseModel], name: str, text: str) -> tuple[Any, list[Problem]]:
    """Validate one answer through its model, so the field's own constraints and messages apply."""
    value = _field_value(model, name, text)
    info = model.model_fields[name]
    # Validate the one field on its own (the whole model would also demand every other required field).
    hint: Any = info.annotation
    if info.metadata:
        hint = cast(Any, Annotated)[tuple([hint, *info.metadata])]
    adapter: TypeAdapter[Any] = TypeAdapter(hint)
    try:
        return adapter.validate_python(value), []
    except ValidationError as exc:
        prefix: tuple[Any, ...] = ("facts", name) if model is Facts else (name,)
        errors = [{**err, "loc": prefix + tuple(err["loc"])} for err in exc.errors(include_url=False)]
        return None, translate(errors)


def _question_for(model: type[BaseModel], name: str, default: str | None) -> Question:
    info = model.model_fields[name]

    def validate(text: str) -> str | None:
        problems = _field_errors(model, name, text)[1]
        return "; ".join(f"{p.message} — {p.fix}" if p.fix else p.message for p in problems) or None

    def convert(text: str) -> Any:
        value, problems = _field_errors(model, name, text)
        if problems:
            raise UserError(problems)
        return value

    prompt = info.description or name
    literal = next(
        (arg for arg in (info.annotation, *get_args(info.annotation)) if get_origin(arg) is Literal), None
    )
    choices = list(get_args(literal)) if literal is not None else []
    if choices and not all(choice in prompt for choice in choices):
        prompt = f"{prompt} [{' | '.join(choices)}]"
    if model is Facts:
        prompt = f"{prompt} (optional: leave empty to infer it)"
    return Question(f"facts.{name}" if model is Facts else name, prompt, default, validate, convert)


def _pair_convert(text: str) -> ExamplePair:
    """One `input -> output` line as a pair (the first arrow splits, so outputs may contain arrows)."""
    fix = "write one pair as: input -> output, e.g. My card was charged twice -> billing"
    if "->" not in text:
        raise UserError(Problem("example_pairs", "has no '->' between input and output", fix))
    left, right = (part.strip() for part in text.split("->", 1))
    if not left or not right:
        raise UserError(Problem("example_pairs", "both the input and the output must be non-empty", fix))
    return ExamplePair(input=left, output=right)


def _pair_validate(text: str) -> str | None:
    try:
        _pair_convert(text)
    except UserError as exc:
        return "; ".join(f"{p.message} — {p.fix}" for p in exc.problems)
    return None


# Defaults offered by `ftplan init`: the most common setup among the bundled examples.
_INIT_DEFAULTS = {"provider": "open_source", "budget": "moderate", "infrastructure": "cloud_gpu"}


def _questions() -> list[Question]:
    out: list[Question] = []
    for name, info in Answers.model_fields.items():
        if name == "facts":
            continue
        if name == "example_pairs":
            out.append(
                Question(
                    "example_pairs",
                    f"{info.description} One pair per answer, as: input -> output",
                    None,
                    _pair_validate,
                    _pair_convert,
                    True,
                    MIN_EXAMPLE_PAIRS,
                    MAX_EXAMPLE_PAIRS,
                )
            )
        else:
            out.append(_question_for(Answers, name, _INIT_DEFAULTS.get(name)))
    out += [_question_for(Facts, name, None) for name in Facts.model_fields]
    return out


QUESTIONS: list[Question] = _questions()
