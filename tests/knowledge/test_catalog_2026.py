"""The catalog a late-2026 user expects (issue 10): GPUs from 8 GB up, current model families, MoE handled.

Each added entry is sourced and dated; a 12 GB consumer card plans a fit; an 8 GB card fits a small model with
QLoRA, and a card too small for any model says so; an MoE model's memory holds every expert while its FLOPs
follow the active ones.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from generator.answers import load_answers
from generator.catalog import Catalog, load_catalog
from generator.errors import UserError
from generator.plan import build_plan
from generator.plan.compute import flops_per_token, matmul_params
from generator.plan.memory import GIB, estimate_memory
from generator.plan.settings import load_settings
from tests.knowledge.helpers import bundled, write

TODAY = dt.date(2026, 11, 25)
READ_ON = dt.date(2026, 12, 1)  # the day the sources of the entries below were read
ADDED_GPUS = {"RTX-3060", "RTX-5090", "B200", "RTX-4060", "RTX-4060-Ti-16GB", "RTX-4070", "RTX-4080"}
OWNED_ONLY = {"RTX-4060", "RTX-4060-Ti-16GB", "RTX-4070", "RTX-4080"}  # no rental price could be sourced
ADDED_MODELS = {"qwen3-30b-a3b", "smollm3-3b", "olmo-2-0425-1b-instruct", "olmo-2-1124-7b-instruct"}
OWNED_ANSWERS = Path(__file__).resolve().parents[1] / "expert" / "answers" / "owned_consumer_gpu.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _plan_on(tmp_path: Path, gpu: str, catalog_dirs: tuple[Path, ...] = ()) -> dict:
    """The hospital's owned-GPU extraction answers, on another GPU."""
    answers = yaml.safe_load(OWNED_ANSWERS.read_text(encoding="utf-8"))
    answers["facts"]["gpu"] = gpu
    path = write(tmp_path, "answers.yaml", answers)
    settings = load_settings(catalog_dirs)
    return build_plan(load_answers(path), load_catalog(catalog_dirs), settings, TODAY).to_dict()


def _card(tmp_path: Path, memory_gb: float) -> Path:
    """A user catalog with one consumer card of `memory_gb`, otherwise the bundled RTX 3060."""
    entry = {**bundled("gpus", "RTX-3060"), "id": f"CARD-{memory_gb:g}GB", "name": f"a {memory_gb:g} GB card",
             "aliases": [], "memory_gb": memory_gb}
    folder = tmp_path / "mine"
    write(folder, "gpus.yaml", {"entries": [entry]})
    return folder


# ------------------------------------------------------------------ every added entry is sourced and dated


def test_the_added_entries_are_there_sourced_and_dated(catalog: Catalog) -> None:
    gpus = {g.id: g for g in catalog.gpus}
    models = {m.id: m for m in catalog.models}
    assert ADDED_GPUS <= set(gpus) and ADDED_MODELS <= set(models)
    for item in [*(gpus[i] for i in ADDED_GPUS), *(models[i] for i in ADDED_MODELS)]:
        assert "https://" in item.source and " — " in item.source, item.id
        assert item.as_of == READ_ON, item.id
    for gid in ADDED_GPUS:
        g = gpus[gid]
        assert (g.prices or gid in OWNED_ONLY) and all(
            "https://" in p.source and dt.date(2026, 1, 1) <= p.as_of <= READ_ON for p in g.prices), gid
        assert g.board_power_w and g.owned_source, gid
    # Consumer cards are what people own: they carry the launch price the owned-GPU cost amortises.
    assert gpus["RTX-3060"].purchase_usd == 329 and gpus["RTX-5090"].purchase_usd == 1999
    # The owned-only cards: NVIDIA's memory, board power and launch price; dense 16-bit TFLOPS derived from
    # its AI TOPS (/ 8, the RTX 4090's ratio), and the entry says how.
    expected = {"RTX-4060": (8, 272, 115, 299, 30.2, 242), "RTX-4060-Ti-16GB": (16, 288, 165, 499, 44.1, 353),
                "RTX-4070": (12, 504, 200, 599, 58.3, 466), "RTX-4080": (16, 717, 320, 1199, 97.5, 780)}
    for gid, (memory, bandwidth, watts, msrp, tflops, ai_tops) in expected.items():
        g = gpus[gid]
        assert g.owned_only and not g.cloud_listed and g.prices == [], gid
        assert (g.memory_gb, g.memory_bandwidth_gbs, g.board_power_w, g.purchase_usd) == (memory, bandwidth, watts,
                                                                                            msrp), gid
        assert g.bf16_tflops == g.fp16_tflops == tflops == pytest.approx(ai_tops / 8, abs=0.06), gid
        assert g.supports_bf16 and g.supports_fp8, gid
        assert f"{ai_tops} AI TOPS" in g.source and "/ 8" in g.source and "nvidia.com" in g.source, gid
        assert f"${msrp:,}" in str(g.owned_source) and f"{watts} W" in str(g.owned_source), gid
    # The ratio the derivation uses: the RTX 4090's whitepaper figure against its 1,321 AI TOPS.
    assert 1321 / gpus["RTX-4090"].bf16_tflops == pytest.approx(8, rel=0.001)


