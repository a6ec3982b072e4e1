"""Architecture's derived counts are computed once per instance and never go stale on a copy."""

from __future__ import annotations

from generator.catalog import Architecture

DENSE = {"hidden_size": 64, "num_layers": 2, "num_attention_heads": 4, "num_kv_heads": 2, "intermediate_size": 128,
         "vocab_size": 1000}


def _fresh(**update: int) -> Architecture:
    return Architecture(**{**DENSE, **update})


def test_counts_match_a_fresh_instance_after_model_copy() -> None:
    arch = _fresh()
    arch.param_count(), arch.active_param_count(), arch.linear_shapes()  # fill the caches
    for update in ({"num_layers": 5}, {"hidden_size": 128}, {"num_experts": 8, "num_experts_per_tok": 2}):
        copy, fresh = arch.model_copy(update=update), _fresh(**update)
        assert copy.param_count() == fresh.param_count()
        assert copy.active_param_count() == fresh.active_param_count()
        assert copy.linear_shapes() == fresh.linear_shapes()
        assert copy.linear_params_per_layer() == fresh.linear_params_per_layer()


def test_cached_counts_leave_equality_hashing_and_dumps_alone() -> None:
    used, unused = _fresh(), _fresh()
    used.param_count()
    assert used == unused and hash(used) == hash(unused)
    assert used.model_dump() == unused.model_dump() == {**DENSE, **{k: v for k, v in unused.model_dump().items()
                                                                     if k not in DENSE}}


def test_counts_by_hand() -> None:
    arch = _fresh()
    # q 64x64, k/v 64x32 each, o 64x64, gate/up 64x128, down 128x64
    per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 64 * 128 * 3
    assert arch.linear_params_per_layer() == per_layer
    assert arch.param_count() == 2 * per_layer + 2 * 1000 * 64 + (2 * 2 + 1) * 64
    moe = _fresh(num_experts=4, num_experts_per_tok=1)
    assert moe.param_count() - moe.active_param_count() == 3 * 64 * 128 * 3 * 2
