"""The answers file: schema, loaders, the three rule tiers, inference, `--data`, the seed template."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import answers as A
from generator import seed
from generator.answers import Answers, load_answers, parse_answers
from generator.errors import Problem, UserError
from generator.paths import examples_dir

VALID: dict[str, Any] = {
    "project_name": "support-triage",
    "provider": "open_source",
    "budget": "moderate",
    "infrastructure": "cloud_gpu",
    "use_case": "Route incoming support tickets to one of four queues",
    "current_approach": "GPT-4o-mini with a 2,000-token prompt and 12 few-shot examples",
    "current_limitations": "84% accuracy; $0.002 per ticket; 1.2 s p95 latency",
    "training_data": "40,000 tickets labelled by agents over two years",
    "example_pairs": [
        {"input": "My card was charged twice this month", "output": "billing"},
        {"input": "The app crashes when I open settings", "output": "bug"},
        {"input": "How do I change my email address?", "output": "account"},
        {"input": "Please add a dark mode", "output": "feature_request"},
    ],
    "success_criteria": "macro-F1 >= 0.92 on a frozen held-out set",
    "facts": {"examples_available": 40000, "baseline_score": 0.84, "target_score": 0.92},
}


def data(**changes: Any) -> dict[str, Any]:
    """VALID with top-level keys replaced; `facts__x=v` sets one fact; a value of ... deletes the key."""
    out = copy.deepcopy(VALID)
    for key, value in changes.items():
        target, name = (
            (out["facts"], key.removeprefix("facts__")) if key.startswith("facts__") else (out, key)
        )
        if value is ...:
            target.pop(name, None)
        else:
            target[name] = value
    return out


def answers(**changes: Any) -> Answers:
    return Answers.model_validate(data(**changes))


def problems_of(call: Any, *args: Any) -> list[Problem]:
    with pytest.raises(UserError) as info:
        call(*args)
    return info.value.problems


def fields(problems: list[Problem]) -> list[str]:
    return [p.field for p in problems]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


# --- the valid case and the formats ---------------------------------------------------------------------


def test_valid_yaml_loads(tmp_path: Path) -> None:
    loaded = load_answers(write(tmp_path, "a.yaml", yaml.safe_dump(VALID)))
    assert loaded.answers.provider == "open_source"
    assert loaded.answers.facts.examples_available == 40000
    assert loaded.warnings == [] and loaded.adjustments == []
    assert loaded.source.endswith("a.yaml")


def test_json_and_yaml_give_the_same_answers(tmp_path: Path) -> None:
    from_json = load_answers(write(tmp_path, "a.json", json.dumps(VALID)))
    from_yaml = load_answers(write(tmp_path, "a.yml", yaml.safe_dump(VALID)))
    assert from_json.answers == from_yaml.answers


def test_bom_is_accepted(tmp_path: Path) -> None:
    loaded = load_answers(write(tmp_path, "a.yaml", b"\xef\xbb\xbf" + yaml.safe_dump(VALID).encode()))
    assert loaded.answers.budget == "moderate"


def test_template_syntax_in_values_is_plain_data(tmp_path: Path) -> None:
    text = yaml.safe_dump(data(use_case="{{ 7*7 }} {% raw %} ${HOME}", project_name="{{7*7}}"))
    loaded = load_answers(write(tmp_path, "a.yaml", text))
    assert loaded.answers.use_case == "{{ 7*7 }} {% raw %} ${HOME}"
    assert "49" not in loaded.answers.slug


@pytest.mark.parametrize("path", sorted(examples_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_example_loads_and_round_trips(path: Path) -> None:
    loaded = load_answers(path)
    assert parse_answers(yaml.safe_load(A.dump_answers(loaded.answers)), "dump").answers == loaded.answers
    facts = loaded.effective_facts()
    assert facts.examples_available >= 0 and facts.avg_input_tokens > 0


def test_dump_answers_round_trips_in_schema_order() -> None:
    original = answers(facts__languages=["en", "de"])
    text = A.dump_answers(original)
    assert list(yaml.safe_load(text))[:4] == ["project_name", "provider", "budget", "infrastructure"]
    assert parse_answers(yaml.safe_load(text), "dump").answers == original


# --- malformed input: each names the field and the fix ------------------------------------------------


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


def test_yaml_boolean_trap_in_text_field_explains_quotes(tmp_path: Path) -> None:
    text = yaml.safe_dump(data()).replace("facts:\n", "facts:\n  languages: [no]\n")
    found = problems_of(load_answers, write(tmp_path, "a.yaml", text))
    assert fields(found) == ["facts.languages[0]"]
    assert "quotes" in found[0].fix


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


def test_nan_is_not_a_score(tmp_path: Path) -> None:
    text = yaml.safe_dump(data()).replace("baseline_score: 0.84", "baseline_score: .nan")
    assert fields(problems_of(load_answers, write(tmp_path, "a.yaml", text))) == ["facts.baseline_score"]


def test_broken_yaml_gives_line_and_column(tmp_path: Path) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", "provider: openai\nbudget: [moderate\n"))
    assert found[0].field.endswith("a.yaml:3:1")
    assert "not valid YAML" in found[0].message and "started at 2:9" in found[0].message


def test_broken_json_gives_line_and_column(tmp_path: Path) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.json", '{"provider": "openai",\n "budget": }'))
    assert found[0].field.endswith("a.json:2:12")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    yaml_found = problems_of(load_answers, write(tmp_path, "a.yaml", "provider: openai\nprovider: google\n"))
    assert "appears twice" in yaml_found[0].message and yaml_found[0].field.endswith(":2:1")
    json_found = problems_of(load_answers, write(tmp_path, "a.json", '{"budget": 1, "budget": 2}'))
    assert "appears twice" in json_found[0].message


@pytest.mark.parametrize("content", ["", "   \n\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: str | bytes) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", content))
    assert found[0].message == "is empty" and "ftplan init" in found[0].fix


@pytest.mark.parametrize("content", [b"provider: open\x00source\n", b"\xff\xfe\x00p", b"use_case: caf\xe9\n"])
def test_binary_or_non_utf8_is_not_a_text_file(tmp_path: Path, content: bytes) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", content))
    assert "not a text file" in found[0].message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert problems_of(load_answers, tmp_path / "nope.yaml")[0].message == "file not found"
    assert "directory" in problems_of(load_answers, tmp_path)[0].message


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "a.yaml", "provider: openai\n")

    def denied(*_: Any, **__: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    found = problems_of(load_answers, path)
    assert "cannot be read: Permission denied" in found[0].message


def test_yaml_mentioning_template_tags_is_still_yaml(tmp_path: Path) -> None:
    text = yaml.safe_dump(data(use_case="Summarize the <context> block of each prompt"))
    assert "<context>" in load_answers(write(tmp_path, "a.yaml", text)).answers.use_case


def test_template_is_sniffed_from_content_without_a_suffix(tmp_path: Path) -> None:
    loaded = load_answers(write(tmp_path, "prompt", seed.fill(answers())))
    assert loaded.answers.use_case == VALID["use_case"]


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", b"#" * (A.MAX_FILE_BYTES + 1))
    assert "larger than" in problems_of(load_answers, path)[0].message


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (BILLION_LAUGHS, ":1:4"),
        ("use_case: hello\ncurrent_approach: *x\n", ":2:19"),
        ("facts: &f {}\n", ":1:8"),
    ],
    ids=["billion-laughs", "alias", "anchor-only"],
)
def test_anchors_and_aliases_are_refused(tmp_path: Path, text: str, where: str) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", text))
    assert "anchors" in found[0].message and found[0].field.endswith(where)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    text = "use_case: " + "[" * 200 + "]" * 200 + "\n"
    found = problems_of(load_answers, write(tmp_path, "a.yaml", text))
    assert "nested more than" in found[0].message


def test_deep_nesting_in_json_is_refused(tmp_path: Path) -> None:
    found = problems_of(
        load_answers, write(tmp_path, "a.json", '{"use_case": ' + "[" * 100 + "]" * 100 + "}")
    )
    assert "nested more than" in found[0].message and found[0].field == "use_case" + "[0]" * 20


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", text))
    assert found[0].field == "(top level)" and "mapping" in found[0].message


def test_non_string_keys(tmp_path: Path) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", "1: one\nprovider: openai\n"))
    assert "not text" in found[0].message
    unhashable = problems_of(load_answers, write(tmp_path, "b.yaml", "? [a, b]\n: c\n"))
    assert "key must be text" in unhashable[0].message


def test_python_tags_are_not_constructed(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", "use_case: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in problems_of(load_answers, path)[0].message


def test_invalid_timestamp_is_a_user_error(tmp_path: Path) -> None:
    assert (
        "not valid YAML" in problems_of(load_answers, write(tmp_path, "a.yaml", "x: 2024-13-45\n"))[0].message
    )


# --- rules: errors --------------------------------------------------------------------------------------


def test_check_enough_example_pairs() -> None:
    assert A.check_enough_example_pairs(answers()) is None
    found = A.check_enough_example_pairs(answers(example_pairs=VALID["example_pairs"][:2]))
    assert found is not None and found.field == "example_pairs" and "at least 3" in found.message


def test_check_target_above_baseline() -> None:
    assert A.check_target_above_baseline(answers()) is None
    assert A.check_target_above_baseline(answers(facts__target_score=...)) is None
    found = A.check_target_above_baseline(answers(facts__target_score=0.80))
    assert found is not None and found.field == "facts.target_score" and "0.89" in found.fix


def test_check_open_source_not_api() -> None:
    assert A.check_open_source_not_api(answers()) is None
    found = A.check_open_source_not_api(answers(infrastructure="api_fine_tune"))
    assert found is not None and found.field == "infrastructure"


def test_check_local_has_gpu() -> None:
    assert A.check_local_has_gpu(answers(infrastructure="local", facts__gpu="RTX-4090")) is None
    found = A.check_local_has_gpu(answers(infrastructure="local"))
    assert found is not None and found.field == "facts.gpu"


def test_check_restricted_data_not_uploaded() -> None:
    ok = answers(provider="openai", infrastructure="api_fine_tune", facts__data_sensitivity="internal")
    assert A.check_restricted_data_not_uploaded(ok) is None
    bad = answers(provider="openai", infrastructure="api_fine_tune", facts__data_sensitivity="restricted")
    found = A.check_restricted_data_not_uploaded(bad)
    assert found is not None and found.field == "infrastructure"


def test_check_language_codes() -> None:
    assert A.check_language_codes(answers(facts__languages=["en", "pt-br"])) is None
    found = A.check_language_codes(answers(facts__languages=["klingon"]))
    assert found is not None and "'klingon'" in found.message


def test_check_examples_cover_pairs() -> None:
    assert A.check_examples_cover_pairs(answers(facts__examples_available=4)) is None
    found = A.check_examples_cover_pairs(answers(facts__examples_available=2))
    assert found is not None and found.field == "facts.examples_available"


def test_error_rules_run_during_loading() -> None:
    found = problems_of(parse_answers, data(infrastructure="local", facts__target_score=0.5), "t")
    assert fields(found) == ["facts.target_score", "facts.gpu"]


# --- rules: warnings ------------------------------------------------------------------------------------


def test_warn_many_example_pairs() -> None:
    assert A.warn_many_example_pairs(answers()) is None
    six = [{"input": f"ticket {i}", "output": "bug"} for i in range(6)]
    found = A.warn_many_example_pairs(answers(example_pairs=six))
    assert found is not None and "6 pairs" in found.message
    assert parse_answers(data(example_pairs=six), "t").warnings[0].field == "example_pairs"


def test_warn_restricted_data_hosted_provider() -> None:
    assert A.warn_restricted_data_hosted_provider(answers(facts__data_sensitivity="restricted")) is None
    found = A.warn_restricted_data_hosted_provider(
        answers(provider="openai", facts__data_sensitivity="restricted")
    )
    assert found is not None and found.field == "provider"


def test_warn_few_examples() -> None:
    assert A.warn_few_examples(answers()) is None
    found = A.warn_few_examples(answers(facts__examples_available=120))
    assert found is not None and "120" in found.message


def test_warn_hosted_provider_local() -> None:
    assert A.warn_hosted_provider_local(answers(infrastructure="local", facts__gpu="L4")) is None
    found = A.warn_hosted_provider_local(
        answers(provider="anthropic", infrastructure="local", facts__gpu="L4")
    )
    assert found is not None and "anthropic" in found.message


def test_warn_duplicate_example_pairs() -> None:
    assert A.warn_duplicate_example_pairs(answers()) is None
    pairs = VALID["example_pairs"][:3] + [{"input": VALID["example_pairs"][0]["input"], "output": "bug"}]
    found = A.warn_duplicate_example_pairs(answers(example_pairs=pairs))
    assert found is not None and "charged twice" in found.message


def test_warn_perfect_target() -> None:
    assert A.warn_perfect_target(answers()) is None
    assert A.warn_perfect_target(answers(facts__target_score=1.0)) is not None


# --- rules: adjustments ---------------------------------------------------------------------------------


def test_adjust_gpu_for_api_fine_tune() -> None:
    cloud = answers(facts__gpu="L4", facts__gpu_count=2)
    assert A.adjust_gpu_for_api_fine_tune(cloud) == (cloud, [])
    hosted = answers(provider="openai", infrastructure="api_fine_tune", facts__gpu="L4", facts__gpu_count=2)
    new, changes = A.adjust_gpu_for_api_fine_tune(hosted)
    assert new.facts.gpu is None and new.facts.gpu_count is None
    assert [(c.field, c.old, c.new) for c in changes] == [
        ("facts.gpu", "L4", None),
        ("facts.gpu_count", 2, None),
    ]
    assert "provider chooses" in changes[0].reason


def test_adjust_languages() -> None:
    clean = answers(facts__languages=["en", "de"])
    assert A.adjust_languages(clean) == (clean, [])
    new, changes = A.adjust_languages(answers(facts__languages=["English", "EN", "pt_BR", "Español"]))
    assert new.facts.languages == ["en", "pt-br", "es"]
    assert changes[0].old == ["English", "EN", "pt_BR", "Español"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a100 80gb", "A100-80GB"),
        ("NVIDIA H100 SXM5", "H100-SXM"),
        ("rtx 4090", "RTX-4090"),
        ("h100 pcie", "H100-PCIe"),
    ],
)
def test_adjust_gpu_name(given: str, expected: str) -> None:
    new, changes = A.adjust_gpu_name(answers(facts__gpu=given))
    assert new.facts.gpu == expected and changes[0].old == given


def test_adjust_gpu_name_leaves_catalog_ids_and_unknown_names() -> None:
    for name in ("A100-80GB", "MI300X"):
        unchanged = answers(facts__gpu=name)
        assert A.adjust_gpu_name(unchanged) == (unchanged, [])


def test_adjust_metric_name() -> None:
    assert A.adjust_metric_name(answers(facts__metric="macro_f1"))[1] == []
    new, changes = A.adjust_metric_name(answers(facts__metric="Macro F1"))
    assert new.facts.metric == "macro_f1" and changes[0].new == "macro_f1"


def test_adjustments_are_applied_and_listed_when_loading() -> None:
    loaded = parse_answers(data(infrastructure="local", facts__gpu="4090", facts__languages=["French"]), "t")
    assert loaded.answers.facts.gpu == "RTX-4090" and loaded.answers.facts.languages == ["fr"]
    assert {a.field for a in loaded.adjustments} == {"facts.gpu", "facts.languages"}


# --- slug -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Support Triage", "support-triage"),
        ("../../etc", "etc"),
        ("/abs/path", "abs-path"),
        ("{{7*7}}", "7-7"),
        ("Café Ünïcode", "cafe-unicode"),
        ("日本語", A.SLUG_FALLBACK),
        ("", A.SLUG_FALLBACK),
        (None, A.SLUG_FALLBACK),
        ("..", A.SLUG_FALLBACK),
        ("-.hidden", "hidden"),
        ("a" * 100, "a" * 64),
    ],
)
def test_slug_is_safe(name: str | None, slug: str) -> None:
    assert answers(project_name=name).slug == slug


def test_slug_never_ends_with_a_hyphen_after_truncation() -> None:
    assert A.make_slug("a" * 63 + " b") == "a" * 63


# --- inference ------------------------------------------------------------------------------------------


def pairs(*outputs: str, inputs: list[str] | None = None) -> list[dict[str, str]]:
    inputs = inputs or [f"Input number {i} with some words in it" for i in range(len(outputs))]
    return [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]


def test_infer_classification_from_label_outputs() -> None:
    task, how = A.infer_task_type(answers())
    assert task == "classification" and "short label" in how


def test_infer_extraction_from_json_outputs() -> None:
    out = [
        '{"name": "Ann", "city": "Oslo"}',
        '{"name": "Bo", "city": null}',
        '{"name": "Cy", "city": "Rome"}',
    ]
    assert A.infer_task_type(answers(example_pairs=pairs(*out)))[0] == "extraction"


def test_infer_code_from_code_outputs() -> None:
    out = [
        "def add(a, b):\n    return a + b",
        "SELECT name FROM users WHERE id = 1",
        "```js\nconst x = 1;\n```",
    ]
    assert A.infer_task_type(answers(example_pairs=pairs(*out)))[0] == "code"


def test_infer_summarization_from_short_prose_outputs() -> None:
    long_in = ["A long customer email that rambles about delivery problems and refunds. " * 5] * 3
    out = [
        "The customer wants a refund for a late delivery.",
        "Delivery was late; refund asked.",
        "Late parcel.",
    ]
    a = answers(use_case="Help agents with incoming email", example_pairs=pairs(*out, inputs=long_in))
    task, how = A.infer_task_type(a)
    assert task == "summarization" and "length" in how


def test_infer_from_use_case_words() -> None:
    out = [
        "Hallo, wie geht es dir heute?",
        "Das Wetter ist schön.",
        "Ich habe eine Frage zu meiner Rechnung.",
    ]
    a = answers(use_case="Translate customer messages into German", example_pairs=pairs(*out))
    assert A.infer_task_type(a) == ("translation", "use_case mentions 'translat'")


def test_infer_generation_as_the_fallback() -> None:
    out = ["A bright, friendly product description that is longer than its input. " * 3] * 3
    a = answers(
        use_case="Write product pages", example_pairs=pairs(*out, inputs=["blue mug", "red pen", "hat"])
    )
    assert A.infer_task_type(a)[0] == "generation"


def test_given_facts_are_never_overridden() -> None:
    a = answers(facts__task_type="qa", facts__avg_input_tokens=500, facts__monthly_requests=7)
    facts, notes = A.infer_facts(a, None)
    assert (facts.task_type, facts.avg_input_tokens, facts.monthly_requests) == ("qa", 500, 7)
    assert not {"facts.task_type", "facts.avg_input_tokens", "facts.monthly_requests"} & {
        n.field for n in notes
    }


def test_token_estimates_from_example_pairs() -> None:
    a = answers(example_pairs=pairs("x" * 8, "y" * 8, "z" * 8, inputs=["a" * 40, "b" * 40, "c" * 40]))
    facts, notes = A.infer_facts(a, None)
    assert (
        facts.avg_input_tokens == 40 // A.CHARS_PER_TOKEN
        and facts.avg_output_tokens == 8 // A.CHARS_PER_TOKEN
    )
    assert any(n.field == "facts.avg_input_tokens" and n.kind == "inferred" for n in notes)


def test_examples_available_from_training_data_text() -> None:
    facts, notes = A.infer_facts(
        answers(facts__examples_available=..., training_data="about 12k labelled emails"), None
    )
    assert facts.examples_available == 12000
    assert any("12k labelled emails" in n.how for n in notes)


def test_every_missing_fact_has_a_default_with_a_reason() -> None:
    bare = answers(facts={}, training_data="we have some data")
    facts, notes = A.infer_facts(bare, None)
    assert facts.monthly_requests == A.DEFAULT_MONTHLY_REQUESTS
    assert facts.metric == A.DEFAULT_METRICS["classification"]
    assert facts.labels == ["billing", "bug", "account", "feature_request"]
    assert facts.gpu is None and facts.baseline_score is None
    noted = {n.field for n in notes}
    for name in A.Facts.model_fields:
        if name not in ("gpu", "baseline_score", "target_score"):
            assert f"facts.{name}" in noted, name
    assert all(n.how for n in notes)


@pytest.mark.parametrize(
    ("text", "count"),
    [("12.5k labelled tickets", 12500), ("40,000 tickets and 300 emails", 40000), ("2M+ rows", 2_000_000),
     ("1.200 resolved conversations", 1200), ("a 2024 archive", None)],
)  # fmt: skip
def test_examples_count_parsing(text: str, count: int | None) -> None:
    found = A._examples_from_text(text)
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
    facts, _ = A.infer_facts(a, None)
    assert facts.needs_private_knowledge is True and facts.knowledge_freshness == "periodic"


def test_effective_facts_is_pure_and_matches_inferred() -> None:
    loaded = parse_answers(data(), "t")
    assert loaded.effective_facts() == loaded.effective_facts()
    assert loaded.inferred == A.infer_facts(loaded.answers, None)[1]


# --- measure_data ---------------------------------------------------------------------------------------


def jsonl(tmp_path: Path, rows: list[Any], name: str = "d.jsonl") -> Path:
    return write(tmp_path, name, "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")


def test_measure_data_reads_every_format(tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": "a" * 40}, {"role": "assistant", "content": "bug"}]},
        {"prompt": "b" * 40, "completion": "billing"},
        {"input": "c" * 40, "output": "account"},
        {
            "prompt": [{"role": "user", "content": "d" * 40}],
            "completion": [{"role": "assistant", "content": "bug"}],
        },
    ]
    stats = A.measure_data(jsonl(tmp_path, rows))
    assert stats.count == 4 and stats.avg_input_tokens == 10
    assert stats.formats == {"chat": 1, "prompt_completion": 2, "input_output": 1}
    assert stats.labels == ("bug", "billing", "account")


def test_measured_figures_override_estimates_not_given_facts(tmp_path: Path) -> None:
    stats = A.measure_data(jsonl(tmp_path, [{"input": "x" * 400, "output": "y" * 40}] * 3))
    loaded = parse_answers(data(facts__avg_output_tokens=7), "t").with_data(stats)
    facts = loaded.effective_facts()
    assert (
        facts.avg_input_tokens == 100 and facts.avg_output_tokens == 7 and facts.examples_available == 40000
    )
    measured = {n.field for n in loaded.inferred if n.kind == "measured"}
    assert measured == {"facts.avg_input_tokens"}


def test_measure_data_reports_broken_lines_with_numbers(tmp_path: Path) -> None:
    rows = [
        {"input": "a", "output": "b"},
        "{not json",
        {"messages": [{"role": "user", "content": "q"}]},
        "[1]",
        "",
    ]
    found = problems_of(A.measure_data, jsonl(tmp_path, rows))
    assert [p.field.rsplit(":", 1)[1] for p in found] == ["2", "3", "4"]
    assert "assistant" in found[1].message


def test_measure_data_caps_the_problem_list(tmp_path: Path) -> None:
    found = problems_of(A.measure_data, jsonl(tmp_path, ["nope"] * 50))
    assert len(found) == A.MAX_DATA_PROBLEMS + 1 and "30 more" in found[-1].message


def test_measure_data_bad_files(tmp_path: Path) -> None:
    assert problems_of(A.measure_data, tmp_path / "x.jsonl")[0].message == "file not found"
    assert "no examples" in problems_of(A.measure_data, write(tmp_path, "e.jsonl", "\n\n"))[0].message
    found = problems_of(A.measure_data, write(tmp_path, "b.jsonl", b'{"input": "a", "output": "\xff"}\n'))
    assert "UTF-8" in found[0].message and found[0].field.endswith(":1")


# --- the seed template ----------------------------------------------------------------------------------


def test_template_has_the_fields_and_sections_in_order() -> None:
    text = seed.template()
    for name in seed.FIELDS:
        assert f"<{name}>" in text and "{{" + name + "}}" in text
    positions = [text.index(title) for title in seed.OUTPUT_SECTIONS]
    assert positions == sorted(positions)


def test_fill_then_parse_round_trips() -> None:
    original = answers(use_case="Route <b>tickets</b> & emails -> queues {{budget}}", example_pairs=pairs(
        "a -> b", "</output>", "{{ 7*7 }}"))  # fmt: skip
    filled = seed.fill(original)
    assert "{{provider}}" not in filled and "{{ 7*7 }}" in filled
    assert "{{budget}}" in filled  # user text is not scanned for markers again
    back = seed.parse(filled)
    assert back == original.model_dump(include=set(seed.FIELDS))


def test_filled_template_loads_as_answers(tmp_path: Path) -> None:
    original = answers()
    loaded = load_answers(write(tmp_path, "prompt.md", seed.fill(original)))
    assert loaded.answers.model_dump(include=set(seed.FIELDS)) == original.model_dump(
        include=set(seed.FIELDS)
    )


def test_unfilled_markers_are_reported_as_missing(tmp_path: Path) -> None:
    text = seed.fill(answers()).replace("<budget>moderate</budget>", "<budget>{{budget}}</budget>")
    found = problems_of(load_answers, write(tmp_path, "p.txt", text))
    assert fields(found) == ["budget"] and "placeholder" in found[0].message
    raw = problems_of(load_answers, write(tmp_path, "raw.md", seed.template()))
    assert set(fields(raw)) == set(seed.FIELDS)


def test_arrow_lines_are_accepted_for_pairs() -> None:
    text = seed.fill(answers())
    start, end = text.index("<example_pairs>"), text.index("</example_pairs>")
    lines = "\n- card charged twice -> billing\n2. app crashes -> bug\n* where is my email? -> account\n"
    parsed = seed.parse(text[: start + len("<example_pairs>")] + lines + text[end:])
    assert parsed["example_pairs"][1] == {"input": "app crashes", "output": "bug"}
    assert len(parsed["example_pairs"]) == 3


def test_seed_structural_problems() -> None:
    assert "no <personalization>" in problems_of(seed.parse, "hello")[0].message
    assert "not closed" in problems_of(seed.parse, "<context><use_case>x</context>")[0].message
    dup = problems_of(seed.parse, "<context><use_case>a</use_case><use_case>b</use_case></context>")
    assert dup[0].field == "use_case" and "twice" in dup[0].message
    pair = problems_of(
        seed.parse, "<context><example_pairs><pair><input>a</input></pair></example_pairs></context>"
    )
    assert pair[0].field == "example_pairs[0]"
    arrow = problems_of(seed.parse, "<context><example_pairs>no arrow here</example_pairs></context>")
    assert "->" in arrow[0].message


def test_misspelled_tag_in_template_suggests_the_field(tmp_path: Path) -> None:
    text = seed.fill(answers()).replace("<use_case>", "<usecase>").replace("</use_case>", "</usecase>")
    found = problems_of(load_answers, write(tmp_path, "p.md", text))
    assert fields(found) == ["usecase"] and "use_case" in found[0].fix


# --- ftplan init questions ------------------------------------------------------------------------------


def question(name: str) -> A.Question:
    return next(q for q in A.QUESTIONS if q.field == name)


def test_questions_cover_every_field_in_order() -> None:
    names = [q.field for q in A.QUESTIONS]
    top = [n for n in Answers.model_fields if n != "facts"]
    assert names == top + [f"facts.{n}" for n in A.Facts.model_fields]
    assert all(q.prompt for q in A.QUESTIONS)


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
    assert q.repeat and (q.min_count, q.max_count) == (A.MIN_EXAMPLE_PAIRS, A.MAX_EXAMPLE_PAIRS)
    assert q.validate("card charged twice -> billing") is None
    assert q.convert("a -> b -> c") == A.ExamplePair(input="a", output="b -> c")
    assert "'->'" in (q.validate("no arrow") or "") and "non-empty" in (q.validate(" -> billing") or "")
    with pytest.raises(UserError):
        q.convert("no arrow")
