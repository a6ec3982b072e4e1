"""User knowledge files (`--catalog-dir`): a broken one is exit 1 naming file and key, a good one is used as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.catalog import load_catalog
from tests.knowledge.helpers import bundled, run, write

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "examples" / "support_triage.yaml"
LOCAL = ROOT / "configs" / "examples" / "clinical_extraction_local.yaml"
TODAY = ("--today", "2026-11-25")
HUGE = 10**30


def plan(folder: Path, answers: Path = EXAMPLE, *extra: str):
    return run("plan", str(answers), "--catalog-dir", str(folder), *TODAY, *extra)


def assert_rejected(res, path: Path, key: str, *words: str) -> None:
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    line = next((ln for ln in res.stderr.splitlines() if f"{path}: {key}" in ln), None)
    assert line is not None, res.stderr
    for word in words:
        assert word in line, line


# ------------------------------------------------------------------ planning.yaml


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("data:\n  minimum_exampels: 300\n", "data.minimum_exampels",
         ["is not a key", "did you mean 'minimum_examples'"]),
        ('hyperparameters:\n  lora_r: {value: "sixteen"}\n', "hyperparameters.lora_r.value", ["integer", "'sixteen'"]),
        ("hyperparameters:\n  lora_r: {value: 16.5}\n", "hyperparameters.lora_r.value", ["integer"]),
        ("evaluation:\n  alpha: {value: .nan}\n", "evaluation.alpha.value", ["finite"]),
        ("serving:\n  peak_to_mean: {value: .inf}\n", "serving.peak_to_mean.value", ["finite"]),
        (f"hyperparameters:\n  seed: {{value: {HUGE}}}\n", "hyperparameters.seed.value", ["less than"]),
        (f"data:\n  minimum_examples: {{value: {HUGE}}}\n", "data.minimum_examples.value", ["less than"]),
        ("evaluation:\n  few_shot_k: 3\n", "evaluation.few_shot_k", ["mapping", "value: 4"]),
        ("hyperparameters:\n  scheduler: {value: cosin}\n", "hyperparameters.scheduler.value", ["'cosine'"]),
        ("model_size_by_task:\n  clasification: {min_b: 1, max_b: 2}\n", "model_size_by_task.clasification",
         ["is not a key", "'classification'"]),
        ("data:\n  split: {train: 0.9, validation: 0.1, heldout: 0.1}\n", "data.split", ["add up to 1"]),
        ("- lora_r: 16\n", "(top level)", ["mapping"]),
        ("hyperparameters: [1, 2\n", "", ["not valid YAML"]),
    ],
)
def test_broken_planning_file_is_exit_1_naming_file_and_key(tmp_path: Path, text: str, key: str, words: list) -> None:
    path = write(tmp_path, "planning.yaml", text)
    assert_rejected(plan(tmp_path), path, key, *words)


def test_every_problem_of_a_planning_file_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "planning.yaml", 'data:\n  minimum_exampels: 3\nhyperparameters:\n  lora_r: {value: "x"}\n')
    res = plan(tmp_path)
    assert res.exit_code == 1
    assert f"{path}: data.minimum_exampels" in res.stderr and f"{path}: hyperparameters.lora_r.value" in res.stderr


def test_a_good_planning_override_changes_the_plan_and_an_empty_one_nothing(tmp_path: Path) -> None:
    write(tmp_path, "planning.yaml", 'hyperparameters:\n  lora_r: {value: 32, source: "team default"}\n')
    res = plan(tmp_path, EXAMPLE, "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["training"]["hyperparameters"]["lora_r"] == 32
    write(tmp_path / "empty", "planning.yaml", "")
    assert plan(tmp_path / "empty").exit_code == 0


def test_later_planning_file_is_the_one_named(tmp_path: Path) -> None:
    write(tmp_path / "a", "planning.yaml", 'hyperparameters:\n  lora_r: {value: 8, source: "first"}\n')
    second = write(tmp_path / "b", "planning.yaml", 'hyperparameters:\n  lora_r: {value: "8"}\n')
    res = run("plan", str(EXAMPLE), "--catalog-dir", str(tmp_path / "a"), "--catalog-dir", str(tmp_path / "b"), *TODAY)
    assert_rejected(res, second, "hyperparameters.lora_r.value")


# ------------------------------------------------------------------ catalog files


def _models(**change: object) -> list:
    entry = bundled("models", "qwen3-1.7b")
    for key, value in change.items():
        target = entry["architecture"] if key in entry["architecture"] else entry
        target[key] = value
    return [entry]


def _gpus(**change: object) -> list:
    return [{**bundled("gpus", "L4"), **change}]


def _providers(**change: object) -> list:
    entry = bundled("providers", "openai")
    model = entry["models"][0]
    for key, value in change.items():
        (model if key in ("min_examples", "training_usd_per_1m_tokens") else entry)[key] = value
    return [entry]


@pytest.mark.parametrize(
    ("name", "entries", "key", "words"),
    [
        ("models.yaml", _models(licence="mit"), "entries[0].licence", ["is not a key", "'license'"]),
        ("models.yaml", _models(params_b="big"), "entries[0].params_b", ["number", "'big'"]),
        ("models.yaml", _models(params_b=float("nan")), "entries[0].params_b", ["finite"]),
        ("models.yaml", _models(hidden_size=HUGE), "entries[0].architecture.hidden_size", ["less than"]),
        ("models.yaml", _models(strengths=["clasification"]), "entries[0].strengths", ["tasks.yaml"]),
        ("gpus.yaml", _gpus(memory_gbs=24), "entries[0].memory_gbs", ["is not a key", "'memory_gb'"]),
        ("gpus.yaml", _gpus(memory_gb="lots"), "entries[0].memory_gb", ["number"]),
        ("gpus.yaml", _gpus(fp16_tflops=float("inf")), "entries[0].fp16_tflops", ["finite"]),
        ("gpus.yaml", _gpus(memory_gb=HUGE), "entries[0].memory_gb", ["less than"]),
        ("gpus.yaml", _gpus(aliases="L4-24"), "entries[0].aliases", ["list"]),
        ("providers.yaml", _providers(plaform="x"), "entries[0].plaform", ["is not a key", "'platform'"]),
        ("providers.yaml", _providers(name=["OpenAI"]), "entries[0].name", ["string"]),
        ("providers.yaml", _providers(training_usd_per_1m_tokens=float("nan")),
         "entries[0].models[0].training_usd_per_1m_tokens", ["finite"]),
        ("providers.yaml", _providers(min_examples=HUGE), "entries[0].models[0].min_examples", ["less than"]),
    ],
)
def test_broken_catalog_file_is_exit_1_naming_file_and_key(
    tmp_path: Path, name: str, entries: list, key: str, words: list
) -> None:
    path = write(tmp_path, name, {"entries": entries})
    assert_rejected(plan(tmp_path), path, key, *words)


# ------------------------------------------------------------------ user entries are used as given


def _local_answers(tmp_path: Path, gpu: str) -> Path:
    text = LOCAL.read_text(encoding="utf-8").replace("gpu: RTX-4090", f"gpu: {gpu}")
    return write(tmp_path, "answers.yaml", text)


def test_user_gpu_is_planned_on(tmp_path: Path) -> None:
    write(tmp_path / "cat", "gpus.yaml", {"entries": _gpus(id="RTX-A6000", name="NVIDIA RTX A6000", memory_gb=48)})
    res = plan(tmp_path / "cat", _local_answers(tmp_path, "RTX-A6000"), "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["training"]["hardware"]["gpu"] == "RTX-A6000"
    listing = run("gpus", "--catalog-dir", str(tmp_path / "cat"))
    assert listing.exit_code == 0 and "RTX-A6000" in listing.stdout


def test_user_a10_is_not_replaced_by_the_bundled_a10g_in_the_plan(tmp_path: Path) -> None:
    write(tmp_path / "cat", "gpus.yaml", {"entries": _gpus(id="A10", name="NVIDIA A10 24GB")})
    res = plan(tmp_path / "cat", _local_answers(tmp_path, "A10"), "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["training"]["hardware"]["gpu"] == "A10"


def test_user_a10_wins_over_the_bundled_alias(tmp_path: Path) -> None:
    write(tmp_path, "gpus.yaml", {"entries": _gpus(id="A10", name="NVIDIA A10 24GB")})
    mine = load_catalog([tmp_path])
    assert mine.gpu("A10").id == "A10" and mine.gpu("a10").id == "A10" and mine.gpu("nvidia a10").id == "A10"
    assert mine.gpu("A10G").aliases == []  # the colliding alias is dropped for this load
    assert load_catalog().gpu("a10").id == "A10G"  # and only for it


def test_a_user_alias_wins_over_a_bundled_one(tmp_path: Path) -> None:
    write(tmp_path, "gpus.yaml", {"entries": _gpus(id="A100-SXM4-80GB", name="our A100s", aliases=["A100"])})
    mine = load_catalog([tmp_path])
    assert mine.gpu("a100").id == "A100-SXM4-80GB"
    assert "A100" not in mine.gpu("A100-80GB").aliases


def test_replacing_a_gpu_keeps_its_aliases_unless_it_writes_them(tmp_path: Path) -> None:
    h100 = {k: v for k, v in bundled("gpus", "H100-SXM").items() if k != "aliases"}
    write(tmp_path / "keep", "gpus.yaml", {"entries": [h100]})
    assert load_catalog([tmp_path / "keep"]).gpu("h100").id == "H100-SXM"
    write(tmp_path / "drop", "gpus.yaml", {"entries": [{**h100, "aliases": []}]})
    assert load_catalog([tmp_path / "drop"]).gpu("h100-sxm").aliases == []


def test_one_alias_for_two_user_gpus_is_an_error(tmp_path: Path) -> None:
    entries = [_gpus(id="X1", name="x1", aliases=["ours"])[0], _gpus(id="X2", name="x2", aliases=["ours"])[0]]
    write(tmp_path, "gpus.yaml", {"entries": entries})
    res = plan(tmp_path)
    assert res.exit_code == 1 and "'ours'" in res.stderr and "Traceback" not in res.output


def test_user_model_is_usable_by_id(tmp_path: Path) -> None:
    write(tmp_path, "models.yaml", {"entries": _models(id="team-qwen-1.7b")})
    assert load_catalog([tmp_path]).model("team-qwen-1.7b").family == bundled("models", "qwen3-1.7b")["family"]
    listing = run("models", "--catalog-dir", str(tmp_path))
    assert listing.exit_code == 0 and "team-qwen-1.7b" in listing.stdout
    est = run("estimate", "team-qwen-1.7b", "--catalog-dir", str(tmp_path), "--gpu", "l4")
    assert est.exit_code == 0, est.output
    assert "L4" in est.stdout
    res = plan(tmp_path, EXAMPLE, "--format", "json")
    assert res.exit_code == 0, res.output
    assert "team-qwen-1.7b" in {c["id"] for c in json.loads(res.stdout)["candidates"]}
