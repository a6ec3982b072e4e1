"""The forgetting mix through TRL's dataset mixture (issue 11): render/trl.py writes train.yaml's `datasets:`
from the plan, the generated scripts/train.py validates it, loads it with TRL's get_dataset and trains on the
mix, recording the rows each entry gave in data_mixture.json.

    python -m pytest tests/test_forgetting_mix.py -q            (the training run is marked slow)
"""

from __future__ import annotations

import copy
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
from generator.check import check_repo, trl_keys
from generator.plan import build_plan
from generator.plan.settings import load_settings
from generator.render.scaffold import write_scaffold
from generator.render.trl import mixture_entries, train_yaml
from tests.conftest import EXAMPLES, load_module

TODAY = date(2026, 11, 25)
SCRIPTS = Path(__file__).resolve().parents[1] / "scaffolds/open_weights/{{cookiecutter.slug}}/scripts"
GENERAL_ROWS = 40


def load_train():
    sys.path.insert(0, str(SCRIPTS))
    return load_module(SCRIPTS / "train.py", "ftplan_train_script")


@pytest.fixture(scope="module")
def baked(tmp_path_factory: pytest.TempPathFactory):
    data = yaml.safe_load((EXAMPLES / "support_triage.yaml").read_text(encoding="utf-8"))
    loaded = parse_answers(data, "answers.yaml")
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    repo = tmp_path_factory.mktemp("mix") / plan.meta.slug
    write_scaffold(loaded, plan, repo)
    return repo, plan.to_dict()


def commented_mixture(train_yaml_text: str) -> dict:
    """The `datasets:` block train.yaml carries commented out, uncommented."""
    block = [line[2:] for line in train_yaml_text.splitlines() if line.startswith(("# datasets:", "# - {"))]
    return yaml.safe_load("\n".join(block))


def general_jsonl(path: Path, n: int = GENERAL_ROWS) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"general question {i}"},
                          {"role": "assistant", "content": f"general answer {i}"}], "source": "general"}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_plan_names_planning_yamls_general_set_and_train_yaml_draws_it(baked) -> None:
    repo, plan = baked
    general = load_settings().raw("data.forgetting_mix_dataset")
    mix = plan["data"]["forgetting_mix"]
    assert (mix["dataset"], mix["split"]) == (general["value"], general["split"])
    cfg = yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8"))
    assert cfg["datasets"][1]["path"] == general["value"] and cfg["datasets"][1]["fraction"] == mix["fraction"]
    assert load_train().mixture_problems(cfg, "train.yaml") == []


def test_plan_without_a_named_dataset_shows_the_mix_commented_out(baked) -> None:
    _, plan = baked
    plan = copy.deepcopy(plan)
    for key in ("dataset", "split"):  # a plan.json from before the planner named the set
        plan["data"]["forgetting_mix"].pop(key)
    text = train_yaml(plan)
    assert "datasets" not in yaml.safe_load(text)  # nothing to download unless someone names the data
    share = plan["data"]["forgetting_mix"]["fraction"]
    mix = commented_mixture(text)
    assert [e["fraction"] for e in mix["datasets"]] == [1.0, share]
    assert load_train().mixture_problems(mix, "train.yaml") == []


def test_plan_naming_a_dataset_renders_trl_datasets(baked) -> None:
    _, plan = baked
    plan = copy.deepcopy(plan)
    plan["data"]["forgetting_mix"].update(dataset="HuggingFaceH4/ultrachat_200k", split="train_sft")
    cfg = yaml.safe_load(train_yaml(plan))
    share = plan["data"]["forgetting_mix"]["fraction"]
    assert cfg["datasets"] == [{"path": "data", "split": "train", "columns": ["messages"], "fraction": 1.0},
                               {"path": "HuggingFaceH4/ultrachat_200k", "split": "train_sft",
                                "columns": ["messages"], "fraction": share}]
    assert [e for e, _ in mixture_entries(plan) or []] == cfg["datasets"]
    assert set(cfg) <= trl_keys()  # `ftplan check` accepts every key
    plan["data"]["forgetting_mix"]["fraction"] = 0.0
    assert "datasets" not in yaml.safe_load(train_yaml(plan)) and "# datasets:" not in train_yaml(plan)


def test_trl_parses_the_rendered_mixture(baked, tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    _, plan = baked
    plan = copy.deepcopy(plan)
    plan["data"]["forgetting_mix"].update(dataset="HuggingFaceH4/ultrachat_200k", split="train_sft")
    path = tmp_path / "train.yaml"
    path.write_text(train_yaml(plan), encoding="utf-8")
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    *_, mixture = parser.parse_args_and_config(args=["--config", str(path), "--use_cpu", "true", "--bf16", "false"])
    assert [d.fraction for d in mixture.datasets] == [1.0, plan["data"]["forgetting_mix"]["fraction"]]
    assert mixture.datasets[1].path == "HuggingFaceH4/ultrachat_200k"


def test_dataset_keys_are_trls() -> None:
    trl_utils = pytest.importorskip("trl.scripts.utils")
    assert load_train().DATASET_KEYS == tuple(f.name for f in dataclasses.fields(trl_utils.DatasetConfig))


def test_ftplan_check_accepts_a_mixture(baked, tmp_path: Path) -> None:
    repo, _ = baked
    text = (repo / "configs/train.yaml").read_text(encoding="utf-8")
    lines = [line[2:] if line.startswith(("# datasets:", "# - {")) else line for line in text.splitlines()]
    (repo / "configs/train.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        assert "datasets" in yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8"))
        errors = [f.problem for f in check_repo(repo) if f.severity == "error"]
        assert errors == []
    finally:
        (repo / "configs/train.yaml").write_text(text, encoding="utf-8")


