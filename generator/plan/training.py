"""Method, hyperparameters and hardware for one base model: the smallest change that fits and trains well.

LoRA before QLoRA before full fine-tuning: LoRA forgets less (Biderman et al. 2024) and fits where full
fine-tuning does not; QLoRA when bf16 LoRA does not fit the GPU; full only for small models with a lot of
data and an unlimited budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from generator.catalog import Architecture, BaseModelEntry, GpuEntry
from generator.plan.compute import ComputeEstimate
from generator.plan.data import example_tokens
from generator.plan.fit import Fit, Shape, fit, fit_memory, memory_fits
from generator.plan.inputs import Inputs
from generator.plan.memory import Loss, MemoryEstimate, Method, Optimizer
from generator.plan.records import FitInputs, GpuSpec, Hardware, Hyperparameters, PreferenceStage, Strategy
from generator.record import Record
from generator.render.trl import TRAINER_OPTIM

ALL_LINEAR = ["all-linear"]
MICRO_BATCHES = (16, 8, 4, 2, 1)
GPU_COUNTS = (1, 2, 4, 8)
# Full fine-tuning is offered only where it is cheap and the data can move a whole model.
FULL_FT_MAX_PARAMS_B = 3.0
FULL_FT_MIN_EXAMPLES = 50_000


class Setup(Record):
    """One trainable configuration of a model on a GPU type, with its fit and cost."""

    method: Method
    gpu: GpuEntry
    gpu_count: int
    strategy: Strategy
    micro_batch: int
    grad_ckpt: bool
    optimizer: Optimizer
    seq_len: int
    lora_r: int
    tokens: float
    headroom: float
    fit: Fit
    loss: Loss = "fp32"

    @property
    def memory(self) -> MemoryEstimate:
        return self.fit.memory

    @property
    def compute(self) -> ComputeEstimate:
        return self.fit.compute

    @property
    def gpu_hours(self) -> float:
        """Midpoint of the utilization range."""
        return self.fit.gpu_hours

    @property
    def usd(self) -> float:
        return self.fit.usd

    def inputs(self, epochs: int) -> FitInputs:
        """The fit's inputs as plan.json records them: what `ftplan check` compares train.yaml against."""
        return FitInputs(method=self.method, seq_len=self.seq_len, micro_batch=self.micro_batch,
                         grad_ckpt=self.grad_ckpt, lora_r=self.lora_r, targets=list(ALL_LINEAR),
                         optimizer=self.optimizer, gpu_count=self.gpu_count, strategy=self.strategy,
                         epochs=epochs, tokens=self.tokens, headroom=self.headroom, loss=self.loss)


def _headroom(inp: Inputs) -> float:
    return float(inp.settings.value("hyperparameters.memory_headroom"))


def p95_example_tokens(inp: Inputs) -> float:
    """Tokens of the 95th-percentile training example: the given p95 input + instruction + output, else the
    mean example x the planning p95/mean ratio."""
    f, s = inp.facts, inp.settings
    if f.p95_input_tokens:
        return f.p95_input_tokens + example_tokens(inp) - f.avg_input_tokens
    return example_tokens(inp) * float(s.value("hyperparameters.seq_len_p95_over_mean"))


def max_seq_length(inp: Inputs, entry: BaseModelEntry) -> int:
    s = inp.settings
    p95 = p95_example_tokens(inp)
    step = int(s.value("hyperparameters.seq_len_multiple"))
    return int(min(max(step * math.ceil(p95 / step), 2 * step), entry.context_length))


def epochs_for(inp: Inputs) -> int:
    return int(inp.settings.by_threshold("hyperparameters.epochs_by_examples", inp.facts.examples_available,
                                         "epochs"))


def effective_batch_for(inp: Inputs) -> int:
    return int(inp.settings.by_threshold("hyperparameters.effective_batch_by_examples",
                                         inp.facts.examples_available, "batch"))


def _methods(inp: Inputs, entry: BaseModelEntry) -> list[Method]:
    if (inp.answers.budget == "unlimited" and entry.params_b <= FULL_FT_MAX_PARAMS_B
            and inp.facts.examples_available >= FULL_FT_MIN_EXAMPLES):
        return ["full", "lora", "qlora"]
    return ["lora", "qlora"]


def _optimizer(method: str) -> Optimizer:
    # QLoRA paper: paged 8-bit AdamW absorbs memory spikes; LoRA/full use fused AdamW.
    return "paged_adamw_8bit" if method == "qlora" else "adamw"


