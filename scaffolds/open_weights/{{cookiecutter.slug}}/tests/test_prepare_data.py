"""Tests of scripts/prepare_data.py: every raw shape and file type, the split, duplicates, and the guards.

    pytest -q tests/test_prepare_data.py

The raw files are written here, in each test's temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import prepare_data  # noqa: E402
from common import UserError  # noqa: E402

WORDS = ("printer invoice login refund crash password export slow billing account upgrade cancel shipping api "
         "token report dashboard mobile webhook timeout sso seat license renewal csv import sync").split()
SHAPES = ("messages", "sharegpt", "prompt_completion", "input_output", "alpaca")
FILE_TYPES = ("jsonl", "json", "json_data", "csv", "tsv", "parquet", "hf_folder", "hf_files")


def sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def pairs(n: int, seed: int = 0, words: int = 14) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(f"case {seed}-{i}: {sentence(rng, words)}", f"answer {i}: {sentence(rng, 6)}") for i in range(n)]


def record(shape: str, user: str, answer: str) -> dict:
    if shape == "messages":
        return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}
    if shape == "sharegpt":
        return {"conversations": [{"from": "human", "value": user}, {"from": "gpt", "value": answer}]}
    if shape == "prompt_completion":
        return {"prompt": user, "completion": answer}
    if shape == "input_output":
        return {"input": user, "output": answer}
    head, _, tail = user.partition(": ")
    return {"instruction": head, "input": tail, "output": answer}


def write(path: Path, kind: str, rows: list[dict]) -> Path:
    """Raw rows as one file type; nested values become JSON text in CSV/TSV cells, as exports do."""
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif kind in ("json", "json_data"):
        path.write_text(json.dumps(rows if kind == "json" else {"data": rows}), encoding="utf-8")
    elif kind in ("csv", "tsv"):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="," if kind == "csv" else "\t")
            w.writeheader()
            w.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    elif kind == "parquet":
        pq = pytest.importorskip("pyarrow.parquet", reason="Parquet needs pyarrow")
        import pyarrow as pa

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif kind == "hf_folder":
        datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    elif kind == "hf_files":  # a folder of data files: read through datasets.load_dataset(folder)
        pytest.importorskip("datasets", reason="Hugging Face datasets is not installed")
        path.mkdir()
        write(path / "train.jsonl", "jsonl", rows)
    return path


def config(tmp_path: Path, **changes) -> Path:
    """The repository's configs/data.yaml with some keys changed, written beside the test's files."""
    cfg = yaml.safe_load((REPO / "configs/data.yaml").read_text(encoding="utf-8"))
    cfg.update(changes)
    path = tmp_path / "data.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def prepare(tmp_path: Path, *args: str, **changes) -> tuple[int, str]:
    """Run the script in-process in tmp_path: (exit status, the error text of a UserError)."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        argv = [*args, "--config", str(config(tmp_path, **changes))] if "--config" not in args else list(args)
        return prepare_data.cli(argv), ""
    except UserError as err:
        return 1, str(err)
    finally:
        os.chdir(cwd)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def all_rows(out: Path) -> list[dict]:
    return [r for s in ("train", "validation", "heldout") for r in read(out / f"{s}.jsonl")]


def pair_of(row: dict) -> tuple[str, str]:
    msgs = row["messages"]
    return msgs[-2]["content"], msgs[-1]["content"]


