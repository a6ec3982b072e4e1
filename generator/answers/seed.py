"""The seed template: the fine-tuning strategy prompt the product is built around, filled and read back.

`fill` replaces the exact `{{field}}` markers of the template in one pass (never a template engine: user
text is data and is not scanned again), escaping `&`, `<` and `>` so a value cannot close its tag.
`parse` reads the `<tag>value</tag>` fields of `<personalization>` and `<context>` back into a dict, so
a filled prompt and an answers file are interchangeable. An optional `<facts>` section holds any of the answers
file's facts the same way (`<heldout_available>2000</heldout_available>`, `<languages>en, de</languages>`).
"""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from generator.answers.schema import Answers, ExamplePair, Facts
from generator.errors import Problem, UserError
from generator.paths import configs_dir

TEMPLATE_NAME = "seed_template.md"
PERSONALIZATION_FIELDS = ("provider", "budget", "infrastructure")
CONTEXT_FIELDS = ("use_case", "current_approach", "current_limitations", "training_data", "example_pairs",
                  "success_criteria")  # fmt: skip
FIELDS = PERSONALIZATION_FIELDS + CONTEXT_FIELDS
SECTIONS = ("personalization", "context")
# The seven sections the strategy has, in order (STRATEGY.md uses the same headings).
OUTPUT_SECTIONS = (
    "Should You Fine-Tune?",
    "Base Model Selection",
    "Training Data Plan",
    "Training Configuration",
    "Evaluation Framework",
    "Deployment Plan",
    "Total Cost & ROI",
)

_MARKER = re.compile(r"\{\{(\w+)\}\}")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_OPEN_TAG = re.compile(r"<([A-Za-z_][\w.-]*)>")
# Only ASCII whitespace: Python's str.strip also eats \x1c-\x1f, which pydantic keeps, breaking round trips.
_SPACE = " \t\n\r\x0b\x0c"
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def template() -> str:
    """The bundled seed template's text."""
    return (configs_dir() / TEMPLATE_NAME).read_text(encoding="utf-8")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _pairs_xml(pairs: list[ExamplePair]) -> str:
    return "\n".join(
        f"<pair><input>{_escape(p.input)}</input><output>{_escape(p.output)}</output></pair>" for p in pairs
    )


def fill(answers: Answers, text: str | None = None) -> str:
    """The template with every `{{field}}` marker replaced by the answer (one pass, plain replacement)."""
    values = {name: _escape(str(getattr(answers, name))) for name in FIELDS if name != "example_pairs"}
    values["example_pairs"] = _pairs_xml(answers.example_pairs)
    source = template() if text is None else text
    return _MARKER.sub(lambda m: values.get(m.group(1), m.group(0)), source)


def parse(text: str) -> dict[str, Any]:
    """The answers in a filled template; raises UserError listing every unfilled or broken field."""
    data, problems = parse_with_problems(text)
    if problems:
        raise UserError(problems)
    return data


def parse_with_problems(text: str) -> tuple[dict[str, Any], list[Problem]]:
    """Like `parse`, but returns the problems so a loader can report them with the schema's own."""
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    found_any = False
    for section in SECTIONS:
        body = _between(text, f"<{section}>", f"</{section}>")
        if body is None:
            if f"<{section}>" in text:
                problems.append(
                    Problem(f"<{section}>", "is not closed", f"add </{section}> after its fields")
                )
            continue
        found_any = True
        for name, value in _tags(body, section, problems):
            if name in data:
                problems.append(Problem(name, "appears twice", "keep one of the two"))
                continue
            placeholder = _PLACEHOLDER.fullmatch(value.strip())
            if placeholder:
                problems.append(
                    Problem(
                        name,
                        f"still holds the placeholder {{{{{placeholder.group(1)}}}}}",
                        f"replace it with your answer: {_describe(name)}",
                    )
                )
                continue
            data[name] = (
                _parse_pairs(value, problems)
                if name == "example_pairs"
                else html.unescape(value.strip(_SPACE))
            )
    facts = _facts(text, problems)
    if facts:
        data["facts"] = facts
    if not found_any and not problems:
        problems.append(
            Problem(
                "(template)",
                "has no <personalization> or <context> section",
                "fill in the seed template (`ftplan prompt`) or give a YAML answers file",
            )
        )
    return data, problems