def test_mix_keeps_every_user_row_and_the_planned_share(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from trl import DatasetMixtureConfig

    train = load_train()
    (tmp_path / "data").mkdir()
    general_jsonl(tmp_path / "data/train.jsonl", 100)  # 100 "user" rows
    general = general_jsonl(tmp_path / "general.jsonl")
    user_rows = [json.loads(line) for line in (tmp_path / "data/train.jsonl").read_text().splitlines()]
    general_rows = [json.loads(line)["messages"] for line in general.read_text().splitlines()]
    mixture = DatasetMixtureConfig(datasets=[
        {"path": str(tmp_path / "data"), "split": "train", "columns": ["messages"], "fraction": 1.0},
        {"path": "json", "data_files": str(general), "columns": ["messages"], "fraction": 0.25}])
    mixed, manifest = train.mix_datasets(mixture)
    assert len(mixed) == 125 and manifest["rows"] == 125
    assert [e["rows_used"] for e in manifest["entries"]] == [100, 25]
    assert [e["rows_available"] for e in manifest["entries"]] == [100, GENERAL_ROWS]
    assert mixed["messages"][:100] == [r["messages"] for r in user_rows]
    assert mixed["messages"][100:] == general_rows[:25]  # TRL's rule: the first rows, reproducibly
    assert train.mix_datasets(mixture)[0]["messages"] == mixed["messages"]

    mixture.datasets[1].fraction = 2.0  # 200 general rows wanted, 40 there: TRL would cut the user's data
    with pytest.raises(train.UserError, match=r"datasets\[1\]\.fraction: .* too few .* only 20 of the 100 rows"):
        train.mix_datasets(mixture)


def run_train(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "scripts/train.py", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d[1].update(proportion=d[1].pop("fraction")),
     "datasets[1].proportion: is not a key of a TRL dataset entry — did you mean 'fraction'?"),
    (lambda d: d[1].update(fraction=-0.05), "datasets[1].fraction: -0.05 must be a number > 0"),
    (lambda d: d[1].update(fraction="five percent"), "datasets[1].fraction: 'five percent' must be a number > 0"),
    (lambda d: d[0].update(fraction=True), "datasets[0].fraction: True must be a number > 0"),
    (lambda d: d[1].pop("fraction"), "datasets: fraction is set on entries [0] but not on [1]"),
    (lambda d: d[1].update(path="general.jsonl"),
     "datasets[1].path: general.jsonl is a file, which load_dataset looks up on the Hub — set path: json"),
    (lambda d: d[1].pop("path"), "datasets[1].path: missing"),
    (lambda d: d[1].update(columns="messages"), "datasets[1].columns: 'messages' must be a list"),
])
def test_dry_run_names_the_bad_datasets_key(baked, tmp_path: Path, edit, message) -> None:
    repo, _ = baked
    cfg = yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8"))  # the plan's mix, active
    edit(cfg["datasets"])
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    proc = run_train(repo, "--config", str(path), "--dry-run")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}: {message}"] or (len(errors) == 1 and message in errors[0]), proc.stderr
    assert "Traceback" not in proc.stderr


def test_dry_run_rejects_streaming_and_a_random_test_split(baked, tmp_path: Path) -> None:
    repo, _ = baked
    cfg = yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8"))
    cfg.update(streaming=True, test_split_size=0.1)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    proc = run_train(repo, "--config", str(path), "--dry-run")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: {path}: streaming: true" in proc.stderr and f"error: {path}: test_split_size:" in proc.stderr


@pytest.mark.slow
def test_train_runs_the_planned_mix_on_a_local_general_set(baked, tmp_path: Path) -> None:
    """The real scripts/train.py, the tiny model, the plan's fraction: the trainer holds the mixed rows."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    repo, plan = baked
    tiny = load_module(repo / "scripts/make_tiny_model.py", "ftplan_tiny")
    smoke = tmp_path / "smoke"
    tiny.main(smoke, "lora", seed=0)
    cfg = yaml.safe_load((repo / "configs/smoke.yaml").read_text(encoding="utf-8"))
    cfg["datasets"] = yaml.safe_load((repo / "configs/train.yaml").read_text(encoding="utf-8"))["datasets"]
    cfg["datasets"][0]["path"] = str(smoke / "data")
    cfg["datasets"][1].update(path="json", data_files=str(general_jsonl(tmp_path / "general.jsonl")), split="train")
    cfg.update(model_name_or_path=str(smoke / "model"), dataset_name=str(smoke / "data"),
               output_dir=str(tmp_path / "out"), max_steps=3, eval_steps=3, save_steps=3)
    path = tmp_path / "mix.yaml"
    path.write_text("# the smoke config with the plan's forgetting mix\n" + yaml.safe_dump(cfg), encoding="utf-8")

    assert run_train(repo, "--config", str(path), "--dry-run").returncode == 0
    proc = run_train(repo, "--config", str(path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "out/data_mixture.json").read_text(encoding="utf-8"))
    n_user = sum(1 for _ in (smoke / "data/train.jsonl").open(encoding="utf-8"))
    share = plan["data"]["forgetting_mix"]["fraction"]
    user, general = manifest["entries"]
    assert user["rows_used"] == user["rows_available"] == n_user
    assert general["rows_used"] == round(share * n_user) and general["rows_available"] == GENERAL_ROWS
    assert manifest["rows"] == manifest["rows_in_trainer"] == n_user + general["rows_used"]
    assert f"Training mix: {n_user:,} of " in proc.stdout
    metadata = json.loads((tmp_path / "out/run_metadata.json").read_text(encoding="utf-8"))
    assert metadata["data_mixture"]["rows_in_trainer"] == manifest["rows"] and metadata["global_step"] == 3
