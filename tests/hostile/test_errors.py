"""Each failure class of issue 9, through the CLI: exit 1, one `field: what — fix` line each, no traceback.

The bounds of `--data` (generator/answers/data.py) are tested on real processes: /dev/zero and a 1 GiB
sparse file of NULs must end with an error while the process stays under PEAK_RSS_BOUND_MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.answers import MAX_DATA_PROBLEMS
from generator.answers.data import MAX_JSON_DEPTH, MAX_LINE_BYTES
from generator.cli import app
from tests.conftest import EXAMPLES, ROOT

runner = CliRunner()
TODAY = ["--today", "2026-11-25"]
PEAK_RSS_BOUND_MB = 300  # ftplan plan's own imports take ~70 MB; a read of the whole input would take GBs
BASE = yaml.safe_load((EXAMPLES / "support_triage.yaml").read_text(encoding="utf-8"))


def _answers(tmp_path: Path, name: str = "a.yaml", **changes) -> Path:
    data = {**BASE, **changes}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def fails_cleanly(args: list[str]) -> list[str]:
    """Exit 1 with problem lines and no traceback; returns the problem lines."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    lines = [ln.strip() for ln in res.output.splitlines() if ln.startswith("  ")]
    assert lines and all(": " in ln for ln in lines), res.output
    return lines


def succeeds(args: list[str]) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


# ---------------------------------------------------------------- numbers


def test_a_400_digit_number_in_the_text_is_no_count(tmp_path):
    path = _answers(tmp_path, training_data=f"We have {'9' * 400} labelled tickets")
    succeeds(["plan", path, *TODAY, "--format", "json"])


@pytest.mark.parametrize("value", [10**400, float("nan"), float("inf"), -1.0e308, "12abc"])
def test_a_numeric_fact_out_of_range_or_not_finite(tmp_path, value):
    path = _answers(tmp_path, facts={**BASE["facts"], "monthly_requests": value})
    (line,) = fails_cleanly(["plan", path, *TODAY])
    assert line.startswith("facts.monthly_requests: ") and " — " in line
    assert len(line) < 400, "the value is named, not printed in full"


# ---------------------------------------------------------------- text and encodings


def test_lone_surrogates_in_the_answers(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({**BASE, "use_case": "route \ud800 tickets"}), encoding="utf-8")
    (line,) = fails_cleanly(["plan", path, *TODAY])
    assert line.startswith("use_case: ")


def test_a_latin1_answers_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_bytes(yaml.safe_dump({**BASE, "use_case": "café"}, allow_unicode=True).encode("latin-1"))
    (line,) = fails_cleanly(["plan", path, *TODAY])
    assert "not UTF-8" in line and "Latin-1" in line


def test_invalid_utf8_in_an_answers_file_name(tmp_path):
    name = os.fsdecode(b"answers-\xff\xfe.yaml")
    path = _answers(tmp_path, name)
    out = succeeds(["plan", path, *TODAY, "--format", "json"])
    assert json.loads(out)["meta"]["answers_source"].endswith("answers-\\xff\\xfe.yaml")
    missing = tmp_path / os.fsdecode(b"gone-\xff.yaml")
    (line,) = fails_cleanly(["plan", missing, *TODAY])
    assert "gone-\\xff.yaml: file not found" in line


def test_invalid_utf8_in_a_data_file_name(tmp_path):
    data = tmp_path / os.fsdecode(b"data-\xff.jsonl")
    data.write_text('{"input": "x", "output": "y"}\n', encoding="utf-8")
    succeeds(["plan", EXAMPLES / "support_triage.yaml", "--data", data, *TODAY, "--format", "json"])


# ---------------------------------------------------------------- structure


def test_deeply_nested_json_answers(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (line,) = fails_cleanly(["plan", path, *TODAY])
    assert "not valid JSON" in line


def test_deeply_nested_yaml_answers(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("use_case: " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    (line,) = fails_cleanly(["plan", path, *TODAY])
    assert "nested more than" in line and "flatten" in line


# ---------------------------------------------------------------- --data


def _data(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(("content", "expected"), [
    ('{"messages": ' + "[" * 5000 + "]" * 5000 + "}\n", f"nested more than {MAX_JSON_DEPTH} levels"),
    ('{"input": "\\ud800 x", "output": "y"}\n', "lone surrogate"),
    ('{"input": NaN, "output": "y"}\n', "NaN is not a JSON number"),
    ('{"input": "x", "output": ' + "9" * 5000 + "}\n", "not valid JSON"),
    ('{"input": "café", "output": "y"}\n'.encode("latin-1"), "Latin-1"),
    (b'{"input": "x\x00", "output": "y"}\n', "NUL bytes"),
], ids=["deep", "surrogate", "nan", "huge-int", "latin1", "nul"])
def test_broken_data_rows(tmp_path, content, expected):
    lines = fails_cleanly(["plan", EXAMPLES / "support_triage.yaml", "--data", _data(tmp_path, content), *TODAY])
    assert expected in lines[0] and lines[0].startswith(f"{tmp_path / 'train.jsonl'}:1: ")


def test_a_hundred_thousand_broken_lines_are_capped(tmp_path):
    data = _data(tmp_path, "not json\n" * 50_000 + "\x00\n" * 50_000)
    lines = fails_cleanly(["plan", EXAMPLES / "support_triage.yaml", "--data", data, *TODAY])
    assert len(lines) == MAX_DATA_PROBLEMS + 1
    assert lines[-1].endswith(f"and {100_000 - MAX_DATA_PROBLEMS} more broken lines — fix the lines above first")


def test_a_line_over_the_cap_stops_the_read(tmp_path):
    data = _data(tmp_path, '{"input": "x", "output": "y"}\n' + "x" * (MAX_LINE_BYTES + 10) + "\n")
    (line,) = fails_cleanly(["plan", EXAMPLES / "support_triage.yaml", "--data", data, *TODAY])
    assert line.startswith(f"{data}:2: is longer than 16 MiB")


PEAK = """
import resource, subprocess, sys
res = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(res.returncode, peak_kb, sep="\\n")
print(res.stderr)
"""


def _peak_run(data: Path) -> tuple[int, float, str]:
    """rc, peak RSS (MB) and stderr of `ftplan plan --data DATA` in its own process (a wrapper measures it)."""
    cmd = [sys.executable, "-c", PEAK, sys.executable, "-c", "from generator.cli import app; app()",
           "plan", str(EXAMPLES / "support_triage.yaml"), "--data", str(data), *TODAY]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT).stdout
    rc, peak_kb, stderr = out.split("\n", 2)
    return int(rc), int(peak_kb) / 1024, stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_data_from_dev_zero_ends_with_an_error_in_bounded_memory():
    rc, peak_mb, stderr = _peak_run(Path("/dev/zero"))
    assert rc == 1 and "Traceback" not in stderr
    assert "/dev/zero:1: is longer than 16 MiB" in stderr
    assert peak_mb < PEAK_RSS_BOUND_MB


def test_a_1gib_single_line_file_ends_with_an_error_in_bounded_memory(tmp_path):
    data = tmp_path / "huge.jsonl"
    with data.open("wb") as fh:
        fh.truncate(1 << 30)  # sparse: a gigabyte of NULs that takes no disk
    rc, peak_mb, stderr = _peak_run(data)
    assert rc == 1 and "Traceback" not in stderr
    assert f"{data}:1: is longer than 16 MiB" in stderr
    assert peak_mb < PEAK_RSS_BOUND_MB
