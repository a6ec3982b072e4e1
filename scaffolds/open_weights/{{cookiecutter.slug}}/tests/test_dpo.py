"""The preference stage: scripts/train_dpo.py checks its config and pairs, refuses cleanly without a DPO config,
and a few real DPO steps on the tiny local model continue an SFT adapter and log rewards and margins.

    python -m pytest tests/test_dpo.py -q
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["sports", "music", "food", "travel"]
PAIRS = 16
DPO_STEPS = 4


def load_script(name: str):
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_dpo(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train_dpo.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def chat(role: str, text: str) -> list[dict]:
    return [{"role": role, "content": text}]


def test_pair_rows_are_checked() -> None:
    dpo = load_script("train_dpo")
    good = {"prompt": chat("user", "q"), "chosen": chat("assistant", "a"), "rejected": chat("assistant", "b")}
    text = {"prompt": "q", "chosen": "a", "rejected": "b"}
    assert dpo.pair_problems([good, good], "pairs") == [] and dpo.pair_problems([text], "pairs") == []
    assert dpo.pair_problems([{"chosen": chat("user", "q") + chat("assistant", "a"),
                               "rejected": chat("user", "q") + chat("assistant", "b")}], "pairs") == []
    cases = [
        ({**good, "rejected": good["chosen"]}, "pairs row 1: chosen and rejected are the same"),
        ({**good, "chosen": ""}, "pairs row 1: chosen: missing or empty"),
        ({"prompt": "q", "chosen": "a"}, "pairs row 1: rejected: missing or empty"),
        ({**good, "rejected": "b"}, "pairs row 1: chosen is chat, rejected is text"),
        ({**good, "prompt": "q"}, "pairs row 1: prompt is text but the answers are chat"),
        ({"chosen": "a", "rejected": "b"}, "pairs row 1: prompt: missing — plain-text pairs need one"),
        (None, "pairs row 1: not a JSON object"),
    ]
    for row, message in cases:
        assert [p for p in dpo.pair_problems([row], "pairs") if p.startswith(message)], (row, message)
    assert dpo.pair_problems([good, text], "pairs")[0].startswith("pairs row 2:")  # one shape per file
    assert dpo.pair_problems([], "pairs") == ["pairs: no pairs — one JSON object per line"]
    many = dpo.pair_problems([{**good, "chosen": ""}] * 25, "pairs")
    assert len(many) == dpo.MAX_PROBLEMS + 1 and many[-1] == "pairs: 15 more problem(s) not shown"


def test_no_dpo_config_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_dpo(tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: configs/dpo.yaml: missing — this plan has no preference stage (STRATEGY.md, Training). Fix: set "
        "facts.preference_pairs_available in .ftplan-answers.yml and run `ftplan update .`"]


def write_config(tmp_path: Path, drop: tuple[str, ...] = (), **values) -> Path:
    """configs/dpo.yaml when this repo has one (else TRL DPO keys of the same shape), `values` set, `drop` gone."""
    shipped = ROOT / "configs" / "dpo.yaml"
    cfg = yaml.safe_load(shipped.read_text(encoding="utf-8")) if shipped.is_file() else {
        "datasets": [{"path": "json", "data_files": "data/preference.jsonl", "split": "train"}],
        "eval_strategy": "no", "beta": 0.1, "num_train_epochs": 1, "seed": 0}
    cfg.update(values)
    for key in drop:
        cfg.pop(key, None)
    path = tmp_path / "dpo.yaml"
    path.write_text("# the DPO config under test\n" + yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def test_dry_run_names_bad_pairs_and_bad_keys(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "a"}) + "\n", encoding="utf-8")
    entry = [{"path": "json", "data_files": str(pairs), "split": "train"}]
    proc = run_dpo(tmp_path, "--config", str(write_config(tmp_path, datasets=entry)), "--dry-run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"error: datasets[0]: {pairs} row 1: chosen and rejected are the same" in proc.stderr

    pairs.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n", encoding="utf-8")
    proc = run_dpo(tmp_path, "--config", str(write_config(tmp_path, datasets=entry)), "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"found    datasets[0]: {pairs}" in proc.stdout

    proc = run_dpo(tmp_path, "--config", str(write_config(tmp_path, datasets=entry, betta=0.2)), "--dry-run")
    assert proc.returncode == 1 and "betta" in proc.stderr and "Traceback" not in proc.stderr
    bad = [{**entry[0], "weight": 1.0}]
    proc = run_dpo(tmp_path, "--config", str(write_config(tmp_path, datasets=bad)), "--dry-run")
    assert "datasets[0].weight: is not a key of a TRL dataset entry — did you mean 'fraction'?" in proc.stderr


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a LoRA adapter saved the way `make train` saves it (adapter + tokenizer)."""
    pytest.importorskip("peft")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("dpo")
    load_script("make_tiny_model").main(out, "lora", seed=0)
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    adapter = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    adapter.save_pretrained(out / "sft")
    AutoTokenizer.from_pretrained(out / "model").save_pretrained(out / "sft")
    rows = [json.loads(line) for line in (out / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    with (out / "preference.jsonl").open("w", encoding="utf-8") as fh:
        for row in [r for r in rows if r["messages"][-1]["content"] in LABELS][:PAIRS]:
            good = row["messages"][-1]["content"]
            bad = LABELS[(LABELS.index(good) + 1) % len(LABELS)]
            fh.write(json.dumps({"prompt": row["messages"][:-1], "chosen": chat("assistant", good),
                                 "rejected": chat("assistant", bad)}) + "\n")
    return out


def test_tiny_dpo_run_continues_the_sft_adapter(sft_adapter: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "dpo"
    config = write_config(
        tmp_path, model_name_or_path=str(sft_adapter / "sft"), output_dir=str(out), max_steps=DPO_STEPS,
        datasets=[{"path": "json", "data_files": str(sft_adapter / "preference.jsonl"), "split": "train"}],
        learning_rate=1e-3, per_device_train_batch_size=PAIRS, gradient_accumulation_steps=1, logging_steps=1,
        max_length=64, dtype="float32", bf16=False, optim="adamw_torch", activation_checkpointing=False,
        warmup_steps=0, save_strategy="no", report_to="none", seed=0,
        drop=("load_in_4bit", "bnb_4bit_quant_type", "use_bnb_nested_quant"))  # the tiny adapter is not 4-bit
    proc = run_dpo(tmp_path, "--config", str(config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"DPO from {sft_adapter / 'sft'} (adapter) on {PAIRS} pairs" in proc.stdout
    assert (out / "adapter_model.safetensors").is_file() and not (out / "ref").exists()
    metadata = json.loads((out / "run_metadata.json").read_text(encoding="utf-8"))
    assert metadata["stage"] == "dpo" and metadata["global_step"] == DPO_STEPS and metadata["pairs"] == PAIRS
    final = metadata["final"]
    assert {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"} <= set(final)
    margins = [row["rewards/margins"] for row in metadata["train"]]
    assert margins[0] == 0 and margins[-1] > 0, metadata["train"]  # every step sees all pairs: chosen pulls ahead
    before, after = load_file(sft_adapter / "sft" / "adapter_model.safetensors"), load_file(
        out / "adapter_model.safetensors")
    assert set(before) == set(after) and any((before[k] - after[k]).abs().max() > 0 for k in before)
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        sft_adapter / "model")
