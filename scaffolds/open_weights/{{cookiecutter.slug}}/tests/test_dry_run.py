"""`--dry-run` of every script on a fresh repository without data: exit 0, the missing files named; user metrics.

pytest tests/test_dry_run.py
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_schemas import fresh_repo, run

DRY_RUNS = {
    "evaluate": (["scripts/evaluate.py", "--config", "configs/eval.yaml", "--dry-run"], "heldout: data/heldout.jsonl"),
    "evaluate smoke": (["scripts/evaluate.py", "--config", "configs/eval.yaml", "--profile", "smoke", "--dry-run"],
                       "heldout: smoke/heldout.jsonl"),
    "validate_data": (["scripts/validate_data.py", "data/train.jsonl", "--heldout", "data/heldout.jsonl",
                       "--dry-run"], "train: data/train.jsonl"),
    "train": (["scripts/train.py", "--config", "configs/train.yaml", "--dry-run"], "train: data/train.jsonl"),
    "ab_analysis": (["scripts/ab_analysis.py", "outcomes.csv", "--dry-run"], "outcomes: outcomes.csv"),
    "rehearse": (["scripts/rehearse.py", "--dry-run"], "train: data/train.jsonl"),
}


@pytest.mark.parametrize("name", DRY_RUNS)
def test_dry_run_on_a_fresh_repo_reports_missing_data(tmp_path: Path, name: str) -> None:
    cmd, missing = DRY_RUNS[name]
    repo = fresh_repo(tmp_path)
    if name == "train" and (yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8")) or {}).get(
            "datasets"):
        missing = "datasets[0]: data/train.jsonl"  # the forgetting mix reads your rows as its first entry
    proc = run(repo, cmd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"missing  {missing}" in proc.stdout and "no model loaded" in proc.stdout


def test_train_dry_run_imports_nothing_heavy(tmp_path: Path) -> None:
    repo = fresh_repo(tmp_path)
    probe = ("import runpy, sys; sys.argv = ['train.py', '--config', 'configs/train.yaml', '--dry-run'];"
             "sys.modules['trl'] = None; import importlib.util as u; u.find_spec = lambda name, *a: None\n"
             "try:\n    runpy.run_path('scripts/train.py', run_name='__main__')\nexcept SystemExit as e:\n"
             "    heavy = [m for m in ('torch', 'transformers', 'trl') if sys.modules.get(m)]\n"
             "    print('heavy', heavy, 'exit', e.code)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True, text=True, timeout=120)
    assert "heavy [] exit 0" in proc.stdout, proc.stdout + proc.stderr


def user_metric_repo(tmp_path: Path) -> Path:
    """A fresh repo whose eval config names a user metric, with two held-out rows and a scored cache."""
    repo = fresh_repo(tmp_path)
    path = repo / "configs/eval.yaml"
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    cfg["metrics"]["acceptance_rate"] = {"test": "sign_flip", "builtin": False}
    cfg["gates"] = [{"metric": "acceptance_rate", "op": "delta_ci_low>", "threshold": -1.0}]
    cfg.update(probe=None, few_shot_examples=None, labels=["billing", "bug"])  # no data/manifest.json here
    cfg["generation"]["max_new_tokens"] = 16
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return repo


def test_missing_user_metric_fails_the_dry_run_naming_it(tmp_path: Path) -> None:
    proc = run(user_metric_repo(tmp_path), ["scripts/evaluate.py", "--dry-run"])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "metrics.acceptance_rate: user metric 'acceptance_rate' is not implemented" in proc.stderr
    assert "scripts/user_metrics.py" in proc.stderr and "configs/eval.yaml" in proc.stderr


def test_implemented_user_metric_is_evaluated(tmp_path: Path) -> None:
    repo = user_metric_repo(tmp_path)
    with (repo / "scripts/user_metrics.py").open("a", encoding="utf-8") as fh:
        fh.write("\n\ndef acceptance_rate(prediction: str, reference: str, example: dict) -> float:\n"
                 "    return float(prediction.strip() == example['accepted'])\n\n\n"
                 "METRICS['acceptance_rate'] = acceptance_rate\n")
    assert run(repo, ["scripts/evaluate.py", "--dry-run"]).returncode == 0
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "billing"}],
             "accepted": "billing"} for i in range(6)]
    (repo / "data").mkdir()
    (repo / "data/heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # answers served by an OpenAI-compatible endpoint that the test never starts: every answer is in the cache
    sys.path.insert(0, str(repo / "scripts"))
    from generation import EndpointBackend

    cfg = yaml.safe_load((repo / "configs/eval.yaml").read_text())
    cfg.update(endpoint="http://127.0.0.1:9/v1", endpoint_model="tuned", max_new_tokens=16)
    tags = EndpointBackend(cfg).tags

    settings = json.dumps({"max_new_tokens": cfg["max_new_tokens"], "greedy": True})
    out = repo / "reports"
    out.mkdir()
    with (out / "generations.jsonl").open("w") as fh:
        for which, answer in (("base", "bug"), ("tuned", "billing")):
            for r in rows:
                prompt = r["messages"][:-1]
                key = hashlib.sha256(f"{tags[which]}|{json.dumps(prompt, sort_keys=True)}|{settings}".encode())
                fh.write(json.dumps({"key": key.hexdigest(), "output": answer}) + "\n")
    proc = run(repo, ["scripts/evaluate.py", "--endpoint", "http://127.0.0.1:9/v1", "--endpoint-model", "tuned"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "eval_report.json").read_text())
    m = report["metrics"]["acceptance_rate"]
    assert (m["base"], m["tuned"], m["test"]) == (0.0, 1.0, "sign_flip") and report["passed"]
