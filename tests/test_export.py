"""`ftplan export --to axolotl|llamafactory|torchtune` and the SkyPilot task: the plan's values, each with its
reason, in keys each tool reads — checked by the tool's own parser where it is installed.

Where they install here: SkyPilot (sky.Task.from_yaml), Axolotl (validate_config, the pydantic schema of
`axolotl train`) and LLaMA-Factory (get_train_args, the parser of `llamafactory-cli train`) each parse the
files in a test below; the test is skipped where the tool is missing. torchtune 0.6 does not import next to
torch 2.13 (it needs torchao's nf4tensor, which the torchao releases that load with this torch removed), so
its config is checked against the keys of torchtune's lora_finetune_single_device recipe config instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.catalog import load_catalog
from generator.cli import app
from generator.lifecycle.export import TORCHTUNE_MODELS, export_files
from generator.lifecycle.sky import SKY_ACCELERATORS, sky_accelerator, sky_yaml
from tests.test_scaffold import matrix_answers, plan_answers

METHODS = ("lora", "qlora", "full")
runner = CliRunner()


def _plan(method: str, infra: str = "cloud_gpu") -> dict:
    built = matrix_answers("open_source", infra, method)
    assert built is not None
    _, plan = plan_answers(*built)
    assert plan.training.method == method
    return plan.to_dict()


@pytest.fixture(scope="module")
def plans() -> dict[str, dict]:
    return {m: _plan(m) for m in METHODS}


def _values(text: str) -> dict:
    return yaml.safe_load(text)


def _commented(text: str, key: str) -> str:
    """The comment on the line of `key` ('' when none)."""
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith(f"{key}:"))
    return line.split("  # ", 1)[1] if "  # " in line else ""


@pytest.mark.parametrize("method", METHODS)
def test_axolotl_carries_the_plans_values_and_reasons(plans, method):
    plan = plans[method]
    hp, why = plan["training"]["hyperparameters"], plan["training"]["reasons"]
    text = export_files(plan, "axolotl")["configs/export/axolotl.yaml"]
    cfg = _values(text)
    assert cfg["base_model"] == plan["base_model"]["hf_id"]
    assert cfg.get("adapter") == (None if method == "full" else method)
    assert cfg["learning_rate"] == hp["learning_rate"] and cfg["num_epochs"] == hp["epochs"]
    assert cfg["micro_batch_size"] * cfg["gradient_accumulation_steps"] == hp["effective_batch_size"] // \
        plan["training"]["hardware"]["gpu_count"]
    assert cfg["sequence_len"] == hp["max_seq_length"] and cfg["seed"] == hp["seed"]
    assert _commented(text, "learning_rate") == why["learning_rate"]
    assert _commented(text, "num_epochs") == why["epochs"]
    if method != "full":
        assert cfg["lora_r"] == hp["lora_r"] and _commented(text, "lora_r") == why["lora_r"]
    assert cfg["datasets"][0]["path"] == "data/train.jsonl" and cfg["train_on_inputs"] is False


@pytest.mark.parametrize("method", METHODS)
def test_llamafactory_carries_the_plans_values_and_its_dataset_info(plans, method):
    plan = plans[method]
    hp = plan["training"]["hyperparameters"]
    files = export_files(plan, "llamafactory")
    cfg = _values(files["configs/export/llamafactory.yaml"])
    info = json.loads(files["configs/export/llamafactory/dataset_info.json"])
    assert cfg["model_name_or_path"] == plan["base_model"]["hf_id"] and cfg["template"] != "default"
    assert cfg["finetuning_type"] == ("full" if method == "full" else "lora")
    assert (cfg.get("quantization_bit") == 4) == (method == "qlora")
    assert cfg["learning_rate"] == hp["learning_rate"] and cfg["cutoff_len"] == hp["max_seq_length"]
    assert os.path.normpath(os.path.join(cfg["dataset_dir"], info[cfg["dataset"]]["file_name"])) == \
        os.path.normpath("data/train.jsonl")


def test_torchtune_has_the_recipe_configs_keys(plans):
    plan = plans["lora"]
    model = plan["base_model"]["hf_id"]
    assert model in TORCHTUNE_MODELS
    cfg = _values(export_files(plan, "torchtune")["configs/export/torchtune.yaml"])
    # The top-level keys of torchtune's recipes/configs/llama3_2/1B_lora_single_device.yaml that the recipe reads.
    assert {"output_dir", "model", "tokenizer", "checkpointer", "dataset", "seed", "shuffle", "batch_size",
            "optimizer", "lr_scheduler", "loss", "epochs", "gradient_accumulation_steps", "device", "dtype",
            "enable_activation_checkpointing", "metric_logger", "resume_from_checkpoint"} <= set(cfg)
    assert cfg["model"]["_component_"].startswith("torchtune.models.") and ".lora_" in cfg["model"]["_component_"]
    assert cfg["model"]["lora_rank"] == plan["training"]["hyperparameters"]["lora_r"]
    assert cfg["optimizer"]["lr"] == plan["training"]["hyperparameters"]["learning_rate"]


def test_torchtune_refuses_a_model_it_has_no_builder_for(plans):
    plan = json.loads(json.dumps(plans["lora"]))
    plan["base_model"]["hf_id"] = "org/unknown-model"
    with pytest.raises(Exception, match="no model builder"):
        export_files(plan, "torchtune")


def test_export_writes_into_the_repo_and_refuses_to_replace_an_edit(tmp_path):
    repo = tmp_path / "repo"
    assert runner.invoke(app, ["scaffold", "-o", str(repo), "--today", "2026-11-25"]).exit_code == 0
    res = runner.invoke(app, ["export", str(repo), "--to", "axolotl"])
    assert res.exit_code == 0, res.output
    path = repo / "configs/export/axolotl.yaml"
    assert _values(path.read_text(encoding="utf-8"))["base_model"]
    path.write_text("mine: 1\n", encoding="utf-8")
    res = runner.invoke(app, ["export", str(repo), "--to", "axolotl"])
    assert res.exit_code == 1 and "--force" in res.output
    assert runner.invoke(app, ["export", str(repo), "--to", "axolotl", "--force"]).exit_code == 0
    assert runner.invoke(app, ["export", str(repo), "--to", "nemo"]).exit_code == 1


# ---------------------------------------------------------------------------------------------------------
# The tools' own parsers (skipped where the tool is not installed)


@pytest.mark.parametrize("method", METHODS)
def test_axolotl_validates_the_export(plans, method):
    pytest.importorskip("axolotl.utils.config")
    from axolotl.utils.config import validate_config
    from axolotl.utils.dict import DictDefault

    cfg = DictDefault(_values(export_files(plans[method], "axolotl")["configs/export/axolotl.yaml"]))
    out = validate_config(cfg, capabilities={"bf16": True, "n_gpu": 1, "compute_capability": "sm_90"},
                          env_capabilities={"torch_version": "2.13.0"})
    assert out["base_model"] == plans[method]["base_model"]["hf_id"]


@pytest.mark.parametrize("method", ["lora", "full"])
def test_llamafactory_parses_the_export(plans, method, tmp_path, monkeypatch):
    monkeypatch.setenv("DISABLE_VERSION_CHECK", "1")  # LLaMA-Factory pins transformers<=5.6 at import
    pytest.importorskip("llamafactory.hparams")
    from llamafactory.hparams import get_train_args

    files = export_files(plans[method], "llamafactory")
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = _values(files["configs/export/llamafactory.yaml"])
    # This machine has no GPU: LLaMA-Factory refuses bf16 there, so the CPU parse turns it off.
    cfg.update(bf16=False, use_cpu=True, output_dir=str(tmp_path / "out"))
    model_args, data_args, training_args, finetuning_args, _ = get_train_args(cfg)
    assert model_args.model_name_or_path == plans[method]["base_model"]["hf_id"]
    assert training_args.learning_rate == plans[method]["training"]["hyperparameters"]["learning_rate"]
    assert finetuning_args.finetuning_type == cfg["finetuning_type"] and data_args.template == cfg["template"]


def test_every_catalog_model_has_a_llamafactory_template():
    """No catalog model exports with LLaMA-Factory's "default" template (a wrong chat format trains silently);
    where LLaMA-Factory is installed, each template is one it registers."""
    from generator.lifecycle.export import llamafactory_template

    templates = {m.hf_id: llamafactory_template(m.hf_id) for m in load_catalog().models}
    assert "default" not in templates.values(), templates
    import importlib.util
    import re

    spec = importlib.util.find_spec("llamafactory")  # read, not imported: it needs torchaudio at import
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("LLaMA-Factory is not installed here")
    source = (Path(next(iter(spec.submodule_search_locations))) / "data" / "template.py").read_text(encoding="utf-8")
    registered = set(re.findall(r'register_template\(\s*name="([^"]+)"', source))
    assert set(templates.values()) <= registered, set(templates.values()) - registered


def test_every_catalog_gpu_has_a_skypilot_name():
    assert {g.id for g in load_catalog().gpus} <= set(SKY_ACCELERATORS)
    assert sky_accelerator("My-GPU") == "MyGPU"


@pytest.mark.parametrize("method", METHODS)
def test_sky_yaml_carries_the_plans_gpu_and_count(plans, method, tmp_path):
    plan = plans[method]
    hw = plan["training"]["hardware"]
    text = sky_yaml(plan)
    task = yaml.safe_load(text)
    assert task["resources"]["accelerators"] == f"{sky_accelerator(hw['gpu'])}:{hw['gpu_count']}"
    assert task["resources"]["use_spot"] is True and "make train" in task["run"]
    assert task["file_mounts"]["/checkpoints"]["mode"] == "MOUNT"
    sky = pytest.importorskip("sky")
    path = tmp_path / "sky.yaml"
    path.write_text(text, encoding="utf-8")
    parsed = sky.Task.from_yaml(str(path))
    (res,) = parsed.resources
    assert res.accelerators == {sky_accelerator(hw["gpu"]): hw["gpu_count"]} and res.use_spot
    assert "/checkpoints" in parsed.storage_mounts


def test_only_cloud_gpu_plans_get_a_sky_yaml(tmp_path):
    from generator.render.scaffold import write_scaffold

    for infra in ("cloud_gpu", "local"):
        built = matrix_answers("open_source", infra, "lora")
        assert built is not None
        loaded, plan = plan_answers(*built)
        files = write_scaffold(loaded, plan, tmp_path / infra)
        assert ("sky.yaml" in files) == (infra == "cloud_gpu")
    assert Path(tmp_path / "cloud_gpu" / "sky.yaml").is_file()
