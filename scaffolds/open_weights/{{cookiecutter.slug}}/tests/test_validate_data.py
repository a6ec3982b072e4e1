"""Tests of scripts/validate_data.py: one per defect kind, with the exact code and line it must report.

    pytest -q tests/test_validate_data.py

A tiny word-level tokenizer with a chat template is built locally (no download).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "validate_data.py"
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
NO_EOS_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% if m['role'] != 'assistant' %}"
    "<|end|>{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
WORDS = (
    "charged twice refund billing bug account feature request my app crashes on login please add dark mode "
    "i cannot reset password the invoice is wrong export fails when i click save"
).split()
LABELS = ("billing", "bug", "account", "feature_request")


def load_module():
    """Import the script by path, registered so worker processes can find its functions."""
    spec = importlib.util.spec_from_file_location("validate_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["validate_data"] = module
    spec.loader.exec_module(module)
    return module


vd = load_module()


def make_tokenizer(folder: Path, template: str) -> Path:
    """Word-level tokenizer over WORDS plus chat markers, saved like a real model's tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>"]
    vocab = {tok: i for i, tok in enumerate(specials + sorted(set(WORDS + list(LABELS))))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        eos_token="<|end|>",
        additional_special_tokens=specials[2:],
    )
    tok.chat_template = template
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory) -> str:
    return str(make_tokenizer(tmp_path_factory.mktemp("tok"), TEMPLATE))


def chat(user: str, answer: str, **extra) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        **extra,
    }


def clean_rows(n: int, offset: int = 0) -> list[dict]:
    """Distinct, balanced examples: word sequences that share no 3-word shingles across rows."""
    rows = []
    for i in range(n):
        k = i + offset
        user = " ".join(WORDS[(k * 7 + j * (k % 5 + 1)) % len(WORDS)] for j in range(6)) + f" ticket {k}"
        rows.append(chat(user, LABELS[k % len(LABELS)]))
    return rows


def write(path: Path, rows: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    train: Path,
    tokenizer: str | None,
    tmp_path: Path,
    *,
    heldout: Path | None = None,
    max_len: int = 64,
    workers: int = 1,
    threshold: float = 0.9,
) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    cfg = tmp_path / "train.yaml"
    cfg.write_text("max_length: 512\n", encoding="utf-8")
    code = vd.main(
        str(train),
        str(heldout) if heldout else None,
        str(report),
        tokenizer,
        max_len,
        str(cfg),
        workers,
        threshold,
    )
    return code, json.loads(report.read_text(encoding="utf-8"))


def codes_at(report: dict, code: str) -> list[int]:
    return [f["line"] for f in report["findings"] if f["code"] == code]


def test_clean_data_passes_and_inputs_are_untouched(tmp_path, tokenizer):
    train = write(tmp_path / "train.jsonl", clean_rows(40))
    held = write(tmp_path / "heldout.jsonl", clean_rows(10, offset=1000))
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (train, held)}
    code, report = run(train, tokenizer, tmp_path, heldout=held)
    assert code == 0
    assert [f for f in report["findings"] if f["severity"] == "error"] == []
    stats = report["stats"]["files"][str(train)]
    assert stats["examples"] == 40
    assert stats["labels"] == {label: 10 for label in LABELS}
    assert stats["roles"] == {"user": 40, "assistant": 40}
    assert 0 < stats["tokens"]["p50"] <= stats["tokens"]["p90"] <= stats["tokens"]["max"]
    assert report["stats"]["token_counting"] == "tokenizer"
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (train, held)} == before


def test_report_schema(tmp_path, tokenizer):
    rows = clean_rows(3) + ["{not json"]
    code, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path)
    assert code == 1
    assert set(report) == {"findings", "stats"}
    for f in report["findings"]:
        assert set(f) == {"file", "line", "severity", "code", "message"}
        assert f["severity"] in ("error", "warning") and isinstance(f["line"], int) and f["message"]
    assert report["stats"]["finding_counts"]["invalid_json"] == 1
    assert report["stats"]["errors"] == 1


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "not_object"),
        ({"text": "hello"}, "unknown_format"),
        ({"messages": "hello"}, "bad_messages"),
        (
            chat("my app crashes", "bug")
            | {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "bug"}]},
            "unknown_role",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "system", "content": "be brief"},
                    {"role": "assistant", "content": "bug"},
                ]
            },
            "system_not_first",
        ),
        ({"messages": [{"role": "user", "content": "my app crashes"}]}, "no_final_assistant"),
        (chat("   ", "bug"), "empty_content"),
        (chat("my app crashes", ["bug"]), "non_string_content"),
        ({"prompt": "my app crashes", "completion": 3}, "non_string_content"),
        ({"messages": [], "prompt": "x", "completion": "y"}, "ambiguous_format"),
    ],
)
def test_each_error_is_reported_at_its_line(tmp_path, tokenizer, bad, code):
    rows = clean_rows(4)
    rows.insert(2, bad)  # line 3
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path)
    assert status == 1
    assert codes_at(report, code) == [3]
    assert all(f["severity"] == "error" for f in report["findings"] if f["code"] == code)


