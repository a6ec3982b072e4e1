"""Training tests: every config loads, the helpers of scripts/train.py behave, and a few real training steps
on the tiny local model write an adapter and run_metadata.json.

    python -m pytest tests/test_train_smoke.py -q
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
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
TRL_CONFIGS = [ROOT / "configs" / "train.yaml", ROOT / "configs" / "smoke.yaml"]
TRAIN_STEPS = 4  # enough to evaluate, save and reload twice; a second or two on a CPU
PATIENCE = 10  # larger than the number of evaluations, so early stopping cannot make the step count vary


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_loads(path: Path) -> None:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(config, dict) and config, f"{path} is not a YAML mapping"
    assert path.read_text(encoding="utf-8").startswith("#"), f"{path} needs its comment header"
    if path.parent.name == "accelerate":
        assert config["num_processes"] >= 1 and config["distributed_type"]


@pytest.mark.parametrize("path", TRL_CONFIGS, ids=lambda p: p.name)
def test_trl_parser_accepts_config(path: Path) -> None:
    """Stock `trl sft --config` rejects unknown keys; this is the same parser."""
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))  # as scripts/train.py
    script_args, training_args, _, _ = parser.parse_args_and_config(
        args=["--config", str(path), "--use_cpu", "true", "--bf16", "false"]
    )
    assert script_args.dataset_test_split == "validation"
    assert training_args.load_best_model_at_end and training_args.metric_for_best_model == "eval_loss"
    assert training_args.save_steps % training_args.eval_steps == 0


def test_patience_flag_is_removed_before_trl_parses() -> None:
    train = load_script("train")
    patience, rest = train.pop_flag(["--config", "c.yaml", "--early_stopping_patience", "5", "--seed", "1"],
                                    train.PATIENCE_FLAG)
    assert train.patience_of(patience, {}) == 5 and rest == ["--config", "c.yaml", "--seed", "1"]
    assert train.pop_flag(["--early_stopping_patience=2"], train.PATIENCE_FLAG) == ("2", [])
    with pytest.raises(train.UserError, match="early_stopping_patience"):
        train.patience_of("zero", {})
    assert train.patience_of("0", {"early_stopping_patience": 3}) is None  # 0: off, whatever the file says
    settings, path = train.ftplan_settings(["--config", str(ROOT / "configs" / "train.yaml")], None)
    assert path == ROOT / "configs" / "ftplan.yaml" and train.patience_of(None, settings) >= 1


def test_ftplan_config_is_checked(tmp_path: Path) -> None:
    train = load_script("train")
    bad = tmp_path / "ftplan.yaml"
    bad.write_text("early_stopping_patienc: 3\n")
    with pytest.raises(train.UserError, match=r"ftplan.yaml: early_stopping_patienc: is not a key"):
        train.ftplan_settings([], str(bad))
    with pytest.raises(train.UserError, match="--ftplan-config"):
        train.ftplan_settings([], str(tmp_path / "absent.yaml"))


def test_chat_row_becomes_prompt_completion() -> None:
    train = load_script("train")
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "billing"}]}
    assert train.to_prompt_completion(row) == {
        "prompt": row["messages"][:1],
        "completion": row["messages"][1:],
    }
    with pytest.raises(train.UserError, match="assistant"):
        train.to_prompt_completion({"messages": [{"role": "user", "content": "hi"}]})


def test_missing_config_is_a_clean_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--config", str(tmp_path / "no.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "--config" in result.stderr and "Traceback" not in result.stderr


def test_resume_skips_checkpoints_cut_short(tmp_path: Path) -> None:
    """A kill while saving leaves a newer checkpoint without (or with half) a trainer_state.json."""
    train = load_script("train")
    assert train.last_checkpoint(str(tmp_path / "missing")) is None
    for step, state in ((2, "{}"), (4, "{}"), (6, '{"global_st'), (8, None)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if state is not None:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-x").mkdir()
    assert train.last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-4")


def test_padding_free_opt_out(tmp_path: Path) -> None:
    train = load_script("train")
    settings, _ = train.ftplan_settings(["--config", str(ROOT / "configs" / "train.yaml")], None)
    assert settings.get("padding_free", True)
    off = tmp_path / "ftplan.yaml"
    off.write_text("padding_free: false\n")
    (tmp_path / "train.yaml").write_text("max_steps: 1\n")
    assert train.ftplan_settings(["--config", str(tmp_path / "train.yaml")], None)[0]["padding_free"] is False


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    method = (
        "lora"
        if not yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text()).get("load_in_4bit")
        else "qlora"
    )
    load_script("make_tiny_model").main(out, method, seed=0)
    return out


def test_tiny_model_and_data(smoke_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smoke_dir / "model")
    row = json.loads((smoke_dir / "data" / "train.jsonl").read_text().splitlines()[0])
    text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
    assert text.rstrip().endswith(tokenizer.eos_token), "the assistant turn must end with EOS"
    assert tokenizer.unk_token_id not in tokenizer(text)["input_ids"]
    heldout = {json.loads(line)["messages"][-2]["content"] for line in (smoke_dir / "heldout.jsonl").open()}
    train = {
        json.loads(line)["messages"][-2]["content"] for line in (smoke_dir / "data" / "train.jsonl").open()
    }
    assert not heldout & train, "held-out sentences leaked into training"
    assert (smoke_dir / "probe.jsonl").stat().st_size > 0


def test_padding_free_batches_give_the_padded_loss(smoke_dir: Path) -> None:
    """scripts/train.py lays each batch end to end; attention must stay within each example (issue 4)."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = AutoModelForCausalLM.from_pretrained(smoke_dir / "model", attn_implementation="sdpa")
    generator = torch.Generator().manual_seed(0)
    rows = [torch.randint(8, model.config.vocab_size, (n,), generator=generator).tolist() for n in (3, 11, 6)]
    examples = [{"input_ids": ids, "labels": [-100] * (len(ids) // 2) + ids[len(ids) // 2 :]} for ids in rows]
    losses = []
    for padding_free in (False, True):
        batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=padding_free)(examples)
        assert ("attention_mask" in batch) is not padding_free
        with torch.no_grad():
            losses.append(model(**batch, use_cache=False).loss.item())  # TRL's compute_loss: no cache
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def run_train(smoke_dir: Path, out: Path, max_steps: int) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "--config",
        str(ROOT / "configs" / "smoke.yaml"),
    ]
    cmd += ["--model_name_or_path", str(smoke_dir / "model"), "--dataset_name", str(smoke_dir / "data")]
    cmd += ["--output_dir", str(out), "--max_steps", str(max_steps), "--eval_steps", "2", "--save_steps", "2"]
    cmd += ["--early_stopping_patience", str(PATIENCE)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_training_writes_adapter_and_metadata_then_resumes(smoke_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run_train(smoke_dir, out, TRAIN_STEPS)
    metadata = json.loads((out / "run_metadata.json").read_text())
    config = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    assert metadata["method"] == (
        "full" if not config.get("use_peft") else "qlora" if config.get("load_in_4bit") else "lora"
    )
    weights = "adapter_model.safetensors" if config.get("use_peft") else "model.safetensors"
    assert (out / weights).is_file() and (out / "tokenizer_config.json").is_file()
    assert metadata["world_size"] == 1 and metadata["global_step"] == TRAIN_STEPS
    assert len(metadata["eval_loss"]) == TRAIN_STEPS // 2 and metadata["best_metric"]["value"] is not None
    assert metadata["early_stopping_patience"] == PATIENCE
    assert metadata["tokens_seen"] > 0 and metadata["libraries"]["trl"]
    assert metadata["padding_free"] is True and "Padding-free batches" in first.stdout + first.stderr

    resumed = run_train(smoke_dir, out, TRAIN_STEPS + 2)  # an interrupted run continues, not restarts
    assert f"Resuming from {out / f'checkpoint-{TRAIN_STEPS}'}" in resumed.stdout + resumed.stderr
    assert json.loads((out / "run_metadata.json").read_text())["global_step"] == TRAIN_STEPS + 2