def tickets(tmp_path: Path, n: int = 700, queues: int = 14) -> Path:
    """A CSV export of support tickets; the last queues are rare (as in real helpdesks)."""
    rng = random.Random(7)
    weights = [40 - 2.5 * q for q in range(queues)]
    path = tmp_path / "tickets.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "body", "queue", "created"])
        for i in range(n):
            queue = rng.choices([f"queue_{q:02d}" for q in range(queues)], weights)[0]
            w.writerow([i, f"ticket {i}: {sentence(rng)}", queue, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"])
    return path


@pytest.mark.parametrize("kind", FILE_TYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_and_file_type_converts_to_chat(tmp_path: Path, shape: str, kind: str) -> None:
    expected = pairs(40)
    raw = write(tmp_path / (f"raw.{kind.split('_')[0]}" if not kind.startswith("hf") else "raw_ds"), kind,
                [record(shape, u, a) for u, a in expected])
    code, err = prepare(tmp_path, str(raw), "--out", "out", labels=None, system="Answer the customer.")
    assert code == 0, err
    rows = all_rows(tmp_path / "out")
    got = {pair_of(r) for r in rows}
    want = {(u if shape != "alpaca" else u.replace(": ", "\n\n", 1), a) for u, a in expected}
    assert got == want
    assert all(r["messages"][0] == {"role": "system", "content": "Answer the customer."} for r in rows)
    from data_format import check_schema

    found: list = []
    for n, r in enumerate(rows, 1):
        check_schema(r, n, found)
    assert not found  # what scripts/validate_data.py and training accept


def test_fourteen_queues_are_all_in_train_and_heldout(tmp_path: Path) -> None:
    raw = tickets(tmp_path)
    code, err = prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue", "--out", "out")
    assert code == 0, err
    out = tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    queues = {f"queue_{q:02d}" for q in range(14)}
    assert set(manifest["labels"]["set"]) == queues
    for split in ("train", "heldout"):
        assert {r["label"] for r in read(out / f"{split}.jsonl")} == queues
        assert set(manifest["labels"][split]) == queues
    assert manifest["split"]["method"].startswith("stratified")
    assert sum(manifest["counts"][s] for s in ("train", "validation", "heldout")) == 700
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert manifest["sources"][0]["sha256"] == hashlib.sha256(raw.read_bytes()).hexdigest()
    assert "estimate" in manifest["tokens"]["method"] and manifest["tokens"]["train"]["p95"] > 0
    train_cfg = tmp_path / "train.yaml"
    train_cfg.write_text("max_length: 512\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(REPO / "scripts/validate_data.py"), str(out / "train.jsonl"),
                           "--heldout", str(out / "heldout.jsonl"), "--config", str(train_cfg)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # no leakage, valid rows


def test_the_split_is_deterministic(tmp_path: Path) -> None:
    raw = tickets(tmp_path, n=300)
    for out in ("a", "b"):
        assert prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue", "--out", out)[0] == 0
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_time_split_holds_out_the_newest(tmp_path: Path) -> None:
    raw = tickets(tmp_path, n=200)
    code, err = prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue", "--out", "out",
                        time_field="created", split={"train": 0.8, "validation": 0.1, "heldout": 0.1})
    assert code == 0, err
    with open(raw, newline="", encoding="utf-8") as fh:
        when = {f"{r['body']}": r["created"] for r in csv.DictReader(fh)}
    dates = {s: [when[pair_of(r)[0]] for r in read(tmp_path / "out" / f"{s}.jsonl")]
             for s in ("train", "validation", "heldout")}
    assert max(dates["train"]) <= min(dates["validation"]) and max(dates["validation"]) <= min(dates["heldout"])
    assert len(dates["heldout"]) == 20
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    assert manifest["split"]["method"].startswith("time")


def test_duplicates_are_removed_and_counted(tmp_path: Path) -> None:
    base = pairs(60, words=40)  # long enough that one extra word keeps Jaccard ~0.93
    exact = [(u.upper(), a) for u, a in base[:5]]  # case and whitespace are folded: exact copies
    near = [(u + " thanks", a) for u, a in base[5:8]]
    raw = write(tmp_path / "raw.jsonl", "jsonl", [record("input_output", u, a) for u, a in base + exact + near])
    code, err = prepare(tmp_path, str(raw), "--out", "out", labels=None, near_duplicate_threshold=0.8)
    assert code == 0, err
    counts = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts["exact_duplicates"] == 5 and counts["near_duplicates"] == 3
    assert len(all_rows(tmp_path / "out")) == 60


def test_malformed_rows_are_reported_by_line_and_never_dropped(tmp_path: Path) -> None:
    good = [json.dumps(record("prompt_completion", u, a)) for u, a in pairs(30)]
    lines = good[:2] + ["{not json"] + good[2:4] + [json.dumps({"prompt": "hi", "completion": "  "})] + good[4:]
    raw = tmp_path / "raw.jsonl"
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = prepare(tmp_path, str(raw), "--out", "out", labels=None)
    assert code == 1 and not (tmp_path / "out").exists()
    assert f"{raw} line 3: not valid JSON" in err and f"{raw} line 6: completion is empty" in err
    assert "2 malformed row(s)" in err and "--skip-invalid" in err
    code, err = prepare(tmp_path, str(raw), "--out", "out", "--skip-invalid", labels=None)
    assert code == 0, err
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    assert manifest["skipped"]["count"] == 2 and manifest["counts"]["invalid_skipped"] == 2
    assert [r.split(":")[0] for r in manifest["skipped"]["rows"]] == [f"{raw} line 3", f"{raw} line 6"]
    assert len(all_rows(tmp_path / "out")) == 30


def test_many_malformed_rows_show_twenty_and_the_total(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    rows = [{"input": u, "output": "" if i % 2 else a} for i, (u, a) in enumerate(pairs(60))]
    write(raw, "csv", rows)
    code, err = prepare(tmp_path, str(raw), "--out", "out", labels=None)
    assert code == 1
    lines = err.splitlines()
    assert sum(" line " in x and "output is empty" in x for x in lines) == 20
    assert "... and 10 more" in err and "30 malformed row(s)" in err
    assert f"{raw} line 3: output is empty" in err  # CSV line numbers count the header


def test_inputs_are_byte_identical_after_the_run(tmp_path: Path) -> None:
    raw = tickets(tmp_path, n=200)
    held = write(tmp_path / "eval.jsonl", "jsonl", [{"body": u, "queue": "queue_00"} for u, _ in pairs(20, 9)])
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (raw, held)}
    code, err = prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue",
                        "--heldout", str(held), "--out", "out")
    assert code == 0, err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (raw, held)} == before


def test_users_heldout_file_is_used_as_is_and_removed_from_train(tmp_path: Path) -> None:
    train_pairs, held_pairs = pairs(80, 1), pairs(25, 2, words=40)
    copies = held_pairs[:4] + [(u + " please", a) for u, a in held_pairs[4:6]]  # 4 exact, 2 near copies
    raw = write(tmp_path / "raw.jsonl", "jsonl", [record("input_output", u, a) for u, a in train_pairs + copies])
    held = write(tmp_path / "my_eval.csv", "csv", [record("input_output", u, a) for u, a in held_pairs])
    code, err = prepare(tmp_path, str(raw), "--heldout", str(held), "--out", "out", labels=None,
                        near_duplicate_threshold=0.8)
    assert code == 0, err
    out = tmp_path / "out"
    assert [pair_of(r) for r in read(out / "heldout.jsonl")] == held_pairs  # verbatim, in its order
    train = {pair_of(r) for s in ("train", "validation") for r in read(out / f"{s}.jsonl")}
    assert train == set(train_pairs)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["heldout_copies_removed"] == {"exact": 4, "near": 2}
    assert manifest["heldout_source"]["sha256"] == hashlib.sha256(held.read_bytes()).hexdigest()


def test_a_frozen_heldout_is_not_replaced_without_force(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw.jsonl", "jsonl", [record("input_output", u, a) for u, a in pairs(100)])
    args = (str(raw), "--out", "out")
    assert prepare(tmp_path, *args, labels=None)[0] == 0
    frozen = (tmp_path / "out/heldout.jsonl").read_bytes()
    assert prepare(tmp_path, *args, labels=None)[0] == 0  # the same data: the same held-out set, allowed
    code, err = prepare(tmp_path, *args, labels=None, seed=7)  # another split would replace it
    assert code == 1 and "out/heldout.jsonl: exists" in err and "--force" in err
    assert (tmp_path / "out/heldout.jsonl").read_bytes() == frozen
    (tmp_path / "out/heldout.jsonl").write_bytes(frozen + b"\n")  # edited by hand after the manifest
    code, err = prepare(tmp_path, *args, labels=None)
    assert code == 1 and "edited since" in err
    assert prepare(tmp_path, *args, "--force", labels=None, seed=7)[0] == 0
    assert (tmp_path / "out/heldout.jsonl").read_bytes() != frozen


def test_out_folder_holding_an_input_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    raw = write(data / "train.jsonl", "jsonl", [record("messages", u, a) for u, a in pairs(40)])
    before = raw.read_bytes()
    code, err = prepare(tmp_path, str(raw), "--out", "data", labels=None)
    assert code == 1 and "would overwrite the input" in err
    other = tmp_path / "raw.jsonl"
    os.link(raw, other)  # a hard link under another name is the same file
    os.rename(raw, data / "heldout.jsonl")
    code, err = prepare(tmp_path, str(other), "--out", "data", labels=None)
    assert code == 1 and "would overwrite the input" in err
    assert other.read_bytes() == before


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    raw = tickets(tmp_path, n=120)
    listing = sorted(tmp_path.rglob("*"))
    code, err = prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue", "--out", "out",
                        "--dry-run")
    assert code == 0, err
    assert sorted(p for p in tmp_path.rglob("*") if p.name != "data.yaml") == listing


def test_unknown_config_key_names_the_closest(tmp_path: Path) -> None:
    raw = write(tmp_path / "raw.jsonl", "jsonl", [record("messages", u, a) for u, a in pairs(10)])
    code, err = prepare(tmp_path, str(raw), input_feild="body")
    assert code == 1 and "input_feild: is not a key — did you mean 'input_field'?" in err
    code, err = prepare(tmp_path, str(raw), split={"train": 0.9, "validation": 0.2, "heldout": 0.1})
    assert code == 1 and "add up to 1.2" in err


def test_missing_parquet_engine_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = tmp_path / "raw.parquet"
    raw.write_bytes(b"PAR1")
    for name in ("pyarrow", "pyarrow.parquet", "pandas"):
        monkeypatch.setitem(sys.modules, name, None)
    code, err = prepare(tmp_path, str(raw), labels=None)
    assert code == 1 and "pip install pyarrow" in err


def test_cli_prints_one_error_line_per_problem_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts/prepare_data.py"), "missing.csv", "--config",
                           str(config(tmp_path))], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: missing.csv: not found")


