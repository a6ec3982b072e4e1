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


def _plan(name: str, **facts: object) -> dict:
    import datetime as dt
    import json
    from pathlib import Path

    import yaml

    from generator.answers import parse_answers
    from generator.plan import build_plan
    from generator.plan.settings import load_settings

    root = Path(__file__).resolve().parents[2]
    raw = yaml.safe_load((root / "configs" / "examples" / f"{name}.yaml").read_text(encoding="utf-8"))
    raw["facts"] = {**(raw.get("facts") or {}), **facts}
    plan = build_plan(parse_answers(raw, name), CATALOG, load_settings(), dt.date(2026, 11, 25))
    return json.loads(plan.to_json())


def test_cloud_plans_rent_only_gpus_several_providers_list() -> None:
    """A card with one (marketplace, preemptible) quote never trains or serves a rented plan on its own."""
    single = {g.id for g in CATALOG.gpus if not g.cloud_listed}
    assert single, "the catalog has a one-quote GPU (RTX-3060): the rule below would test nothing without one"
    plan = _plan("support_triage")
    assert plan["training"]["hardware"]["gpu"] not in single
    assert not any(gpu in plan["rollout"]["serving"] for gpu in single)
    named = _plan("support_triage", gpu="RTX-3060")  # named by the user: planned on it
    assert named["training"]["hardware"]["gpu"] == "RTX-3060"


def test_owned_gpus_evaluate_at_the_electricity_price() -> None:
    kw = {"gpu": "H100-SXM", "gpu_count": 8}
    owned, rented = (_plan("code_assistant_multi_gpu", **kw, owned_gpus=o)["cost"]["evaluation_usd"]
                      for o in (True, False))
    assert rented > 0 and owned < rented  # a few cents of rental; the same hours cost under a cent of power
