"""Property tests: whatever the input, loading answers ends in LoadedAnswers or a UserError, never a crash."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from generator import answers as A
from generator.answers import seed
from generator.errors import UserError
from tests.answers.helpers import VALID

FUZZ = settings(
    max_examples=int(os.environ.get("FTPLAN_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS = [*A.Answers.model_fields, *A.Facts.model_fields, "input", "output", "use_cse", "facts"]
# Fragments that exercise YAML's and the seed template's syntax: anchors, aliases, tags, flow collections,
# block scalars, documents, tabs, quotes, the template's tags and markers.
FRAGMENTS = [
    *(f"{k}:" for k in KEYS), " ", "\n", "  ", "\t", "- ", "? ", ": ", "[", "]", "{", "}", ",", "&a ", "*a",
    "!!python/object:os.system ", "!!binary ", "|\n", ">-\n", "---\n", "...\n", "'", '"', "#", "%YAML 1.1\n",
    "<context>", "</context>", "<personalization>", "</personalization>", "<use_case>", "</use_case>",
    "<example_pairs>", "</example_pairs>", "<pair>", "<input>", "</input>", "<output>", "</output>",
    "</pair>", "{{budget}}", "{{ 7*7 }}", " -> ", "2024-13-45", "1e999", ".nan", "0x", "yes", "null", "~",
    "\x00", "\ufeff", "\x85", "\r", "openai", "open_source", "moderate", "cloud_gpu", "-5", "0.9", "é",
    "日本",
]  # fmt: skip

yamlish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=8), max_size=40).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
keys = st.sampled_from(KEYS) | st.text(max_size=10)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys | st.integers(), inner, max_size=5),
    max_leaves=20,
)


def outcome(call: Any, *args: Any) -> str:
    """Run a loader; anything but success or a UserError with named problems fails the test."""
    try:
        call(*args)
    except UserError as exc:
        assert exc.problems and all(p.field and p.message for p in exc.problems)
        return "error"
    return "ok"


@FUZZ
@given(text=yamlish, suffix=st.sampled_from([".yaml", ".json", ".md", ".txt", ""]))
def test_yamlish_text_never_crashes(text: str, suffix: str) -> None:
    outcome(A.parse_text, text, "fuzz", suffix)


@FUZZ
@given(raw=st.binary(max_size=200) | yamlish.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_in_a_file_never_crash(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answers.yaml"
        path.write_bytes(raw)
        outcome(A.load_answers, path)


@FUZZ
@given(data=st.dictionaries(keys | st.integers(), values, max_size=12) | values)
def test_arbitrary_data_never_crashes(data: Any) -> None:
    outcome(A.parse_answers, data, "fuzz")


@FUZZ
@given(path=st.lists(st.sampled_from(KEYS) | st.integers(0, 5), min_size=1, max_size=3), value=values)
def test_one_changed_value_in_a_valid_file_never_crashes(path: list[Any], value: Any) -> None:
    data: Any = copy.deepcopy(VALID)
    node = data
    for part in path[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value
    outcome(A.parse_answers, data, "fuzz")


text_value = st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != "")
pair = st.fixed_dictionaries({"input": text_value, "output": text_value})
answers_data = st.fixed_dictionaries(
    {
        "project_name": st.none() | st.text(max_size=30),
        "provider": st.sampled_from(["openai", "anthropic", "open_source", "google"]),
        "budget": st.sampled_from(["minimal", "moderate", "unlimited"]),
        "infrastructure": st.sampled_from(["cloud_gpu", "api_fine_tune", "local"]),
        "use_case": text_value,
        "current_approach": text_value,
        "current_limitations": text_value,
        "training_data": text_value,
        "example_pairs": st.lists(pair, min_size=3, max_size=5),
        "success_criteria": text_value,
    }
)


@FUZZ
@given(data=answers_data)
def test_dump_then_load_round_trips(data: dict[str, Any]) -> None:
    try:
        loaded = A.parse_answers(data, "gen")
    except UserError:
        return
    again = A.parse_answers(yaml.safe_load(A.dump_answers(loaded.answers)), "dump")
    assert again.answers == loaded.answers
    slug = loaded.answers.slug
    assert slug and len(slug) <= A.SLUG_MAX_LENGTH and "/" not in slug and ".." not in slug
    assert slug[0] not in "-." and slug == slug.lower()


@FUZZ
@given(data=answers_data)
def test_seed_fill_then_parse_round_trips(data: dict[str, Any]) -> None:
    try:
        answers = A.Answers.model_validate(data)
    except Exception:  # noqa: BLE001 - generated text the schema rejects is not this property's concern
        return
    texts = [getattr(answers, f) for f in seed.FIELDS if f != "example_pairs"]
    texts += [t for p in answers.example_pairs for t in (p.input, p.output)]
    assume(not any(seed._PLACEHOLDER.fullmatch(t) for t in texts))
    assert seed.parse(seed.fill(answers)) == answers.model_dump(include=set(seed.FIELDS))


@FUZZ
@given(name=st.none() | st.text(max_size=80))
def test_slug_is_always_safe(name: str | None) -> None:
    slug = A.make_slug(name)
    assert slug and len(slug) <= A.SLUG_MAX_LENGTH
    assert all(ch in "abcdefghijklmnopqrstuvwxyz0123456789-" for ch in slug)
    assert not slug.startswith("-") and not slug.endswith("-") and "--" not in slug
