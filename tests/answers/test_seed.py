"""The seed template: filled with answers, read back, and loaded like an answers file."""

from __future__ import annotations

from pathlib import Path

from generator.answers import load_answers, seed
from tests.answers.helpers import answers, fields, pairs, problems_of, write

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