def _setups(inp: Inputs, entry: BaseModelEntry, gpu: GpuEntry, counts: tuple[int, ...], tokens: float,
            seq_len: int, lora_r: int) -> Iterator[Setup]:
    """Setups that fit `gpu`, in preference order (method, GPU count, no checkpointing, bigger batches).

    A generator: callers take the first, so the estimator runs only until something fits.
    """
    arch = entry.architecture
    headroom = _headroom(inp)
    # The stock loss first, for every method (QLoRA before chunked LoRA: stock configs run everywhere);
    # chunked cross-entropy when the logits dominate, or as the last resort when nothing fits with full logits.
    for forced in (False, True):
        for method in _methods(inp, entry):
            optimizer = _optimizer(method)
            for count in counts:
                strategies: tuple[Strategy, ...] = ("single_gpu",) if count == 1 else ("ddp", "fsdp")
                for strategy in strategies:
                    # The group's smallest footprint (micro-batch 1, checkpointing, chunked loss) is a floor for
                    # every shape below: when even that does not fit, none does, and none is estimated.
                    floor = Shape(method=method, seq_len=seq_len, micro_batch=min(MICRO_BATCHES), grad_ckpt=True,
                                  lora_r=lora_r, targets=tuple(ALL_LINEAR), optimizer=optimizer, gpu_count=count,
                                  strategy=strategy, headroom=headroom, loss="chunked")
                    if not memory_fits(arch, gpu, **floor):
                        continue
                    for grad_ckpt, micro_batches in ((False, (8, 4)), (True, MICRO_BATCHES)):
                        for micro in micro_batches:
                            shape = Shape(method=method, seq_len=seq_len, micro_batch=micro,
                                          grad_ckpt=grad_ckpt, lora_r=lora_r, targets=tuple(ALL_LINEAR),
                                          optimizer=optimizer, gpu_count=count, strategy=strategy,
                                          headroom=headroom, loss="chunked" if forced else "fp32")
                            if not forced:
                                shape = _with_loss(inp, arch, shape)
                            if not memory_fits(arch, gpu, **shape):
                                continue
                            result = fit(arch, gpu, tokens=tokens, **shape)
                            yield Setup(method, gpu, count, strategy, micro, grad_ckpt, optimizer, seq_len,
                                        lora_r, tokens, headroom, result, shape["loss"])


def _with_loss(inp: Inputs, arch: Architecture, shape: Shape) -> Shape:
    """Chunked cross-entropy (Liger's fused linear cross-entropy) when the full fp32 logits would take more
    than hyperparameters.chunked_loss_logits_share of the peak."""
    mem = fit_memory(arch, shape)
    share = mem.breakdown.get("logits", 0.0) / max(mem.peak_memory_gb, 1e-9)
    if share > float(inp.settings.value("hyperparameters.chunked_loss_logits_share")):
        return Shape(**{**shape, "loss": "chunked"})
    return shape


def gpu_options(inp: Inputs) -> list[tuple[GpuEntry, tuple[int, ...]]]:
    """The GPUs the plan may use: the user's (local, or named for the cloud), else every catalog GPU."""
    f = inp.facts
    if f.gpu:
        gpu = inp.catalog.gpu(f.gpu, field="facts.gpu")
        return [(gpu, (f.gpu_count,))]
    return [(g, GPU_COUNTS) for g in inp.catalog.gpus if g.cloud_listed]


def best_setup(inp: Inputs, entry: BaseModelEntry, lora_r: int, dataset_tokens: int) -> Setup | None:
    """The cheapest fitting setup; with a fixed GPU, the first fitting one in preference order.

    Trains on the plan's dataset tokens (data.dataset_tokens) x epochs: the count `ftplan check` uses too.
    """
    seq_len = max_seq_length(inp, entry)
    tokens = float(dataset_tokens * epochs_for(inp))
    options = gpu_options(inp)
    # Fewer GPUs first: one GPU avoids sharding and interconnect costs the estimate does not model.
    for count_limit in sorted({c for _, counts in options for c in counts}):
        fitting = [setup for gpu, counts in options
                   if (setup := next(_setups(inp, entry, gpu, tuple(c for c in counts if c <= count_limit),
                                             tokens, seq_len, lora_r), None))]
        if fitting:
            return min(fitting, key=lambda s: (s.usd, s.gpu_count))
    return None


