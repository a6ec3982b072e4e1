"""Fit and cost of one training configuration: the one function the planner's search and `ftplan check` call.

Both sides pass the same inputs (the architecture, the GPU, the method and batch shape, the tokens trained
on, the memory headroom), so a repository that nobody edited re-checks to exactly the planned numbers, and an
edit changes a number only through this function.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, TypedDict

from generator.catalog import Architecture, GpuEntry
from generator.plan.compute import ComputeEstimate, estimate_compute
from generator.plan.memory import Loss, MemoryEstimate, Method, Optimizer, Sharding, estimate_memory
from generator.plan.records import Strategy
from generator.record import Record

if TYPE_CHECKING:
    from generator.plan.inputs import Inputs


class GpuLike(Protocol):
    """What fit needs of a GPU: a catalog GpuEntry and the plan's GpuSpec record both provide it. An owned-only
    catalog card (no rental price) has a price only once `with_owned_rates` has priced it."""

    @property
    def memory_gb(self) -> float: ...
    @property
    def training_tflops(self) -> float: ...
    @property
    def usd_per_hour(self) -> float: ...
    @property
    def usd_per_hour_range(self) -> tuple[float, float]: ...


class Shape(TypedDict):
    """A configuration's shape: the keyword arguments `fit` and `memory_fits` share."""

    method: Method
    seq_len: int
    micro_batch: int
    grad_ckpt: bool
    lora_r: int
    targets: tuple[str, ...]
    optimizer: Optimizer
    gpu_count: int
    strategy: Strategy
    headroom: float
    loss: Loss


class Fit(Record):
    """Peak memory per GPU against the usable memory, and the time and money the run takes."""

    peak_memory_gb: float
    limit_gb: float  # memory_gb x headroom: what the plan allows itself to fill
    fits: bool
    breakdown: dict[str, float]
    gpu_hours: float  # midpoint of the utilization range
    gpu_hours_range: tuple[float, float]
    tokens_per_second: tuple[float, float]
    usd: float  # gpu_hours at the lowest listed price
    usd_range: tuple[float, float]  # fast run at the lowest price .. slow run at the highest
    memory: MemoryEstimate
    compute: ComputeEstimate


def sharding_of(strategy: Strategy) -> Sharding:
    """The memory estimator's sharding for a distribution strategy: FSDP and ZeRO-3 both shard states."""
    return "fsdp" if strategy in ("fsdp", "zero3") else "ddp"


@lru_cache(maxsize=4096)
def _memory(arch: Architecture, method: Method, seq_len: int, micro_batch: int, grad_ckpt: bool, lora_r: int,
            targets: tuple[str, ...], optimizer: Optimizer, gpu_count: int, sharding: Sharding,
            loss: Loss = "fp32") -> MemoryEstimate:
    """Memory does not depend on the GPU type, so every GPU of a search shares one estimate."""
    return estimate_memory(arch, method=method, seq_len=seq_len, batch_size=micro_batch, grad_ckpt=grad_ckpt,
                           lora_r=lora_r, lora_targets=targets, optimizer=optimizer, gpus=gpu_count,
                           sharding=sharding, loss=loss)


def fit(architecture: Architecture, gpu: GpuLike, *, method: Method, seq_len: int, micro_batch: int,
        grad_ckpt: bool, lora_r: int, targets: tuple[str, ...], optimizer: Optimizer, gpu_count: int,
        strategy: Strategy, tokens: float, headroom: float, loss: Loss = "fp32") -> Fit:
    """Fit and cost of training `tokens` (the plan's dataset tokens x epochs) with this configuration.

    `loss`: "chunked" when train.yaml turns on the Liger kernel's fused linear cross-entropy (no full logits)."""
    mem = _memory(architecture, method, seq_len, micro_batch, grad_ckpt, lora_r, tuple(targets), optimizer,
                  gpu_count, sharding_of(strategy), loss)
    comp = estimate_compute(architecture, method=method, tokens=tokens, seq_len=seq_len, grad_ckpt=grad_ckpt,
                            peak_tflops=gpu.training_tflops, gpus=gpu_count)
    lo, hi = comp.gpu_hours
    mid = (lo + hi) / 2
    p_lo, p_hi = gpu.usd_per_hour_range
    limit = gpu.memory_gb * headroom
    return Fit(peak_memory_gb=mem.peak_memory_gb, limit_gb=limit, fits=mem.peak_memory_gb <= limit,
               breakdown=dict(mem.breakdown), gpu_hours=mid, gpu_hours_range=(lo, hi),
               tokens_per_second=comp.tokens_per_second, usd=mid * gpu.usd_per_hour,
               usd_range=(lo * p_lo, hi * p_hi), memory=mem, compute=comp)