def _facts(text: str, problems: list[Problem]) -> dict[str, Any]:
    """The optional `<facts>` section: `<name>value</name>` per fact; list facts are comma-separated. Values stay
    text here: the answers schema converts and checks them like a YAML file's."""
    body = _between(text, "<facts>", "</facts>")
    if body is None:
        if "<facts>" in text:
            problems.append(Problem("<facts>", "is not closed", "add </facts> after the facts"))
        return {}
    out: dict[str, Any] = {}
    for name, value in _tags(body, "facts", problems):
        field = f"facts.{name}"
        info = Facts.model_fields.get(name)
        if info is None:
            close = difflib.get_close_matches(name, list(Facts.model_fields), n=1)
            problems.append(Problem(field, "is not a fact the answers file knows",
                                    f"did you mean '{close[0]}'?" if close else "see `ftplan init` for the facts"))
            continue
        if name in out:
            problems.append(Problem(field, "appears twice", "keep one of the two"))
            continue
        raw = html.unescape(value.strip(_SPACE))
        placeholder = _PLACEHOLDER.fullmatch(raw)
        if placeholder or not raw:
            what = f"still holds the placeholder {{{{{placeholder.group(1)}}}}}" if placeholder else "is empty"
            problems.append(Problem(field, what, f"give a value or drop the tag: {info.description or name}"))
            continue
        out[name] = [part.strip(_SPACE) for part in raw.split(",") if part.strip(_SPACE)] if "list" in str(
            info.annotation) else raw
    return out


def _describe(name: str) -> str:
    info = Answers.model_fields.get(name)
    return (info.description or name) if info else name


def _between(text: str, start: str, end: str) -> str | None:
    begin = text.find(start)
    if begin < 0:
        return None
    stop = text.find(end, begin + len(start))
    return None if stop < 0 else text[begin + len(start) : stop]


def _tags(body: str, section: str, problems: list[Problem]) -> list[tuple[str, str]]:
    """Top-level `<name>value</name>` fields in order; text between them is ignored."""
    found: list[tuple[str, str]] = []
    pos = 0
    while (match := _OPEN_TAG.search(body, pos)) is not None:
        name = match.group(1)
        close = body.find(f"</{name}>", match.end())
        if close < 0:
            problems.append(
                Problem(name, f"<{name}> in <{section}> is not closed", f"add </{name}> after the value")
            )
            break
        found.append((name, body[match.end() : close]))
        pos = close + len(name) + 3
    return found


def _parse_pairs(value: str, problems: list[Problem]) -> list[dict[str, str]]:
    """Pairs as `<pair><input>..</input><output>..</output></pair>` blocks, or as `input -> output` lines."""
    pairs: list[dict[str, str]] = []
    if "<pair>" in value:
        for index, block in enumerate(_tags(value, "example_pairs", problems)):
            name, inner = block
            if name != "pair":
                problems.append(
                    Problem(f"example_pairs[{index}]", f"unexpected <{name}>", "use <pair> blocks")
                )
                continue
            parts = {k: _between(inner, f"<{k}>", f"</{k}>") for k in ("input", "output")}
            missing = [k for k, v in parts.items() if v is None]
            if missing:
                problems.append(
                    Problem(
                        f"example_pairs[{index}]",
                        f"<pair> has no <{missing[0]}>",
                        "write <pair><input>...</input><output>...</output></pair>",
                    )
                )
                continue
            pairs.append({k: html.unescape((v or "").strip(_SPACE)) for k, v in parts.items()})
        return pairs
    for line in value.splitlines():
        if not line.strip():
            continue
        if "->" not in line:
            problems.append(
                Problem(
                    f"example_pairs[{len(pairs)}]",
                    f"line {line.strip()[:60]!r} has no '->'",
                    "write one pair per line as: input -> output",
                )
            )
            continue
        left, right = _BULLET.sub("", line).split("->", 1)
        pairs.append(
            {"input": html.unescape(left.strip(_SPACE)), "output": html.unescape(right.strip(_SPACE))}
        )
    return pairs
