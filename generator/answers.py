"""The answers file: its schema, its loaders (YAML, JSON, the filled seed template) and what is inferred.

Every field's `description` is written once here and reused for CLI help, `ftplan init` prompts and docs.
Loading reports every problem at once as a `UserError`; nothing from the file is ever evaluated, and
`{{ }}` in a value is plain text.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from generator.errors import Problem, UserError

Provider = Literal["openai", "anthropic", "open_source", "google"]
Budget = Literal["minimal", "moderate", "unlimited"]
Infrastructure = Literal["cloud_gpu", "api_fine_tune", "local"]
TaskType = Literal[
    "classification", "extraction", "summarization", "generation", "chat", "code", "translation", "qa"
]
Freshness = Literal["static", "periodic", "realtime"]
Sensitivity = Literal["public", "internal", "restricted"]

HOSTED_PROVIDERS = ("openai", "anthropic", "google")

# The seed template asks for "3-5 input -> desired output pairs": fewer cannot show a pattern, more belongs
# in the training data, not in the answers file.
MIN_EXAMPLE_PAIRS = 3
MAX_EXAMPLE_PAIRS = 5

# Upper bounds that catch typos (an extra digit, a value in the wrong unit) before they reach the planner.
MAX_EXAMPLES = 10**10
MAX_MONTHLY_REQUESTS = 10**12
MAX_TOKENS = 10**7  # well above any model's context window in configs/catalog
MAX_LATENCY_MS = 10**7
MAX_GPU_COUNT = 1024
MAX_USD_PER_EXAMPLE = 10**4

# Loader guards: an answers file is a few kilobytes; these stop hostile or accidental huge inputs. 1 MB of
# YAML already takes PyYAML's pure-Python loader (needed to refuse aliases) a few seconds.
MAX_FILE_BYTES = 1024 * 1024
MAX_NESTING_DEPTH = 20

SLUG_MAX_LENGTH = 64
SLUG_FALLBACK = "ftplan-project"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


def _f(description: str, example: Any, **constraints: Any) -> Any:
    """A field whose description and example are reused by prompts, help text and error fixes."""
    return Field(description=description, examples=[example], **constraints)


def _text(description: str, example: str) -> Any:
    return Field(..., min_length=1, description=description, examples=[example])


class ExamplePair(_Strict):
    """One input and the output the fine-tuned model should produce for it."""

    input: str = _text("What the model receives.", "My card was charged twice this month")
    output: str = _text("Exactly what the model should answer.", "billing")


class Facts(_Strict):
    """Optional numbers and choices that sharpen the estimates; anything missing is inferred or defaulted."""

    task_type: TaskType | None = _f(
        "The kind of task: classification, extraction, summarization, generation, chat, code, translation "
        "or qa. Inferred from the example pairs when left out.",
        "classification",
        default=None,
    )
    examples_available: int | None = _f(
        "Labelled examples you have or can collect for training.", 40000, default=None, ge=0, le=MAX_EXAMPLES
    )
    monthly_requests: int | None = _f(
        "Requests per month the model will serve in production.",
        1500000,
        default=None,
        ge=0,
        le=MAX_MONTHLY_REQUESTS,
    )
    avg_input_tokens: int | None = _f(
        "Average tokens in one input (measured from example_pairs or --data when left out).",
        350,
        default=None,
        gt=0,
        le=MAX_TOKENS,
    )
    avg_output_tokens: int | None = _f(
        "Average tokens in one desired output (measured from example_pairs or --data when left out).",
        5,
        default=None,
        gt=0,
        le=MAX_TOKENS,
    )
    latency_p95_ms: int | None = _f(
        "The 95th-percentile response time you need, in milliseconds.",
        300,
        default=None,
        gt=0,
        le=MAX_LATENCY_MS,
    )
    knowledge_freshness: Freshness | None = _f(
        "How often the knowledge behind the answers changes: static, periodic (weekly/monthly) or realtime.",
        "static",
        default=None,
    )
    needs_private_knowledge: bool | None = _f(
        "true when answers depend on documents the model has never seen (your wiki, policies, catalog).",
        False,
        default=None,
    )
    data_sensitivity: Sensitivity | None = _f(
        "public, internal, or restricted (restricted: the data may not leave your machines).",
        "internal",
        default=None,
    )
    commercial_use: bool | None = _f(
        "true when the model serves a commercial product (rules out non-commercial model licenses).",
        True,
        default=None,
    )
    languages: list[str] | None = _f(
        "Languages of the inputs and outputs, as ISO 639-1 codes.", ["en"], default=None
    )
    gpu: str | None = _f(
        "The GPU you have (local) or prefer (cloud), as a catalog id: A100-80GB, H100-SXM, L4, RTX-4090...",
        "A100-80GB",
        default=None,
        min_length=1,
    )
    gpu_count: int | None = _f(
        "How many of those GPUs you can use at once.", 1, default=None, ge=1, le=MAX_GPU_COUNT
    )
    baseline_score: float | None = _f(
        "The current approach's score on the success metric, between 0 and 1.", 0.84, default=None, ge=0, le=1
    )
    target_score: float | None = _f(
        "The score fine-tuning must reach to be worth shipping, between 0 and 1.",
        0.92,
        default=None,
        ge=0,
        le=1,
    )
    metric: str | None = _f(
        "The success metric the scores are measured with, e.g. accuracy, macro_f1, rouge_l, exact_match.",
        "macro_f1",
        default=None,
        min_length=1,
    )
    labeling_cost_per_example_usd: float | None = _f(
        "What one more labelled example costs you, in US dollars.",
        0.10,
        default=None,
        ge=0,
        le=MAX_USD_PER_EXAMPLE,
    )
    current_prompt_tokens: int | None = _f(
        "Tokens the current prompting approach sends per request (instructions + few-shot examples + input).",
        2000,
        default=None,
        ge=0,
        le=MAX_TOKENS,
    )

    @field_validator("languages")
    @classmethod
    def _languages_not_blank(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not item.strip() for item in value):
            raise ValueError("a language must not be empty")
        return value


class Answers(_Strict):
    """The answers file: the seed template's nine fields, an optional project name and optional facts."""

    project_name: str | None = _f(
        "A name for the project; a safe folder name (slug) is derived from it.",
        "support-triage",
        default=None,
    )
    provider: Provider = _f(
        "The LLM provider you use or prefer: openai, anthropic, open_source or google.", "open_source"
    )
    budget: Budget = _f("How much you can spend: minimal, moderate or unlimited.", "moderate")
    infrastructure: Infrastructure = _f(
        "Where training would run: cloud_gpu (rented GPUs), api_fine_tune (a provider's tuning API) or "
        "local (your own GPUs).",
        "cloud_gpu",
    )
    use_case: str = _text(
        "What the fine-tuned model should do.", "Route incoming support tickets to one of four queues"
    )
    current_approach: str = _text(
        "How the task is solved today.", "GPT-4o-mini with a 2,000-token prompt and 12 few-shot examples"
    )
    current_limitations: str = _text(
        "Why the current approach is not good enough.", "84% accuracy, $0.002 per ticket, 1.2 s p95 latency"
    )
    training_data: str = _text(
        "What labelled data exists or can be collected.", "40,000 tickets labelled by agents over two years"
    )
    example_pairs: list[ExamplePair] = Field(
        ...,
        description="3-5 representative inputs with the exact output you want for each.",
        examples=[[{"input": "My card was charged twice this month", "output": "billing"}]],
    )
    success_criteria: str = _text(
        "How you will know fine-tuning worked.", "macro-F1 >= 0.92 on a frozen held-out set"
    )
    facts: Facts = Field(
        default_factory=Facts,
        description="Optional numbers that sharpen the estimates; anything missing is inferred.",
        examples=[{"examples_available": 40000, "monthly_requests": 1500000}],
    )

    @property
    def slug(self) -> str:
        """A folder- and package-safe name; never a path, never empty."""
        return make_slug(self.project_name)


