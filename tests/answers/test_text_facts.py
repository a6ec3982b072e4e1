"""Facts read from the free text: each finder with a sentence it must read and one it must not."""

from __future__ import annotations

import math

import pytest

from generator.answers import text_facts as t
from generator.answers.inference import current_model_in, estimate_tokens


@pytest.mark.parametrize(("text", "value"), [
    ("we keep a 3,000-question held-out benchmark", 3000),
    ("a frozen held-out set of 2,000 tickets", 2000),
    ("a 1,000-receipt audit set", 1000),
])
def test_heldout_is_read(text, value):
    found = t.heldout_available({"training_data": text})
    assert found is not None and found.value == value


def test_a_count_that_is_no_evaluation_set_is_not_a_heldout():
    assert t.heldout_available({"training_data": "40,000 tickets from the last 18 months"}) is None


def test_hand_verified_is_validation_not_heldout():
    fields = {"training_data": "60,000 tickets, of which 5,000 hand-verified by two agents"}
    assert t.validation_available(fields).value == 5000
    assert t.heldout_available(fields) is None


@pytest.mark.parametrize(("finder", "text", "value"), [
    (t.preference_pairs, "12,000 preference pairs from agents", 12000),
    (t.monthly_active_users, "serves ~900M monthly active users", 900_000_000),
    (t.engineering_weeks, "we have four weeks of one engineer", 4),
    (t.ab_min_days, "the A/B must run at least two weeks", 14),
])
def test_numbers_the_text_states(finder, text, value):
    found = finder({"use_case": text})
    assert found is not None and found.value == value


def test_weeks_that_are_not_effort_are_ignored():
    assert t.engineering_weeks({"training_data": "tickets from the last 6 weeks"}) is None


def test_lengths_in_tokens_pages_and_minutes():
    got = {x.kind: x.tokens for x in t.lengths(
        {"current_approach": "the 40-page handbook pasted into the prompt",
         "training_data": "16k-token documents (p95 22k tokens)"}, 500, 1.33, 150)}
    assert got == {"prompt": 26600, "input": 16000, "p95": 22000}


@pytest.mark.parametrize("text, tokens", [
    ("40-minute call recordings", 40 * 150 * 1.33),
    ("90 minutes of audio per meeting", 90 * 150 * 1.33),
    ("adjusters spend about four minutes per claim", None),
    ("a 30-minute review of each contract", None),
])
def test_durations_are_lengths_only_for_something_spoken(text, tokens):
    got = [x.tokens for x in t.lengths({"training_data": text}, 500, 1.33, 150)]
    assert got == ([] if tokens is None else [math.ceil(tokens)])


def test_placeholders():
    assert t.is_placeholder("[transcript, 40 minutes]") and t.is_placeholder("<the contract>")
    assert not t.is_placeholder("My card was charged twice")


def test_script_aware_tokens():
    assert estimate_tokens("人工智能正在改变世界") == 10  # 1 character per token, not 4
    assert estimate_tokens("hello world") == 3


def test_current_model_longest_name_wins():
    assert current_model_in("We use GPT-4o mini today") == ("gpt-4o-mini", "gpt-4o mini")
    assert current_model_in("gpt-4o with a long prompt")[0] == "gpt-4o"
    assert current_model_in("a frontier model") is None
