"""The Plan: the single source of truth that STRATEGY.md, the JSON and the generated repo are rendered from.

Field names are the stable JSON keys of DESIGN.md. Plain records: the planner builds them from validated inputs,
so they need no validation of their own, and they cost nothing at start-up.
"""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar, Literal

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pydantic depends on typing_extensions
    from typing_extensions import dataclass_transform

Option = Literal["prompting", "few_shot", "rag", "fine_tune", "rag_and_fine_tune"]
Method = Literal["lora", "qlora", "full", "hosted", "none"]
Strategy = Literal["single_gpu", "ddp", "fsdp", "zero3"]
Level = Literal["low", "medium", "high"]
_NO_DEFAULT = object()


@dataclass_transform(kw_only_default=True)
class Model:
    """Base of the plan's records: keyword construction of the annotated fields, `to_dict()` for JSON.

    A tiny stand-in for dataclasses: no generated code, so importing ~30 record types costs next to nothing
    (the planner must start in about the time its libraries take to import). `dataclass_transform` lets mypy
    check every constructor call as if these were keyword-only dataclasses: a misspelled or missing field is
    a type error, not a runtime surprise. Lists default to empty.
    """

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls) -> None:
        names = [n for n in cls.__dict__.get("__annotations__", {}) if not n.startswith("_")]
        cls._fields = tuple(names)
        cls._defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        for name in self._fields:
            value = values.get(name, self._defaults.get(name, _NO_DEFAULT))
            if value is _NO_DEFAULT:
                raise TypeError(f"{type(self).__name__} needs {name}")
            setattr(self, name, list(value) if isinstance(value, list) else value)

    def to_dict(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self._fields}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Assumption(Model):
    field: str
    value: str
    how: str
    kind: Literal["inferred", "measured", "default", "adjusted", "warning"] = "inferred"


class MatrixRow(Model):
    option: Option
    scores: dict[str, int]
    total: int
    reasons: list[str]


class Decision(Model):
    recommendation: Option
    summary: str
    matrix: list[MatrixRow]
    proof_required: list[str]
    fine_tune_warranted: bool
    rules_fired: list[str] = []  # hard rules applied before the score, each with its numbers


class HostedBaseline(Model):
    """Today's hosted model behind the provider's OpenAI-compatible endpoint (planning.yaml reference_api)."""

    endpoint: str
    model: str
    api_key_env: str
    source: str


class TuningWindow(Model):
    closes: str | None
    notice: str | None
    source: str


class HostedTuning(Model):
    """What configs/hosted.yaml needs, from the catalog the plan was made with (user catalogs included)."""

    provider: str
    platform: str
    model: str
    training_usd_per_1m_tokens: float
    price_source: str
    as_of: str
    max_tokens_per_example: int | None
    tuning_window: TuningWindow
    model_retirement: str | None


class TunedModelFlag(Model):
    """A hosted model the user already fine-tuned (named in the answers) and when its base stops serving."""

    base: str  # the base model's id (the catalog's where known)
    provider: str  # the catalog provider that tunes it; "" when the catalog does not list it
    quote: str  # the words of the answers that name it
    retires: str | None  # ISO date the tuned model stops serving; None: none announced, or not in the catalog
    days_left: int | None  # from the plan's date; negative once retired
    in_catalog: bool


class ProviderStatus(Model):
    id: str
    name: str
    fine_tuning_available: bool
    notes: list[str]
    tuned_models: list[TunedModelFlag] = []  # noqa: RUF012 - __init__ copies lists
    alternative: str = ""
    hosted_model: str = ""
    migration: str = ""
    distillation_usd: float = 0.0
    hosted_baseline: HostedBaseline | None = None
    hosted_tuning: HostedTuning | None = None


class BaseModelChoice(Model):
    id: str
    hf_id: str
    params_b: float
    license: str
    commercial_use: bool
    context_length: int
    why: str
    architecture: dict[str, Any]  # the catalog entry's numbers: `ftplan check` re-fits from them alone


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


class Split(Model):
    train: int
    validation: int
    heldout: int
    method: Literal["random", "stratified", "time", "frozen_existing"] = "random"
    heldout_source: str = ""  # where the held-out items come from
    validation_source: str = ""


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
    use_liger_kernel: bool = False  # fused linear cross-entropy: no full fp32 logits in memory


class GpuSpec(Model):
    """The GPU entry the plan used (bundled or from --catalog-dir), with the price it was costed at."""

    id: str
    name: str
    memory_gb: float
    training_tflops: float
    supports_bf16: bool
    usd_per_hour: float
    usd_per_hour_range: tuple[float, float]
    price_provider: str
    price_source: str
    price_as_of: str


class FitInputs(Model):
    """The inputs of plan/fit.py's `fit` the plan chose; train.yaml carries the same values under TRL names."""

    method: Literal["lora", "qlora", "full"]
    seq_len: int
    micro_batch: int
    grad_ckpt: bool
    lora_r: int
    targets: list[str]
    optimizer: str  # the memory estimator's optimizer family (adamw, adamw_8bit, paged_adamw_8bit, ...)
    gpu_count: int
    strategy: Strategy
    epochs: float
    tokens: float  # data.dataset_tokens x epochs
    headroom: float  # share of GPU memory the plan may fill (planning.yaml hyperparameters.memory_headroom)
    loss: Literal["fp32", "bf16", "chunked"] = "fp32"  # chunked: train.yaml's use_liger_kernel


