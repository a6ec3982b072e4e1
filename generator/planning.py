"""The schema of `configs/planning.yaml`: one model per section, `extra="forbid"`, strict types, bounded numbers.

Imported only when a planning file is validated (a user's planning.yaml, or bundled content not seen before):
building these classes costs start-up time that a plan from the already-validated bundled file never pays.
Read values through `generator.plan.settings.Settings.value("section.key")`.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from generator.catalog import Strict

T = TypeVar("T")

# Bounds no sensible plan reaches: past them a value is a typo, not a choice.
Source = Annotated[str, Field(min_length=3, description="where the value comes from")]
Date = Annotated[dt.date, Field(strict=False)]  # a YAML date, or a quoted "2026-11-01"
Probability = Annotated[float, Field(gt=0, lt=1)]
Share = Annotated[float, Field(ge=0, le=1)]
OpenShare = Annotated[float, Field(gt=0, le=1)]
Usd = Annotated[float, Field(ge=0, le=1e9)]
Billions = Annotated[float, Field(gt=0, le=1e5)]
Examples = Annotated[int, Field(ge=1, le=10**8)]
Tokens = Annotated[int, Field(ge=0, le=10**8)]
Resamples = Annotated[int, Field(ge=100, le=10**7)]
Days = Annotated[int, Field(ge=0, le=3650)]
LearningRate = Annotated[float, Field(gt=0, lt=1)]
Weeks = Annotated[float, Field(ge=0, le=520)]

# transformers' SchedulerType values (trl sft's --lr_scheduler_type)
Scheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "warmup_stable_decay",
]  # fmt: skip


class Planning(Strict):
    # Strict: `lora_r: "16"` is an error, not a silent conversion (an int where a float is due is fine).
    model_config = ConfigDict(strict=True)


class Sourced(Planning, Generic[T]):
    """A `{value, source}` entry: the number and where it comes from."""

    value: T
    source: Source


class Split(Planning):
    train: Share
    validation: Share
    heldout: Share

    @model_validator(mode="after")
    def _sums_to_one(self) -> Split:
        if abs(self.train + self.validation + self.heldout - 1) > 1e-6:
            raise ValueError("train + validation + heldout must add up to 1")
        return self


class ScriptRates(Planning):
    source: Source
    cjk: Annotated[float, Field(gt=0, le=100)]
    devanagari: Annotated[float, Field(gt=0, le=100)]
    thai: Annotated[float, Field(gt=0, le=100)]


class GeneralDataset(Planning):
    """A Hub dataset (or local folder) of general chat rows in a `messages` column, with its split and licence."""

    value: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w./-]+$")]
    split: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.\[\]:%-]+$")]
    license: Annotated[str, Field(min_length=1, max_length=100)]
    source: Source


class Data(Planning):
    minimum_examples: Sourced[Examples]
    hard_floor_examples: Sourced[Examples]
    split: Split
    heldout_min: Examples
    heldout_max: Examples
    forgetting_mix_fraction: Sourced[Share]
    forgetting_mix_dataset: GeneralDataset
    chars_per_token: Sourced[Annotated[float, Field(gt=0, le=100)]]
    chars_per_token_by_script: ScriptRates
    words_per_page: Sourced[Annotated[int, Field(ge=1, le=10_000)]]
    tokens_per_word: Sourced[Annotated[float, Field(gt=0, le=100)]]
    spoken_words_per_minute: Sourced[Annotated[int, Field(ge=1, le=1000)]]

    @model_validator(mode="after")
    def _ordered(self) -> Data:
        if self.hard_floor_examples.value > self.minimum_examples.value:
            raise ValueError("hard_floor_examples must not exceed minimum_examples")
        if self.heldout_min > self.heldout_max:
            raise ValueError("heldout_min must not exceed heldout_max")
        return self


def _ascending(below: list[int | None]) -> None:
    if below[-1] is not None or None in below[:-1]:
        raise ValueError("every row but the last needs `below: N`; end the rows with `below: null`")
    bounds = [b for b in below if b is not None]
    if bounds != sorted(set(bounds)):
        raise ValueError("`below` must increase from row to row")


class EpochsRow(Planning):
    below: Examples | None
    epochs: Annotated[int, Field(ge=1, le=1000)]


class EpochsTable(Planning):
    source: Source
    rows: list[EpochsRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows_ascend(self) -> EpochsTable:
        _ascending([r.below for r in self.rows])
        return self


class BatchRow(Planning):
    below: Examples | None
    batch: Annotated[int, Field(ge=1, le=1 << 20)]


class BatchTable(Planning):
    source: Source
    rows: list[BatchRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows_ascend(self) -> BatchTable:
        _ascending([r.below for r in self.rows])
        return self


class Hyperparameters(Planning):
    lora_r: Sourced[Annotated[int, Field(ge=1, le=4096)]]
    lora_alpha_over_r: Sourced[Annotated[float, Field(gt=0, le=1000)]]
    lora_dropout: Sourced[Annotated[float, Field(ge=0, lt=1)]]
    lora_lr: Sourced[LearningRate]
    lora_lr_large: Sourced[LearningRate]
    large_model_params_b: Sourced[Billions]
    full_lr: Sourced[LearningRate]
    warmup_ratio: Sourced[Annotated[float, Field(ge=0, lt=1)]]
    scheduler: Sourced[Scheduler]
    weight_decay: Sourced[Share]
    epochs_by_examples: EpochsTable
    effective_batch_by_examples: BatchTable
    seq_len_p95_over_mean: Sourced[Annotated[float, Field(ge=1, le=1000)]]
    seq_len_multiple: Sourced[Annotated[int, Field(ge=1, le=1 << 16)]]
    memory_headroom: Sourced[OpenShare]
    early_stopping_patience: Sourced[Annotated[int, Field(ge=0, le=10_000)]]
    evals_per_epoch: Sourced[Annotated[int, Field(ge=1, le=10_000)]]
    seed: Sourced[Annotated[int, Field(ge=0, le=2**32 - 1)]]
    chunked_loss_logits_share: Sourced[OpenShare]


class SizeBand(Planning):
    min_b: Billions
    max_b: Billions

    @model_validator(mode="after")
    def _ordered(self) -> SizeBand:
        if self.min_b > self.max_b:
            raise ValueError("min_b must not exceed max_b")
        return self


class BudgetMaxParams(Planning):
    source: Source
    minimal: Billions
    moderate: Billions
    unlimited: Billions


class Evaluation(Planning):
    alpha: Sourced[Probability]
    power: Sourced[Probability]
    confidence: Sourced[Probability]
    discordance_rate: Sourced[Probability]
    default_delta: Sourced[Probability]
    bootstrap_resamples: Sourced[Resamples]
    permutation_resamples: Sourced[Resamples]
    mcnemar_exact_below: Sourced[Annotated[int, Field(ge=0, le=10**6)]]
    few_shot_k: Sourced[Annotated[int, Field(ge=0, le=100)]]
    forgetting_max_drop: Sourced[Share]
    eval_tokens_per_example_overhead: Sourced[Annotated[float, Field(gt=0, le=1000)]]


class Stage(Planning):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")]
    traffic_pct: Annotated[int, Field(ge=0, le=100)]
    min_days: Days


class Stages(Planning):
    source: Source
    rows: list[Stage] = Field(min_length=1)


class Rollout(Planning):
    alpha: Sourced[Probability]
    power: Sourced[Probability]
    srm_alpha: Sourced[Probability]
    default_success_rate: Sourced[Probability]
    min_detectable_effect: Sourced[Probability]
    ab_traffic_share: Sourced[Probability]
    stages: Stages
    error_rate_max: Sourced[Share]
    format_validity_min: Sourced[Share]


class Serving(Planning):
    hours_per_month: Sourced[Annotated[float, Field(gt=0, le=744)]]
    batch_concurrency: Sourced[Annotated[int, Field(ge=1, le=1 << 20)]]
    bandwidth_efficiency: Sourced[OpenShare]
    peak_to_mean: Sourced[Annotated[float, Field(ge=1, le=1000)]]
    weights_memory_share: Sourced[OpenShare]
    prefill_efficiency: Sourced[OpenShare]


class ReferenceApi(Planning):
    """The hosted model a team on this provider would prompt today, and how the generated repo calls it."""

    model: Annotated[str, Field(min_length=1)]
    input_usd_per_1m: Usd
    output_usd_per_1m: Usd
    source: Source
    as_of: Date
    endpoint: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    endpoint_model: Annotated[str, Field(min_length=1)] | None = None
    api_key_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    endpoint_source: Source | None = None


class ReferenceApis(Planning):
    openai: ReferenceApi
    anthropic: ReferenceApi
    google: ReferenceApi
    open_source: ReferenceApi


class Rag(Planning):
    retrieved_tokens: Sourced[Tokens]
    monthly_infra_usd: Sourced[Usd]
    setup_weeks: Sourced[Weeks]


class FewShot(Planning):
    examples_in_prompt: Sourced[Annotated[int, Field(ge=0, le=1000)]]


class VendorTerms(Planning):
    """A model vendor's clause on using its outputs to train other models (named when distillation is advised)."""

    model_prefixes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    terms: Annotated[str, Field(min_length=10)]
    source: Source
    as_of: Date


