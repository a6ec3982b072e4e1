"""scripts/schemas.py: every shipped config passes; an unknown key or a wrong type names the file and the key.

pytest tests/test_schemas.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import schemas  # noqa: E402

SHIPPED = [("eval", "configs/eval.yaml"), ("rollout", "configs/rollout.yaml"), ("ftplan", "configs/ftplan.yaml")]
SCRIPT_OF = {  # the command that reads each kind of config, with the copied config in a fresh folder
    "eval": ["scripts/evaluate.py", "--config", "configs/eval.yaml", "--dry-run"],
    "rollout": ["scripts/ab_analysis.py", "outcomes.csv", "--config", "configs/rollout.yaml", "--dry-run"],
    "ftplan": ["scripts/train.py", "--config", "configs/train.yaml", "--dry-run"],
}


@pytest.mark.parametrize(("kind", "path"), SHIPPED)
def test_shipped_configs_are_valid(kind: str, path: str) -> None:
    assert schemas.validate_file(kind, ROOT / path) == []


def fresh_repo(tmp_path: Path) -> Path:
    """The scripts and configs of this repository, without any data files."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


def run(repo: Path, cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *cmd], cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("kind", "edit", "message"),
    [
        ("eval", lambda c: c["generation"].update(max_new_token=8),
         "configs/eval.yaml: generation.max_new_token: is not a key — did you mean 'max_new_tokens'?"),
        ("eval", lambda c: c["smoke"].update(resample=3), "configs/eval.yaml: smoke.resample: is not a key"),
        ("eval", lambda c: c["statistics"].update(bootstrap_resamples="many"),
         "configs/eval.yaml: statistics.bootstrap_resamples: 'many' (str) is not a whole number"),
        ("eval", lambda c: c["smoke"].update(device="gpu"), "configs/eval.yaml: smoke.device: 'gpu' is not one of"),
        ("rollout", lambda c: c.update(resample=1), "configs/rollout.yaml: resample: is not a key"),
        ("rollout", lambda c: c.update(sample_size_per_arm=-3), "configs/rollout.yaml: sample_size_per_arm: -3"),
        ("ftplan", lambda c: c.update(early_stoping_patience=2),
         "configs/ftplan.yaml: early_stoping_patience: is not a key — did you mean 'early_stopping_patience'?"),
        ("ftplan", lambda c: c.update(padding_free="no"), "configs/ftplan.yaml: padding_free: 'no' (str)"),
    ],
)
def test_bad_key_or_type_exits_1_naming_file_and_key(tmp_path: Path, kind: str, edit, message: str) -> None:
    repo = fresh_repo(tmp_path)
    path = repo / dict(SHIPPED)[kind]
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = run(repo, SCRIPT_OF[kind])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert schemas.validate_file(kind, path) and message in "\n".join(schemas.validate_file(kind, path))


def test_cross_key_rules_and_profiles() -> None:
    base = yaml.safe_load((ROOT / "configs/eval.yaml").read_text(encoding="utf-8"))
    bad = {**base, "primary_metric": "nope", "gates": [{"metric": "other", "op": ">=", "threshold": 1}]}
    problems = schemas.validate("eval", bad)
    assert any(p.startswith("primary_metric: 'nope' is not in metrics") for p in problems)
    assert any(p.startswith("gates[0].metric: 'other'") for p in problems)
    assert schemas.validate("eval", base, "staging") == [
        "--profile staging: no such section — use one of ['smoke', 'hosted'] or drop the flag"]
    no_model = {k: v for k, v in base.items() if k != "base_model"}
    assert "base_model: missing" in " ".join(schemas.validate("eval", no_model))
    assert schemas.validate("eval", ["a"]) and schemas.validate("nope", {})[0].startswith("kind:")
    smoke = schemas.apply_profile(base, "smoke")
    assert smoke["base_model"] == "smoke/model" and "smoke" not in smoke and "hosted" not in smoke


def test_outcome_rows(tmp_path: Path) -> None:
    good = tmp_path / "o.csv"
    good.write_text("variant,success,latency_ms,cost,request_id\ncontrol,1,10,0.1,abc\n")
    assert schemas.validate_file("ab_outcomes", good) == []
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"variant": "control", "success": "maybe", "latency_ms": "nan", "cost": 1}\n')
    problems = schemas.validate_file("ab_outcomes", bad)
    assert any("success='maybe'" in p for p in problems) and any("latency_ms='nan'" in p for p in problems)


def test_cli(tmp_path: Path) -> None:
    ok = run(ROOT, ["scripts/schemas.py", "rollout", "configs/rollout.yaml"])
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "r.yaml"
    bad.write_text("baseline_rate: [1\n")
    proc = run(ROOT, ["scripts/schemas.py", "rollout", str(bad)])
    assert proc.returncode == 1 and "not valid YAML" in proc.stdout
