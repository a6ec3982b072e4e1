"""The three rule tiers: each rule has a pass and a fail case, and loading applies them."""

from __future__ import annotations

import pytest

from generator.answers import parse_answers
from generator.answers import rules as R
from tests.answers.helpers import VALID, answers, data, fields, problems_of

# --- rules: errors --------------------------------------------------------------------------------------


def test_check_enough_example_pairs() -> None:
    assert R.check_enough_example_pairs(answers()) is None
    found = R.check_enough_example_pairs(answers(example_pairs=VALID["example_pairs"][:2]))
    assert found is not None and found.field == "example_pairs" and "at least 3" in found.message


def test_check_target_above_baseline() -> None:
    assert R.check_target_above_baseline(answers()) is None
    assert R.check_target_above_baseline(answers(facts__target_score=...)) is None
    found = R.check_target_above_baseline(answers(facts__target_score=0.80))
    assert found is not None and found.field == "facts.target_score" and "0.89" in found.fix


def test_check_open_source_not_api() -> None:
    assert R.check_open_source_not_api(answers()) is None
    found = R.check_open_source_not_api(answers(infrastructure="api_fine_tune"))
    assert found is not None and found.field == "infrastructure"


def test_check_local_has_gpu() -> None:
    assert R.check_local_has_gpu(answers(infrastructure="local", facts__gpu="RTX-4090")) is None
    found = R.check_local_has_gpu(answers(infrastructure="local"))
    assert found is not None and found.field == "facts.gpu"


def test_check_restricted_data_not_uploaded() -> None:
    ok = answers(provider="openai", infrastructure="api_fine_tune", facts__data_sensitivity="internal")
    assert R.check_restricted_data_not_uploaded(ok) is None
    bad = answers(provider="openai", infrastructure="api_fine_tune", facts__data_sensitivity="restricted")
    found = R.check_restricted_data_not_uploaded(bad)
    assert found is not None and found.field == "infrastructure"


def test_check_language_codes() -> None:
    assert R.check_language_codes(answers(facts__languages=["en", "pt-br"])) is None
    found = R.check_language_codes(answers(facts__languages=["klingon"]))
    assert found is not None and "'klingon'" in found.message


def test_check_examples_cover_pairs() -> None:
    assert R.check_examples_cover_pairs(answers(facts__examples_available=4)) is None
    found = R.check_examples_cover_pairs(answers(facts__examples_available=2))
    assert found is not None and found.field == "facts.examples_available"


def test_error_rules_run_during_loading() -> None:
    found = problems_of(parse_answers, data(infrastructure="local", facts__target_score=0.5), "t")
    assert fields(found) == ["facts.target_score", "facts.gpu"]


# --- rules: warnings ------------------------------------------------------------------------------------


def test_warn_many_example_pairs() -> None:
    assert R.warn_many_example_pairs(answers()) is None
    six = [{"input": f"ticket {i}", "output": "bug"} for i in range(6)]
    found = R.warn_many_example_pairs(answers(example_pairs=six))
    assert found is not None and "6 pairs" in found.message
    assert parse_answers(data(example_pairs=six), "t").warnings[0].field == "example_pairs"


def test_warn_restricted_data_hosted_provider() -> None:
    assert R.warn_restricted_data_hosted_provider(answers(facts__data_sensitivity="restricted")) is None
    found = R.warn_restricted_data_hosted_provider(
        answers(provider="openai", facts__data_sensitivity="restricted")
    )
    assert found is not None and found.field == "provider"


def test_warn_few_examples() -> None:
    assert R.warn_few_examples(answers()) is None
    found = R.warn_few_examples(answers(facts__examples_available=120))
    assert found is not None and "120" in found.message


def test_warn_hosted_provider_local() -> None:
    assert R.warn_hosted_provider_local(answers(infrastructure="local", facts__gpu="L4")) is None
    found = R.warn_hosted_provider_local(
        answers(provider="anthropic", infrastructure="local", facts__gpu="L4")
    )
    assert found is not None and "anthropic" in found.message


def test_warn_duplicate_example_pairs() -> None:
    assert R.warn_duplicate_example_pairs(answers()) is None
    pairs = VALID["example_pairs"][:3] + [{"input": VALID["example_pairs"][0]["input"], "output": "bug"}]
    found = R.warn_duplicate_example_pairs(answers(example_pairs=pairs))
    assert found is not None and "charged twice" in found.message


def test_warn_perfect_target() -> None:
    assert R.warn_perfect_target(answers()) is None
    assert R.warn_perfect_target(answers(facts__target_score=1.0)) is not None


# --- rules: adjustments ---------------------------------------------------------------------------------


def test_adjust_gpu_for_api_fine_tune() -> None:
    cloud = answers(facts__gpu="L4", facts__gpu_count=2)
    assert R.adjust_gpu_for_api_fine_tune(cloud) == (cloud, [])
    hosted = answers(provider="openai", infrastructure="api_fine_tune", facts__gpu="L4", facts__gpu_count=2)
    new, changes = R.adjust_gpu_for_api_fine_tune(hosted)
    assert new.facts.gpu is None and new.facts.gpu_count is None
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("facts.gpu", "L4", None),
        ("facts.gpu_count", 2, None),
    ]
    assert "provider chooses" in changes[0].reason


def test_adjust_languages() -> None:
    clean = answers(facts__languages=["en", "de"])
    assert R.adjust_languages(clean) == (clean, [])
    new, changes = R.adjust_languages(answers(facts__languages=["English", "EN", "pt_BR", "Español"]))
    assert new.facts.languages == ["en", "pt-br", "es"]
    assert changes[0].old == ["English", "EN", "pt_BR", "Español"]


def test_adjust_metric_name() -> None:
    assert R.adjust_metric_name(answers(facts__metric="macro_f1"))[1] == []
    new, changes = R.adjust_metric_name(answers(facts__metric="Macro F1"))
    assert new.facts.metric == "macro_f1" and changes[0].new == "macro_f1"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("F1", "macro_f1"), ("ROUGE-L", "rouge_l"), ("EM", "exact_match"), ("Acceptance Rate", "acceptance_rate")],
)
def test_adjust_metric_name_uses_the_task_table(given: str, expected: str) -> None:
    new, changes = R.adjust_metric_name(answers(facts__metric=given))
    assert new.facts.metric == expected and changes[0].old == given
    known = "configs/tasks.yaml" in changes[0].reason
    assert known == (expected != "acceptance_rate")  # a metric the table lacks stays the user's own


def test_users_own_metric_is_kept() -> None:
    unchanged = answers(facts__metric="acceptance_rate")
    assert R.adjust_metric_name(unchanged) == (unchanged, [])


def test_few_examples_threshold_is_planning_yaml_minimum() -> None:
    from generator.plan.settings import load_settings

    assert R.few_examples_threshold() == int(load_settings().value("data.minimum_examples"))


def test_adjustments_are_applied_and_listed_when_loading() -> None:
    loaded = parse_answers(
        data(provider="openai", infrastructure="api_fine_tune", facts__gpu="L4", facts__languages=["French"]), "t"
    )
    assert loaded.answers.facts.gpu is None and loaded.answers.facts.languages == ["fr"]
    assert {a.field for a in loaded.adjustments} == {"facts.gpu", "facts.languages"}
