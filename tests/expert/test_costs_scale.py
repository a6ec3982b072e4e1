"""Costs that scale with the task (issue 10, items 6 and 9): labelling at the rate of whoever must label, engineering
weeks from the plan's scope, distillation only for unlabelled volume, and the user's own tuned hosted models that
retire. Each call is asserted on plan.json numbers, computed from planning.yaml's sourced entries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from generator.answers import load_answers, parse_answers
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings

HERE = Path(__file__).parent / "answers"
TODAY = date(2026, 11, 25)


def plan_of(name: str, **facts: object) -> dict:
    loaded = load_answers(HERE / name)
    if facts:
        data = loaded.answers.model_dump(exclude_none=True)
        data["facts"] = {**data.get("facts", {}), **facts}
        loaded = parse_answers(data, name)
    return build_plan(loaded, load_catalog(), load_settings(), TODAY).to_dict()


def expert_hourly(occupation: str) -> float:
    s = load_settings()
    row = next(r for r in s.raw("labeling.experts")["rows"] if r["occupation"] == occupation)
    return float(row["wage_usd_per_hour"]) / float(s.value("labeling.wage_share_of_employer_cost"))


def labels_priced(p: dict) -> int:
    """Examples the plan pays a person to label: the ones to collect and the held-out second annotation."""
    d = p["data"]
    return d["to_collect"] + d["split"]["heldout"]


# --- labelling by task and domain expertise -------------------------------------------------------------------


@pytest.mark.parametrize(("name", "occupation"), [("pharmacist_answers.yaml", "pharmacist"),
                                                  ("adjuster_claims.yaml", "claims adjuster")])
def test_expert_work_is_labelled_at_the_experts_hourly_cost(name, occupation):
    p = plan_of(name)
    c = p["cost"]
    assert c["labeling_tier"] == occupation
    per_hour = expert_hourly(occupation)
    assert c["labeling_usd_per_example"] == pytest.approx(c["labeling_seconds_per_example"] / 3600 * per_hour,
                                                          rel=1e-2)
    assert c["data_labor_usd"] == pytest.approx(labels_priced(p) * c["labeling_usd_per_example"], rel=1e-3)
    crowd = float(load_settings().value("labeling.crowd.usd_per_hour"))
    assert c["labeling_usd_per_example"] > 2 * c["labeling_seconds_per_example"] / 3600 * crowd
    # the plan's assumption carries the same rate, and the data plan's collection cost uses it too
    note = next(a for a in p["assumptions"] if a["field"] == "facts.labeling_cost_per_example_usd")
    assert note["kind"] == "inferred" and float(note["value"]) == pytest.approx(c["labeling_usd_per_example"])


def test_written_answers_cost_more_time_than_a_label_choice():
    written = plan_of("pharmacist_answers.yaml")["cost"]
    label = plan_of("small_classifier.yaml")["cost"]
    assert label["labeling_tier"] == "skilled"  # "labelled by support agents"
    assert written["labeling_seconds_per_example"] > 3 * label["labeling_seconds_per_example"]
    assert written["labeling_usd_per_example"] > 10 * label["labeling_usd_per_example"]


def test_a_given_labelling_rate_always_wins():
    p = plan_of("pharmacist_answers.yaml", labeling_cost_per_example_usd=0.25)
    c = p["cost"]
    assert c["labeling_tier"] == "given" and c["labeling_usd_per_example"] == 0.25
    assert c["data_labor_usd"] == pytest.approx(labels_priced(p) * 0.25)


# --- engineering from the scope -------------------------------------------------------------------------------


def test_a_small_classifier_takes_fewer_engineer_weeks_than_rag_plus_dpo_with_a_custom_metric():
    s = load_settings()
    per_week = float(s.value("engineering.usd_per_week"))
    small, big = plan_of("small_classifier.yaml"), plan_of("rag_dpo_custom_metric.yaml")
    assert big["decision"]["recommendation"] == "rag_and_fine_tune"
    assert small["cost"]["engineering_weeks"] < big["cost"]["engineering_weeks"]
    for p in (small, big):
        c = p["cost"]
        assert c["engineering_weeks"] == pytest.approx(sum(t["weeks"] for t in c["engineering_terms"]))
        assert c["engineering_usd"] == pytest.approx(c["engineering_weeks"] * per_week)
    terms = {t["name"] for t in big["cost"]["engineering_terms"]}
    assert {"custom_metric", "preference"} <= terms
    assert ("multi_gpu" in terms) == (big["training"]["hardware"]["gpu_count"] > 1)
    assert {t["name"] for t in small["cost"]["engineering_terms"]} == {"base", "data_preparation",
                                                                        "serving_open_weights"}
    # retrieval's own weeks are in the RAG + fine-tune row on top of the fine-tune's
    rows = {r["option"]: r for r in big["roi"]["rows"]}
    rag_weeks = float(s.value("rag.setup_weeks"))
    assert rows["rag_and_fine_tune"]["one_off_usd"] - rows["fine_tune"]["one_off_usd"] == pytest.approx(
        rag_weeks * per_week, abs=0.01)
    assert rows["rag"]["one_off_usd"] == pytest.approx(rag_weeks * per_week)


def test_given_engineering_weeks_win_over_the_scope():
    p = plan_of("rag_dpo_custom_metric.yaml", engineering_weeks=2)
    c = p["cost"]
    assert c["engineering_weeks"] == 2
    assert c["engineering_usd"] == pytest.approx(2 * float(load_settings().value("engineering.usd_per_week")))
    assert sum(t["weeks"] for t in c["engineering_terms"]) > 2  # the scope is still shown beside it


# --- distillation only for unlabelled volume ------------------------------------------------------------------


def test_few_gold_labels_and_an_unlabelled_pool_get_distillation_with_the_vendors_terms():
    p = plan_of("distil_unlabelled.yaml")
    assert not p["data"]["meets_minimum"]
    assert p["provider"]["distillation_usd"] > 0
    terms = load_settings().raw("distillation.terms.openai")
    assert terms["terms"] in p["provider"]["migration"]  # the clause is named, not "check the terms"
    # the same team without the unlabelled pool: label more, nothing to distil
    loaded = load_answers(HERE / "distil_unlabelled.yaml")
    data = loaded.answers.model_dump(exclude_none=True)
    data["training_data"] = "240 requests labelled by the finance team."
    bare = build_plan(parse_answers(data, "no-pool"), load_catalog(), load_settings(), TODAY).to_dict()
    assert bare["provider"]["distillation_usd"] == 0


def test_enough_gold_labels_are_trained_on_not_distilled():
    p = plan_of("tuned_model_retiring.yaml")
    assert p["data"]["meets_minimum"] and p["provider"]["distillation_usd"] == 0


# --- the user's own tuned hosted models that retire -----------------------------------------------------------


def test_the_users_tuned_hosted_model_is_flagged_with_its_retirement_date():
    p = plan_of("tuned_model_retiring.yaml")
    flags = p["provider"]["tuned_models"]
    assert [f["base"] for f in flags] == ["gpt-4o-mini"]
    model = load_catalog().provider("openai").hosted_model("gpt-4o-mini")
    assert flags[0]["retires"] == model.retires.isoformat() and flags[0]["days_left"] == (model.retires - TODAY).days
    assert flags[0]["in_catalog"] and flags[0]["quote"].startswith("ft:gpt-4o-mini")
    # today's cost is the tuned model's inference price, not the base model's list price
    assert f"${model.input_usd_per_1m}/${model.output_usd_per_1m} per 1M" in p["roi"]["notes"][0]
    assert p["roi"]["current_model_retires"] == model.retires.isoformat()


def test_a_tuned_model_that_already_retired_is_flagged_as_stopped():
    p = plan_of("tuned_model_retiring.yaml")
    later = build_plan(load_answers(HERE / "tuned_model_retiring.yaml"), load_catalog(), load_settings(),
                       date(2027, 2, 1)).to_dict()
    assert p["provider"]["tuned_models"][0]["days_left"] > 0
    assert later["provider"]["tuned_models"][0]["days_left"] < 0


def test_no_flag_without_a_tuned_model():
    assert plan_of("small_classifier.yaml")["provider"]["tuned_models"] == []