def memory_fits(architecture: Architecture, gpu: GpuLike, *, method: Method, seq_len: int, micro_batch: int,
                grad_ckpt: bool, lora_r: int, targets: tuple[str, ...], optimizer: Optimizer, gpu_count: int,
                strategy: Strategy, headroom: float, loss: Loss = "fp32") -> bool:
    """The memory half of `fit` alone, for the planner's search to skip setups before costing them."""
    mem = _memory(architecture, method, seq_len, micro_batch, grad_ckpt, lora_r, tuple(targets), optimizer,
                  gpu_count, sharding_of(strategy), loss)
    return mem.peak_memory_gb <= gpu.memory_gb * headroom


def fit_memory(architecture: Architecture, shape: Shape) -> MemoryEstimate:
    """The memory estimate of a shape (cached, shared with `fit`): what the planner's loss choice reads."""
    return _memory(architecture, shape["method"], shape["seq_len"], shape["micro_batch"], shape["grad_ckpt"],
                   shape["lora_r"], tuple(shape["targets"]), shape["optimizer"], shape["gpu_count"],
                   sharding_of(shape["strategy"]), shape["loss"])


def owned_hourly(inp: Inputs, gpu: GpuEntry) -> tuple[float, str]:
    """An hour of a card you own: a month of it (plan/cost.py owned_gpu_monthly: board power around the clock
    at planning.yaml's electricity price + the purchase amortised over owned_gpu.amortisation_months) over the
    month's hours (serving.hours_per_month)."""
    from generator.plan.cost import owned_gpu_monthly

    hours = float(inp.settings.value("serving.hours_per_month"))
    monthly, how = owned_gpu_monthly(inp, gpu, 1)
    rate = monthly / hours
    return rate, f"${rate:.4f}/hour = a month of owning it (${monthly:,.2f}: {how}) / {hours:g} hours"


def with_owned_rates(inp: Inputs) -> Inputs:
    """`inp` with every owned-only catalog card (`prices: []`) priced at what owning it costs (`owned_hourly`),
    so every reader of usd_per_hour (fit, serving, selection, plan.json's GPU entry) gets a number; and, when
    facts.gpu names such a card, the assumption that says so. Cloud plans never pick one (not cloud_listed)."""
    from generator.plan.inputs import Inputs
    from generator.plan.records import Assumption

    if not any(g.owned_only for g in inp.catalog.gpus):
        return inp
    gpus = tuple(g.owned_priced(*owned_hourly(inp, g)) if g.owned_only else g for g in inp.catalog.gpus)
    catalog = inp.catalog.model_copy(update={"gpus": gpus})
    assumptions = list(inp.assumptions)
    if inp.facts.gpu:
        named = catalog.gpu(inp.facts.gpu, field="facts.gpu")
        if named.owned_only:
            unowned = "" if inp.facts.owned_gpus else (
                "; you did not say you own it (facts.owned_gpus), and no provider's rental price is known")
            assumptions.append(Assumption(
                field="facts.gpu", value=named.id, kind="inferred",
                how=f"{named.id} has no rental price in the catalog: an hour on it costs what owning it costs, "
                    f"{named.owned_how}{unowned}"))
    return Inputs(answers=inp.answers, facts=inp.facts, catalog=catalog, settings=inp.settings, today=inp.today,
                  assumptions=assumptions)