def make_slug(name: str | None) -> str:
    """Lowercase ASCII letters, digits and single hyphens: no separators, no dots, no leading hyphen."""
    ascii_text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].strip("-")
    return slug or SLUG_FALLBACK


# ---------------------------------------------------------------------------------------------------------
# Results of loading


@dataclass(frozen=True)
class Adjustment:
    """A value ftplan changed, and why (the plan lists every one)."""

    field: str
    old: Any
    new: Any
    reason: str


@dataclass(frozen=True)
class Inferred:
    """A fact the user did not give: its value and how it was obtained (kind: inferred, measured, default)."""

    field: str
    value: Any
    how: str
    kind: Literal["inferred", "measured", "default"] = "inferred"


@dataclass(frozen=True)
class DataStats:
    """What `measure_data` counted in a JSONL file of training examples."""

    path: str
    count: int
    avg_input_tokens: int
    avg_output_tokens: int
    formats: dict[str, int]
    labels: tuple[str, ...] | None  # the distinct outputs, when they look like a small label set


class EffectiveFacts(BaseModel):
    """Every fact the planner needs, filled in. `None` is meaningful only where documented."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_type: TaskType
    examples_available: int
    monthly_requests: int
    avg_input_tokens: int
    avg_output_tokens: int
    latency_p95_ms: int
    knowledge_freshness: Freshness
    needs_private_knowledge: bool
    data_sensitivity: Sensitivity
    commercial_use: bool
    languages: list[str]
    gpu: str | None = Field(description="None: the planner picks the GPU from the catalog")
    gpu_count: int
    baseline_score: float | None = Field(description="None: unknown, the plan must measure it first")
    target_score: float | None = Field(
        description="None: no target given, the plan sets gates from the baseline"
    )
    metric: str
    labeling_cost_per_example_usd: float
    current_prompt_tokens: int
    labels: list[str] = Field(description="The label set for classification, else empty")


@dataclass(frozen=True)
class LoadedAnswers:
    """Validated answers plus everything ftplan concluded about them; the plan reports all of it."""

    answers: Answers
    warnings: list[Problem]
    adjustments: list[Adjustment]
    inferred: list[Inferred]
    source: str
    data: DataStats | None = None

    def effective_facts(self) -> EffectiveFacts:
        return infer_facts(self.answers, self.data)[0]

    def with_data(self, stats: DataStats) -> LoadedAnswers:
        """The same answers with measured figures from `--data` (they replace estimates, not given facts)."""
        return LoadedAnswers(
            answers=self.answers,
            warnings=self.warnings,
            adjustments=self.adjustments,
            inferred=infer_facts(self.answers, stats)[1],
            source=self.source,
            data=stats,
        )


# ---------------------------------------------------------------------------------------------------------
# Rules in three tiers. Each takes validated answers; adjustments run first so the others see clean values.

ErrorRule = Callable[[Answers], "Problem | None"]
AdjustRule = Callable[[Answers], "tuple[Answers, list[Adjustment]]"]


def check_enough_example_pairs(a: Answers) -> Problem | None:
    if len(a.example_pairs) >= MIN_EXAMPLE_PAIRS:
        return None
    return Problem(
        "example_pairs",
        f"needs at least {MIN_EXAMPLE_PAIRS} pairs, got {len(a.example_pairs)}",
        "add representative `- {input: ..., output: ...}` pairs (3-5) so the task's pattern is visible",
    )


def check_target_above_baseline(a: Answers) -> Problem | None:
    base, target = a.facts.baseline_score, a.facts.target_score
    if base is None or target is None or target > base:
        return None
    return Problem(
        "facts.target_score",
        f"must be above facts.baseline_score ({base}), got {target}",
        "set the score fine-tuning must reach, higher than what you have today, e.g. "
        f"{min(1.0, round(base + 0.05, 2))}",
    )


def check_open_source_not_api(a: Answers) -> Problem | None:
    if not (a.provider == "open_source" and a.infrastructure == "api_fine_tune"):
        return None
    return Problem(
        "infrastructure",
        "api_fine_tune needs a hosted provider, but provider is open_source",
        "use infrastructure: cloud_gpu or local for open-weights models, or pick provider: openai | google",
    )


def check_local_has_gpu(a: Answers) -> Problem | None:
    if a.infrastructure != "local" or a.facts.gpu:
        return None
    return Problem(
        "facts.gpu",
        "is required when infrastructure is local (the plan must fit your GPU's memory)",
        "add `gpu: RTX-4090` (your card) under facts:, or use infrastructure: cloud_gpu",
    )


def check_restricted_data_not_uploaded(a: Answers) -> Problem | None:
    if not (a.facts.data_sensitivity == "restricted" and a.infrastructure == "api_fine_tune"):
        return None
    return Problem(
        "infrastructure",
        "api_fine_tune uploads the training data to the provider, but facts.data_sensitivity is restricted",
        "use infrastructure: local or cloud_gpu (your own account), or relax facts.data_sensitivity",
    )


_ISO_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def check_language_codes(a: Answers) -> Problem | None:
    bad = [lang for lang in a.facts.languages or [] if not _ISO_CODE.match(lang)]
    if not bad:
        return None
    return Problem(
        "facts.languages",
        f"not ISO 639-1 language codes: {', '.join(repr(b) for b in bad)}",
        "write codes such as [en, de, pt-br]",
    )


def check_examples_cover_pairs(a: Answers) -> Problem | None:
    have = a.facts.examples_available
    if have is None or have == 0 or have >= len(a.example_pairs):
        return None
    return Problem(
        "facts.examples_available",
        f"is {have}, fewer than the {len(a.example_pairs)} example pairs you gave",
        "give the number of labelled examples you have in total, e.g. 40000",
    )


# Why 500: OpenAI's guidance sees a first effect at 50-100 examples, but a held-out set of a few hundred is
# needed to prove a gain (see the evaluation plan), and below that prompting or few-shot is usually as good.
FEW_EXAMPLES_WARNING = 500


def warn_many_example_pairs(a: Answers) -> Problem | None:
    if len(a.example_pairs) <= MAX_EXAMPLE_PAIRS:
        return None
    return Problem(
        "example_pairs",
        f"has {len(a.example_pairs)} pairs; {MIN_EXAMPLE_PAIRS}-{MAX_EXAMPLE_PAIRS} are expected",
        "keep the 3-5 most representative; put the rest in your training data (--data FILE.jsonl)",
    )


def warn_restricted_data_hosted_provider(a: Answers) -> Problem | None:
    if not (
        a.facts.data_sensitivity == "restricted"
        and a.provider in HOSTED_PROVIDERS
        and a.infrastructure != "api_fine_tune"
    ):
        return None
    return Problem(
        "provider",
        f"{a.provider} serves from its own cloud, but facts.data_sensitivity is restricted",
        "the plan keeps training on your machines; check that serving through the provider is allowed",
    )


def warn_few_examples(a: Answers) -> Problem | None:
    have = a.facts.examples_available
    if have is None or have >= FEW_EXAMPLES_WARNING:
        return None
    return Problem(
        "facts.examples_available",
        f"{have} labelled examples is few for fine-tuning (under {FEW_EXAMPLES_WARNING})",
        "expect the plan to favour prompting or few-shot; collect more examples to make tuning pay off",
    )


def warn_hosted_provider_local(a: Answers) -> Problem | None:
    if not (a.provider in HOSTED_PROVIDERS and a.infrastructure == "local"):
        return None
    return Problem(
        "provider",
        f"{a.provider}'s models cannot be trained on your own GPUs",
        "the plan uses an open-weights model on your GPU; set provider: open_source to make that explicit",
    )


def warn_duplicate_example_pairs(a: Answers) -> Problem | None:
    counts = Counter(p.input for p in a.example_pairs)
    dupes = sorted(text for text, n in counts.items() if n > 1)
    if not dupes:
        return None
    return Problem(
        "example_pairs",
        f"repeats the input {dupes[0]!r}",
        "give distinct inputs so the pairs show the range of the task",
    )


def warn_perfect_target(a: Answers) -> Problem | None:
    if a.facts.target_score != 1.0:
        return None
    return Problem(
        "facts.target_score",
        "1.0 is a perfect score; label noise alone usually makes it unreachable",
        "set the score that would be worth shipping, e.g. 0.95",
    )


def adjust_gpu_for_api_fine_tune(a: Answers) -> tuple[Answers, list[Adjustment]]:
    if a.infrastructure != "api_fine_tune" or (a.facts.gpu is None and a.facts.gpu_count is None):
        return a, []
    reason = "infrastructure is api_fine_tune: the provider chooses the hardware"
    changes = [
        Adjustment(f"facts.{name}", getattr(a.facts, name), None, reason)
        for name in ("gpu", "gpu_count")
        if getattr(a.facts, name) is not None
    ]
    facts = a.facts.model_copy(update={"gpu": None, "gpu_count": None})
    return a.model_copy(update={"facts": facts}), changes


_LANGUAGE_NAMES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "francais": "fr", "spanish": "es",
    "espanol": "es", "portuguese": "pt", "italian": "it", "dutch": "nl", "polish": "pl", "russian": "ru",
    "ukrainian": "uk", "turkish": "tr", "arabic": "ar", "hebrew": "he", "hindi": "hi", "bengali": "bn",
    "chinese": "zh", "mandarin": "zh", "japanese": "ja", "korean": "ko", "vietnamese": "vi", "thai": "th",
    "indonesian": "id", "swedish": "sv", "norwegian": "no", "danish": "da", "finnish": "fi", "czech": "cs",
    "greek": "el", "romanian": "ro", "hungarian": "hu",
}  # fmt: skip


def _language_code(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    lowered = plain.strip().lower().replace("_", "-")
    return _LANGUAGE_NAMES.get(lowered, lowered)


def adjust_languages(a: Answers) -> tuple[Answers, list[Adjustment]]:
    langs = a.facts.languages
    if langs is None:
        return a, []
    normalized: list[str] = []
    for lang in langs:
        code = _language_code(lang)
        if code not in normalized:
            normalized.append(code)
    if normalized == langs:
        return a, []
    change = Adjustment(
        "facts.languages", langs, normalized, "languages are lowercase ISO 639-1 codes, once each"
    )
    return a.model_copy(update={"facts": a.facts.model_copy(update={"languages": normalized})}), [change]


# Catalog GPU ids (configs/catalog) and the spellings people use for them.
GPU_IDS = ("A100-80GB", "A100-40GB", "H100-SXM", "H100-PCIe", "H200", "L4", "L40S", "A10G", "T4", "RTX-4090",
           "RTX-3090")  # fmt: skip
_GPU_ALIASES = {
    "a100": "A100-80GB", "a10080": "A100-80GB", "a10080gb": "A100-80GB", "a100sxm80gb": "A100-80GB",
    "a100sxm": "A100-80GB", "a10040": "A100-40GB", "a10040gb": "A100-40GB", "h100": "H100-SXM",
    "h100sxm": "H100-SXM", "h100sxm5": "H100-SXM", "h10080gb": "H100-SXM", "h100pcie": "H100-PCIe",
    "h200": "H200", "h200sxm": "H200", "l4": "L4", "l40s": "L40S", "a10g": "A10G", "a10": "A10G", "t4": "T4",
    "4090": "RTX-4090", "rtx4090": "RTX-4090", "geforcertx4090": "RTX-4090", "3090": "RTX-3090",
    "rtx3090": "RTX-3090", "geforcertx3090": "RTX-3090",
}  # fmt: skip


def normalize_gpu(name: str) -> str:
    """Map a GPU spelling to its catalog id; unknown names come back unchanged for the catalog to judge."""
    key = re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("nvidia")
    return _GPU_ALIASES.get(key, name)


def adjust_gpu_name(a: Answers) -> tuple[Answers, list[Adjustment]]:
    gpu = a.facts.gpu
    if gpu is None or normalize_gpu(gpu) == gpu:
        return a, []
    new = normalize_gpu(gpu)
    change = Adjustment("facts.gpu", gpu, new, f"the catalog names this GPU {new}")
    return a.model_copy(update={"facts": a.facts.model_copy(update={"gpu": new})}), [change]


def adjust_metric_name(a: Answers) -> tuple[Answers, list[Adjustment]]:
    metric = a.facts.metric
    if metric is None:
        return a, []
    new = re.sub(r"[^a-z0-9@]+", "_", metric.lower()).strip("_") or metric
    if new == metric:
        return a, []
    change = Adjustment("facts.metric", metric, new, "metric names are lowercase with underscores")
    return a.model_copy(update={"facts": a.facts.model_copy(update={"metric": new})}), [change]


ADJUSTMENT_RULES: tuple[AdjustRule, ...] = (
    adjust_gpu_for_api_fine_tune, adjust_languages, adjust_gpu_name, adjust_metric_name,
)  # fmt: skip
ERROR_RULES: tuple[ErrorRule, ...] = (
    check_enough_example_pairs, check_target_above_baseline, check_open_source_not_api, check_local_has_gpu,
    check_restricted_data_not_uploaded, check_language_codes, check_examples_cover_pairs,
)  # fmt: skip
WARNING_RULES: tuple[ErrorRule, ...] = (
    warn_many_example_pairs, warn_restricted_data_hosted_provider, warn_few_examples,
    warn_hosted_provider_local, warn_duplicate_example_pairs, warn_perfect_target,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Turning raw data into LoadedAnswers


def parse_answers(data: Any, source: str) -> LoadedAnswers:
    """Validate already-parsed data (a dict from YAML, JSON or the seed template); all problems at once."""
    return _validate(data, source, [])


def _validate(data: Any, source: str, earlier: list[Problem]) -> LoadedAnswers:
    problems = list(earlier)
    if not isinstance(data, dict):
        problems.append(
            Problem(
                "(top level)",
                f"must be a mapping of keys to values, got {_kind(data)}",
                "start from configs/examples/support_triage.yaml or run `ftplan init`",
            )
        )
        raise UserError(problems)
    structural = _check_keys(data, "")
    if structural:
        raise UserError(problems + structural)
    try:
        answers = Answers.model_validate(data)
    except ValidationError as exc:
        found = _translate(exc.errors(include_url=False))
        # A misspelled key already says "did you mean 'budget'?": don't also call budget missing.
        suggested = {_suggested_key(p) for p in found} - {None}
        reported = {p.field for p in problems}
        problems += [
            p
            for p in found
            if p.field not in reported and not (p.message == _MISSING and p.field in suggested)
        ]
        raise UserError(problems) from None
    except (RecursionError, ValueError, TypeError) as exc:  # pathological values pydantic cannot even inspect
        raise UserError(problems + [Problem("(top level)", f"cannot be validated: {exc}", "")]) from None
    if problems:
        raise UserError(problems)

    adjustments: list[Adjustment] = []
    for adjust in ADJUSTMENT_RULES:
        answers, changes = adjust(answers)
        adjustments += changes
    errors = [p for rule in ERROR_RULES if (p := rule(answers)) is not None]
    if errors:
        raise UserError(errors)
    warnings = [p for rule in WARNING_RULES if (p := rule(answers)) is not None]
    return LoadedAnswers(answers, warnings, adjustments, infer_facts(answers, None)[1], source)


def _check_keys(data: Any, path: str, depth: int = 0) -> list[Problem]:
    """Keys must be text and nesting shallow; pydantic would otherwise report these confusingly."""
    here = path or "(top level)"
    if depth > MAX_NESTING_DEPTH:
        return [Problem(here, f"is nested more than {MAX_NESTING_DEPTH} levels deep", "flatten the value")]
    problems: list[Problem] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        here,
                        f"key {key!r} is {_kind(key)}, not text",
                        "write keys as plain names such as use_case",
                    )
                )
                continue
            problems += _check_keys(value, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            problems += _check_keys(item, f"{here}[{index}]", depth + 1)
    return problems


_KIND_NAMES = {str: "text", int: "a number", float: "a number", bool: "true/false", list: "a list",
               dict: "a mapping", type(None): "empty"}  # fmt: skip
_EXPECTED = {
    "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
    "model_type": "a mapping of keys to values", "dict_type": "a mapping of keys to values",
    "finite_number": "a finite number", "model_attributes_type": "a mapping of keys to values",
}  # fmt: skip
_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}


def _kind(value: Any) -> str:
    return _KIND_NAMES.get(type(value), type(value).__name__)


def _loc_path(loc: tuple[Any, ...]) -> str:
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
        return f"write each item of {_loc_path(loc[:-1])} as text"
    found = _field_info(loc)
    if found is None:
        return ""
    description, example = found
    return f"{description} e.g. `{loc[-1]}: {_example_text(example)}`"


def _translate(errors: list[Any]) -> list[Problem]:
    problems: list[Problem] = []
    for err in errors:
        loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
        path = _loc_path(loc)
        if kind == "missing":
            problems.append(Problem(path, _MISSING, f"add it: {_fix_for(loc)}"))
        elif kind == "extra_forbidden":
            problems.append(_unknown_key(loc))
        elif kind == "literal_error":
            allowed = err.get("ctx", {}).get("expected", "")
            choices = re.findall(r"'([^']*)'", str(allowed))
            hint = difflib.get_close_matches(str(value), choices, n=1)
            fix = f"did you mean '{hint[0]}'?" if hint else f"use one of: {' | '.join(choices)}"
            problems.append(Problem(path, f"must be one of {' | '.join(choices)}, got {value!r}", fix))
        elif kind in _BOUNDS:
            bound = next(iter(err.get("ctx", {}).values()), "")
            problems.append(Problem(path, f"must be {_BOUNDS[kind]} {bound}, got {value!r}", _fix_for(loc)))
        elif kind in ("string_too_short", "too_short"):
            problems.append(Problem(path, "must not be empty", _fix_for(loc)))
        elif kind in _EXPECTED:
            got = f"{value!r} ({_kind(value)})" if not isinstance(value, dict | list) else _kind(value)
            fix = _fix_for(loc)
            if isinstance(value, bool) and kind == "string_type":
                fix = "YAML reads yes/no/on/off/true/false as true/false: put the value in quotes"
            problems.append(Problem(path, f"must be {_EXPECTED[kind]}, got {got}", fix))
        else:
            problems.append(Problem(path, str(err.get("msg", "is not valid")), _fix_for(loc)))
    return problems


_MISSING = "is required but missing"
_DID_YOU_MEAN = re.compile(r"did you mean '([^']+)'\?")


def _suggested_key(problem: Problem) -> str | None:
    """The full path of the key a 'did you mean' problem suggests, so its 'missing' twin can be dropped."""
    match = _DID_YOU_MEAN.search(problem.fix)
    if match is None or "not a known key" not in problem.message:
        return None
    parent = problem.field.rpartition(".")[0]
    return f"{parent}.{match.group(1)}" if parent else match.group(1)


def _unknown_key(loc: tuple[Any, ...]) -> Problem:
    path, name = _loc_path(loc), str(loc[-1])
    model = _model_at(loc)
    if model is Answers and name in Facts.model_fields:
        return Problem(path, f"key '{name}' belongs under facts:", f"move it: `facts: {{{name}: ...}}`")
    if model is Facts and name in Answers.model_fields:
        return Problem(path, f"key '{name}' is a top-level key, not a fact", "move it out of facts:")
    valid = list(model.model_fields) if model else []
    hint = difflib.get_close_matches(name.lower(), valid, n=1, cutoff=0.6)
    fix = f"did you mean '{hint[0]}'?" if hint else f"valid keys here: {', '.join(valid)}"
    return Problem(path, f"key '{name}' is not a known key", fix)


# ---------------------------------------------------------------------------------------------------------
# Files


class _RefusedYaml(yaml.YAMLError):
    def __init__(self, message: str, mark: Any):
        super().__init__(message)
        self.message, self.mark = message, mark


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases/anchors (no billion-laughs), with a depth cap and no duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _RefusedYaml("anchors (&name) and aliases (*name) are not allowed", event.start_mark)
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise _RefusedYaml(f"nested more than {MAX_NESTING_DEPTH} levels deep", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise _RefusedYaml("a key must be text, not a list or mapping", key_node.start_mark) from None
            if duplicate:
                raise _RefusedYaml(f"key {key!r} appears twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _read_text(path: Path) -> str:
    """The file's text, or a UserError for every way a file can fail to be a readable text file."""
    name = str(path)
    try:
        if not path.exists():
            raise UserError(
                Problem(name, "file not found", "check the path, or run `ftplan init` to create one")
            )
        if path.is_dir():
            raise UserError(Problem(name, "is a directory, not a file", "give the answers file inside it"))
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(
            Problem(name, f"cannot be read: {exc.strerror or exc}", "check its permissions")
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(
            Problem(
                name,
                f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB",
                "an answers file is a few kilobytes; give the answers file, not the data",
            )
        )
    return _decode(raw, name)


def _decode(raw: bytes, name: str) -> str:
    not_text = Problem(name, "is not a text file (binary content or not UTF-8)", "save it as UTF-8 text")
    if b"\x00" in raw:
        raise UserError(not_text)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(not_text) from None
    if not text.strip():
        raise UserError(
            Problem(
                name,
                "is empty",
                "fill it in, or start from configs/examples/support_triage.yaml (`ftplan init`)",
            )
        )
    return text


_SEED_TAGS = ("<personalization>", "<context>")
_SEED_SUFFIXES = (".md", ".txt", ".xml")
_YAML_SUFFIXES = (".yaml", ".yml")


def load_answers(path: Path) -> LoadedAnswers:
    """Read YAML, JSON or a filled seed template and validate it. Raises UserError listing every problem."""
    text = _read_text(path)
    return parse_text(text, str(path), suffix=path.suffix.lower())


def parse_text(text: str, source: str, suffix: str = "") -> LoadedAnswers:
    """Parse answers from text; the format comes from the suffix, else from the content."""
    from generator import seed  # seed imports this module's field names

    if suffix == ".json":
        return parse_answers(_load_json(text, source), source)
    if suffix in _YAML_SUFFIXES:  # a YAML value may mention <context> without being a template
        return parse_answers(_load_yaml(text, source), source)
    if suffix in _SEED_SUFFIXES or any(tag in text for tag in _SEED_TAGS):
        data, problems = seed.parse_with_problems(text)
        return _validate(data, source, problems)
    return parse_answers(_load_yaml(text, source), source)


def _load_yaml(text: str, source: str) -> Any:
    if "\x00" in text:
        raise UserError(Problem(source, "is not a text file (binary content)", "save it as UTF-8 text"))
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _RefusedYaml as exc:
        fix = "write each value out in full (answers files need no YAML references)"
        raise UserError(Problem(f"{source}:{_where(exc.mark)}", f"refused: {exc.message}", fix)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (started at {_where(exc.context_mark)})"
        what = "; ".join(filter(None, [context, exc.problem]))
        raise UserError(
            Problem(
                f"{source}:{_where(mark)}",
                f"is not valid YAML: {what}",
                "fix the line shown: check indentation, colons and quotes",
            )
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise UserError(
            Problem(source, f"is not valid YAML: {exc}", "check indentation, colons and quotes")
        ) from None


def _where(mark: Any) -> str:
    return f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?"


def _load_json(text: str, source: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"key {key!r} appears twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise UserError(
            Problem(
                f"{source}:{exc.lineno}:{exc.colno}",
                f"is not valid JSON: {exc.msg}",
                "fix the spot shown: check commas, quotes and brackets",
            )
        ) from None
    except (ValueError, RecursionError) as exc:
        raise UserError(Problem(source, f"is not valid JSON: {exc}", "fix the JSON")) from None


class _Dumper(yaml.SafeDumper):
    """Double-quotes text holding line breaks that YAML would otherwise fold (NEL, CR, LS, PS)."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if any(ch in text for ch in "\x85\r\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def dump_answers(answers: Answers) -> str:
    """YAML in the schema's key order; unset facts are left out so the file stays short."""
    data = answers.model_dump(mode="json", exclude_none=True)
    if not data.get("facts"):
        data.pop("facts", None)
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


# ---------------------------------------------------------------------------------------------------------
# Inference of missing facts: a pure function of (answers, data stats)

# OpenAI, "What are tokens and how to count them" (help.openai.com): 1 token ~ 4 characters of English text.
CHARS_PER_TOKEN = 4
# Outputs this short (in words) with no sentence punctuation read as labels.
LABEL_MAX_WORDS = 3
# Summaries: outputs under half the input length (in characters) that are still prose.
SUMMARY_MAX_RATIO = 0.5
MAX_LABELS = 50  # more distinct outputs than this is not a label set the plan can report

# Defaults for facts nobody gave, each with the reason the plan prints.
DEFAULT_MONTHLY_REQUESTS = 100_000
DEFAULT_LATENCY_P95_MS = 2000
# A human label at ~$15/hour taking ~25 s is $0.10 (US crowd-work wage levels; override with your own rate).
DEFAULT_LABELING_COST_USD = 0.10
# Instructions in a typical production prompt before the few-shot examples and the input.
DEFAULT_INSTRUCTION_TOKENS = 300
DEFAULT_METRICS: dict[str, str] = {
    "classification": "macro_f1", "extraction": "field_f1", "summarization": "rouge_l",
    "generation": "win_rate", "chat": "win_rate", "code": "pass_at_1", "translation": "chrf",
    "qa": "exact_match",
}  # fmt: skip
_USE_CASE_KEYWORDS: tuple[tuple[TaskType, tuple[str, ...]], ...] = (
    ("translation", ("translat",)),
    ("summarization", ("summar", "tl;dr", "condense")),
    ("extraction", ("extract", "parse", "pull out", "fill in the fields")),
    ("classification", ("classif", "categor", "route", "triage", "label", "tag ", "detect", "sentiment")),
    ("code", ("code", "sql", "python", "function", "program")),
    ("qa", ("answer question", "question answering", "faq", "q&a")),
    ("chat", ("chat", "conversation", "assistant", "dialog")),
)
_FRESHNESS_KEYWORDS: tuple[tuple[Freshness, tuple[str, ...]], ...] = (
    ("realtime", ("real-time", "realtime", "live ", "stock price", "current price", "inventory")),
    ("periodic", ("weekly", "monthly", "latest", "updated", "changes often", "new products", "news")),
)
_PRIVATE_KEYWORDS = ("knowledge base", "documentation", "internal doc", "our docs", "wiki", "policies",
                     "policy documents", "product catalog", "manuals")  # fmt: skip
# Numbers and the noun after them are matched in two linear steps (no nested quantifiers: user text can be
# megabytes long and must not make a regex backtrack).
_NUMBER = re.compile(r"\d[\d,._]*")
_EXAMPLE_NOUN = re.compile(
    r"\s?([km])?\+?\s+(?:(?:labell?ed|annotated|historical|past|resolved)\s+)*"
    r"(examples?|tickets?|rows?|pairs?|records?|samples?|documents?|emails?|conversations?|messages?|items?)\b",
    re.IGNORECASE,
)
_CODE_SNIPPETS = ("```", "#include", "=>", "};")
_CODE_DEFINITION = re.compile(r"\b(?:def|function|fn|func|class)\s+\w+\s?[(:{]")


def _looks_like_code(text: str) -> bool:
    low = text.lower()
    if any(snippet in text for snippet in _CODE_SNIPPETS) or _CODE_DEFINITION.search(text):
        return True
    if re.search(r"\bselect\b", low) and re.search(r"\bfrom\b", low):
        return True
    return bool(re.search(r"\breturn\b", text)) and ";" in text


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict | list)
    except (ValueError, RecursionError):
        return False


def _looks_like_label(text: str) -> bool:
    return (
        len(text.split()) <= LABEL_MAX_WORDS and not re.search(r"[.!?]\s|[.!?]$", text) and "\n" not in text
    )


def infer_task_type(answers: Answers) -> tuple[TaskType, str]:
    """The task type and how it was decided: output shape first (hard evidence), then the use-case words."""
    outputs = [p.output for p in answers.example_pairs]
    inputs = [p.input for p in answers.example_pairs]
    use_case = f" {answers.use_case.lower()} "
    if outputs and all(_is_json_object(o) for o in outputs):
        return "extraction", "every example output is a JSON object"
    if outputs and all(_looks_like_code(o) for o in outputs):
        return "code", "every example output looks like code"
    if (
        outputs
        and all(_looks_like_label(o) for o in outputs)
        and not any(w in use_case for w in ("translat",))
    ):
        distinct = len(set(outputs))
        return (
            "classification",
            f"every example output is a short label ({distinct} distinct of {len(outputs)})",
        )
    for task, words in _USE_CASE_KEYWORDS:
        hit = next((w for w in words if w in use_case), None)
        if hit:
            return task, f"use_case mentions '{hit.strip()}'"
    in_chars, out_chars = sum(map(len, inputs)), sum(map(len, outputs))
    if in_chars and out_chars < SUMMARY_MAX_RATIO * in_chars:
        return "summarization", f"outputs are {out_chars / in_chars:.0%} of the inputs' length, in prose"
    return "generation", "no sign of labels, JSON, code or summaries in the example pairs"


def _examples_from_text(text: str) -> tuple[int, str] | None:
    """The largest "N examples/tickets/rows" count mentioned in the training_data description."""
    best: tuple[int, str] | None = None
    for number in _NUMBER.finditer(text):
        noun = _EXAMPLE_NOUN.match(text, number.end())
        if noun is None:
            continue
        scale = {"k": 1000, "m": 1_000_000}.get((noun.group(1) or "").lower(), 1)
        raw = number.group(0).rstrip(",._")
        # "12.5k" is a decimal; in "40,000" or "40.000" the separators group thousands.
        digits = raw.replace(",", "").replace("_", "") if scale > 1 else re.sub(r"\D", "", raw)
        try:
            value = int(float(digits) * scale)
        except ValueError:
            continue
        if value <= MAX_EXAMPLES and (best is None or value > best[0]):
            best = (value, text[number.start() : noun.end()].strip())
    return best


def infer_facts(answers: Answers, stats: DataStats | None) -> tuple[EffectiveFacts, list[Inferred]]:
    """Fill every missing fact: given > measured (--data) > inferred from the answers > documented default."""
    given = answers.facts
    notes: list[Inferred] = []
    values: dict[str, Any] = {}

    def put(name: str, value: Any, how: str, kind: Literal["inferred", "measured", "default"]) -> None:
        current = getattr(given, name, None)
        if current is not None:
            values[name] = current
            return
        values[name] = value
        notes.append(Inferred(f"facts.{name}", value, how, kind))

    pairs = answers.example_pairs
    task, how = infer_task_type(answers)
    put("task_type", task, how, "inferred")

    if stats is not None and stats.count:
        put("examples_available", stats.count, f"counted {stats.count} rows in {stats.path}", "measured")
        put(
            "avg_input_tokens",
            stats.avg_input_tokens,
            f"measured in {stats.path}, 1 token ~ {CHARS_PER_TOKEN} characters",
            "measured",
        )
        put(
            "avg_output_tokens",
            stats.avg_output_tokens,
            f"measured in {stats.path}, 1 token ~ {CHARS_PER_TOKEN} characters",
            "measured",
        )
    else:
        from_text = _examples_from_text(answers.training_data)
        if from_text:
            put("examples_available", from_text[0], f"training_data says '{from_text[1]}'", "inferred")
        else:
            put(
                "examples_available",
                len(pairs),
                "only the example pairs are known: set facts.examples_available "
                "to the labelled examples you have",
                "default",
            )
        if pairs:
            avg_in = round(sum(estimate_tokens(p.input) for p in pairs) / len(pairs))
            avg_out = round(sum(estimate_tokens(p.output) for p in pairs) / len(pairs))
        else:
            avg_in = avg_out = 1
        approx = f"averaged over the {len(pairs)} example pairs at 1 token ~ {CHARS_PER_TOKEN} characters"
        put("avg_input_tokens", max(1, avg_in), approx, "inferred")
        put("avg_output_tokens", max(1, avg_out), approx, "inferred")

    put(
        "monthly_requests",
        DEFAULT_MONTHLY_REQUESTS,
        "unknown: assumed a mid-sized production workload; set facts.monthly_requests",
        "default",
    )
    put(
        "latency_p95_ms",
        DEFAULT_LATENCY_P95_MS,
        f"unknown: assumed an interactive request, {DEFAULT_LATENCY_P95_MS} ms p95; set facts.latency_p95_ms",
        "default",
    )

    text = f" {answers.use_case} {answers.current_limitations} {answers.training_data} ".lower()
    fresh = next(((f, w) for f, words in _FRESHNESS_KEYWORDS for w in words if w in text), None)
    if fresh:
        put("knowledge_freshness", fresh[0], f"the answers mention '{fresh[1].strip()}'", "inferred")
    else:
        put("knowledge_freshness", "static", "nothing suggests the knowledge changes", "default")
    private = next((w for w in _PRIVATE_KEYWORDS if w in text), None)
    if private:
        put("needs_private_knowledge", True, f"the answers mention '{private}'", "inferred")
    else:
        put("needs_private_knowledge", False, "no private documents mentioned", "default")
    put(
        "data_sensitivity",
        "internal",
        "unknown: assumed business data that may go to your own cloud account",
        "default",
    )
    put(
        "commercial_use",
        True,
        "unknown: assumed commercial, so non-commercial model licenses are excluded",
        "default",
    )
    put("languages", ["en"], "unknown: assumed English; set facts.languages", "default")
    values["gpu"] = given.gpu
    put("gpu_count", 1, "unknown: one GPU", "default")
    values["baseline_score"] = given.baseline_score
    values["target_score"] = given.target_score
    put(
        "metric",
        DEFAULT_METRICS[values["task_type"]],
        f"the usual metric for {values['task_type']}",
        "default",
    )
    put(
        "labeling_cost_per_example_usd",
        DEFAULT_LABELING_COST_USD,
        "unknown: ~25 s of a $15/hour annotator per example",
        "default",
    )
    n_shots = len(pairs)
    prompt = DEFAULT_INSTRUCTION_TOKENS + n_shots * (values["avg_input_tokens"] + values["avg_output_tokens"])
    prompt += values["avg_input_tokens"]
    put(
        "current_prompt_tokens",
        prompt,
        f"assumed ~{DEFAULT_INSTRUCTION_TOKENS} tokens of instructions + your "
        f"{n_shots} example pairs as few-shot + the input",
        "inferred",
    )

    labels: list[str] = []
    if values["task_type"] == "classification":
        if stats is not None and stats.labels:
            labels = list(stats.labels)
        else:
            labels = list(dict.fromkeys(p.output for p in pairs if _looks_like_label(p.output)))
    values["labels"] = labels
    return EffectiveFacts(**values), notes


# ---------------------------------------------------------------------------------------------------------
# --data FILE.jsonl

MAX_DATA_PROBLEMS = 20  # report this many broken lines, then a count, so a bad file is not a wall of text


def _content_text(content: Any) -> str | None:
    """Text of a message content: a string, or a list of {type: text, text: ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        if parts and all(isinstance(p, str) for p in parts):
            return "".join(parts)
    return None


def _messages_io(messages: Any) -> tuple[str, str] | str:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    texts: list[tuple[str, str]] = []
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant", "tool"):
            return "each message needs a role of system, user or assistant"
        text = _content_text(msg.get("content"))
        if text is None:
            return "each message needs a text 'content'"
        texts.append((msg["role"], text))
    if texts[-1][0] != "assistant":
        return "the last message must be the assistant's (the target)"
    return "".join(t for _, t in texts[:-1]), texts[-1][1]


_ROW_FORMATS = (("prompt_completion", "prompt", "completion"), ("input_output", "input", "output"))


def _side_text(value: Any) -> str | None:
    """One side of a prompt/completion row: a string, or a list of messages whose contents are joined."""
    text = _content_text(value)
    if text is None and isinstance(value, list) and all(isinstance(m, dict) for m in value):
        contents = [_content_text(m.get("content")) for m in value]
        text = None if any(c is None for c in contents) else "".join(c or "" for c in contents)
    return text


def _row_io(row: Any) -> tuple[str, str, str] | str:
    """(format, input text, output text) of one JSONL row, or what is wrong with it."""
    if not isinstance(row, dict):
        return "must be a JSON object"
    if "messages" in row:
        got = _messages_io(row["messages"])
        return got if isinstance(got, str) else ("chat", *got)
    for fmt, key_in, key_out in _ROW_FORMATS:
        if key_in in row or key_out in row:
            text_in, text_out = _side_text(row.get(key_in)), _side_text(row.get(key_out))
            if text_in is None:
                return f"'{key_in}' must be text (or a list of messages)"
            if text_out is None:
                return f"'{key_out}' must be text (or a list of messages)"
            return fmt, text_in, text_out
    return "needs 'messages', or 'prompt' and 'completion', or 'input' and 'output'"


def measure_data(path: Path) -> DataStats:
    """Count rows and average token lengths of a JSONL training file, streamed line by line."""
    name = str(path)
    if not path.exists():
        raise UserError(Problem(name, "file not found", "check the path to your JSONL data"))
    if path.is_dir():
        raise UserError(Problem(name, "is a directory, not a file", "give the .jsonl file inside it"))
    problems: list[Problem] = []
    broken = count = in_tokens = out_tokens = 0
    formats: dict[str, int] = {}
    outputs: dict[str, None] = {}
    labels_possible = True
    try:
        for lineno, line in _lines(path):
            if isinstance(line, Problem):
                problems.append(line)
                broken += 1
                continue
            if not line.strip():
                continue
            try:
                got = _row_io(json.loads(line))
            except (ValueError, RecursionError) as exc:
                got = f"is not valid JSON ({exc})"
            if isinstance(got, str):
                broken += 1
                if len(problems) < MAX_DATA_PROBLEMS:
                    problems.append(
                        Problem(f"{name}:{lineno}", got, "see data/FORMAT.md for the accepted rows")
                    )
                continue
            fmt, text_in, text_out = got
            formats[fmt] = formats.get(fmt, 0) + 1
            count += 1
            in_tokens += estimate_tokens(text_in)
            out_tokens += estimate_tokens(text_out)
            if labels_possible:
                if _looks_like_label(text_out.strip()):
                    outputs.setdefault(text_out.strip(), None)
                    labels_possible = len(outputs) <= MAX_LABELS
                else:
                    labels_possible = False
    except OSError as exc:
        raise UserError(
            Problem(name, f"cannot be read: {exc.strerror or exc}", "check its permissions")
        ) from None
    if broken > len(problems):
        problems.append(
            Problem(name, f"and {broken - len(problems)} more broken lines", "fix the lines above first")
        )
    if problems:
        raise UserError(problems)
    if count == 0:
        raise UserError(
            Problem(name, "has no examples", "write one JSON object per line (see data/FORMAT.md)")
        )
    labels = tuple(outputs) if labels_possible and outputs else None
    return DataStats(name, count, round(in_tokens / count), round(out_tokens / count), formats, labels)


def _lines(path: Path) -> Iterator[tuple[int, str | Problem]]:
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                if b"\x00" in raw:
                    raise UnicodeDecodeError("utf-8", raw, 0, 1, "NUL byte")
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield lineno, Problem(f"{path}:{lineno}", "is not UTF-8 text", "save the file as UTF-8")


# ---------------------------------------------------------------------------------------------------------
# `ftplan init`: the questions, in order, with validation as you type


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
    adapter = TypeAdapter(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)
    try:
        return adapter.validate_python(value), []
    except ValidationError as exc:
        prefix: tuple[Any, ...] = ("facts", name) if model is Facts else (name,)
        errors = [{**err, "loc": prefix + tuple(err["loc"])} for err in exc.errors(include_url=False)]
        return None, _translate(errors)


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
