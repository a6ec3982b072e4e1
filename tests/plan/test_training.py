"""The planner's setup search (generator.plan.training)."""

from __future__ import annotations

import itertools

import pytest

from generator.catalog import ALL_LINEAR, load_catalog
from generator.plan.fit import fit_memory
from generator.plan.training import MICRO_BATCHES, Shape

CATALOG = load_catalog(())


@pytest.mark.parametrize("entry", CATALOG.models, ids=lambda e: e.id)
def test_the_search_floor_is_below_every_shape_of_its_group(entry) -> None:
    """_setups skips a (method, GPU count, strategy) group when its floor shape (micro-batch 1, checkpointing,
    chunked loss) does not fit: sound only while no shape of the group needs less memory than the floor."""
    arch = entry.architecture
    for method, count, seq_len in itertools.product(("full", "lora", "qlora"), (1, 2, 8), (512, 4096)):
        optimizer = "paged_adamw_8bit" if method == "qlora" else "adamw"
        for strategy in ("single_gpu",) if count == 1 else ("ddp", "fsdp"):
            common = {"method": method, "seq_len": seq_len, "lora_r": 16, "targets": tuple(ALL_LINEAR),
                      "optimizer": optimizer, "gpu_count": count, "strategy": strategy, "headroom": 0.85}
            floor = fit_memory(arch, Shape(**common, micro_batch=min(MICRO_BATCHES), grad_ckpt=True,
                                           loss="chunked")).peak_memory_gb
            for ckpt, micro, loss in itertools.product((False, True), (*MICRO_BATCHES, 4), ("fp32", "chunked")):
                shape = Shape(**common, micro_batch=micro, grad_ckpt=ckpt, loss=loss)
                assert fit_memory(arch, shape).peak_memory_gb >= floor, (method, count, strategy, shape)
