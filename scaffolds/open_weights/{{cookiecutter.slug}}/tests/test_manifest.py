"""Labels from the data (`labels: auto` -> data/manifest.json) and the frozen held-out guard (scripts/manifest.py).

pytest tests/test_manifest.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml
from test_schemas import fresh_repo, run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import evaluate as ev  # noqa: E402
import manifest as mf  # noqa: E402
import schemas  # noqa: E402
from common import UserError  # noqa: E402
from metrics import METRICS, score  # noqa: E402

QUEUES = [f"queue_{i:02d}" for i in range(14)]


def classification_repo(tmp_path: Path, labels: object = "auto") -> Path:
    """A fresh repository whose eval.yaml is a classification plan with `labels` as given, and a held-out set."""
    repo = fresh_repo(tmp_path)
    path = repo / "configs/eval.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg.update(task_type="classification", labels=labels, primary_metric="macro_f1",
               metrics={"accuracy": {"test": "mcnemar"}, "macro_f1": {"test": "sign_flip"}},
               gates=[{"metric": "macro_f1", "op": ">=", "threshold": 0.5}])
    for key in ("sql", "judge", "allow_code_execution", "code_execution", "json_schema"):
        cfg.pop(key, None)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    (repo / "data").mkdir(exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": f"ticket {i}"}, {"role": "assistant", "content": q}]}
            for i, q in enumerate(QUEUES[:4])]
    (repo / "data/heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return repo


def write_manifest(repo: Path, labels: list[str] | None, sha: str | None = None) -> None:
    held = repo / "data/heldout.jsonl"
    manifest = {"labels": {"set": labels} if labels is not None else None,
                "files": {"heldout.jsonl": {"sha256": sha or hashlib.sha256(held.read_bytes()).hexdigest()}}}
    (repo / "data/manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_labels_auto_reads_the_manifest_and_macro_f1_averages_over_all_of_them(tmp_path, monkeypatch):
    repo = classification_repo(tmp_path)
    write_manifest(repo, QUEUES)
    monkeypatch.chdir(repo)
    cfg = ev.parse_args(["--config", "configs/eval.yaml"])
    assert cfg["labels"] == QUEUES and cfg["_labels_source"] == "data/manifest.json"
    refs = QUEUES[:4]  # the held-out shows 4 of the 14 queues; all four answered right
    assert score(METRICS["macro_f1"], refs, refs, cfg) == pytest.approx(4 / 14)
    assert score(METRICS["macro_f1"], refs, refs, {"labels": None}) == pytest.approx(1.0)


def test_a_listed_label_set_wins_and_needs_no_manifest(tmp_path, monkeypatch):
    repo = classification_repo(tmp_path, labels=["a", "b"])
    monkeypatch.chdir(repo)
    assert ev.parse_args(["--config", "configs/eval.yaml"])["labels"] == ["a", "b"]


@pytest.mark.parametrize("labels", [None, "missing"])
def test_labels_auto_without_a_label_set_is_an_error_naming_make_data(tmp_path, monkeypatch, labels):
    repo = classification_repo(tmp_path)
    if labels is None:
        write_manifest(repo, None)  # prepared with `labels: null`
    monkeypatch.chdir(repo)
    with pytest.raises(UserError, match=r"labels: auto .*make data.*labels:"):
        ev.parse_args(["--config", "configs/eval.yaml"])
    dry = run(repo, ["scripts/evaluate.py", "--config", "configs/eval.yaml", "--dry-run"])
    assert dry.returncode == 0, dry.stderr
    assert "missing  labels: auto" in dry.stdout and "make data" in dry.stdout


def test_schema_accepts_auto_a_list_or_null_and_nothing_else(tmp_path):
    repo = classification_repo(tmp_path)
    path = repo / "configs/eval.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    for good in ("auto", ["x"], None):
        path.write_text(yaml.safe_dump({**cfg, "labels": good}), encoding="utf-8")
        assert schemas.validate_file("eval", path) == []
    for bad, msg in (("all", "auto or a list"), ([1], "is not text"), (3, "auto or a list")):
        path.write_text(yaml.safe_dump({**cfg, "labels": bad}), encoding="utf-8")
        assert any(msg in p for p in schemas.validate_file("eval", path)), bad


def baseline(repo: Path, sha: str) -> None:
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports/baseline_report.json").write_text(json.dumps({"heldout_sha256": sha}), encoding="utf-8")


def test_eval_refuses_a_heldout_set_changed_since_the_baseline(tmp_path):
    repo = classification_repo(tmp_path)
    write_manifest(repo, QUEUES)
    held = repo / "data/heldout.jsonl"
    baseline(repo, mf.sha256_file(held))
    assert mf.heldout_changed(held, repo / "reports/baseline_report.json") == []
    with held.open("a", encoding="utf-8") as fh:  # one more example after the baseline was measured
        fh.write(json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})
                 + "\n")
    proc = run(repo, ["scripts/evaluate.py", "--config", "configs/eval.yaml"])
    assert proc.returncode == 1
    assert "changed since the baseline was measured" in proc.stderr and "re-run `make baseline`" in proc.stderr
    assert "changed since `make data` froze it" in proc.stderr and "restore the file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_eval_refuses_a_heldout_set_that_differs_from_the_manifest(tmp_path):
    repo = classification_repo(tmp_path)
    write_manifest(repo, QUEUES, sha="0" * 64)
    proc = run(repo, ["scripts/evaluate.py", "--config", "configs/eval.yaml"])
    assert proc.returncode == 1 and "changed since `make data` froze it" in proc.stderr, proc.stderr
    assert "changed since the baseline" not in proc.stderr  # no baseline report yet: nothing else to compare


def test_the_cli_names_each_mismatch(tmp_path):
    repo = classification_repo(tmp_path)
    write_manifest(repo, QUEUES)
    held = repo / "data/heldout.jsonl"
    baseline(repo, "f" * 64)
    proc = run(repo, ["scripts/manifest.py", str(held), str(repo / "reports/baseline_report.json")])
    assert proc.returncode == 1 and proc.stdout.count("heldout:") == 1 and "baseline" in proc.stdout
    baseline(repo, mf.sha256_file(held))
    assert run(repo, ["scripts/manifest.py", str(held), str(repo / "reports/baseline_report.json")]).returncode == 0


def test_validate_data_reports_a_changed_heldout_set(tmp_path):
    repo = classification_repo(tmp_path)
    held = repo / "data/heldout.jsonl"
    (repo / "data/train.jsonl").write_text(held.read_text(encoding="utf-8").replace("ticket", "train ticket"),
                                           encoding="utf-8")
    cmd = ["scripts/validate_data.py", "data/train.jsonl", "--heldout", "data/heldout.jsonl", "--report", "v.json"]
    write_manifest(repo, QUEUES)
    assert "heldout_changed" not in run(repo, cmd).stdout
    write_manifest(repo, QUEUES, sha="0" * 64)
    proc = run(repo, cmd)
    assert proc.returncode == 1 and "error: heldout_changed:" in proc.stdout, proc.stdout + proc.stderr
    report = json.loads((repo / "v.json").read_text(encoding="utf-8"))
    assert report["stats"]["finding_counts"]["heldout_changed"] == 1
