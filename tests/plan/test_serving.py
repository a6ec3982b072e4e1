"""The serving latency model (generator.plan.serving)."""

from __future__ import annotations

import pytest

from generator.catalog import load_catalog
from generator.plan.memory import estimate_memory
from generator.plan.serving import decode_weights_read

CATALOG = load_catalog(())
MOE = next(m for m in CATALOG.models if m.architecture.num_experts > 1)
DENSE = next(m for m in CATALOG.models if m.architecture.num_experts == 1)


def test_a_dense_decode_step_reads_every_weight_whatever_the_batch() -> None:
    total = (DENSE.active_params_b or DENSE.params_b) * 1e9
    assert decode_weights_read(DENSE, 1) == decode_weights_read(DENSE, 64) == total


def test_an_moe_decode_step_reads_the_experts_its_batch_touches() -> None:
    a = MOE.architecture
    active, total = MOE.active_params_b * 1e9, MOE.params_b * 1e9  # type: ignore[operator]
    assert decode_weights_read(MOE, 1) == pytest.approx(active)  # one token: its k experts
    reads = [decode_weights_read(MOE, b) for b in (1, 2, 8, 32, 256)]
    assert reads == sorted(reads) and reads[-1] <= total * (1 + 1e-9)
    # uniform routing: E(1 - (1 - k/E)^B) experts of E touched
    per_expert = (total - active) / (a.num_experts - a.num_experts_per_tok)
    touched = a.num_experts * (1 - (1 - a.num_experts_per_tok / a.num_experts) ** 32)
    assert reads[3] == pytest.approx(active + (touched - a.num_experts_per_tok) * per_expert)
    assert reads[3] > 5 * active  # qwen3-30b-a3b at batch 32: ~87% of the experts, not 3.3B parameters


def test_qlora_keeps_fused_moe_experts_in_bf16() -> None:
    """bitsandbytes quantizes nn.Linear only; Transformers 5 fuses an MoE layer's experts into parameters."""
    a = MOE.architecture
    q = estimate_memory(a, method="qlora", seq_len=512, batch_size=1)
    lora = estimate_memory(a, method="lora", seq_len=512, batch_size=1)
    experts = a.num_layers * sum(i * o * n for name, (i, o, n) in a.linear_shapes().items()
                                 if name in ("gate_proj", "up_proj", "down_proj"))
    assert q.breakdown["weights"] > experts * 2 / 2**30  # at least the experts in bf16
    assert q.breakdown["weights"] < lora.breakdown["weights"]  # attention still NF4
    dense_q = estimate_memory(DENSE.architecture, method="qlora", seq_len=512, batch_size=1)
    dense_lora = estimate_memory(DENSE.architecture, method="lora", seq_len=512, batch_size=1)
    assert dense_q.breakdown["weights"] < 0.5 * dense_lora.breakdown["weights"]  # dense: every Linear in NF4
