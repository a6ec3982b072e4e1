"""End to end: scaffold real plans and run the generated repositories' own steps on the CPU.

Slow (minutes): each bake trains a tiny locally built model with real TRL + PEFT (+ bitsandbytes 4-bit for
the QLoRA plan, + two gloo processes for the distributed run) and checks the evaluation's statistics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from generator.answers import parse_answers  # noqa: E402
from generator.catalog import load_catalog  # noqa: E402
from generator.plan import build_plan  # noqa: E402
from generator.plan.settings import load_settings  # noqa: E402
from generator.render.scaffold import write_scaffold  # noqa: E402
from tests.conftest import EXAMPLES  # noqa: E402

pytestmark = pytest.mark.slow
TODAY = date(2026, 11, 25)
STEP_TIMEOUT = 1200


def bake(tmp: Path, example: str, facts: dict | None = None) -> tuple[Path, object]:
    data = yaml.safe_load((EXAMPLES / example).read_text())
    data["facts"].update(facts or {})
    loaded = parse_answers(data, example)
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    repo = tmp / plan.meta.slug
    write_scaffold(loaded, plan, repo)
    return repo, plan


def make(repo: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["make", target, f"PYTHON={sys.executable}", *extra], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert proc.returncode == 0, f"make {target} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def assert_tuned_beats_base(repo: Path) -> dict:
    report = json.loads((repo / "smoke" / "reports" / "eval_report.json").read_text())
    primary = report["primary_metric"]
    m = report["metrics"][primary]
    assert m["tuned"] > m["base"], m
    assert m["confidence"] == 0.95 and m["ci"][0] > 0, f"the 95% CI of tuned - base must exclude zero: {m}"
    assert report["passed"] is True
    return report


@pytest.fixture(scope="module")
def lora_repo(tmp_path_factory):
    repo, plan = bake(tmp_path_factory.mktemp("lora"), "support_triage.yaml")
    assert plan.training.method == "lora"
    return repo


def test_make_smoke_lora(lora_repo):
    make(lora_repo, "smoke")
    report = assert_tuned_beats_base(lora_repo)
    meta = json.loads((lora_repo / "smoke" / "outputs" / "run_metadata.json").read_text())
    assert meta["method"] == "lora"
    assert (lora_repo / "smoke" / "reports" / "baseline_report.json").is_file()
    assert (lora_repo / "smoke" / "reports" / "data_validation.json").is_file()
    for rel in ("smoke/reports/eval_report.png", "smoke/reports/data_validation.png", "smoke/outputs/loss.png"):
        assert (lora_repo / rel).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{rel} is not a PNG chart"
    print("lora smoke:", report["metrics"][report["primary_metric"]])


def test_generated_repo_own_tests(lora_repo):
    make(lora_repo, "test")


def test_make_smoke_distributed(lora_repo):
    proc = make(lora_repo, "smoke-distributed")
    meta = json.loads((lora_repo / "smoke" / "outputs" / "run_metadata.json").read_text())
    assert meta["world_size"] == 2
    assert "trained on 2 processes" in proc.stdout


def test_stock_trl_sft_runs_both_configs(lora_repo):
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    trl = [str(Path(sys.executable).parent / "trl")]
    if not (lora_repo / "smoke" / "model").is_dir():
        make(lora_repo, "smoke-data")
    out = lora_repo / "trl-stock"
    smoke = subprocess.run([*trl, "sft", "--config", "configs/smoke.yaml", "--max_steps", "3",
                            "--output_dir", str(out / "smoke")],
                           cwd=lora_repo, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    # train.yaml's forgetting mix, with its entries local (no Hub here): your rows, and a general chat file.
    cfg = yaml.safe_load((lora_repo / "configs" / "train.yaml").read_text(encoding="utf-8"))
    general = out / "general.jsonl"
    general.parent.mkdir(parents=True, exist_ok=True)
    general.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"general {i}"},
                                                        {"role": "assistant", "content": f"answer {i}"}]}) + "\n"
                               for i in range(40)), encoding="utf-8")
    assert cfg["datasets"][0]["path"] == "data"
    cfg["datasets"][0]["path"] = "smoke/data"
    cfg["datasets"][1].update(path="json", data_files=str(general), split="train")
    local = out / "train-local.yaml"
    local.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    train = subprocess.run([*trl, "sft", "--config", str(local), "--model_name_or_path", "smoke/model",
                            "--use_cpu", "true", "--bf16", "false", "--max_steps", "2",
                            "--eval_strategy", "no", "--load_best_model_at_end", "false",  # as train.yaml's header says
                            "--output_dir", str(out / "train")],
                           cwd=lora_repo, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert train.returncode == 0, train.stderr[-3000:]
    assert "--eval_strategy no --load_best_model_at_end false" in (lora_repo / "configs/train.yaml").read_text()


def test_make_smoke_qlora(tmp_path_factory):
    repo, plan = bake(tmp_path_factory.mktemp("qlora"), "code_assistant_multi_gpu.yaml",
                      {"gpu": "RTX-4090", "gpu_count": 1})
    assert plan.training.method == "qlora"
    smoke = yaml.safe_load((repo / "configs" / "smoke.yaml").read_text())
    assert smoke["load_in_4bit"] is True and smoke["bnb_4bit_quant_type"] == "nf4"
    make(repo, "smoke")
    assert_tuned_beats_base(repo)
    meta = json.loads((repo / "smoke" / "outputs" / "run_metadata.json").read_text())
    assert meta["method"] == "qlora"


def test_hosted_repo_own_tests(tmp_path_factory):
    repo, plan = bake(tmp_path_factory.mktemp("hosted"), "vertex_hosted_tuning.yaml")
    assert plan.training.method == "hosted"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_prepare_hosted.py",
                           "tests/test_submit_hosted.py"], cwd=repo, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:]
