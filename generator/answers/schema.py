"""The answers file's schema: what a person writes (`Answers`, `Facts`, `ExamplePair`) and what the planner
reads once every fact is filled in (`EffectiveFacts`).

Every field's `description` is written once here and reused for CLI help, `ftplan init` prompts, error fixes
and docs. Task types are not listed here: they are `configs/tasks.yaml`'s (`generator.tasks`).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from generator.tasks import load_tasks

Provider = Literal["openai", "anthropic", "open_source", "google"]
Budget = Literal["minimal", "moderate", "unlimited"]
Infrastructure = Literal["cloud_gpu", "api_fine_tune", "local"]
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

SLUG_MAX_LENGTH = 64
SLUG_FALLBACK = "ftplan-project"

# The error type a choice from a table (not a Literal) raises; the translator words it like a Literal's.
UNKNOWN_CHOICE = "unknown_choice"


def _known_task_type(value: str) -> str:
    choices = load_tasks().task_types
    if value in choices:
        return value
    hint = difflib.get_close_matches(value, choices, n=1)
    raise PydanticCustomError(
        UNKNOWN_CHOICE, "must be one of {choices}", {"choices": list(choices), "hint": hint[0] if hint else ""}
    )


TaskTypeName = Annotated[str, AfterValidator(_known_task_type)]


class _Strict(BaseModel):
    # defer_build: the validators are built on first use, and Answers' build covers its nested Facts and
    # ExamplePair, so `ftplan plan` does not also build each on its own at import (start-up budget).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False, defer_build=True)


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

    task_type: TaskTypeName | None = _f(
        f"The kind of task: {', '.join(load_tasks().task_types)}. Inferred from the example pairs when left out.",
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
        "true when answers depend on documents the model has never seen (your wiki, policies, catalog). "
        "Inferred from the text when left out; a value you give is never overridden.",
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
        "The GPU you have (local) or prefer (cloud): a catalog id or a common name (A100-80GB, H100 SXM, "
        "L4, RTX 4090...), or a GPU of your own catalog (--catalog-dir).",
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

    current_model: str | None = _f(
        "The model that runs today (a catalog id such as gpt-4o-mini, gemini-2.5-flash, claude-haiku-4.5): "
        "the ROI baseline; a retiring model is flagged with its date. Inferred from current_approach when "
        "it names one.",
        "gpt-4o-mini",
        default=None,
        min_length=1,
    )
    heldout_available: int | None = _f(
        "Size of an evaluation set you already have and keep frozen: it becomes the held-out set, never "
        "carved from the training data.",
        2000,
        default=None,
        ge=0,
        le=MAX_EXAMPLES,
    )
    validation_available: int | None = _f(
        "Hand-verified (double-annotated, audited) items: used for validation and the held-out set first.",
        500,
        default=None,
        ge=0,
        le=MAX_EXAMPLES,
    )
    p95_input_tokens: int | None = _f(
        "The 95th-percentile input length in tokens: decides the model's context and the training memory.",
        900,
        default=None,
        gt=0,
        le=MAX_TOKENS,
    )
    max_input_tokens: int | None = _f(
        "The longest input in tokens you must handle.", 4000, default=None, gt=0, le=MAX_TOKENS
    )
    monthly_active_users: int | None = _f(
        "Monthly active users of the product the model serves: licence user-count thresholds apply "
        "(Llama 700M, Qwen 100M).",
        2000000,
        default=None,
        ge=0,
        le=MAX_MONTHLY_REQUESTS,
    )
    preference_pairs_available: int | None = _f(
        "Chosen/rejected answer pairs you have: a DPO/ORPO stage after SFT.", 0, default=None, ge=0,
        le=MAX_EXAMPLES,
    )
    ab_min_days: int | None = _f(
        "The shortest A/B test the business accepts, in days.", 14, default=None, ge=1, le=3650
    )
    owned_gpus: bool | None = _f(
        "true when the GPUs are yours (priced at power and amortisation, not rental); default true for "
        "infrastructure: local.",
        True,
        default=None,
    )
    engineering_weeks: float | None = _f(
        "Engineer-weeks the project may take (data, training, evaluation, rollout): prices the engineering.",
        3,
        default=None,
        gt=0,
        le=1000,
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

    def free_text(self) -> dict[str, str]:
        """The prose fields, by name: what keyword inference reads, and what it cites."""
        return {
            "use_case": self.use_case,
            "current_approach": self.current_approach,
            "current_limitations": self.current_limitations,
            "training_data": self.training_data,
            "success_criteria": self.success_criteria,
        }


def make_slug(name: str | None) -> str:
    """Lowercase ASCII letters, digits and single hyphens: no separators, no dots, no leading hyphen."""
    ascii_text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    slug = slug[:SLUG_MAX_LENGTH].strip("-")
    return slug or SLUG_FALLBACK


class EffectiveFacts(BaseModel):
    """Every fact the planner needs, filled in. `None` is meaningful only where documented."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_type: str = Field(description="A task type of configs/tasks.yaml")
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
    current_model: str | None = Field(default=None, description="None: the provider's reference API model")
    heldout_available: int = Field(default=0, description="0: no frozen evaluation set yet")
    validation_available: int = Field(default=0, description="0: no hand-verified items")
    p95_input_tokens: int = Field(default=0, description="0: unknown, the planner assumes p95 ~2x the mean")
    max_input_tokens: int = Field(default=0, description="0: unknown")
    monthly_active_users: int | None = Field(default=None, description="None: unknown (no licence check)")
    preference_pairs_available: int = 0
    ab_min_days: int = Field(default=0, description="0: no minimum given")
    owned_gpus: bool = False
    engineering_weeks: float | None = Field(default=None, description="None: sized from the scope")
    time_ordered: bool = Field(default=False, description="the data is a time series: split by time")