def test_invalid_utf8(tmp_path, tokenizer):
    path = write(tmp_path / "t.jsonl", clean_rows(3))
    path.write_bytes(path.read_bytes() + b'{"messages": "\xff\xfe"}\n')
    status, report = run(path, tokenizer, tmp_path)
    assert status == 1 and codes_at(report, "invalid_utf8") == [4]


def test_a_lone_surrogate_is_reported_by_line(tmp_path, tokenizer):
    path = write(tmp_path / "t.jsonl", clean_rows(3))
    path.write_bytes(path.read_bytes() + b'{"messages": [{"role": "user", "content": "a\\ud800b"}, '
                     b'{"role": "assistant", "content": "billing"}]}\n')
    status, report = run(path, tokenizer, tmp_path)
    assert status == 1 and codes_at(report, "invalid_unicode") == [4]


def test_unknown_key_is_a_warning(tmp_path, tokenizer):
    rows = clean_rows(3)
    rows[1] = rows[1] | {"source": "crm", "label": "bug", "slice": "web", "metadata": {}}
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path)
    assert status == 0 and codes_at(report, "unknown_key") == [2]


def test_prompt_completion_formats_are_accepted(tmp_path, tokenizer):
    rows = [
        {"prompt": "my app crashes on login", "completion": "bug"},
        {
            "prompt": [
                {"role": "system", "content": "route it"},
                {"role": "user", "content": "refund please"},
            ],
            "completion": [{"role": "assistant", "content": "billing"}],
        },
    ]
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path)
    assert status == 0 and not [f for f in report["findings"] if f["severity"] == "error"]


def test_prompt_too_long_is_an_error_and_truncated_answer_a_warning(tmp_path, tokenizer):
    rows = clean_rows(4)
    rows[1] = chat(" ".join(["refund"] * 30), "billing")  # prompt fills max_seq_length: line 2
    rows[3] = chat("refund please", " ".join(["billing"] * 30))  # answer cut: line 4
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path, max_len=20)
    assert status == 1
    assert codes_at(report, "prompt_too_long") == [2]
    assert codes_at(report, "completion_truncated") == [4]
    assert report["stats"]["files"][str(tmp_path / "t.jsonl")]["tokens"]["max"] > 30


def test_missing_eos_in_template_is_a_warning(tmp_path):
    tok = str(make_tokenizer(tmp_path / "noeos", NO_EOS_TEMPLATE))
    status, report = run(write(tmp_path / "t.jsonl", clean_rows(2)), tok, tmp_path)
    assert status == 0 and codes_at(report, "eos_missing") == [1, 2]


def test_template_error_names_the_line(tmp_path):
    strict = (
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}"
        "{% endfor %}"
    )
    tok = str(make_tokenizer(tmp_path / "strict", strict + TEMPLATE))
    rows = clean_rows(3)
    rows[1]["messages"].insert(1, {"role": "tool", "content": "lookup result"})
    status, report = run(write(tmp_path / "t.jsonl", rows), tok, tmp_path)
    assert status == 1 and codes_at(report, "template_error") == [2]
    assert "no tools" in next(f["message"] for f in report["findings"] if f["code"] == "template_error")


def test_duplicates_within_train(tmp_path, tokenizer):
    rows = clean_rows(6)
    long_user = " ".join(WORDS)  # 31 words: one changed word keeps Jaccard of 3-shingles high
    rows[0] = chat(long_user, "bug")
    rows[3] = chat(long_user.upper() + "  ", "BUG")  # same after normalization: line 4
    rows[5] = chat(long_user + " today", "bug")  # one extra word: line 6
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path, threshold=0.8)
    assert status == 0
    assert codes_at(report, "exact_duplicate") == [4]
    assert codes_at(report, "near_duplicate") == [6]
    assert "line 1" in next(f["message"] for f in report["findings"] if f["code"] == "near_duplicate")


