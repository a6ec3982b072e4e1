"""The generated preference stage (issue 10, item 7): a plan with a preference stage gets configs/dpo.yaml in
TRL DPOConfig keys with the plan's numbers (render/trl.py), `make dpo` and its README/ROLLOUT lines; a plan
without one gets none of them; and on the tiny model, SFT then DPO really run.

    python -m pytest tests/test_dpo.py -q            (the SFT -> DPO run is marked slow)
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from generator.answers import parse_answers
from generator.catalog import load_catalog
from generator.paths import configs_dir
from generator.plan import build_plan
from generator.plan.settings import load_settings
from generator.render.scaffold import write_scaffold
from generator.render.trl import dpo_yaml
from tests.conftest import EXAMPLES, load_module

TODAY = date(2026, 11, 25)
LABELS = ["sports", "music", "food", "travel"]


def bake(tmp: Path, **facts):
    data = yaml.safe_load((EXAMPLES / "support_triage.yaml").read_text(encoding="utf-8"))
    data["facts"].update(facts)
    loaded = parse_answers(data, "answers.yaml")
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    repo = tmp / plan.meta.slug
    write_scaffold(loaded, plan, repo)
    return repo, plan


@pytest.fixture(scope="module")
def with_pairs(tmp_path_factory: pytest.TempPathFactory):
    return bake(tmp_path_factory.mktemp("pairs"), preference_pairs_available=2000)


def dpo_keys() -> frozenset[str]:
    data = yaml.safe_load((configs_dir() / "trl_keys.yaml").read_text(encoding="utf-8"))
    return frozenset(data["keys"]) - frozenset(data["sft_only_keys"]) | frozenset(data["dpo_only_keys"])


def test_check_reads_dpo_yaml_with_dpos_own_keys(tmp_path: Path) -> None:
    from generator.check import check_repo, trl_keys

    assert trl_keys("dpo") == dpo_keys()
    repo, _ = bake(tmp_path, preference_pairs_available=2000)
    assert not [f for f in check_repo(repo) if f.severity == "error"]
    path = repo / "configs" / "dpo.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("beta:", "betta:") + "completion_only_loss: true\n",
                    encoding="utf-8")
    errors = {f.problem.field: f.problem for f in check_repo(repo) if f.severity == "error"}
    assert set(errors) == {"dpo.yaml: betta", "dpo.yaml: completion_only_loss"}
    assert "beta" in errors["dpo.yaml: betta"].fix and "TRL DPO key" in errors["dpo.yaml: betta"].message
    path.unlink()  # the plan has a preference stage: its config must be there
    assert any(f.problem.field.endswith("dpo.yaml") for f in check_repo(repo) if f.severity == "error")


def test_pairs_render_dpo_yaml_with_the_plans_numbers(with_pairs) -> None:
    repo, plan = with_pairs
    pref, hp = plan.training.preference, plan.training.hyperparameters
    assert pref is not None and hp is not None
    text = (repo / "configs/dpo.yaml").read_text(encoding="utf-8")
    cfg = yaml.safe_load(text)
    assert cfg["beta"] == pref.beta == 0.1 and cfg["learning_rate"] == pref.learning_rate
    assert cfg["num_train_epochs"] == pref.epochs and cfg["max_length"] == hp.max_seq_length
    assert cfg["model_name_or_path"] == f"outputs/{plan.meta.slug}"  # the SFT output: DPO comes after SFT
    assert cfg["output_dir"] == f"outputs/{plan.meta.slug}-dpo"
    assert cfg["datasets"] == [{"path": "json", "data_files": "data/preference.jsonl", "split": "train"}]
    per_gpu = cfg["per_device_train_batch_size"] * cfg["gradient_accumulation_steps"]
    assert per_gpu == hp.per_device_train_batch_size * hp.gradient_accumulation_steps
    assert set(cfg) <= dpo_keys()
    assert text.startswith("# Preference stage") and "make train (SFT" in text and "2,000 pairs" in text
    assert all("#" in line for line in text.splitlines() if line.startswith(("beta:", "learning_rate:")))
    assert "make dpo" in (repo / "README.md").read_text(encoding="utf-8")
    assert "make dpo" in (repo / "ROLLOUT.md").read_text(encoding="utf-8")
    assert "\ndpo:" in (repo / "Makefile").read_text(encoding="utf-8")


def test_trl_parses_the_rendered_dpo_yaml(with_pairs) -> None:
    pytest.importorskip("trl")
    from trl import DatasetMixtureConfig, DPOConfig, ModelConfig, ScriptArguments, TrlParser

    repo, plan = with_pairs
    parser = TrlParser((ScriptArguments, DPOConfig, ModelConfig, DatasetMixtureConfig))
    _, args, _, mixture = parser.parse_args_and_config(
        args=["--config", str(repo / "configs/dpo.yaml"), "--use_cpu", "true", "--bf16", "false"])
    assert plan.training.preference is not None and args.beta == plan.training.preference.beta
    assert mixture.datasets[0].data_files == "data/preference.jsonl"


def test_dpo_key_lists_are_trls() -> None:
    trl = pytest.importorskip("trl")
    data = yaml.safe_load((configs_dir() / "trl_keys.yaml").read_text(encoding="utf-8"))
    dpo = {f.name for f in dataclasses.fields(trl.DPOConfig)}
    sft = {f.name for f in dataclasses.fields(trl.SFTConfig)}
    assert set(data["dpo_only_keys"]) == dpo - set(data["keys"])
    assert set(data["sft_only_keys"]) == sft - dpo


def test_no_preference_stage_no_dpo_files(tmp_path: Path) -> None:
    repo, plan = bake(tmp_path)
    assert plan.training.preference is None and dpo_yaml(plan.to_dict()) is None
    assert not (repo / "configs/dpo.yaml").exists()
    for name in ("README.md", "ROLLOUT.md"):
        assert "make dpo" not in (repo / name).read_text(encoding="utf-8"), name
    proc = subprocess.run([sys.executable, "scripts/train_dpo.py"], cwd=repo, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "this plan has no preference stage" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pairwise_success_without_pairs_still_plans_the_stage(tmp_path: Path) -> None:
    data = yaml.safe_load((EXAMPLES / "support_triage.yaml").read_text(encoding="utf-8"))
    data["success_criteria"] = "Reviewers prefer the tuned answer in a pairwise side-by-side."
    plan = build_plan(parse_answers(data, "a.yaml"), load_catalog(), load_settings(), TODAY)
    text = dpo_yaml(plan.to_dict())
    assert text is not None and "collect chosen/rejected pairs first" in text


@pytest.mark.slow
def test_sft_then_dpo_on_the_tiny_model(with_pairs, tmp_path: Path) -> None:
    """make train's script, then make dpo's, with the rendered configs on the tiny model: rewards are logged."""
    pytest.importorskip("peft")
    repo, plan = with_pairs
    tiny = load_module(repo / "scripts/make_tiny_model.py", "ftplan_tiny")
    smoke = tmp_path / "smoke"
    tiny.main(smoke, "lora", seed=0)
    rows = [json.loads(line) for line in (smoke / "data/train.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = [r["messages"] for r in rows if r["messages"][-1]["content"] in LABELS][:16]
    (tmp_path / "preference.jsonl").write_text("".join(json.dumps({
        "prompt": m[:-1], "chosen": [m[-1]],
        "rejected": [{"role": "assistant", "content": LABELS[(LABELS.index(m[-1]["content"]) + 1) % 4]}]}) + "\n"
        for m in pairs), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

    def script(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    sft = tmp_path / "sft"
    script("scripts/train.py", "--config", "configs/smoke.yaml", "--model_name_or_path", str(smoke / "model"),
           "--dataset_name", str(smoke / "data"), "--output_dir", str(sft), "--max_steps", "2", "--eval_steps", "2",
           "--save_steps", "2")
    cfg = yaml.safe_load((repo / "configs/dpo.yaml").read_text(encoding="utf-8"))
    cfg["datasets"][0]["data_files"] = str(tmp_path / "preference.jsonl")
    cfg.update(model_name_or_path=str(sft), output_dir=str(tmp_path / "dpo"), max_steps=3, logging_steps=1,
               learning_rate=1e-3, per_device_train_batch_size=16, gradient_accumulation_steps=1, max_length=64,
               dtype="float32", bf16=False, optim="adamw_torch", warmup_steps=0)
    config = tmp_path / "dpo.yaml"
    config.write_text("# the plan's dpo.yaml, sized for the tiny model\n" + yaml.safe_dump(cfg), encoding="utf-8")
    proc = script("scripts/train_dpo.py", "--config", str(config))
    assert "(adapter) on 16 pairs, beta 0.1" in proc.stdout
    metadata = json.loads((tmp_path / "dpo/run_metadata.json").read_text(encoding="utf-8"))
    assert metadata["beta"] == plan.training.preference.beta and metadata["global_step"] == 3
    assert metadata["final"]["rewards/margins"] > 0 and "rewards/accuracies" in metadata["final"]
    assert (tmp_path / "dpo/adapter_model.safetensors").is_file()
