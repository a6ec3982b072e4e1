"""`ftplan init`'s questions: every field in order, validated as you type by the field's own rules."""

from __future__ import annotations

import pytest

from generator.answers import MAX_EXAMPLE_PAIRS, MIN_EXAMPLE_PAIRS, Answers, ExamplePair, Facts
from generator.answers import questions as Q
from generator.errors import UserError

# --- ftplan init questions ------------------------------------------------------------------------------


def question(name: str) -> Q.Question:
    return next(q for q in Q.QUESTIONS if q.field == name)


def test_questions_cover_every_field_in_order() -> None:
    names = [q.field for q in Q.QUESTIONS]
    top = [n for n in Answers.model_fields if n != "facts"]
    assert names == top + [f"facts.{n}" for n in Facts.model_fields]
    assert all(q.prompt for q in Q.QUESTIONS)


def test_question_validation_as_you_type() -> None:
    provider = question("provider")
    assert provider.default == "open_source" and "openai, anthropic, open_source or google" in provider.prompt
    assert "[static | periodic | realtime]" not in question("facts.knowledge_freshness").prompt
    assert "[public | internal | restricted]" not in question("facts.data_sensitivity").prompt
    assert provider.validate("open_source") is None
    assert "did you mean 'openai'" in (provider.validate("opneai") or "")
    assert "must not be empty" in (question("use_case").validate("  ") or "")
    assert question("project_name").validate("") is None and question("project_name").convert("") is None
    examples = question("facts.examples_available")
    assert examples.validate("") is None and examples.convert("") is None
    assert examples.validate("40000") is None and examples.convert("40000") == 40000
    assert ">= 0" in (examples.validate("-5") or "")
    assert question("facts.languages").convert("en, de") == ["en", "de"]
    assert provider.convert("openai") == "openai" and question("use_case").convert(" Route it ") == "Route it"
    assert question("facts.baseline_score").convert("0.8") == 0.8
    with pytest.raises(UserError):
        examples.convert("-5")


def test_example_pair_question() -> None:
    q = question("example_pairs")
    assert q.repeat and (q.min_count, q.max_count) == (MIN_EXAMPLE_PAIRS, MAX_EXAMPLE_PAIRS)
    assert q.validate("card charged twice -> billing") is None
    assert q.convert("a -> b -> c") == ExamplePair(input="a", output="b -> c")
    assert "'->'" in (q.validate("no arrow") or "") and "non-empty" in (q.validate(" -> billing") or "")
    with pytest.raises(UserError):
        q.convert("no arrow")
