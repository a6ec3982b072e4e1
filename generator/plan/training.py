"""Method, hyperparameters and hardware for one base model: the smallest change that fits and trains well.

LoRA before QLoRA before full fine-tuning: LoRA forgets less (Biderman et al. 2024) and fits where full
fine-tuning does not; QLoRA when bf16 LoRA does not fit the GPU; full only for small models with a lot of
data and an unlimited budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from generator.catalog import Architecture, BaseModelEntry, GpuEntry
from generator.plan.compute import ComputeEstimate, estimate_compute
from generator.plan.data import example_tokens
from generator.plan.inputs import Inputs
from generator.plan.memory import MemoryEstimate, estimate_memory
from generator.plan.records import Hardware, Hyperparameters

ALL_LINEAR = ["all-linear"]
MICRO_BATCHES = (16, 8, 4, 2, 1)
GPU_COUNTS = (1, 2, 4, 8)
# Full fine-tuning is offered only where it is cheap and the data can move a whole model.
FULL_FT_MAX_PARAMS_B = 3.0
FULL_FT_MIN_EXAMPLES = 50_000


@dataclass(frozen=True)
class Setup:
    """One trainable configuration of a model on a GPU type."""

    method: str
    gpu: GpuEntry
    gpu_count: int
    strategy: str
    micro_batch: int
    grad_ckpt: bool
    optimizer: str
    memory: MemoryEstimate
    compute: ComputeEstimate
    seq_len: int

    @property
    def gpu_hours(self) -> float:
        """Midpoint of the utilization range."""
        lo, hi = self.compute.gpu_hours
        return (lo + hi) / 2

    @property
    def usd(self) -> float:
        return self.gpu_hours * self.gpu.usd_per_hour


def _headroom(inp: Inputs) -> float:
    return float(inp.settings.value("hyperparameters.memory_headroom"))


def max_seq_length(inp: Inputs, entry: BaseModelEntry) -> int:
    s = inp.settings
    p95 = example_tokens(inp) * float(s.value("hyperparameters.seq_len_p95_over_mean"))
    step = int(s.value("hyperparameters.seq_len_multiple"))
    return int(min(max(step * math.ceil(p95 / step), 2 * step), entry.context_length))


def epochs_for(inp: Inputs) -> int:
    return int(inp.settings.by_threshold("hyperparameters.epochs_by_examples", inp.facts.examples_available,
                                         "epochs"))


def effective_batch_for(inp: Inputs) -> int:
    return int(inp.settings.by_threshold("hyperparameters.effective_batch_by_examples",
                                         inp.facts.examples_available, "batch"))


def _methods(inp: Inputs, entry: BaseModelEntry) -> list[str]:
    if (inp.answers.budget == "unlimited" and entry.params_b <= FULL_FT_MAX_PARAMS_B
            and inp.facts.examples_available >= FULL_FT_MIN_EXAMPLES):
        return ["full", "lora", "qlora"]
    return ["lora", "qlora"]


def _optimizer(method: str) -> str:
    # QLoRA paper: paged 8-bit AdamW absorbs memory spikes; LoRA/full use fused AdamW.
    return "paged_adamw_8bit" if method == "qlora" else "adamw"


# The estimator's optimizer names -> transformers' `optim` values (transformers.training_args.OptimizerNames).
TRAINER_OPTIM = {"adamw": "adamw_torch_fused", "adamw_8bit": "adamw_bnb_8bit",
                 "paged_adamw_8bit": "paged_adamw_8bit", "sgd": "sgd", "adafactor": "adafactor"}


def estimator_optimizer(optim: str) -> str:
    """transformers' `optim` value -> the memory estimator's optimizer family."""
    if optim in TRAINER_OPTIM:
        return optim
    if "8bit" in optim:
        return "paged_adamw_8bit" if optim.startswith("paged") else "adamw_8bit"
    return {"sgd": "sgd", "adafactor": "adafactor"}.get(optim, "adamw")


@lru_cache(maxsize=4096)
def _memory(arch: Architecture, method: str, seq_len: int, micro: int, grad_ckpt: bool, lora_r: int, count: int,
            sharding: str) -> MemoryEstimate:
    """Memory does not depend on the GPU type, so every GPU of a search shares one estimate."""
    return estimate_memory(arch, method=method, seq_len=seq_len, batch_size=micro,  # type: ignore[arg-type]
                           grad_ckpt=grad_ckpt, lora_r=lora_r, lora_targets=ALL_LINEAR,
                           optimizer=_optimizer(method), gpus=count, sharding=sharding)  # type: ignore[arg-type]


def _setups(inp: Inputs, entry: BaseModelEntry, gpu: GpuEntry, counts: tuple[int, ...], tokens: float,
            seq_len: int, lora_r: int) -> Iterator[Setup]:
    """Setups that fit `gpu`, in preference order (method, GPU count, no checkpointing, bigger batches).

    A generator: callers take the first, so the estimator runs only until something fits.
    """
    arch = entry.architecture
    limit = gpu.memory_gb * _headroom(inp)
    for method in _methods(inp, entry):
        for count in counts:
            for sharding in (("ddp",) if count == 1 else ("ddp", "fsdp")):
                strategy = "single_gpu" if count == 1 else sharding
                for grad_ckpt, micro_batches in ((False, (8, 4)), (True, MICRO_BATCHES)):
                    for micro in micro_batches:
                        mem = _memory(arch, method, seq_len, micro, grad_ckpt, lora_r, count, sharding)
                        if mem.peak_memory_gb > limit:
                            continue
                        comp = estimate_compute(arch, method=method, tokens=tokens, seq_len=seq_len,
                                                grad_ckpt=grad_ckpt, peak_tflops=gpu.training_tflops, gpus=count)
                        yield Setup(method, gpu, count, strategy, micro, grad_ckpt, _optimizer(method), mem, comp,
                                    seq_len)


def gpu_options(inp: Inputs) -> list[tuple[GpuEntry, tuple[int, ...]]]:
    """The GPUs the plan may use: the user's (local, or named for the cloud), else every catalog GPU."""
    f = inp.facts
    if f.gpu:
        gpu = inp.catalog.gpu(f.gpu, field="facts.gpu")
        return [(gpu, (f.gpu_count,))]
    return [(g, GPU_COUNTS) for g in inp.catalog.gpus]