class Distillation(Planning):
    share_of_training_set: Sourced[Annotated[float, Field(gt=0, le=100)]]
    terms: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], VendorTerms]


class FineTune(Planning):
    prompt_tokens_after: Sourced[Tokens]


class InferenceModel(Planning):
    id: Annotated[str, Field(min_length=1)]
    names: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    input_usd_per_1m: Usd
    output_usd_per_1m: Usd
    retires: Date | None
    successor: Annotated[str, Field(min_length=1)] | None


class HostedInference(Planning):
    source: Source
    as_of: Date
    models: list[InferenceModel] = Field(min_length=1)


class HardRules(Planning):
    quality_gap_small: Sourced[Probability]


class OwnedGpu(Planning):
    electricity_usd_per_kwh: Sourced[Annotated[float, Field(gt=0, le=10)]]
    amortisation_months: Sourced[Annotated[int, Field(ge=1, le=240)]]


class EngineeringWeeks(Planning):
    """The scope terms of the engineering estimate: each is added when the plan includes that work."""

    base: Sourced[Weeks]
    data_preparation: Sourced[Weeks]
    labelling: Sourced[Weeks]
    custom_metric: Sourced[Weeks]
    metric_setup: Sourced[Weeks]
    preference: Sourced[Weeks]
    multi_gpu: Sourced[Weeks]
    serving_open_weights: Sourced[Weeks]
    serving_hosted: Sourced[Weeks]


