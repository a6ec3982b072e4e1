"""Serving latency and throughput of the tuned model: the GPU, precision, batch and replicas that meet the p95
budget at peak traffic with one spare replica.

Decode is memory-bandwidth bound: one step reads the active weights once for the whole batch plus every
sequence's KV cache, so steps/s ~ efficiency x bandwidth / (weight bytes + batch x KV bytes). Prefill is
compute bound: ~2 x N_active FLOPs per prompt token at an achieved fraction of the GPU's peak. p95 latency ~
prefill(p95 prompt) + output tokens / steps/s. Replicas: enough for the peak request rate, plus one for
redundancy (N+1). Figures: planning.yaml serving.*, gpus.yaml memory_bandwidth_gbs and TFLOPS (datasheets).
"""

from __future__ import annotations

import math

from generator.catalog import BaseModelEntry, GpuEntry
from generator.plan.inputs import Inputs
from generator.plan.records import ServingPlan

# Bytes per weight by serving precision: bf16; FP8 (W8A8, Ada/Hopper tensor cores); AWQ 4-bit (+ scales).
PRECISION_BYTES = {"bf16": 2.0, "fp8": 1.0, "awq-int4": 0.5625}  # AWQ: 4 bits + a 16-bit scale per 128 weights
KV_BYTES = 2  # bf16 KV cache
BATCHES = (32, 16, 8, 4, 2, 1)
SECONDS_PER_HOUR = 3600


def _kv_bytes_per_token(entry: BaseModelEntry) -> float:
    a = entry.architecture
    return 2 * a.num_layers * a.num_kv_heads * a.dim_head * KV_BYTES


def decode_weights_read(entry: BaseModelEntry, batch: int) -> float:
    """Parameters one decode step of `batch` sequences reads. Dense: all of them. MoE: the shared part plus the
    experts at least one of the batch's tokens is routed to, E x (1 - (1 - k/E)^batch) per layer with uniform
    routing (at batch 32, 8 of 128 experts per token touch ~87% of them), not only the k active ones."""
    a = entry.architecture
    active = (entry.active_params_b or entry.params_b) * 1e9
    experts, k = a.num_experts, a.num_experts_per_tok
    if experts <= 1 or not entry.active_params_b or k >= experts:
        return active
    per_expert = (entry.params_b - entry.active_params_b) * 1e9 / (experts - k)  # one expert, every layer
    shared = active - k * per_expert
    touched = experts * (1 - (1 - k / experts) ** max(batch, 1))
    return shared + touched * per_expert


def evaluate(inp: Inputs, entry: BaseModelEntry, gpu: GpuEntry, precision: str, batch: int,
             prompt_tokens: float, output_tokens: float) -> tuple[float, float, float, int, float] | None:
    """(prefill ms, decode ms, requests/s per replica, GPUs per replica, KV GB) or None when it cannot fit."""
    s = inp.settings
    active = (entry.active_params_b or entry.params_b) * 1e9
    weights = entry.params_b * 1e9 * PRECISION_BYTES[precision]
    seq = prompt_tokens + output_tokens
    kv = batch * seq * _kv_bytes_per_token(entry)
    share = float(s.value("serving.weights_memory_share"))
    per_replica = math.ceil((weights + kv) / (gpu.memory_gb * 1e9 * share))
    if per_replica > 8:
        return None
    bandwidth = gpu.memory_bandwidth_gbs * 1e9 * float(s.value("serving.bandwidth_efficiency")) * per_replica
    # Each step reads the weights the batch touches (an MoE: the experts any of its tokens is routed to) and
    # the batch's KV cache.
    step_bytes = decode_weights_read(entry, batch) * PRECISION_BYTES[precision] + kv / 2  # half the sequence cached
    steps_per_s = bandwidth / step_bytes
    tflops = gpu.training_tflops * (2 if precision == "fp8" else 1) * per_replica
    prefill_s = 2 * active * prompt_tokens / (tflops * 1e12 * float(s.value("serving.prefill_efficiency")))
    decode_s = output_tokens / steps_per_s
    # Continuous batching interleaves the other sequences' prefills with this one's decode: a request waits
    # about one cycle of `batch` prefills plus its own decode (conservative), and a replica completes `batch`
    # requests per cycle.
    latency_s = decode_s + batch * prefill_s
    return prefill_s * 1000, latency_s * 1000 - prefill_s * 1000, batch / latency_s, per_replica, kv / 1e9


