"""Loading answers files: YAML, JSON and seed templates; every way a file can be malformed or hostile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.answers import dump_answers, load_answers, loaders, parse_answers, seed
from generator.paths import examples_dir
from tests.answers.helpers import VALID, answers, data, fields, problems_of, write

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
    assert parse_answers(yaml.safe_load(dump_answers(loaded.answers)), "dump").answers == loaded.answers
    facts = loaded.effective_facts()
    assert facts.examples_available >= 0 and facts.avg_input_tokens > 0


def test_dump_answers_round_trips_in_schema_order() -> None:
    original = answers(facts__languages=["en", "de"])
    text = dump_answers(original)
    assert list(yaml.safe_load(text))[:4] == ["project_name", "provider", "budget", "infrastructure"]
    assert parse_answers(yaml.safe_load(text), "dump").answers == original



# --- malformed files: each names the place and the fix --------------------------------------------------


def test_yaml_boolean_trap_in_text_field_explains_quotes(tmp_path: Path) -> None:
    text = yaml.safe_dump(data()).replace("facts:\n", "facts:\n  languages: [no]\n")
    found = problems_of(load_answers, write(tmp_path, "a.yaml", text))
    assert fields(found) == ["facts.languages[0]"]
    assert "quotes" in found[0].fix


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


@pytest.mark.parametrize("content", [b"provider: open\x00source\n", b"\xff\xfe\x00p"])
def test_binary_is_not_a_text_file(tmp_path: Path, content: bytes) -> None:
    found = problems_of(load_answers, write(tmp_path, "a.yaml", content))
    assert "not a text file" in found[0].message


def test_latin1_names_the_byte_and_the_likely_encoding(tmp_path: Path) -> None:
    (found,) = problems_of(load_answers, write(tmp_path, "a.yaml", b"use_case: caf\xe9\n"))
    assert found.message == "is not UTF-8 text (byte 0xe9 at offset 13; Latin-1 or Windows-1252?)"
    assert "iconv" in found.fix


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
    path = write(tmp_path, "a.yaml", b"#" * (loaders.MAX_FILE_BYTES + 1))
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
