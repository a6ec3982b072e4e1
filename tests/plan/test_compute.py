"""FLOPs per token and the GPU-hours range: hand-computed values and invariants."""

from __future__ import annotations

import pytest

from generator.catalog import Architecture
from generator.errors import UserError
from generator.plan.compute import (
    UTILIZATION,
    estimate_compute,
    flops_per_token,
    matmul_params,
)

LLAMA2_7B = Architecture(hidden_size=4096, num_layers=32, num_attention_heads=32, num_kv_heads=32,
                         intermediate_size=11008, vocab_size=32000)
MOE = Architecture(hidden_size=4096, num_layers=32, num_attention_heads=32, num_kv_heads=8,
                   intermediate_size=14336, vocab_size=32000, num_experts=8, num_experts_per_tok=2)
N_7B = 6_738_415_616 - 32000 * 4096  # the input embedding is a lookup, not a matmul
ATTN_7B_2K = 32 * 4096 * 2048  # L * d * s


def test_matmul_params_drop_the_input_embedding_unless_tied():
    assert matmul_params(LLAMA2_7B) == N_7B
    tied = LLAMA2_7B.model_copy(update={"tie_word_embeddings": True})
    assert matmul_params(tied) == tied.param_count()


def test_full_is_6n_plus_12_lds():
    full = flops_per_token(LLAMA2_7B, method="full", seq_len=2048, grad_ckpt=False)
    assert full == 6 * N_7B + 12 * ATTN_7B_2K


def test_lora_is_4n_plus_attention_and_qlora_the_same():
    lora = flops_per_token(LLAMA2_7B, method="lora", seq_len=2048, grad_ckpt=False)
    assert lora == 4 * N_7B + 12 * ATTN_7B_2K
    assert flops_per_token(LLAMA2_7B, method="qlora", seq_len=2048, grad_ckpt=False) == lora


def test_checkpointing_adds_one_forward():
    for method in ("full", "lora"):
        off = flops_per_token(LLAMA2_7B, method=method, seq_len=2048, grad_ckpt=False)
        on = flops_per_token(LLAMA2_7B, method=method, seq_len=2048, grad_ckpt=True)
        assert on - off == 2 * N_7B + 4 * ATTN_7B_2K


def test_moe_counts_active_experts_only():
    fpt = flops_per_token(MOE, method="full", seq_len=1024, grad_ckpt=False)
    active = MOE.active_param_count() - 32000 * 4096
    assert fpt == 6 * active + 12 * 32 * 4096 * 1024
    assert active < MOE.param_count() / 3


def test_estimate_compute_identities():
    est = estimate_compute(LLAMA2_7B, method="lora", tokens=1e8, seq_len=2048, grad_ckpt=True,
                           peak_tflops=989, gpus=1)
    fpt = flops_per_token(LLAMA2_7B, method="lora", seq_len=2048, grad_ckpt=True)
    assert est.flops_per_token == fpt
    assert est.total_flops == pytest.approx(fpt * 1e8)
    low_u, high_u = est.mfu_range
    assert (low_u, high_u) == UTILIZATION["lora"]
    assert est.gpu_hours[0] == pytest.approx(est.total_flops / (989e12 * high_u) / 3600)
    assert est.gpu_hours[1] == pytest.approx(est.total_flops / (989e12 * low_u) / 3600)
    assert est.tokens_per_second[0] < est.tokens_per_second[1]
    assert est.gpu_hours[0] < est.gpu_hours[1]
    assert set(est.to_dict()) == {"flops_per_token", "total_flops", "mfu_range", "tokens_per_second",
                                  "gpu_hours"}


def test_seven_b_lora_hours_by_hand():
    # 1e8 tokens x (6N + 16 L d s) ~ 4.39e18 FLOPs; on an H100 (989 TFLOPS) at 0.25-0.50: 2.5-4.9 hours.
    est = estimate_compute(LLAMA2_7B, method="lora", tokens=1e8, seq_len=2048, grad_ckpt=True,
                           peak_tflops=989)
    assert est.total_flops == pytest.approx(4.39e18, rel=0.01)
    assert est.gpu_hours[0] == pytest.approx(2.47, abs=0.02)
    assert est.gpu_hours[1] == pytest.approx(4.94, abs=0.03)


def test_more_gpus_more_throughput_same_gpu_hours():
    args = {"method": "full", "tokens": 1e9, "seq_len": 4096, "grad_ckpt": True, "peak_tflops": 312}
    one = estimate_compute(LLAMA2_7B, **args)
    four = estimate_compute(LLAMA2_7B, **args, gpus=4)
    assert four.tokens_per_second[0] == pytest.approx(4 * one.tokens_per_second[0])
    assert four.gpu_hours == pytest.approx(one.gpu_hours)


def test_qlora_is_slower_than_lora_and_full_range_is_within_published_bounds():
    assert UTILIZATION["qlora"][1] < UTILIZATION["lora"][1]
    for low, high in UTILIZATION.values():
        assert 0 < low < high < 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"tokens": 0}, "tokens"), ({"peak_tflops": -1}, "peak_tflops"), ({"gpus": 0}, "gpus"),
     ({"seq_len": 0}, "seq_len"), ({"method": "prefix"}, "method")],
)
def test_bad_input_names_the_field(kwargs, field):
    args = {"method": "lora", "tokens": 1e6, "seq_len": 512, "grad_ckpt": True, "peak_tflops": 121} | kwargs
    with pytest.raises(UserError) as err:
        estimate_compute(LLAMA2_7B, **args)
    assert field in [p.field for p in err.value.problems]
