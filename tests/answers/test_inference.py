"""Facts inferred once from the answers: given beats measured beats inferred beats default."""

from __future__ import annotations

import pytest

from generator.answers import Facts, LoadedAnswers, parse_answers
from generator.answers import inference as I
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings
from tests.answers.helpers import answers, data, pairs
from tests.conftest import TODAY

# --- inference ------------------------------------------------------------------------------------------


def test_infer_classification_from_label_outputs() -> None:
    task, how = I.infer_task_type(answers())
    assert task == "classification" and "short label" in how


def test_infer_extraction_from_json_outputs() -> None:
    out = [
        '{"name": "Ann", "city": "Oslo"}',
        '{"name": "Bo", "city": null}',
        '{"name": "Cy", "city": "Rome"}',
    ]
    assert I.infer_task_type(answers(example_pairs=pairs(*out)))[0] == "extraction"


def test_infer_code_from_code_outputs() -> None:
    out = [
        "def add(a, b):\n    return a + b",
        "SELECT name FROM users WHERE id = 1",
        "```js\nconst x = 1;\n```",
    ]
    assert I.infer_task_type(answers(example_pairs=pairs(*out)))[0] == "code"


def test_infer_summarization_from_short_prose_outputs() -> None:
    long_in = ["A long customer email that rambles about delivery problems and refunds. " * 5] * 3
    out = [
        "The customer wants a refund for a late delivery.",
        "Delivery was late; refund asked.",
        "Late parcel.",
    ]
    a = answers(use_case="Help agents with incoming email", example_pairs=pairs(*out, inputs=long_in))
    task, how = I.infer_task_type(a)
    assert task == "summarization" and "length" in how


def test_infer_from_use_case_words() -> None:
    out = [
        "Hallo, wie geht es dir heute?",
        "Das Wetter ist schön.",
        "Ich habe eine Frage zu meiner Rechnung.",
    ]
    a = answers(use_case="Translate customer messages into German", example_pairs=pairs(*out))
    assert I.infer_task_type(a) == ("translation", "use_case mentions 'translat'")


def test_infer_generation_as_the_fallback() -> None:
    out = ["A bright, friendly product description that is longer than its input. " * 3] * 3
    a = answers(
        use_case="Write product pages", example_pairs=pairs(*out, inputs=["blue mug", "red pen", "hat"])
    )
    assert I.infer_task_type(a)[0] == "generation"


def test_given_facts_are_never_overridden() -> None:
    a = answers(facts__task_type="qa", facts__avg_input_tokens=500, facts__monthly_requests=7)
    facts, notes = I.infer_facts(a, None)
    assert (facts.task_type, facts.avg_input_tokens, facts.monthly_requests) == ("qa", 500, 7)
    assert not {"facts.task_type", "facts.avg_input_tokens", "facts.monthly_requests"} & {
        n.field for n in notes
    }


def test_token_estimates_from_example_pairs() -> None:
    a = answers(example_pairs=pairs("x" * 8, "y" * 8, "z" * 8, inputs=["a" * 40, "b" * 40, "c" * 40]))
    facts, notes = I.infer_facts(a, None)
    assert (
        facts.avg_input_tokens == 40 // I.CHARS_PER_TOKEN
        and facts.avg_output_tokens == 8 // I.CHARS_PER_TOKEN
    )
    assert any(n.field == "facts.avg_input_tokens" and n.kind == "inferred" for n in notes)


def test_examples_available_from_training_data_text() -> None:
    facts, notes = I.infer_facts(
        answers(facts__examples_available=..., training_data="about 12k labelled emails"), None
    )
    assert facts.examples_available == 12000
    assert any("12k labelled emails" in n.how for n in notes)


def test_every_missing_fact_has_a_default_with_a_reason() -> None:
    bare = answers(facts={}, training_data="we have some data")
    facts, notes = I.infer_facts(bare, None)
    assert facts.monthly_requests == I.DEFAULT_MONTHLY_REQUESTS
    assert facts.metric == I.default_metric("classification")
    assert facts.labels == ["billing", "bug", "account", "feature_request"]
    assert facts.gpu is None and facts.baseline_score is None
    noted = {n.field for n in notes}
    for name in Facts.model_fields:
        if name not in ("gpu", "baseline_score", "target_score", *I.UNSET_MEANS_NONE):
            assert f"facts.{name}" in noted, name
    assert all(n.how for n in notes)


