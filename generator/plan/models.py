"""The Plan: the single source of truth that STRATEGY.md, the JSON and the generated repo are rendered from.

Field names are the stable JSON keys of DESIGN.md. Plain frozen-free dataclasses: the planner builds them from
validated inputs, so they need no validation of their own, and they cost nothing at start-up.
"""

from __future__ import annotations

from typing import Literal

import json
from dataclasses import asdict, dataclass, field
from typing import Any

Option = Literal["prompting", "few_shot", "rag", "fine_tune", "rag_and_fine_tune"]
Method = Literal["lora", "qlora", "full", "hosted", "none"]


class Model:
    """Base of the plan's records: `to_dict()` gives the JSON form."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


@dataclass(eq=False, repr=False)
class Assumption(Model):
    field: str
    value: str
    how: str
    kind: Literal["inferred", "measured", "default", "adjusted", "warning"] = "inferred"


@dataclass(eq=False, repr=False)
class MatrixRow(Model):
    option: Option
    scores: dict[str, int]
    total: int
    reasons: list[str]


@dataclass(eq=False, repr=False)
class Decision(Model):
    recommendation: Option
    summary: str
    matrix: list[MatrixRow]
    proof_required: list[str]
    fine_tune_warranted: bool


@dataclass(eq=False, repr=False)
class ProviderStatus(Model):
    id: str
    name: str
    fine_tuning_available: bool
    notes: list[str]
    alternative: str = ""
    hosted_model: str = ""


@dataclass(eq=False, repr=False)
class BaseModelChoice(Model):
    id: str
    hf_id: str
    params_b: float
    license: str
    commercial_use: bool
    context_length: int
    why: str


@dataclass(eq=False, repr=False)
class Candidate(Model):
    rank: int
    id: str
    params_b: float
    license: str
    commercial_use: bool
    task_fit: bool
    method: str
    peak_memory_gb: float
    fits: bool
    gpu_hours: float
    training_usd: float
    score: float
    recommendation: str


@dataclass(eq=False, repr=False)
class Split(Model):
    train: int
    validation: int
    heldout: int


@dataclass(eq=False, repr=False)
class DataPlan(Model):
    examples_available: int
    minimum: int
    meets_minimum: bool
    justification: str
    to_collect: int
    collection: list[str]
    split: Split
    quality_gates: list[str]
    forgetting_mix: dict[str, str | float]
    avg_input_tokens: float
    avg_output_tokens: float
    dataset_tokens: int


@dataclass(eq=False, repr=False)
class Hyperparameters(Model):
    learning_rate: float
    epochs: int
    effective_batch_size: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: list[str]
    max_seq_length: int
    warmup_ratio: float
    scheduler: str
    optimizer: str
    gradient_checkpointing: bool
    bf16: bool
    weight_decay: float
    eval_steps: int
    save_steps: int
    early_stopping_patience: int
    seed: int


@dataclass(eq=False, repr=False)
class Hardware(Model):
    gpu: str
    gpu_count: int
    gpu_memory_gb: float
    peak_memory_gb: float
    fits: bool
    memory_breakdown: dict[str, float]
    strategy: Literal["single_gpu", "ddp", "fsdp", "zero3"]
    gpu_hours: float
    gpu_hours_range: tuple[float, float]
    tokens_per_second: tuple[float, float]
    usd_per_hour: float
    wall_hours: float


@dataclass(eq=False, repr=False)
class Training(Model):
    method: Method
    open_weights_method: Literal["lora", "qlora", "full"]
    why: str
    hyperparameters: Hyperparameters | None
    reasons: dict[str, str]
    hardware: Hardware | None
    execution: list[str]
    iteration: list[str]


@dataclass(eq=False, repr=False)
class Cost(Model):
    training_usd: float
    training_usd_range: tuple[float, float]
    data_labor_usd: float
    hosted_api_usd: float
    evaluation_usd: float
    engineering_usd: float
    total_usd: float
    notes: list[str]


@dataclass(eq=False, repr=False)
class Gate(Model):
    metric: str
    op: str
    threshold: float
    reason: str


@dataclass(eq=False, repr=False)
class Evaluation(Model):
    metrics: list[str]
    primary_metric: str
    heldout_size: int
    heldout_size_formula: str
    comparison: str
    forgetting_probe: str
    gates: list[Gate]
    baseline_score: float | None
    target_score: float | None


@dataclass(eq=False, repr=False)
class Stage(Model):
    name: str
    traffic_pct: float
    min_days: int


@dataclass(eq=False, repr=False)
class ABTest(Model):
    baseline_rate: float
    mde: float
    alpha: float
    power: float
    sample_size_per_arm: int
    duration_days: int
    daily_requests: int


@dataclass(eq=False, repr=False)
class Rollout(Model):
    serving: str
    serving_gpus: int
    serving_monthly_usd: float
    ab: ABTest
    stages: list[Stage]
    guardrails: dict[str, float]
    srm_alpha: float
    rollback_criteria: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class RoiRow(Model):
    option: Option
    one_off_usd: float
    monthly_usd: float
    cumulative_usd: list[float]


@dataclass(eq=False, repr=False)
class Roi(Model):
    rows: list[RoiRow]
    break_even_month: int | None
    compared_to: str
    notes: list[str]


@dataclass(eq=False, repr=False)
class Risk(Model):
    id: str
    name: str
    level: Literal["low", "medium", "high"]
    check: str
    mitigation: str


@dataclass(eq=False, repr=False)
class Meta(Model):
    project_name: str
    slug: str
    today: str
    ftplan_version: str
    answers_source: str
    task_type: str
    labels: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Plan(Model):
    meta: Meta
    decision: Decision
    provider: ProviderStatus
    base_model: BaseModelChoice | None
    candidates: list[Candidate]
    data: DataPlan
    training: Training
    cost: Cost
    evaluation: Evaluation
    rollout: Rollout | None
    roi: Roi
    risks: list[Risk]
    assumptions: list[Assumption]