def test_leakage_into_heldout_is_an_error(tmp_path, tokenizer):
    held_rows = clean_rows(3, offset=500)
    held_rows[1] = chat(" ".join(WORDS), "bug")
    train_rows = clean_rows(5)
    train_rows[1] = held_rows[0]  # exact copy: line 2
    train_rows[4] = chat(" ".join(WORDS) + " today", "bug")  # near copy: line 5
    status, report = run(
        write(tmp_path / "t.jsonl", train_rows),
        tokenizer,
        tmp_path,
        heldout=write(tmp_path / "h.jsonl", held_rows),
        threshold=0.8,
    )
    assert status == 1
    assert codes_at(report, "leak_exact") == [2]
    assert codes_at(report, "leak_near") == [5]
    assert report["stats"]["leakage"] == {"exact": 1, "near": 1}


def test_label_imbalance(tmp_path, tokenizer):
    rows = [chat(r["messages"][0]["content"], "billing") for r in clean_rows(30)] + clean_rows(1, offset=7)
    rows[-1]["messages"][1]["content"] = "bug"
    status, report = run(write(tmp_path / "t.jsonl", rows), tokenizer, tmp_path)
    assert status == 0 and codes_at(report, "label_imbalance") == [0]
    assert report["stats"]["files"][str(tmp_path / "t.jsonl")]["labels"] == {"billing": 30, "bug": 1}


def test_bom_and_crlf_are_tolerated(tmp_path, tokenizer):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r).encode() for r in clean_rows(3)) + b"\r\n")
    status, report = run(path, tokenizer, tmp_path)
    assert status == 0
    assert codes_at(report, "utf8_bom") == [1]
    assert report["stats"]["files"][str(path)]["examples"] == 3


def test_empty_file_is_an_error_and_blank_lines_warn(tmp_path, tokenizer):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    status, report = run(empty, tokenizer, tmp_path)
    assert status == 1 and codes_at(report, "empty_file") == [0]
    rows = clean_rows(2)
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n   \n" + json.dumps(rows[1]) + "\n", encoding="utf-8")
    status, report = run(path, tokenizer, tmp_path)
    assert status == 0 and codes_at(report, "blank_line") == [2]


def test_ten_megabyte_line(tmp_path, tokenizer):
    words = WORDS * (10_000_000 // (len(" ".join(WORDS)) + 1) + 1)
    rows = clean_rows(2) + [chat(" ".join(words)[:10_000_000], "bug")]
    path = write(tmp_path / "t.jsonl", rows)
    assert path.stat().st_size > 10_000_000
    status, report = run(path, tokenizer, tmp_path, max_len=64)
    assert status == 1 and codes_at(report, "prompt_too_long") == [3]


def test_missing_tokenizer_falls_back_to_whitespace(tmp_path):
    status, report = run(write(tmp_path / "t.jsonl", clean_rows(4)), str(tmp_path / "nope"), tmp_path)
    assert status == 0
    warning = next(f for f in report["findings"] if f["code"] == "tokenizer_unavailable")
    assert "--tokenizer" in warning["message"]
    assert report["stats"]["token_counting"] == "whitespace"


def test_workers_give_the_same_findings(tmp_path, tokenizer, monkeypatch):
    rows = clean_rows(2500)
    rows[1200] = "{broken"
    rows[2400] = rows[10]
    path = write(tmp_path / "t.jsonl", rows)
    _, serial = run(path, tokenizer, tmp_path, workers=1)
    monkeypatch.setattr(vd, "PARALLEL_MIN_BYTES", 0)
    _, parallel = run(path, tokenizer, tmp_path, workers=2)
    assert parallel["findings"] == serial["findings"]
    assert codes_at(parallel, "invalid_json") == [1201] and codes_at(parallel, "exact_duplicate") == [2401]


def test_cli_exit_codes_and_messages(tmp_path, tokenizer):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    missing = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(tmp_path / "absent.jsonl"),
            "--tokenizer",
            tokenizer,
            "--max-seq-length",
            "64",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 1 and "absent.jsonl: file not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    usage = subprocess.run(
        [sys.executable, str(SCRIPT), "--max-seq-length", "many"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    no_dir = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(write(tmp_path / "ok.jsonl", clean_rows(2))),
            "--tokenizer",
            tokenizer,
            "--report",
            str(tmp_path / "missing" / "r.json"),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert no_dir.returncode == 1 and "its folder does not exist" in no_dir.stderr
    before = (tmp_path / "ok.jsonl").read_bytes()
    onto_input = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "ok.jsonl"), "--report", str(tmp_path / "ok.jsonl")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert onto_input.returncode == 1 and "never overwrites its inputs" in onto_input.stderr
    assert (tmp_path / "ok.jsonl").read_bytes() == before
    path = write(tmp_path / "t.jsonl", clean_rows(3) + [{"messages": [{"role": "user", "content": "hi"}]}])
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(path),
            "--tokenizer",
            tokenizer,
            "--max-seq-length",
            "64",
            "--workers",
            "1",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert f"{path}:4:" in done.stdout and "no_final_assistant" in done.stdout