class Engineering(Planning):
    usd_per_week: Sourced[Usd]
    weeks: EngineeringWeeks
    metrics_needing_setup: list[Annotated[str, Field(min_length=1)]]


class Retrieval(Planning):
    chunk_tokens: Sourced[Annotated[int, Field(ge=16, le=1 << 20)]]
    chunk_overlap_tokens: Sourced[Annotated[int, Field(ge=0, le=1 << 20)]]
    top_k: Sourced[Annotated[int, Field(ge=1, le=1000)]]
    embedding_model: Sourced[Annotated[str, Field(min_length=1)]]
    reranker: Sourced[Annotated[str, Field(min_length=1)]]
    recall_at_k_min: Sourced[Share]
    groundedness_min: Sourced[Share]


class Preference(Planning):
    beta: Sourced[Annotated[float, Field(gt=0, le=100)]]
    learning_rate: Sourced[LearningRate]
    epochs: Sourced[Annotated[int, Field(ge=1, le=100)]]
    compute_over_sft: Sourced[Annotated[float, Field(gt=0, le=100)]]


OutputWork = Literal["choose", "transcribe", "compose"]
Words = list[Annotated[str, Field(min_length=2)]]
HourlyUsd = Annotated[float, Field(gt=0, le=10_000)]


class OutputWorkTable(Planning):
    source: Source

    model_config = ConfigDict(strict=True, extra="allow")  # one key per task type, checked below

    @model_validator(mode="after")
    def _one_per_task(self) -> OutputWorkTable:
        from generator.tasks import load_tasks

        extra = dict(self.__pydantic_extra__ or {})
        tasks = set(load_tasks().task_types)
        if set(extra) != tasks:
            missing, unknown = sorted(tasks - set(extra)), sorted(set(extra) - tasks)
            raise ValueError(f"needs one entry per task type of tasks.yaml (missing: {missing}, unknown: {unknown})")
        bad = {k: v for k, v in extra.items() if v not in ("choose", "transcribe", "compose")}
        if bad:
            raise ValueError(f"each task's output work is choose, transcribe or compose, not {bad}")
        return self