def hyperparameters(inp: Inputs, entry: BaseModelEntry, setup: Setup, lora_r: int,
                    train_examples: int) -> tuple[Hyperparameters, dict[str, str]]:
    s = inp.settings
    h = "hyperparameters."
    eff = effective_batch_for(inp)
    per_step = setup.micro_batch * setup.gpu_count
    accum = max(1, math.ceil(eff / per_step))
    eff = per_step * accum
    if setup.method == "full":
        lr, lr_why = float(s.value(h + "full_lr")), s.source(h + "full_lr")
    elif entry.params_b > float(s.value(h + "large_model_params_b")):
        lr, lr_why = float(s.value(h + "lora_lr_large")), s.source(h + "lora_lr_large")
    else:
        lr, lr_why = float(s.value(h + "lora_lr")), s.source(h + "lora_lr")
    epochs = epochs_for(inp)
    steps_per_epoch = max(1, math.ceil(max(train_examples, 1) / eff))
    eval_steps = max(1, steps_per_epoch // int(s.value(h + "evals_per_epoch")))
    alpha = lora_r * int(s.value(h + "lora_alpha_over_r"))
    hp = Hyperparameters(
        learning_rate=lr, epochs=epochs, effective_batch_size=eff,
        per_device_train_batch_size=setup.micro_batch, gradient_accumulation_steps=accum,
        lora_r=lora_r, lora_alpha=alpha, lora_dropout=float(s.value(h + "lora_dropout")),
        target_modules=ALL_LINEAR, max_seq_length=setup.seq_len,
        warmup_ratio=float(s.value(h + "warmup_ratio")), scheduler=str(s.value(h + "scheduler")),
        optimizer=TRAINER_OPTIM[setup.optimizer], gradient_checkpointing=setup.grad_ckpt, bf16=setup.gpu.supports_bf16,
        weight_decay=float(s.value(h + "weight_decay")), eval_steps=eval_steps, save_steps=eval_steps,
        early_stopping_patience=int(s.value(h + "early_stopping_patience")), seed=int(s.value(h + "seed")),
        use_liger_kernel=setup.loss == "chunked",
    )
    mem = setup.memory
    reasons = {
        "method": _method_reason(setup, entry),
        "learning_rate": f"{lr:g}: {lr_why}",
        "epochs": f"{epochs} epoch(s) for {inp.facts.examples_available:,} examples: "
                  f"{s.source(h + 'epochs_by_examples')}",
        "effective_batch_size": f"{eff} = {setup.micro_batch} per device x {setup.gpu_count} GPU(s) x "
                                f"{accum} accumulation steps ({s.source(h + 'effective_batch_by_examples')})",
        "per_device_train_batch_size": f"{setup.micro_batch}: the largest that fits "
                                       f"{setup.gpu.memory_gb:g} GB with {1 - _headroom(inp):.0%} headroom",
        "lora_r": f"r={lora_r}, alpha={alpha}: {s.source(h + 'lora_r')}; higher rank learns more but "
                  "forgets more and costs memory",
        "lora_dropout": s.source(h + "lora_dropout"),
        "target_modules": "all linear layers: adapting only attention underfits (Biderman et al. 2024; "
                          "TRL 'LoRA without regret')",
        "max_seq_length": (f"{setup.seq_len} tokens: the p95 input of {inp.facts.p95_input_tokens:,} tokens + "
                           f"instruction and output, rounded up to {s.value(h + 'seq_len_multiple')}"
                           if inp.facts.p95_input_tokens else
                           f"{setup.seq_len} tokens: ~{example_tokens(inp):.0f} tokens per example x "
                           f"{s.value(h + 'seq_len_p95_over_mean')} for the p95, rounded up to "
                           f"{s.value(h + 'seq_len_multiple')} (measure with --data)"),
        "warmup_ratio": s.source(h + "warmup_ratio"),
        "scheduler": s.source(h + "scheduler"),
        "optimizer": "paged 8-bit AdamW absorbs memory spikes (QLoRA paper)" if setup.method == "qlora"
                     else "fused AdamW; the states are small for LoRA" if setup.method == "lora"
                     else "AdamW; 8-bit states would save 6 bytes/param",
        "gradient_checkpointing": ("on: recomputing activations trades ~1/3 more compute for memory"
                                   if setup.grad_ckpt else "off: it fits without, so no recompute cost"),
        "bf16": "bf16 mixed precision" if setup.gpu.supports_bf16 else f"{setup.gpu.id} has no bf16: fp16",
        "weight_decay": s.source(h + "weight_decay"),
        "eval_steps": f"every {eval_steps} steps ({s.value(h + 'evals_per_epoch')} evaluations per epoch) "
                      "so early stopping sees over-fitting",
        "early_stopping_patience": s.source(h + "early_stopping_patience"),
        "use_liger_kernel": ("on: Liger's fused linear cross-entropy computes the loss in chunks, so the "
                             f"{inp.facts.p95_input_tokens or setup.seq_len:,}-token sequences never hold full fp32 "
                             f"logits (over {float(s.value(h + 'chunked_loss_logits_share')):.0%} of peak "
                             "memory otherwise, or no fit)" if setup.loss == "chunked"
                             else "off: the logits are a small share of peak memory"),
        "peak_memory_gb": f"{mem.peak_memory_gb:.1f} GB per GPU: "
                          + ", ".join(f"{k} {v:.1f}" for k, v in mem.breakdown.items()),
    }
    return hp, reasons


def _method_reason(setup: Setup, entry: BaseModelEntry) -> str:
    g = f"{setup.gpu_count}x {setup.gpu.id} ({setup.gpu.memory_gb:g} GB)"
    if setup.method == "lora":
        return (f"LoRA in 16-bit fits {entry.id} on {g} at {setup.memory.peak_memory_gb:.1f} GB; LoRA forgets "
                "less than full fine-tuning (Biderman et al. 2024)")
    if setup.method == "qlora":
        return (f"16-bit LoRA does not fit {g}; QLoRA (NF4 + double quantization, bf16 compute) brings "
                f"{entry.id} to {setup.memory.peak_memory_gb:.1f} GB (Dettmers et al. 2023)")
    return (f"full fine-tuning: a {entry.params_b:g}B model, {FULL_FT_MIN_EXAMPLES:,}+ examples and an "
            "unlimited budget; measure forgetting closely")


def gpu_spec(gpu: GpuEntry) -> GpuSpec:
    """The GPU entry the plan used, as plan.json records it (so `ftplan check` never reads the catalog)."""
    provider, source, as_of = gpu.price_quote  # the cheapest listing, or an owned-only card's cost of owning it
    return GpuSpec(id=gpu.id, name=gpu.name, memory_gb=gpu.memory_gb, training_tflops=gpu.training_tflops,
                   supports_bf16=gpu.supports_bf16, usd_per_hour=gpu.usd_per_hour,
                   usd_per_hour_range=gpu.usd_per_hour_range, price_provider=provider,
                   price_source=source, price_as_of=as_of)


def hardware(setup: Setup, epochs: int) -> Hardware:
    f = setup.fit
    lo, hi = f.gpu_hours_range
    return Hardware(
        gpu=setup.gpu.id, gpu_count=setup.gpu_count, gpu_memory_gb=setup.gpu.memory_gb,
        peak_memory_gb=round(f.peak_memory_gb, 2), fits=f.fits,
        memory_breakdown={k: round(v, 2) for k, v in f.breakdown.items()},
        strategy=setup.strategy, gpu_hours=round(f.gpu_hours, 2),
        gpu_hours_range=(round(lo, 2), round(hi, 2)),
        tokens_per_second=(round(f.tokens_per_second[0]), round(f.tokens_per_second[1])),
        usd_per_hour=setup.gpu.usd_per_hour, wall_hours=round(f.gpu_hours / setup.gpu_count, 2),
        gpu_spec=gpu_spec(setup.gpu), fit_inputs=setup.inputs(epochs), training_usd=round(f.usd, 2),
    )


PAIRWISE_WORDS = ("pairwise", "prefer", "win rate", "side-by-side", "side by side", "a/b preference")


def preference_stage(inp: Inputs, setup: Setup) -> PreferenceStage | None:
    """SFT then DPO when chosen/rejected pairs exist or success is judged pairwise (planning.yaml preference)."""
    f, s = inp.facts, inp.settings
    pairwise = next((w for w in PAIRWISE_WORDS if w in inp.answers.success_criteria.lower()), None)
    if not f.preference_pairs_available and pairwise is None:
        return None
    p = "preference."
    pairs = f.preference_pairs_available
    epochs = int(s.value(p + "epochs"))
    tokens = pairs * (example_tokens(inp) + f.avg_output_tokens) * epochs  # prompt + chosen + rejected
    hours = setup.gpu_hours * tokens / max(setup.tokens, 1.0) * float(s.value(p + "compute_over_sft"))
    why = (f"{pairs:,} chosen/rejected pairs" if pairs else
           f"success is judged pairwise ('{pairwise}'), but no pairs are known: collect chosen/rejected pairs "
           "(two drafts, the better one picked) before this stage")
    why += (f": SFT first, then DPO on the SFT adapter (TRL DPOTrainer), beta {s.value(p + 'beta')} "
            f"({s.source(p + 'beta')}), learning rate {s.value(p + 'learning_rate')} "
            f"({s.source(p + 'learning_rate')}), "
            f"{epochs} epoch(s) ({s.source(p + 'epochs')}); compute {s.value(p + 'compute_over_sft')}x SFT's per "
            f"token ({s.source(p + 'compute_over_sft')}). Judge it by the held-out pairwise win rate.")
    return PreferenceStage(trainer="DPO", pairs=pairs, beta=float(s.value(p + "beta")),
                           learning_rate=float(s.value(p + "learning_rate")), epochs=epochs,
                           gpu_hours=round(hours, 2), training_usd=round(hours * setup.gpu.usd_per_hour, 2), why=why)