@pytest.mark.parametrize(
    ("text", "count"),
    [("12.5k labelled tickets", 12500), ("40,000 tickets and 300 emails", 40000), ("2M+ rows", 2_000_000),
     ("1.200 resolved conversations", 1200), ("a 2024 archive", None),
     ("90,000 unlabelled tickets and 800 labelled tickets", 800), ("50k raw emails", None)],
)  # fmt: skip
def test_examples_count_parsing(text: str, count: int | None) -> None:
    found = I._examples_from_text(text)
    assert (found[0] if found else None) == count


def test_adversarial_text_loads_in_linear_time() -> None:
    import time

    big = data(
        training_data="1" * 200_000 + " " * 200_000 + "9 labelled",
        example_pairs=pairs(*(["SELECT " * 40_000 + "return def def" * 20_000] * 3)),
    )
    start = time.perf_counter()
    loaded = parse_answers(big, "t")
    assert time.perf_counter() - start < 10  # quadratic regexes would take hours on these inputs
    assert loaded.answers.training_data.endswith("9 labelled")


def test_private_knowledge_and_freshness_from_text() -> None:
    a = answers(use_case="Answer questions from our product documentation; prices change weekly")
    facts, _ = I.infer_facts(a, None)
    assert facts.needs_private_knowledge is True and facts.knowledge_freshness == "periodic"


def test_effective_facts_is_pure_and_matches_inferred() -> None:
    loaded = parse_answers(data(), "t")
    assert loaded.effective_facts() == loaded.effective_facts()
    assert loaded.inferred == I.infer_facts(loaded.answers, None)[1]


# --- needs_private_knowledge: inferred once here; the decision reads the fact ------------------------------

DOCS_TEXT = "Answer staff questions from our docs and the internal wiki; the model's knowledge is outdated"


def _rag_private_score(loaded: LoadedAnswers) -> int:
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    rag = next(row for row in plan.decision.matrix if row.option == "rag")
    return rag.scores["private_knowledge"]


def test_private_knowledge_absent_is_inferred_with_where_it_came_from() -> None:
    loaded = parse_answers(data(use_case=DOCS_TEXT), "t")
    assert loaded.facts.needs_private_knowledge is True
    (note,) = [n for n in loaded.inferred if n.field == "facts.needs_private_knowledge"]
    assert note.kind == "inferred" and note.how == "use_case mentions 'our docs'"
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    assumed = [a for a in plan.assumptions if a.field == "facts.needs_private_knowledge"]
    assert [(a.value, a.how, a.kind) for a in assumed] == [("True", "use_case mentions 'our docs'", "inferred")]
    assert _rag_private_score(loaded) == 2


def test_private_knowledge_is_inferred_from_every_prose_field() -> None:
    loaded = parse_answers(data(success_criteria="no hallucinated policy answers"), "t")
    assert loaded.facts.needs_private_knowledge is True
    assert any(n.how == "success_criteria mentions 'hallucinat'" for n in loaded.inferred)
    plain = parse_answers(data(), "t")
    assert plain.facts.needs_private_knowledge is False
    assert any(n.field == "facts.needs_private_knowledge" and n.kind == "default" for n in plain.inferred)


def test_given_private_knowledge_false_wins_over_keywords() -> None:
    text = DOCS_TEXT + "; see the knowledge base, documentation, policies and manuals"
    loaded = parse_answers(
        data(use_case=text, current_limitations=text, training_data=text, facts__needs_private_knowledge=False), "t"
    )
    assert loaded.facts.needs_private_knowledge is False
    assert not any(n.field == "facts.needs_private_knowledge" for n in loaded.inferred)
    assert _rag_private_score(loaded) == -1  # the plan does not score private knowledge
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    assert "Measure retrieval recall@k" not in " ".join(plan.decision.proof_required)


def test_facts_are_inferred_once_and_stored() -> None:
    loaded = parse_answers(data(), "t")
    assert loaded.effective_facts() is loaded.facts
