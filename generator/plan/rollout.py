"""Deployment and A/B: serving, sample size per arm, duration in whole weeks, stages, guardrails, rollback.

Sample size for two proportions (Kohavi et al. 2020, Trustworthy Online Controlled Experiments):
n = [z_{1-a/2} sqrt(2 p(1-p)) + z_{1-b} sqrt(p1(1-p1) + p2(1-p2))]^2 / (p2 - p1)^2, p = (p1 + p2) / 2.
"""

from __future__ import annotations

import math

from generator.catalog import BaseModelEntry, GpuEntry
from generator.plan.evaluation import z
from generator.plan.inputs import Inputs
from generator.plan.records import ABTest, Retrieval, Rollout, Stage

DAYS_PER_MONTH = 30
WEEK = 7
SERVING_MEMORY_SHARE = 0.9  # weights may take 90% of a serving GPU, the rest is KV cache at minimum


def ab_sample_size(p1: float, p2: float, alpha: float, power: float) -> int:
    p = (p1 + p2) / 2
    num = z(1 - alpha / 2) * math.sqrt(2 * p * (1 - p)) + z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num**2 / (p2 - p1) ** 2)


def serving_gpus(inp: Inputs, entry: BaseModelEntry, gpu: GpuEntry) -> tuple[int, str]:
    """GPUs to serve the tuned model: memory for bf16 weights, then decode throughput at peak traffic."""
    s, f = inp.settings, inp.facts
    weights_gb = entry.params_b * 2  # bf16 serving
    by_memory = math.ceil(weights_gb / (gpu.memory_gb * SERVING_MEMORY_SHARE))
    active_b = entry.active_params_b or entry.params_b
    # Decode is bandwidth bound: each step reads the active weights once for the whole batch.
    steps_per_s = gpu.memory_bandwidth_gbs * float(s.value("serving.bandwidth_efficiency")) / (active_b * 2)
    tokens_per_s = steps_per_s * float(s.value("serving.batch_concurrency")) * by_memory
    hours = float(s.value("serving.hours_per_month"))
    needed = f.monthly_requests * f.avg_output_tokens / (hours * 3600) * float(s.value("serving.peak_to_mean"))
    replicas = max(1, math.ceil(needed / tokens_per_s))
    why = (f"{by_memory} GPU(s) per replica for {weights_gb:.0f} GB of bf16 weights; {replicas} replica(s) for "
           f"{needed:,.0f} output tokens/s at peak against ~{tokens_per_s:,.0f} per replica "
           f"(bandwidth-bound decode, {s.source('serving.bandwidth_efficiency')})")
    return by_memory * replicas, why


REINDEX = {"static": "when a document is added or changed (a nightly job that re-embeds changed files)",
           "periodic": "on every document update (re-embed the changed documents the same day)",
           "realtime": "streaming upserts: embed each document as it changes; answers show the document's date"}


def retrieval_design(inp: Inputs) -> Retrieval:
    s, f = inp.settings, inp.facts
    r = "retrieval."
    k = int(s.value(r + "top_k"))
    return Retrieval(
        chunking=(f"{s.value(r + 'chunk_tokens')}-token chunks with {s.value(r + 'chunk_overlap_tokens')} tokens "
                  f"of overlap, split on headings/sentences, each chunk keeping its document id and section "
                  f"({s.source(r + 'chunk_tokens')})"),
        embedding_model=f"{s.value(r + 'embedding_model')} ({s.source(r + 'embedding_model')})",
        reranker=f"{s.value(r + 'reranker')} over the top {4 * k} hits ({s.source(r + 'reranker')})",
        top_k=k,
        reindex=REINDEX[f.knowledge_freshness],
        checks=[
            f"recall@{k} >= {float(s.value(r + 'recall_at_k_min')):.0%} on held-out questions whose answer "
            f"passage is known ({s.source(r + 'recall_at_k_min')})",
            f"groundedness >= {float(s.value(r + 'groundedness_min')):.0%}: every claim supported by a retrieved "
            f"passage ({s.source(r + 'groundedness_min')})",
            "citation accuracy: the cited section is the one that answers the question",
            "freshness: after a document changes, a question about the change is answered from the new text",
        ],
        monthly_usd=float(s.value("rag.monthly_infra_usd")),
    )


def plan_rollout(inp: Inputs, serving: str, serving_gpu_count: int, serving_monthly_usd: float,
                 cost_per_request: float) -> Rollout:
    f, s = inp.facts, inp.settings
    alpha, power = float(s.value("rollout.alpha")), float(s.value("rollout.power"))
    p1 = f.baseline_score if f.baseline_score is not None else float(s.value("rollout.default_success_rate"))
    mde = float(s.value("rollout.min_detectable_effect"))
    if f.baseline_score is not None and f.target_score is not None and f.target_score > f.baseline_score:
        mde = max(mde, (f.target_score - f.baseline_score) / 2)
    p2 = min(p1 + mde, 0.999)
    n = ab_sample_size(p1, p2, alpha, power)
    daily = max(1, f.monthly_requests // DAYS_PER_MONTH)
    share = float(s.value("rollout.ab_traffic_share"))
    days = max(math.ceil(n / (daily * share)), f.ab_min_days)  # the shortest A/B the business accepts
    weeks = max(1, math.ceil(days / WEEK))
    stages = [Stage(**row) for row in s.raw("rollout.stages")["rows"]]
    for st in stages:
        if st.traffic_pct == share * 100:
            st.min_days = max(st.min_days, weeks * WEEK)
    guardrails = {
        "error_rate": float(s.value("rollout.error_rate_max")),
        "format_validity": float(s.value("rollout.format_validity_min")),
        "cost_per_request_usd": round(cost_per_request * 1.2, 6),
    }
    if f.latency_p95_ms:
        guardrails["p95_latency_ms"] = float(f.latency_p95_ms)
    rollback = [
        f"error rate above {guardrails['error_rate']:.0%} over any hour",
        f"format validity below {guardrails['format_validity']:.0%}",
        f"cost per request above ${guardrails['cost_per_request_usd']:.6f} (20% over plan)",
        "the success rate's 95% CI of the lift lies entirely below zero",
        f"sample-ratio mismatch (chi-square p < {s.value('rollout.srm_alpha')}): stop and fix assignment first",
    ]
    if f.latency_p95_ms:
        rollback.insert(0, f"p95 latency above {f.latency_p95_ms:.0f} ms for 15 minutes")
    notes = []
    max_days = int(s.value("rollout_max_ab_days"))
    if weeks * WEEK > max_days:
        notes.append(f"At {daily:,} requests/day the A/B test needs {weeks * WEEK} days, more than {max_days}: "
                     "decide on the offline paired evaluation instead, then ship to everyone with a weekly "
                     "human review of 50 sampled outputs and the same rollback criteria.")
    return Rollout(
        notes=notes,
        serving=serving, serving_gpus=serving_gpu_count, serving_monthly_usd=round(serving_monthly_usd, 2),
        ab=ABTest(baseline_rate=p1, mde=round(mde, 4), alpha=alpha, power=power, sample_size_per_arm=n,
                  duration_days=weeks * WEEK, daily_requests=daily),
        stages=stages, guardrails=guardrails, srm_alpha=float(s.value("rollout.srm_alpha")),
        rollback_criteria=rollback,
    )
