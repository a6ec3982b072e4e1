"""Owned-only GPUs (issue 10): a consumer card nobody rents at a sourced price (`prices: []`, board power and
launch price set) gets a plan when you own it or name it, priced at what owning it costs (power at
planning.yaml's electricity price + the purchase amortised over its lifetime), and a cloud plan never picks one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from generator.answers import load_answers
from generator.catalog import GpuEntry, load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings
from tests.knowledge.helpers import bundled, run, write

TODAY = dt.date(2026, 11, 25)
OWNED_ANSWERS = Path(__file__).resolve().parents[1] / "expert" / "answers" / "owned_consumer_gpu.yaml"
HOURS, KWH, MONTHS = 730, 0.13, 36  # planning.yaml serving.hours_per_month, owned_gpu.*


def _answers(tmp_path: Path, gpu: str | None, infrastructure: str = "local") -> Path:
    """The hospital's owned-GPU extraction answers on another GPU (none: the plan picks), local or cloud."""
    answers = yaml.safe_load(OWNED_ANSWERS.read_text(encoding="utf-8"))
    answers["infrastructure"] = infrastructure
    if gpu is None:
        answers["facts"].pop("gpu")
    else:
        answers["facts"]["gpu"] = gpu
    if infrastructure != "local":
        answers["facts"]["data_sensitivity"] = "internal"
    return write(tmp_path, "answers.yaml", answers)


def _plan(path: Path, catalog_dirs: tuple[Path, ...] = ()) -> dict:
    return build_plan(load_answers(path), load_catalog(catalog_dirs), load_settings(catalog_dirs), TODAY).to_dict()