def test_a_fixed_label_list_rejects_other_answers(tmp_path: Path) -> None:
    rows = [{"body": u, "queue": "billing" if i % 2 else "bug"} for i, (u, _) in enumerate(pairs(20))]
    rows[6]["queue"] = "billling"
    raw = write(tmp_path / "raw.jsonl", "jsonl", rows)
    code, err = prepare(tmp_path, str(raw), "--input-field", "body", "--output-field", "queue",
                        labels=["billing", "bug"])
    assert code == 1 and f"{raw} line 7: label 'billling' is not one of" in err


def make_tokenizer(folder: Path) -> Path:
    """A word-level tokenizer with a chat template, saved like a model's (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[UNK]", "<|user|>", "<|assistant|>", "<|end|>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|end|>")
    fast.chat_template = "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    fast.save_pretrained(str(folder))
    return folder


def test_token_counts_use_the_configured_tokenizer(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="transformers is not installed")
    tok = make_tokenizer(tmp_path / "tok")
    raw = write(tmp_path / "raw.jsonl", "jsonl", [record("input_output", u, a) for u, a in pairs(40)])
    code, err = prepare(tmp_path, str(raw), "--out", "out", labels=None, tokenizer=str(tok))
    assert code == 0, err
    tokens = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))["tokens"]
    assert tokens["method"] == f"tokenizer {tok}"
    assert tokens["train"]["max"] == tokens["train"]["p50"] > 20  # 20 words, markers, the numbered prefixes
