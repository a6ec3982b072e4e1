"""prepare_hosted.py on real files: clean data converts line for line; a defect names its line.

pytest tests/test_prepare_hosted.py
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "prepare_hosted.py"
EXAMPLE_CONFIG = ROOT / "configs" / "hosted.example.yaml"
sys.path.insert(0, str(SCRIPT.parent))
ph = importlib.import_module("prepare_hosted")

LABELS = ("billing", "bug", "account", "feature_request")


def clean_records(n: int = 12) -> list[dict]:
    """Chat data in every shape the repo accepts: system + user + assistant, multi-turn, prompt/completion."""
    records: list[dict] = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        if i % 3 == 0:
            records.append(
                {
                    "messages": [
                        {"role": "system", "content": "Route the ticket to one queue."},
                        {"role": "user", "content": f"Ticket {i}: I was charged twice for order {i}."},
                        {"role": "assistant", "content": label},
                    ],
                    "label": label,
                }
            )
        elif i % 3 == 1:
            records.append(
                {
                    "messages": [
                        {"role": "user", "content": f"Ticket {i}: the export button crashes."},
                        {"role": "assistant", "content": "Which queue?"},
                        {"role": "user", "content": "Pick one of the four queues."},
                        {"role": "assistant", "content": label},
                    ]
                }
            )
        else:
            records.append({"prompt": f"Ticket {i}: please add dark mode.", "completion": label})
    return records


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8"
    )
    return path


def make_config(tmp_path: Path, **overrides) -> Path:
    cfg = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for key, value in overrides.items():
        cfg[key] = value
    path = tmp_path / "hosted.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def vertex_config(tmp_path: Path, **overrides) -> Path:
    base = {
        "provider": "vertex",
        "model": "gemini-2.5-flash",
        "training_usd_per_1m_tokens": 5.0,
        "tuning_window": {"closes": None, "notice": None, "source": None},
        "model_retirement": None,
        "adapter_size": 4,
    }
    return make_config(tmp_path, **{**base, **overrides})


def run_main(provider: str, data: Path, out: Path, config: Path, *extra: str) -> int:
    return ph.main(["--provider", provider, str(data), "-o", str(out), "--config", str(config), *extra])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_example_config_loads():
    cfg = ph.load_config(EXAMPLE_CONFIG)
    assert cfg["provider"] in ph.PROVIDERS
    assert cfg["tuning_window"]["closes"].isoformat() == "2027-01-06"


def test_clean_data_to_openai_is_line_for_line(tmp_path):
    records = clean_records()
    data = write_jsonl(tmp_path / "train.jsonl", records)
    out = tmp_path / "out" / "openai.jsonl"
    assert run_main("openai", data, out, make_config(tmp_path), "--tokenizer-approx") == 0
    lines = read_jsonl(out)
    assert len(lines) == len(records)
    for rec, line in zip(records, lines, strict=True):
        assert set(line) == {"messages"}  # label/slice are repo metadata, not provider fields
        msgs = line["messages"]
        assert all(set(m) == {"role", "content"} for m in msgs)
        assert msgs[-1]["role"] == "assistant"
        if "messages" in rec:
            assert msgs == [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
        else:
            assert msgs == [
                {"role": "user", "content": rec["prompt"]},
                {"role": "assistant", "content": rec["completion"]},
            ]


def test_clean_data_to_vertex_is_line_for_line(tmp_path):
    records = clean_records()
    data = write_jsonl(tmp_path / "train.jsonl", records)
    out = tmp_path / "vertex.jsonl"
    assert run_main("vertex", data, out, vertex_config(tmp_path)) == 0
    lines = read_jsonl(out)
    assert len(lines) == len(records)
    for rec, line in zip(records, lines, strict=True):
        msgs = rec.get("messages") or [
            {"role": "user", "content": rec["prompt"]},
            {"role": "assistant", "content": rec["completion"]},
        ]
        if msgs[0]["role"] == "system":
            assert line["systemInstruction"] == {"role": "system", "parts": [{"text": msgs[0]["content"]}]}
            msgs = msgs[1:]
        else:
            assert "systemInstruction" not in line
        contents = line["contents"]
        assert [c["role"] for c in contents] == ["user" if m["role"] == "user" else "model" for m in msgs]
        assert [c["parts"] for c in contents] == [[{"text": m["content"]}] for m in msgs]
        assert contents[0]["role"] == "user" and contents[-1]["role"] == "model"
        assert all(a["role"] != b["role"] for a, b in pairwise(contents))


def test_billed_tokens_and_cost_follow_the_config(tmp_path):
    records = clean_records()
    data = write_jsonl(tmp_path / "train.jsonl", records)
    report = tmp_path / "report.json"
    config = make_config(tmp_path, epochs=2, training_usd_per_1m_tokens=25.0)
    assert (
        run_main("openai", data, tmp_path / "o.jsonl", config, "--tokenizer-approx", "--report", str(report))
        == 0
    )
    stats = json.loads(report.read_text())["stats"]
    per_example = []
    for rec in records:
        msgs = rec.get("messages") or [{"content": rec["prompt"]}, {"content": rec["completion"]}]
        per_example.append(math.ceil(sum(len(m["content"]) for m in msgs) / 4))
    assert stats["token_counting"] == "approx: characters/4"
    assert stats["dataset_tokens"] == sum(per_example)
    assert stats["billed_tokens"] == 2 * sum(per_example)
    assert stats["training_usd"] == pytest.approx(2 * sum(per_example) * 25.0 / 1e6, abs=1e-4)
    assert stats["examples"] == len(records) and stats["errors"] == 0


def test_tiktoken_is_used_for_openai_when_installed(tmp_path):
    tiktoken = pytest.importorskip("tiktoken")
    try:
        encoding = tiktoken.get_encoding("o200k_base")
    except Exception as exc:  # tiktoken fetches its BPE file on first use
        pytest.skip(f"tiktoken cannot load o200k_base here ({type(exc).__name__})")
    records = clean_records()
    data = write_jsonl(tmp_path / "train.jsonl", records)
    report = tmp_path / "r.json"
    assert run_main("openai", data, tmp_path / "o.jsonl", make_config(tmp_path), "--report", str(report)) == 0
    stats = json.loads(report.read_text())["stats"]
    assert stats["token_counting"] == "tiktoken:o200k_base"
    expected = 0
    for rec in records:  # the OpenAI Cookbook's count: 3 per message + role + content, 3 to prime the reply
        msgs = rec.get("messages") or [
            {"role": "user", "content": rec["prompt"]},
            {"role": "assistant", "content": rec["completion"]},
        ]
        expected += 3 + sum(
            3 + len(encoding.encode(m["role"])) + len(encoding.encode(m["content"])) for m in msgs
        )
    assert stats["dataset_tokens"] == expected


def _with_defect(line_no: int, bad) -> list:
    records: list = clean_records()
    records[line_no - 1] = bad
    return records


DEFECTS = [
    (
        "openai",
        3,
        {"messages": [{"role": "customer", "content": "hi"}, {"role": "assistant", "content": "bug"}]},
        "bad_role",
    ),
    (
        "vertex",
        4,
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "bug"},
            ]
        },
        "order",
    ),
    (
        "vertex",
        2,
        {
            "messages": [
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "bug"},
            ]
        },
        "order",
    ),
    (
        "openai",
        5,
        {"messages": [{"role": "assistant", "content": "hello"}, {"role": "assistant", "content": "x"}]},
        "order",
    ),
    (
        "openai",
        6,
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "bug"},
                {"role": "user", "content": "thanks"},
            ]
        },
        "last_not_assistant",
    ),
    (
        "openai",
        7,
        {"messages": [{"role": "user", "content": "   "}, {"role": "assistant", "content": "bug"}]},
        "empty_content",
    ),
    ("vertex", 8, {"prompt": "ticket", "completion": ""}, "empty_content"),
    ("openai", 9, '{"messages": [{"role": "user", "content": "unterminated"', "invalid_json"),
    ("vertex", 10, "", "blank_line"),
    ("vertex", 11, {"text": "no messages"}, "missing_messages"),
]


@pytest.mark.parametrize(("provider", "line_no", "bad", "code"), DEFECTS)
def test_each_defect_names_its_line_and_writes_nothing(tmp_path, capsys, provider, line_no, bad, code):
    data = write_jsonl(tmp_path / "train.jsonl", _with_defect(line_no, bad))
    out = tmp_path / "out.jsonl"
    report = tmp_path / "report.json"
    config = vertex_config(tmp_path) if provider == "vertex" else make_config(tmp_path)
    assert run_main(provider, data, out, config, "--report", str(report)) == 1
    assert not out.exists()
    findings = json.loads(report.read_text())["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    assert [(f["line"], f["code"]) for f in errors] == [(line_no, code)]
    assert set(errors[0]) == {"file", "line", "severity", "code", "message"}
    assert f"{data}:{line_no}: error [{code}]" in capsys.readouterr().out


def test_over_long_example_is_refused_at_the_published_vertex_limit(tmp_path):
    records: list = clean_records()
    records[4] = {
        "messages": [
            {"role": "user", "content": "x" * (4 * ph.VERTEX_MAX_TOKENS_PER_EXAMPLE)},
            {"role": "assistant", "content": "bug"},
        ]
    }
    data = write_jsonl(tmp_path / "train.jsonl", records)
    out = tmp_path / "out.jsonl"
    report = tmp_path / "r.json"
    assert run_main("vertex", data, out, vertex_config(tmp_path), "--report", str(report)) == 1
    assert not out.exists()
    errors = [f for f in json.loads(report.read_text())["findings"] if f["severity"] == "error"]
    assert [(f["line"], f["code"]) for f in errors] == [(5, "too_many_tokens")]


def test_config_limit_overrides_the_published_one(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records())
    report = tmp_path / "r.json"
    config = make_config(tmp_path, max_tokens_per_example=8)
    assert (
        run_main("openai", data, tmp_path / "o.jsonl", config, "--tokenizer-approx", "--report", str(report))
        == 1
    )
    codes = {f["code"] for f in json.loads(report.read_text())["findings"]}
    assert codes == {"too_many_tokens"}


def test_too_few_examples_for_openai_training(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records(ph.OPENAI_MIN_TRAINING_EXAMPLES - 1))
    out = tmp_path / "out.jsonl"
    report = tmp_path / "r.json"
    assert run_main("openai", data, out, make_config(tmp_path), "--report", str(report)) == 1
    assert not out.exists()
    errors = [f for f in json.loads(report.read_text())["findings"] if f["severity"] == "error"]
    assert [(f["line"], f["code"]) for f in errors] == [(None, "too_few_examples")]


def test_a_small_validation_file_is_fine_and_not_billed(tmp_path):
    data = write_jsonl(tmp_path / "validation.jsonl", clean_records(4))
    report = tmp_path / "r.json"
    out = tmp_path / "v.jsonl"
    assert (
        run_main("openai", data, out, make_config(tmp_path), "--split", "validation", "--report", str(report))
        == 0
    )
    stats = json.loads(report.read_text())["stats"]
    assert stats["split"] == "validation" and stats["billed_tokens"] == 0
    assert len(read_jsonl(out)) == 4


def test_few_vertex_examples_only_warn(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records(5))
    report = tmp_path / "r.json"
    assert (
        run_main("vertex", data, tmp_path / "v.jsonl", vertex_config(tmp_path), "--report", str(report)) == 0
    )
    findings = json.loads(report.read_text())["findings"]
    assert [(f["severity"], f["code"]) for f in findings] == [("warning", "few_examples")]


def test_unknown_openai_model_limit_is_flagged(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records())
    report = tmp_path / "r.json"
    config = make_config(tmp_path, model="gpt-4.1-mini-2025-04-14")
    assert run_main("openai", data, tmp_path / "o.jsonl", config, "--report", str(report)) == 0
    codes = [f["code"] for f in json.loads(report.read_text())["findings"]]
    assert codes == ["unverified_limit"]


def test_config_errors_name_the_field(tmp_path, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records())
    config = make_config(tmp_path, epoch=3, adapter_size=3)
    assert run_main("openai", data, tmp_path / "o.jsonl", config) == 1
    err = capsys.readouterr().err
    assert "epoch: unknown key — did you mean 'epochs'?" in err
    assert "adapter_size: '3' must be one of [1, 2, 4, 8, 16]" in err


def test_provider_must_match_the_config(tmp_path, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", clean_records())
    out = tmp_path / "o.jsonl"
    assert run_main("vertex", data, out, make_config(tmp_path)) == 1
    assert "provider:" in capsys.readouterr().err and not out.exists()


def test_cli_exit_code_and_summary(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", _with_defect(2, "{not json"))
    out = tmp_path / "o.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--provider",
            "openai",
            str(data),
            "-o",
            str(out),
            "--config",
            str(make_config(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{data}:2: error [invalid_json]" in proc.stdout
    assert "nothing written" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