@pytest.fixture(scope="module")
def owned_4070(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = _answers(tmp_path_factory.mktemp("owned4070"), "RTX 4070")  # the spelling users type
    return path, _plan(path)


# ------------------------------------------------------------------ the schema


def test_no_price_is_allowed_only_for_a_card_with_board_power_and_launch_price() -> None:
    data = {**bundled("gpus", "RTX-4070"), "id": "MINE", "aliases": []}
    assert GpuEntry.model_validate(data).owned_only
    for missing in ("board_power_w", "purchase_usd"):
        with pytest.raises(ValidationError, match="prices"):
            GpuEntry.model_validate({k: v for k, v in data.items() if k != missing})


def test_an_owned_only_card_has_a_price_only_once_priced_and_the_catalog_entry_stays_unpriced() -> None:
    card = load_catalog().gpu("RTX-4070")
    with pytest.raises(ValueError, match="no rental price"):
        _ = card.usd_per_hour_range
    priced = card.owned_priced(0.05, "how")
    assert priced.usd_per_hour == 0.05 and priced.usd_per_hour_range == (0.05, 0.05)
    assert priced.price_quote[0].startswith("your own card") and not priced.cloud_listed
    assert load_catalog().gpu("RTX-4070").owned_how is None  # the shared bundled entry is untouched


# ------------------------------------------------------------------ an owned RTX 4070 gets a plan


def test_an_owned_rtx_4070_plans_a_fit_priced_at_electricity_and_power_plus_amortisation(
        owned_4070: tuple[Path, dict]) -> None:
    _, p = owned_4070
    hw = p["training"]["hardware"]
    assert hw["gpu"] == "RTX-4070" and hw["fits"] and hw["peak_memory_gb"] <= 12 * 0.85
    # Training on your own card costs its electricity.
    assert p["cost"]["training_usd"] == pytest.approx(hw["gpu_hours"] * 200 / 1000 * KWH, abs=0.01)
    # A month of it: power around the clock + the $599 launch price over 36 months.
    monthly = 200 / 1000 * HOURS * KWH + 599 / MONTHS
    fine_tune = next(r for r in p["roi"]["rows"] if r["option"] == "fine_tune")
    assert fine_tune["monthly_usd"] == pytest.approx(monthly, abs=0.01)
    assert p["rollout"]["serving_plan"]["gpu"] == "RTX-4070"
    # plan.json's GPU entry (what `ftplan check` re-costs with) carries the owning cost per hour, and says so.
    spec = hw["gpu_spec"]
    assert spec["usd_per_hour"] == pytest.approx(monthly / HOURS) and spec["usd_per_hour_range"][0] == spec[
        "usd_per_hour"]
    assert spec["price_provider"].startswith("your own card") and "amortisation" in spec["price_source"]
    (said,) = [a for a in p["assumptions"] if a["field"] == "facts.gpu"]
    assert said["value"] == "RTX-4070" and "no rental price" in said["how"] and "amortisation" in said["how"]
    assert "you did not say you own it" not in said["how"]


def test_ftplan_check_of_a_scaffolded_owned_only_repo_says_ok(owned_4070: tuple[Path, dict],
                                                              tmp_path: Path) -> None:
    answers, _ = owned_4070
    repo = tmp_path / "repo"
    made = run("scaffold", str(answers), "-o", str(repo), "--today", TODAY.isoformat())
    assert made.exit_code == 0, made.output
    assert json.loads((repo / "plan.json").read_text(encoding="utf-8"))["training"]["hardware"]["gpu"] == "RTX-4070"
    checked = run("check", str(repo))
    assert checked.exit_code == 0, checked.output
    assert "ftplan check: OK" in checked.output and "as planned" in checked.output


def test_ftplan_estimate_and_gpus_take_an_owned_only_card() -> None:
    res = run("estimate", "smollm3-3b", "--gpu", "RTX-4070", "--method", "qlora", "--format", "json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)["gpu"]
    assert info["id"] == "RTX-4070" and info["fits"] and info["memory_gb"] == 12
    listed = run("gpus")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if line.startswith("RTX-4070 "))
    assert "owned only" in row and "200 W" in row and "$599" in row


# ------------------------------------------------------------------ the 8 GB card, and a card named, not owned


def test_the_8_gb_rtx_4060_fits_a_small_model_with_qlora_and_says_why(tmp_path: Path) -> None:
    p = _plan(_answers(tmp_path, "RTX 4060"))
    hw = p["training"]["hardware"]
    assert hw["gpu"] == "RTX-4060" and hw["fits"] and hw["peak_memory_gb"] <= 8 * 0.85
    assert p["training"]["method"] == "qlora" and p["base_model"]["params_b"] <= 4
    assert "LoRA does not fit 1x RTX-4060 (8 GB)" in p["training"]["why"] and "QLoRA" in p["training"]["why"]
    assert p["cost"]["training_usd"] == pytest.approx(hw["gpu_hours"] * 115 / 1000 * KWH, abs=0.01)
    excluded = [c["recommendation"] for c in p["candidates"] if c["recommendation"].startswith("excluded")]
    assert any("does not fit" in why for why in excluded)  # a larger model names why it is left out


def test_an_owned_only_card_named_for_the_cloud_is_priced_as_owning_it_and_says_so(tmp_path: Path) -> None:
    p = _plan(_answers(tmp_path, "4080", infrastructure="cloud_gpu"))
    hw = p["training"]["hardware"]
    hourly = (320 / 1000 * HOURS * KWH + 1199 / MONTHS) / HOURS
    assert hw["gpu"] == "RTX-4080" and hw["usd_per_hour"] == pytest.approx(hourly)
    assert p["cost"]["training_usd"] == pytest.approx(hw["gpu_hours"] * hourly, abs=0.01)
    (said,) = [a for a in p["assumptions"] if a["field"] == "facts.gpu"]
    assert "no rental price" in said["how"] and "you did not say you own it" in said["how"]


# ------------------------------------------------------------------ a cloud plan never picks one


def test_a_cloud_plan_never_picks_an_owned_only_card_even_the_cheapest_and_largest(tmp_path: Path) -> None:
    # An owned-only card that would win every comparison: H200 memory and speed at a 1 W, $1 price.
    h200 = bundled("gpus", "H200")
    bait = {**h200, "id": "BAIT-OWNED", "name": "an owned-only bait card", "aliases": [], "prices": [],
            "board_power_w": 1, "purchase_usd": 1, "owned_source": "test"}
    folder = tmp_path / "mine"
    write(folder, "gpus.yaml", {"entries": [bait]})
    p = _plan(_answers(tmp_path, None, infrastructure="cloud_gpu"), (folder,))
    owned_only = {g.id for g in load_catalog((folder,)).gpus if g.owned_only}
    assert {"BAIT-OWNED", "RTX-4070", "RTX-4060"} <= owned_only
    assert p["training"]["hardware"]["gpu"] not in owned_only
    assert p["rollout"]["serving_plan"]["gpu"] not in owned_only
    assert not any(a["field"] == "facts.gpu" for a in p["assumptions"])
