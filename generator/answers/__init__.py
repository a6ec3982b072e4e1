"""The answers file: what a person tells ftplan about a use case, validated, adjusted and completed.

- `schema`: the pydantic models (`Answers`, `Facts`, `ExamplePair`) and the planner's `EffectiveFacts`
- `loaders`: YAML, JSON and filled seed templates -> `LoadedAnswers`; `dump_answers`
- `seed`: the seed template (`ftplan prompt`) filled and read back
- `rules`: cross-field rules in three tiers (error, warning, adjustment)
- `inference`: facts nobody gave, inferred once from the text and the data
- `data`: `--data FILE.jsonl` measurements
- `translate`: pydantic errors -> `field: what — fix` with "did you mean"
- `questions`: `ftplan init`'s questions

The names below are the package's public API; importers need not know which module holds what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator.answers.data import MAX_DATA_PROBLEMS, measure_data
from generator.answers.inference import (
    CHARS_PER_TOKEN,
    DEFAULT_INSTRUCTION_TOKENS,
    DEFAULT_LABELING_COST_USD,
    DEFAULT_LATENCY_P95_MS,
    DEFAULT_MONTHLY_REQUESTS,
    PRIVATE_KEYWORDS,
    DataStats,
    Inferred,
    default_metric,
    estimate_tokens,
    infer_facts,
    infer_task_type,
)
from generator.answers.loaders import (
    MAX_FILE_BYTES,
    MAX_NESTING_DEPTH,
    LoadedAnswers,
    dump_answers,
    load_answers,
    parse_answers,
    parse_text,
)
from generator.answers.rules import ADJUSTMENT_RULES, ERROR_RULES, WARNING_RULES, Adjustment
from generator.answers.schema import (
    HOSTED_PROVIDERS,
    MAX_EXAMPLE_PAIRS,
    MIN_EXAMPLE_PAIRS,
    SLUG_FALLBACK,
    SLUG_MAX_LENGTH,
    Answers,
    EffectiveFacts,
    ExamplePair,
    Facts,
    make_slug,
)

__all__ = [
    "ADJUSTMENT_RULES", "CHARS_PER_TOKEN", "DEFAULT_INSTRUCTION_TOKENS", "DEFAULT_LABELING_COST_USD",
    "DEFAULT_LATENCY_P95_MS", "DEFAULT_MONTHLY_REQUESTS", "ERROR_RULES", "HOSTED_PROVIDERS", "MAX_DATA_PROBLEMS",
    "MAX_EXAMPLE_PAIRS", "MAX_FILE_BYTES", "MAX_NESTING_DEPTH", "MIN_EXAMPLE_PAIRS", "PRIVATE_KEYWORDS",
    "QUESTIONS", "SLUG_FALLBACK", "SLUG_MAX_LENGTH", "WARNING_RULES", "Adjustment", "Answers", "DataStats",
    "EffectiveFacts", "ExamplePair", "Facts", "Inferred", "LoadedAnswers", "Question", "default_metric",
    "dump_answers", "estimate_tokens", "infer_facts", "infer_task_type", "load_answers", "make_slug",
    "measure_data", "parse_answers", "parse_text",
]  # fmt: skip

if TYPE_CHECKING:
    from generator.answers.questions import QUESTIONS, Question


def __getattr__(name: str) -> Any:
    """`ftplan init`'s questions load on first use: `ftplan plan` does not need them (start-up budget)."""
    if name in ("QUESTIONS", "Question"):
        from generator.answers import questions

        return getattr(questions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
