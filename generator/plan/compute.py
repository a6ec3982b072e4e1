"""Training FLOPs, throughput and GPU-hours for one fine-tuning run.

Why a range: FLOPs per token follow from the architecture, but the fraction of the GPU's peak a run
reaches (utilization) depends on the stack, sequence lengths and padding. The plan quotes a low/high
range from published measurements instead of one number it cannot back.

Counting convention: `flops_per_token` counts the FLOPs the GPU executes, recomputation included, so the
utilization ranges below are hardware-FLOPs utilization (HFU in Korthikanti et al. 2022 / llm-foundry's
terms); with checkpointing off it equals MFU. Pure functions, no I/O, no torch.
"""

from __future__ import annotations

from generator.catalog import Architecture
from generator.errors import Problem, UserError
from generator.plan.memory import METHODS, Method
from generator.record import Record

# A multiply-accumulate is 2 FLOPs; training runs the forward (2N per token), the backward through the
# activations (2N) and the weight gradients (2N): 6N (Kaplan et al. 2020, "Scaling Laws", section 2.1).
FORWARD_FLOPS_PER_PARAM = 2
BACKWARD_INPUT_FLOPS_PER_PARAM = 2
WEIGHT_GRAD_FLOPS_PER_PARAM = 2
# Attention scores and the weighted sum of values: 2 matmuls of s x d per token per layer, 2 FLOPs per
# MAC -> 4*s*d forward, 12*s*d for forward + backward (PaLM paper, Chowdhery et al. 2022, appendix B:
# 6N + 12*L*H*Q*T; llm-foundry benchmarking README uses the same). Causal masking is not discounted.
ATTENTION_FORWARD_FLOPS = 4
ATTENTION_TRAIN_MULTIPLIER = 3

# Utilization ranges (fraction of dense bf16 peak, counted as above).
# Full fine-tuning: llm-foundry scripts/train/benchmarking/README.md (MPT, FSDP FULL_SHARD, amp_bf16,
# commit 061f2c7): H100 80GB rows HFU 0.35-0.59, the A100 80GB rows read HFU 0.52-0.75, packed data, a
# tuned stack. A Trainer fine-tune on padded chat data sits below that: 0.30-0.50.
FULL_UTILIZATION = (0.30, 0.50)
# LoRA: REFERENCES.md gives 0.25-0.40. Derived from the torchtune README (2024 table, 1x RTX 4090,
# Llama2-7B LoRA, batch 4, seq len up to 2048): 2,582 tokens/s x 4N (N = 6.6e9 non-embedding params)
# = 68 TFLOPS = 0.41 of 165 TFLOPS; 0.62 if its activation checkpointing (+2N) is counted. The frozen
# base skips weight gradients but keeps the same matmul shapes, so LoRA runs near full-FT efficiency on a
# tuned stack: 0.25-0.50.
LORA_UTILIZATION = (0.25, 0.50)
# QLoRA: every Linear is dequantized from NF4 in the forward and again in the backward (bitsandbytes
# dequantize_4bit), pure memory traffic that adds no FLOPs; QLoRA paper (Dettmers et al. 2023) trades
# speed for memory. Same torchtune table: QLoRA 3,155 tokens/s but with torch.compile, which the
# generated repo does not use, so no upper bound is taken from it. Range: 0.15-0.40.
QLORA_UTILIZATION = (0.15, 0.40)
UTILIZATION: dict[str, tuple[float, float]] = {
    "full": FULL_UTILIZATION,
    "lora": LORA_UTILIZATION,
    "qlora": QLORA_UTILIZATION,
}
TERA = 1e12
SECONDS_PER_HOUR = 3600.0


class ComputeEstimate(Record):
    """FLOPs and the time range they take; the plan prices the GPU-hours."""

    flops_per_token: float
    total_flops: float
    mfu_range: tuple[float, float]
    tokens_per_second: tuple[float, float]
    gpu_hours: tuple[float, float]



def matmul_params(arch: Architecture) -> int:
    """Parameters each token multiplies with: active params minus the input embedding (a lookup)."""
    lookup = 0 if arch.tie_word_embeddings else arch.vocab_size * arch.hidden_size
    return arch.active_param_count() - lookup


def flops_per_token(arch: Architecture, *, method: Method, seq_len: int, grad_ckpt: bool) -> float:
    """Executed training FLOPs per token: 6N (full) or 4N (LoRA/QLoRA: no base weight gradients),
    + attention 12*L*d*s, + one more forward (2N + 4*L*d*s) with checkpointing. N counts MoE's active
    experts only."""
    if method not in METHODS:
        raise UserError(Problem("method", f"unknown method {method!r}", f"use one of {METHODS}"))
    if seq_len <= 0:
        raise UserError(Problem("seq_len", f"must be positive, got {seq_len}", "use e.g. 2048"))
    n = matmul_params(arch)
    per_param = FORWARD_FLOPS_PER_PARAM + BACKWARD_INPUT_FLOPS_PER_PARAM
    if method == "full":
        per_param += WEIGHT_GRAD_FLOPS_PER_PARAM
    d_attn = arch.num_attention_heads * arch.dim_head
    attn_forward = ATTENTION_FORWARD_FLOPS * arch.num_layers * d_attn * seq_len
    # Attention has no weights: its backward needs gradients for q, k and v whatever the method.
    total = per_param * n + ATTENTION_TRAIN_MULTIPLIER * attn_forward
    if grad_ckpt:
        total += FORWARD_FLOPS_PER_PARAM * n + attn_forward
    return float(total)


def estimate_compute(
    arch: Architecture,
    *,
    method: Method,
    tokens: float,
    seq_len: int,
    grad_ckpt: bool,
    peak_tflops: float,
    gpus: int = 1,
) -> ComputeEstimate:
    """Total FLOPs for `tokens` (dataset tokens x epochs) and the time range at the method's utilization.

    Multi-GPU runs are assumed to scale linearly; communication losses are inside the low end of the range.
    """
    problems = []
    if tokens <= 0:
        problems.append(Problem("tokens", f"must be positive, got {tokens}", "pass dataset tokens x epochs"))
    if peak_tflops <= 0:
        problems.append(Problem("peak_tflops", f"must be positive, got {peak_tflops}",
                                "use the GPU's dense bf16 TFLOPS, e.g. 989 for H100 SXM"))
    if gpus <= 0:
        problems.append(Problem("gpus", f"must be positive, got {gpus}", "use 1 for a single GPU"))
    if problems:
        raise UserError(problems)
    fpt = flops_per_token(arch, method=method, seq_len=seq_len, grad_ckpt=grad_ckpt)
    total = fpt * tokens
    low_u, high_u = UTILIZATION[method]
    cluster_flops = peak_tflops * TERA * gpus
    tps = (cluster_flops * low_u / fpt, cluster_flops * high_u / fpt)
    hours = (total / (peak_tflops * TERA * high_u) / SECONDS_PER_HOUR,
             total / (peak_tflops * TERA * low_u) / SECONDS_PER_HOUR)
    return ComputeEstimate(
        flops_per_token=fpt,
        total_flops=total,
        mfu_range=(low_u, high_u),
        tokens_per_second=tps,
        gpu_hours=hours,
    )