class CrowdRate(Planning):
    usd_per_hour: HourlyUsd
    source: Source
    as_of: Date


class SkilledRate(Planning):
    wage_usd_per_hour: HourlyUsd
    words: Words = Field(min_length=1)
    source: Source
    as_of: Date


class ExpertRow(Planning):
    occupation: Annotated[str, Field(min_length=2)]
    wage_usd_per_hour: HourlyUsd
    as_of: Date
    words: Words
    source: Source


class Experts(Planning):
    source: Source
    rows: list[ExpertRow] = Field(min_length=1)


class Labeling(Planning):
    reading_words_per_minute: Sourced[Annotated[float, Field(gt=0, le=10_000)]]
    typing_words_per_minute: Sourced[Annotated[float, Field(gt=0, le=1_000)]]
    composing_share_of_typing: Sourced[OpenShare]
    decision_seconds: Sourced[Annotated[float, Field(ge=0, le=3600)]]
    output_work: OutputWorkTable
    wage_share_of_employer_cost: Sourced[OpenShare]
    crowd: CrowdRate
    skilled: SkilledRate
    experts: Experts
    expert_by_task: dict[str, Annotated[str, Field(min_length=2)]]

    @model_validator(mode="after")
    def _task_experts_exist(self) -> Labeling:
        known = {r.occupation for r in self.experts.rows}
        unknown = sorted(set(self.expert_by_task.values()) - known)
        if unknown:
            raise ValueError(f"expert_by_task names occupations that experts.rows lacks: {unknown}")
        return self


@functools.cache
def planning_schema() -> type[BaseModel]:
    """The whole file. `model_size_by_task` has one band per task type of tasks.yaml: a task type added there
    needs a band here, and a band for a task type that does not exist is a misspelling."""
    from generator.tasks import load_tasks

    bands: dict[str, Any] = {t: (SizeBand, ...) for t in load_tasks().task_types}
    by_task = create_model("ModelSizeByTask", __base__=Planning, source=(Source, ...), **bands)
    return create_model(
        "PlanningFile",
        __base__=Planning,
        as_of=(Date, ...),
        data=(Data, ...),
        hyperparameters=(Hyperparameters, ...),
        model_size_by_task=(by_task, ...),
        budget_max_params_b=(BudgetMaxParams, ...),
        evaluation=(Evaluation, ...),
        rollout=(Rollout, ...),
        serving=(Serving, ...),
        rollout_max_ab_days=(Sourced[Annotated[int, Field(ge=1, le=3650)]], ...),
        reference_api=(ReferenceApis, ...),
        rag=(Rag, ...),
        few_shot=(FewShot, ...),
        distillation=(Distillation, ...),
        fine_tune=(FineTune, ...),
        labeling=(Labeling, ...),
        hosted_inference=(HostedInference, ...),
        gate_margin=(Sourced[Probability], ...),
        hard_rules=(HardRules, ...),
        owned_gpu=(OwnedGpu, ...),
        engineering=(Engineering, ...),
        retrieval=(Retrieval, ...),
        preference=(Preference, ...),
    )
