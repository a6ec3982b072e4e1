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


def default_for(field: str, data: dict[str, Any]) -> str | None:
    """A default that depends on an earlier answer: GPUs of infrastructure: local are your own (power and
    amortisation, not rental), as the answers schema documents for facts.owned_gpus."""
    if field == "facts.owned_gpus" and data.get("infrastructure") == "local":
        return "true"
    return None


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


# --- the interview: `ftplan init`'s loop, with its input and output passed in (the CLI owns the terminal) ---

BACK = "<"
INTRO = ("Answer each question and press Enter. Enter alone accepts the [default] or skips an optional fact "
         f"(ftplan infers it). Type {BACK} to go back one question. Ctrl-C or Ctrl-D stops and keeps your "
         "answers so far in a file.")
_PLACEHOLDER_PAIRS = [{"input": f"placeholder input {i}", "output": f"placeholder output {i}"}
                      for i in range(MAX_EXAMPLE_PAIRS)]


def _required(q: Question) -> bool:
    return not (q.field.startswith("facts.") or q.field == "project_name")


def _set(data: dict[str, Any], field: str, value: Any) -> None:
    head, _, key = field.partition(".")
    if key:
        data.setdefault(head, {})[key] = value
    else:
        data[field] = value


def _get(data: dict[str, Any], field: str) -> Any:
    head, _, key = field.partition(".")
    return (data.get(head) or {}).get(key) if key else data.get(field)


def _drop(data: dict[str, Any], field: str) -> None:
    head, _, key = field.partition(".")
    if key:
        (data.get(head) or {}).pop(key, None)
        if head in data and not data[head]:
            data.pop(head)
    else:
        data.pop(field, None)


def cross_field_problems(data: dict[str, Any]) -> list[Problem]:
    """The schema's cross-field error rules on the answers so far (unasked required fields filled with
    placeholders, so only what has been answered can fail)."""
    from generator.answers.rules import ERROR_RULES

    probe: dict[str, Any] = {name: "placeholder" for name, info in Answers.model_fields.items()
                             if info.is_required() and name not in ("example_pairs", "facts")}
    probe.update(_INIT_DEFAULTS)
    probe.update({k: v for k, v in data.items() if k != "facts"})
    probe.setdefault("example_pairs", _PLACEHOLDER_PAIRS[:MIN_EXAMPLE_PAIRS])
    probe["facts"] = dict(data.get("facts") or {})
    try:
        answers = Answers.model_validate(probe)
    except ValidationError:
        return []  # a field's own rule already refused the answer
    return [p for rule in ERROR_RULES if (p := rule(answers)) is not None]


def _short(q: Question, problem: str) -> str:
    """One line for a wrong answer: the choices once, the field's description not repeated."""
    if " — " in problem:
        message, fix = problem.split(" — ", 1)
        if message.startswith("must be one of"):
            return f"{message} — {fix}" if fix.startswith("did you mean") else message
        fix = fix.replace(q.prompt.split(" (optional")[0], "").strip()
        return f"{message} — {fix}" if fix else message
    return problem


def interview(ask: Callable[[str, str | None], str], say: Callable[[str], None], data: dict[str, Any],
              defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ask every question, validating each answer on the spot, into `data` (kept up to date, so a caller
    that is interrupted still holds every answer given so far).

    `ask(label, default)` returns the typed line (the default when Enter alone is pressed); `say(text)` shows a
    line. A field that a cross-field rule makes required (facts.gpu with infrastructure: local) is asked
    right after the answer that requires it. `<` goes back one question.
    """
    by_field = {q.field: q for q in QUESTIONS}
    queue: list[str] = [q.field for q in QUESTIONS]
    done: list[str] = []  # fields in the order they were answered (or skipped), for going back
    forced: dict[str, str] = {}  # field -> why a rule now requires it
    say(INTRO)
    while queue:
        field = queue.pop(0)
        if field in done:
            continue
        q = by_field[field]
        required = _required(q) or field in forced
        default = (defaults or {}).get(field, q.default)
        if default is None:
            default = default_for(field, data)
        default_text = None if default is None else (", ".join(map(str, default)) if isinstance(default, list)
                                                     else str(default))
        say("")
        say(f"{field}: {q.prompt.split(' (optional')[0]}" + ("" if required else " (optional: Enter to infer it)"))
        if field in forced:
            say(f"  {field} {forced[field]}")
        before = {str(p) for p in cross_field_problems(data)}
        if q.repeat:
            went_back = _ask_pairs(q, ask, say, data)
            if went_back:
                queue[:0] = _back(done, field, data)
                continue
        else:
            label = f"{field.split('.')[-1]}{' (required)' if required and default_text is None else ''}"
            while True:
                text = ask(label, default_text).strip()
                if text == BACK:
                    break
                if not text and required:
                    say(f"  {field} is required")
                    continue
                if err := q.validate(text):
                    say(f"  {_short(q, err)}")
                    continue
                value = q.convert(text)
                if value is None:
                    _drop(data, field)
                else:
                    _set(data, field, value)
                break
            if text == BACK:
                queue[:0] = _back(done, field, data)
                continue
        new = [p for p in cross_field_problems(data) if str(p) not in before]
        again = False
        for p in new:
            if p.field in by_field and p.field not in done and p.field != field:
                forced[p.field] = p.message
                queue.insert(0, p.field)
            else:
                say(f"  {p}")
                again = True
        if again:
            _drop(data, field)
            queue.insert(0, field)
            continue
        forced.pop(field, None)
        done.append(field)
    return data


def _back(done: list[str], field: str, data: dict[str, Any]) -> list[str]:
    """The questions to ask next after `<`: the previous one, then the current one again."""
    if not done:
        return [field]
    previous = done.pop()
    _drop(data, previous)
    return [previous, field]


def _ask_pairs(q: Question, ask: Callable[[str, str | None], str], say: Callable[[str], None],
               data: dict[str, Any]) -> bool:
    """The example pairs, one per line; True when the user went back past the first pair."""
    say(f"  One pair per line, as: input -> output. {q.min_count} to {q.max_count} pairs; after {q.min_count}, "
        "a blank line ends the list.")
    pairs = list(data.get(q.field) or [])
    while len(pairs) < q.max_count:
        n = len(pairs) + 1
        hint = "required" if n <= q.min_count else "blank line ends the list"
        text = ask(f"pair {n} ({hint})", None).strip()
        if text == BACK:
            if not pairs:
                return True
            pairs.pop()
            data[q.field] = pairs
            continue
        if not text:
            if n <= q.min_count:
                say(f"  at least {q.min_count} pairs are required ({n - 1} so far)")
                continue
            break
        if err := q.validate(text):
            say(f"  {err}")
            continue
        pairs.append(q.convert(text).model_dump())
        data[q.field] = pairs
    return False