def best_setup(inp: Inputs, entry: BaseModelEntry, lora_r: int) -> Setup | None:
    """The cheapest fitting setup; with a fixed GPU, the first fitting one in preference order."""
    seq_len = max_seq_length(inp, entry)
    train_examples = max(inp.facts.examples_available, int(inp.settings.value("data.minimum_examples")))
    tokens = train_examples * example_tokens(inp) * epochs_for(inp)
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
        "max_seq_length": f"{setup.seq_len} tokens: ~{example_tokens(inp):.0f} tokens per example x "
                          f"{s.value(h + 'seq_len_p95_over_mean')} for the p95, rounded up to "
                          f"{s.value(h + 'seq_len_multiple')} (measure with --data)",
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


def hardware(setup: Setup) -> Hardware:
    lo, hi = setup.compute.gpu_hours
    mid = setup.gpu_hours
    return Hardware(
        gpu=setup.gpu.id, gpu_count=setup.gpu_count, gpu_memory_gb=setup.gpu.memory_gb,
        peak_memory_gb=round(setup.memory.peak_memory_gb, 2), fits=True,
        memory_breakdown={k: round(v, 2) for k, v in setup.memory.breakdown.items()},
        strategy=setup.strategy, gpu_hours=round(mid, 2), gpu_hours_range=(round(lo, 2), round(hi, 2)),
        tokens_per_second=tuple(round(x) for x in setup.compute.tokens_per_second),  # type: ignore[arg-type]
        usd_per_hour=setup.gpu.usd_per_hour, wall_hours=round(mid / setup.gpu_count, 2),
    )