def plan_serving(inp: Inputs, entry: BaseModelEntry, gpus: list[GpuEntry], prompt_tokens: float) -> ServingPlan:
    """The cheapest GPU / precision / batch that meets the p95 budget; the fastest one when none does."""
    f, s = inp.facts, inp.settings
    hours = float(s.value("serving.hours_per_month"))
    peak_rps = (f.monthly_requests / (hours * SECONDS_PER_HOUR)) * float(s.value("serving.peak_to_mean"))
    budget_ms = float(f.latency_p95_ms)
    best: tuple[tuple[int, float, float], ServingPlan] | None = None
    for gpu in gpus:
        precisions = ["bf16"] + (["fp8"] if gpu.supports_fp8 else []) + ["awq-int4"]
        for precision in precisions:
            for batch in BATCHES:
                got = evaluate(inp, entry, gpu, precision, batch, prompt_tokens, f.avg_output_tokens)
                if got is None:
                    continue
                prefill, decode, rps, per_replica, kv_gb = got
                p95 = prefill + decode
                meets = p95 <= budget_ms
                needed = max(1, math.ceil(peak_rps / rps))
                replicas = needed + 1  # N + 1: one replica may fail or be redeployed
                spare = "+ 1 spare (N+1)"
                if f.owned_gpus and replicas * per_replica > f.gpu_count:
                    # your own GPUs: no spare beyond what you have (buying one is your call, said here)
                    replicas = max(needed, f.gpu_count // per_replica)
                    spare = f"no spare: you own {f.gpu_count} GPU(s), so a failure means downtime"
                price = gpu_monthly(inp, gpu) * per_replica * replicas
                why = (f"{precision} {entry.id} on {per_replica}x {gpu.id} per replica at batch {batch}: prefill "
                       f"~{prefill:,.0f} ms for ~{prompt_tokens:,.0f} prompt tokens + decode ~{decode:,.0f} ms for "
                       f"{f.avg_output_tokens:,} output tokens (the batch's other prefills interleaved) = "
                       f"~{p95:,.0f} ms against the {budget_ms:,.0f} ms p95 budget; "
                       f"{needed} replica(s) for {peak_rps:,.1f} requests/s at peak "
                       f"({rps:,.1f} per replica) {spare}")
                plan = ServingPlan(gpu=gpu.id, precision=precision, gpus_per_replica=per_replica,
                                   replicas=replicas, batch=batch, prefill_ms=round(prefill, 1),
                                   decode_ms=round(decode, 1), p95_latency_ms=round(p95, 1), meets_latency=meets,
                                   requests_per_s_per_replica=round(rps, 2), peak_requests_per_s=round(peak_rps, 2),
                                   kv_cache_gb=round(kv_gb, 2), monthly_usd=round(price, 2), why=why)
                # prefer: meets the budget, then cheaper, then bf16 (no quantization loss), then faster
                key = (0 if meets else 1, price if meets else p95, list(PRECISION_BYTES).index(precision))
                if best is None or key < best[0]:
                    best = (key, plan)
                if meets:
                    break  # a larger batch that meets the budget is cheaper than a smaller one
    assert best is not None, "no GPU can hold the model for serving"
    return best[1]


def gpu_monthly(inp: Inputs, gpu: GpuEntry) -> float:
    """One GPU for a month: rental, or power + amortisation when the GPUs are yours."""
    from generator.plan.cost import owned_gpu_monthly

    if inp.facts.owned_gpus:
        return owned_gpu_monthly(inp, gpu, 1)[0]
    return float(inp.settings.value("serving.hours_per_month")) * gpu.usd_per_hour
