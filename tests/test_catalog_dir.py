"""`--catalog-dir` end to end: a user GPU, a user model and an overridden hosted price reach the plan, every
file `ftplan scaffold` writes and `ftplan check`; a broken user file stops `scaffold` before it writes anything.

tests/knowledge/test_user_files.py covers how `ftplan plan` reports each kind of broken user file; here the
same user files go through scaffold and check, which read the plan (plan.json) rather than the catalog.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.knowledge.helpers import bundled, run, write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "configs" / "examples"
TODAY = ("--today", "2026-11-25")
USER_GPU = "RTX-3060-12GB"
USER_MODEL = "team-qwen3-1.7b"
VERTEX_PRICE = 2.75  # per 1M training tokens; the bundled gemini-2.5-flash-lite price is 1.5


def user_gpu() -> dict:
    return {
        "id": USER_GPU, "name": "NVIDIA GeForce RTX 3060 12GB", "aliases": ["3060"], "memory_gb": 12,
        "bf16_tflops": 51.2, "fp16_tflops": 51.2, "supports_bf16": True, "memory_bandwidth_gbs": 360,
        "prices": [{"provider": "our workstation", "usd_per_hour": 0.06, "as_of": "2026-11-01",
                    "source": "https://intranet.example/power — electricity and depreciation of the team's box"},
                   {"provider": "a community cloud", "usd_per_hour": 0.12, "as_of": "2026-11-01",
                    "source": "https://cloud.example/pricing — RTX 3060 hourly rate"}],
        "source": "https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3060-3060ti/ — RTX 3060 specs "
                  "(dense FP16 tensor with FP32 accumulate taken as half the sparse figure)",
        "as_of": "2026-11-25",
    }


def user_model() -> dict:
    return {**bundled("models", "qwen3-1.7b"), "id": USER_MODEL}


def vertex_override() -> dict:
    google = bundled("providers", "google")
    for model in google["models"]:
        if model["id"] == "gemini-2.5-flash-lite":
            model["training_usd_per_1m_tokens"] = VERTEX_PRICE
    return google


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("catalog")
    write(folder, "gpus.yaml", {"entries": [user_gpu()]})
    write(folder, "models.yaml", {"entries": [user_model()]})
    write(folder, "providers.yaml", {"entries": [vertex_override()]})
    return folder


def local_answers(folder: Path) -> Path:
    text = (EXAMPLES / "clinical_extraction_local.yaml").read_text(encoding="utf-8")
    assert "gpu: RTX-4090" in text
    return write(folder, "answers.yaml", text.replace("gpu: RTX-4090", f"gpu: {USER_GPU}"))


def with_data(repo: Path) -> None:
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        shutil.copy(repo / "data" / "examples.jsonl", repo / "data" / name)


def assert_checks_clean(repo: Path) -> None:
    res = run("check", str(repo))
    assert res.exit_code == 0, res.output
    assert "unknown gpu" not in res.output.lower()
    assert not [ln for ln in res.output.splitlines() if ln.startswith(("error", "warning"))], res.output
    assert "as planned" in res.output


def test_user_gpu_and_model_reach_the_plan_the_repo_and_check(catalog: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    res = run("scaffold", str(local_answers(tmp_path)), "--catalog-dir", str(catalog), "-o", str(repo), *TODAY)
    assert res.exit_code == 0, res.output
    plan = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    hw = plan["training"]["hardware"]
    assert hw["gpu"] == USER_GPU and hw["gpu_spec"]["id"] == USER_GPU and hw["gpu_spec"]["memory_gb"] == 12
    assert hw["gpu_spec"]["price_provider"] == "our workstation" and hw["usd_per_hour"] == 0.06
    assert hw["peak_memory_gb"] <= 12 * hw["fit_inputs"]["headroom"]
    assert str(catalog) in plan["meta"]["catalog_dirs"]
    rows = {c["id"]: c for c in plan["candidates"]}
    # The user model is the bundled qwen3-1.7b under another id: ranked with the same numbers.
    assert {k: v for k, v in rows[USER_MODEL].items() if k not in ("id", "rank")} == \
        {k: v for k, v in rows["qwen3-1.7b"].items() if k not in ("id", "rank")}
    strategy = (repo / "STRATEGY.md").read_text(encoding="utf-8")
    assert f"1x {USER_GPU}" in strategy
    accelerate = yaml.safe_load((repo / "configs" / "accelerate" / "single_gpu.yaml").read_text(encoding="utf-8"))
    assert accelerate["num_processes"] == 1
    with_data(repo)
    assert_checks_clean(repo)


def test_overridden_vertex_price_reaches_plan_strategy_and_hosted_yaml(catalog: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    res = run("scaffold", str(EXAMPLES / "vertex_hosted_tuning.yaml"), "--catalog-dir", str(catalog),
              "-o", str(repo), *TODAY)
    assert res.exit_code == 0, res.output
    plan = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    assert plan["training"]["method"] == "hosted"
    tuning = plan["provider"]["hosted_tuning"]
    assert tuning["model"] == "gemini-2.5-flash-lite" and tuning["training_usd_per_1m_tokens"] == VERTEX_PRICE
    hosted = yaml.safe_load((repo / "configs" / "hosted.yaml").read_text(encoding="utf-8"))
    assert hosted["training_usd_per_1m_tokens"] == VERTEX_PRICE
    bundled_repo = tmp_path / "bundled"
    assert run("scaffold", str(EXAMPLES / "vertex_hosted_tuning.yaml"), "-o", str(bundled_repo), *TODAY).exit_code == 0
    bundled_plan = json.loads((bundled_repo / "plan.json").read_text(encoding="utf-8"))
    # The hosted training bill is dataset tokens x epochs x the price: the override is what the plan costed.
    ratio = VERTEX_PRICE / bundled_plan["provider"]["hosted_tuning"]["training_usd_per_1m_tokens"]
    billed = plan["cost"]["hosted_api_usd"]
    assert billed == pytest.approx(bundled_plan["cost"]["hosted_api_usd"] * ratio, rel=0.01)
    strategy = (repo / "STRATEGY.md").read_text(encoding="utf-8")
    assert f"(~${billed:,.2f} of training tokens)" in strategy
    with_data(repo)
    assert_checks_clean(repo)


def _gpu(**change: object) -> dict:
    return {**user_gpu(), **change}


def _model(**change: object) -> dict:
    entry = user_model()
    for key, value in change.items():
        (entry["architecture"] if key in entry["architecture"] else entry)[key] = value
    return entry


def _provider_model(**change: object) -> dict:
    entry = vertex_override()
    entry["models"][0].update(change)
    return entry


@pytest.mark.parametrize(
    ("name", "content", "key", "words"),
    [
        ("gpus.yaml", {"entries": [_gpu(memory_gbs=12)]}, "entries[0].memory_gbs", ["'memory_gb'"]),
        ("gpus.yaml", {"entries": [_gpu(memory_gb="twelve")]}, "entries[0].memory_gb", ["number"]),
        ("models.yaml", {"entries": [_model(context_lenght=32768)]}, "entries[0].context_lenght",
         ["'context_length'"]),
        ("models.yaml", {"entries": [_model(num_layers="many")]}, "entries[0].architecture.num_layers", ["integer"]),
        ("providers.yaml", {"entries": [_provider_model(training_usd_per_1m_token=2.0)]},
         "entries[0].models[0].training_usd_per_1m_token", ["'training_usd_per_1m_tokens'"]),
        ("providers.yaml", {"entries": [_provider_model(training_usd_per_1m_tokens="cheap")]},
         "entries[0].models[0].training_usd_per_1m_tokens", ["number"]),
        ("planning.yaml", "hyperparameters:\n  lora_rank: {value: 8, source: team}\n", "hyperparameters.lora_rank",
         ["'lora_r'"]),
        ("planning.yaml", "hyperparameters:\n  lora_r: {value: eight, source: team}\n", "hyperparameters.lora_r.value",
         ["integer"]),
    ],
)
def test_a_broken_user_file_stops_scaffold_naming_file_and_key(
    tmp_path: Path, name: str, content: object, key: str, words: list
) -> None:
    path = write(tmp_path / "cat", name, content)
    repo = tmp_path / "repo"
    res = run("scaffold", str(EXAMPLES / "clinical_extraction_local.yaml"), "--catalog-dir", str(tmp_path / "cat"),
              "-o", str(repo), *TODAY)
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    line = next((ln for ln in res.stderr.splitlines() if f"{path}: {key}" in ln), None)
    assert line is not None, res.stderr
    for word in words:
        assert word in line, line
    assert not repo.exists()
