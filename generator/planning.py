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


class Data(Planning):
    minimum_examples: Sourced[Examples]
    hard_floor_examples: Sourced[Examples]
    split: Split
    heldout_min: Examples
    heldout_max: Examples
    forgetting_mix_fraction: Sourced[Share]
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
    setup_engineering_usd: Sourced[Usd]


class FewShot(Planning):
    examples_in_prompt: Sourced[Annotated[int, Field(ge=0, le=1000)]]


class Distillation(Planning):
    share_of_training_set: Sourced[Annotated[float, Field(gt=0, le=100)]]


class FineTune(Planning):
    setup_engineering_usd: Sourced[Usd]
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


class Engineering(Planning):
    usd_per_week: Sourced[Usd]


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


class Labeling(Planning):
    default_cost_per_example_usd: Sourced[Usd]


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
