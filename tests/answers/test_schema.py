"""The schema and its error translation: every problem names the field, what is wrong and the fix."""

from __future__ import annotations

import copy

import pytest

from generator.answers import parse_answers
from generator.answers import schema as S
from generator.errors import Problem
from tests.answers.helpers import VALID, answers, data, fields, problems_of


def test_missing_required_field_says_what_to_write() -> None:
    found = problems_of(parse_answers, data(use_case=...), "t")
    assert fields(found) == ["use_case"]
    assert "missing" in found[0].message and "use_case:" in found[0].fix


def test_misspelled_key_suggests_the_closest() -> None:
    bad = data(use_case=...)
    bad["use_cse"] = "Route tickets"
    found = problems_of(parse_answers, bad, "t")
    assert fields(found) == ["use_cse"]  # the 'missing use_case' twin is folded into the suggestion
    assert "did you mean 'use_case'?" in found[0].fix


def test_misspelled_fact_suggests_the_closest() -> None:
    found = problems_of(parse_answers, data(facts__examples_availble=5), "t")
    assert fields(found) == ["facts.examples_availble"]
    assert "examples_available" in found[0].fix


def test_fact_at_top_level_is_pointed_under_facts() -> None:
    bad = data()
    bad["task_type"] = "classification"
    found = problems_of(parse_answers, bad, "t")
    assert "under facts" in found[0].message


def test_wrong_enum_lists_allowed_values_and_suggests() -> None:
    found = problems_of(parse_answers, data(provider="openAI"), "t")
    assert fields(found) == ["provider"]
    assert "openai | anthropic | open_source | google" in found[0].message
    assert "did you mean 'openai'?" in found[0].fix


def test_wrong_type_names_expected_type() -> None:
    found = problems_of(parse_answers, data(facts__examples_available="lots"), "t")
    assert fields(found) == ["facts.examples_available"]
    assert "whole number" in found[0].message


def test_out_of_range_says_bound_value_and_example() -> None:
    found = problems_of(parse_answers, data(facts__examples_available=-5), "t")
    assert found[0] == Problem(
        "facts.examples_available",
        "must be >= 0, got -5",
        found[0].fix,
    )
    assert "40000" in found[0].fix


def test_all_problems_are_reported_at_once() -> None:
    bad = data(provider="x", budget=7, facts__baseline_score=3, facts__gpu_count=0)
    assert set(fields(problems_of(parse_answers, bad, "t"))) == {
        "provider",
        "budget",
        "facts.baseline_score",
        "facts.gpu_count",
    }


def test_example_pair_without_output_names_the_index() -> None:
    pairs = copy.deepcopy(VALID["example_pairs"])
    del pairs[1]["output"]
    assert fields(problems_of(parse_answers, data(example_pairs=pairs), "t")) == ["example_pairs[1].output"]


def test_list_items_of_the_wrong_shape_say_what_an_item_looks_like() -> None:
    found = problems_of(parse_answers, data(example_pairs=["a -> b"] * 3), "t")
    assert fields(found) == ["example_pairs[0]", "example_pairs[1]", "example_pairs[2]"]
    assert "{input:" in found[0].fix
    langs = problems_of(parse_answers, data(facts__languages=[["en"]]), "t")
    assert langs[0].field == "facts.languages[0]" and "as text" in langs[0].fix




# --- slug -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Support Triage", "support-triage"),
        ("../../etc", "etc"),
        ("/abs/path", "abs-path"),
        ("{{7*7}}", "7-7"),
        ("Café Ünïcode", "cafe-unicode"),
        ("日本語", S.SLUG_FALLBACK),
        ("", S.SLUG_FALLBACK),
        (None, S.SLUG_FALLBACK),
        ("..", S.SLUG_FALLBACK),
        ("-.hidden", "hidden"),
        ("a" * 100, "a" * 64),
    ],
)
def test_slug_is_safe(name: str | None, slug: str) -> None:
    assert answers(project_name=name).slug == slug


def test_slug_never_ends_with_a_hyphen_after_truncation() -> None:
    assert S.make_slug("a" * 63 + " b") == "a" * 63


# --- task types come from configs/tasks.yaml --------------------------------------------------------------


def test_every_task_type_of_the_table_is_accepted() -> None:
    from generator.tasks import load_tasks

    for task in load_tasks().task_types:
        assert parse_answers(data(facts__task_type=task), "t").facts.task_type == task


def test_unknown_task_type_lists_the_table_and_suggests() -> None:
    found = problems_of(parse_answers, data(facts__task_type="clasification"), "t")
    assert fields(found) == ["facts.task_type"]
    assert str(found[0]).startswith("facts.task_type: must be one of classification | extraction")
    assert " — did you mean 'classification'?" in str(found[0])
    far = problems_of(parse_answers, data(facts__task_type="xyzzy"), "t")
    assert "use one of: classification" in far[0].fix