class Hardware(Model):
    gpu: str
    gpu_count: int
    gpu_memory_gb: float
    peak_memory_gb: float
    fits: bool
    memory_breakdown: dict[str, float]
    strategy: Strategy
    gpu_hours: float
    gpu_hours_range: tuple[float, float]
    tokens_per_second: tuple[float, float]
    usd_per_hour: float
    wall_hours: float
    gpu_spec: GpuSpec
    fit_inputs: FitInputs
    training_usd: float  # the open-weights run at usd_per_hour (cost.training_usd is 0 for hosted plans)


class PreferenceStage(Model):
    """A preference-optimisation stage after SFT (TRL DPOTrainer on the SFT adapter)."""

    trainer: str
    pairs: int
    beta: float
    learning_rate: float
    epochs: int
    gpu_hours: float
    training_usd: float
    why: str


class Training(Model):
    preference: PreferenceStage | None = None
    method: Method
    open_weights_method: Literal["lora", "qlora", "full"]
    why: str
    hyperparameters: Hyperparameters | None
    reasons: dict[str, str]
    hardware: Hardware | None
    execution: list[str]
    iteration: list[str]


class EngineeringTerm(Model):
    """One term of the engineering estimate: the work the plan's scope includes, in engineer-weeks."""

    name: str
    weeks: float
    why: str


class Cost(Model):
    training_usd: float
    training_usd_range: tuple[float, float]
    data_labor_usd: float
    hosted_api_usd: float
    evaluation_usd: float
    engineering_usd: float
    total_usd: float
    notes: list[str]
    labeling_usd_per_example: float = 0.0
    labeling_tier: str = ""  # given | crowd | skilled | the expert occupation (planning.yaml labeling)
    labeling_seconds_per_example: float = 0.0  # 0 when the rate was given
    engineering_weeks: float = 0.0  # facts.engineering_weeks when given, else the sum of engineering_terms
    engineering_terms: list[EngineeringTerm] = []  # noqa: RUF012 - __init__ copies lists


class Gate(Model):
    metric: str
    op: str
    threshold: float
    reason: str


class MetricDefinition(Model):
    """One metric of the plan, as configs/tasks.yaml defines it; builtin false: the user's scripts/user_metrics.py."""

    name: str
    builtin: bool
    kind: str
    test: str
    description: str


class Statistics(Model):
    """The paired statistics the generated evaluation runs (planning.yaml evaluation.*); STRATEGY.md quotes them."""

    confidence: float
    bootstrap_resamples: int
    permutation_resamples: int
    mcnemar_exact_below: int
    seed: int


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
    metric_definitions: list[MetricDefinition]
    statistics: Statistics
    max_new_tokens: int
    few_shot_k: int


class Stage(Model):
    name: str
    traffic_pct: float
    min_days: int


class ABTest(Model):
    baseline_rate: float
    mde: float
    alpha: float
    power: float
    sample_size_per_arm: int
    duration_days: int
    daily_requests: int


class ServingPlan(Model):
    """The serving configuration the latency model chose (plan/serving.py)."""

    gpu: str
    precision: str  # bf16 | fp8 | awq-int4
    gpus_per_replica: int
    replicas: int  # including the spare (N+1)
    batch: int
    prefill_ms: float
    decode_ms: float
    p95_latency_ms: float
    meets_latency: bool
    requests_per_s_per_replica: float
    peak_requests_per_s: float
    kv_cache_gb: float
    monthly_usd: float
    why: str


class Retrieval(Model):
    """What a RAG verdict deploys: the index, the retriever and the checks that gate it (planning.yaml retrieval)."""

    chunking: str
    embedding_model: str
    reranker: str
    top_k: int
    reindex: str
    checks: list[str]
    monthly_usd: float


class Rollout(Model):
    deploys: str = "fine_tune"  # the option this section deploys: the recommendation
    retrieval: Retrieval | None = None
    serving_plan: ServingPlan | None = None  # the latency model's choice for a self-hosted tuned model
    serving: str
    serving_gpus: int
    serving_monthly_usd: float
    ab: ABTest
    stages: list[Stage]
    guardrails: dict[str, float]
    srm_alpha: float
    rollback_criteria: list[str]
    notes: list[str] = []


class RoiRow(Model):
    option: Option
    one_off_usd: float
    monthly_usd: float
    cumulative_usd: list[float]


class Roi(Model):
    rows: list[RoiRow]
    break_even_month: int | None
    compared_to: str
    notes: list[str]
    current_model: str = ""  # the hosted model the prompting rows are priced at
    current_model_retires: str | None = None
    current_model_successor: str | None = None


class Risk(Model):
    id: str
    name: str
    level: Level
    check: str
    mitigation: str


class Meta(Model):
    project_name: str
    slug: str
    today: str
    ftplan_version: str
    answers_source: str
    task_type: str
    labels: list[str] = []
    catalog_dirs: list[str] = []


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


def usd(value: float) -> str:
    """Money as the plan's text writes it: cents below $10 (a $0.27 run is not "about $0"), whole dollars above."""
    return f"${value:,.2f}" if abs(value) < 10 else f"${value:,.0f}"
