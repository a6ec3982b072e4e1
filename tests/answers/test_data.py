"""`--data FILE.jsonl`: counting rows and tokens in every accepted format; broken lines by number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from generator.answers import data as D
from generator.answers import parse_answers
from tests.answers.helpers import data, problems_of, write

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
    stats = D.measure_data(jsonl(tmp_path, rows))
    assert stats.count == 4 and stats.avg_input_tokens == 10
    assert stats.formats == {"chat": 1, "prompt_completion": 2, "input_output": 1}
    assert stats.labels == ("bug", "billing", "account")


def test_measured_figures_override_estimates_not_given_facts(tmp_path: Path) -> None:
    stats = D.measure_data(jsonl(tmp_path, [{"input": "x" * 400, "output": "y" * 40}] * 3))
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
    found = problems_of(D.measure_data, jsonl(tmp_path, rows))
    assert [p.field.rsplit(":", 1)[1] for p in found] == ["2", "3", "4"]
    assert "assistant" in found[1].message


def test_measure_data_caps_the_problem_list(tmp_path: Path) -> None:
    found = problems_of(D.measure_data, jsonl(tmp_path, ["nope"] * 50))
    assert len(found) == D.MAX_DATA_PROBLEMS + 1 and "30 more" in found[-1].message


def test_measure_data_bad_files(tmp_path: Path) -> None:
    assert problems_of(D.measure_data, tmp_path / "x.jsonl")[0].message == "file not found"
    assert "no examples" in problems_of(D.measure_data, write(tmp_path, "e.jsonl", "\n\n"))[0].message
    found = problems_of(D.measure_data, write(tmp_path, "b.jsonl", b'{"input": "a", "output": "\xff"}\n'))
    assert "UTF-8" in found[0].message and found[0].field.endswith(":1")