def test_gpus_start_at_8_gb_and_users_spellings_resolve(catalog: Catalog) -> None:
    assert min(g.memory_gb for g in catalog.gpus) == 8
    for written, gpu in [("RTX 3060", "RTX-3060"), ("3060", "RTX-3060"), ("GeForce RTX 3060", "RTX-3060"),
                         ("rtx 3060 12gb", "RTX-3060"), ("RTX 5090", "RTX-5090"), ("5090", "RTX-5090"),
                         ("b200", "B200"), ("HGX B200", "B200"), ("NVIDIA B200", "B200"),
                         ("RTX 4070", "RTX-4070"), ("4070", "RTX-4070"), ("NVIDIA GeForce RTX 4070", "RTX-4070"),
                         ("4060 Ti", "RTX-4060-Ti-16GB"), ("RTX 4060 Ti 16GB", "RTX-4060-Ti-16GB"),
                         ("4080", "RTX-4080"), ("RTX 4080", "RTX-4080"), ("4060", "RTX-4060"),
                         ("RTX 4060", "RTX-4060"), ("rtx 4060 8gb", "RTX-4060")]:
        assert catalog.gpu(written).id == gpu, written


def test_a_single_rental_quote_is_enough_only_for_a_card_people_own(catalog: Catalog) -> None:
    rtx3060 = catalog.gpu("RTX-3060")
    assert len(rtx3060.prices) == 1 and rtx3060.usd_per_hour == rtx3060.usd_per_hour_range[0] == 0.047
    assert all(len(g.prices) >= 2 for g in catalog.gpus if not (g.board_power_w and g.purchase_usd))
    # No price at all: an owned-only card, whose hourly cost needs planning.yaml (power + amortisation).
    rtx4070 = catalog.gpu("RTX-4070")
    assert rtx4070.owned_only and not rtx4070.cloud_listed
    with pytest.raises(ValueError, match="no rental price"):
        _ = rtx4070.usd_per_hour


# ------------------------------------------------------------------ 12 GB and 8 GB cards get a plan


def test_an_owned_rtx_3060_plans_a_lora_or_qlora_fit_on_a_small_model(tmp_path: Path) -> None:
    p = _plan_on(tmp_path, "RTX 3060")  # the spelling users type
    hw = p["training"]["hardware"]
    assert p["decision"]["recommendation"] == "fine_tune"
    assert hw["gpu"] == "RTX-3060" and hw["gpu_count"] == 1 and hw["fits"]
    assert p["training"]["method"] in ("lora", "qlora")
    assert hw["peak_memory_gb"] <= 12 * 0.85  # planning.yaml memory_headroom
    assert p["base_model"]["params_b"] <= 4
    # Owned: training costs the card's power, not the rental quote.
    power = 170 / 1000 * 0.13  # board_power_w, owned_gpu.electricity_usd_per_kwh
    assert p["cost"]["training_usd"] == pytest.approx(hw["gpu_hours"] * power, abs=0.01)


def test_an_8_gb_card_fits_a_small_model_with_qlora_and_says_why(tmp_path: Path) -> None:
    p = _plan_on(tmp_path, "CARD-8GB", (_card(tmp_path, 8),))
    hw = p["training"]["hardware"]
    assert hw["gpu"] == "CARD-8GB" and hw["fits"] and hw["peak_memory_gb"] <= 8 * 0.85
    assert p["training"]["method"] == "qlora" and p["base_model"]["params_b"] <= 4
    assert "LoRA does not fit" in p["training"]["why"] and "QLoRA" in p["training"]["why"]
    excluded = [c for c in p["candidates"] if c["recommendation"].startswith("excluded")]
    assert any("budget" in c["recommendation"] for c in excluded)  # 8B+ models: above the minimal budget


def test_a_card_too_small_for_any_model_names_the_gpu_field(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        _plan_on(tmp_path, "CARD-1GB", (_card(tmp_path, 1),))
    (problem,) = info.value.problems
    assert problem.field == "facts.gpu" and "larger GPU" in problem.fix


# ------------------------------------------------------------------ MoE: memory holds all experts, FLOPs the active


def test_moe_memory_counts_every_expert_and_flops_only_the_active_ones(catalog: Catalog) -> None:
    entry = catalog.model("qwen3-30b-a3b")
    arch = entry.architecture
    # The card: 30.5B total, 3.3B activated (128 experts, 8 per token).
    assert arch.param_count() / 1e9 == pytest.approx(30.5, rel=0.01)
    assert arch.active_param_count() / 1e9 == pytest.approx(3.3, rel=0.02)
    lora = estimate_memory(arch, method="lora", seq_len=2048, batch_size=1)
    assert lora.total_params == arch.param_count()
    assert lora.breakdown["weights"] == pytest.approx(arch.param_count() * 2 / GIB, rel=0.001)  # bf16, all experts
    # Per-token compute follows the active parameters: 4N for LoRA, N without the input embedding lookup.
    n = matmul_params(arch)
    assert n == arch.active_param_count() - arch.vocab_size * arch.hidden_size
    no_attention = flops_per_token(arch, method="lora", seq_len=1, grad_ckpt=False)
    assert no_attention == pytest.approx(4 * n, rel=0.01)
    assert no_attention < 0.15 * 4 * arch.param_count()
    # A dense model of the same total size costs ~9x the FLOPs per token.
    dense = catalog.model("qwen3-32b").architecture
    assert flops_per_token(dense, method="lora", seq_len=1, grad_ckpt=False) > 8 * no_attention
