"""The bundled knowledge tables: planning.yaml's schema, tasks.yaml's schema, GPU aliases, the validation fast path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from generator import catalog as cat
from generator import tasks as tasks_module
from generator.catalog import configs_dir, load_catalog
from generator.errors import CatalogError, UserError
from generator.plan import settings as settings_module
from generator.plan.settings import load_settings
from generator.planning import planning_schema
from generator.tasks import load_tasks


def _yaml(name: str) -> dict:
    return yaml.safe_load((configs_dir() / name).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ planning.yaml


def test_bundled_planning_file_validates() -> None:
    planning_schema().model_validate(_yaml("planning.yaml"))


def test_statistics_settings_are_sourced() -> None:
    s = load_settings()
    assert s.value("evaluation.confidence") == 0.95
    assert s.value("evaluation.mcnemar_exact_below") == 25
    assert s.value("evaluation.few_shot_k") == 4
    assert s.value("evaluation.permutation_resamples") == s.value("evaluation.bootstrap_resamples")
    assert "Miller 2024" in s.source("evaluation.mcnemar_exact_below")
    assert "Noreen 1989" in s.source("evaluation.permutation_resamples")
    assert "Efron" in s.source("evaluation.bootstrap_resamples")


def test_size_bands_follow_the_task_types_of_tasks_yaml() -> None:
    fields = set(planning_schema().model_fields["model_size_by_task"].annotation.model_fields)  # type: ignore[union-attr]
    assert fields == {"source", *load_tasks().task_types}


def test_settings_accept_str_folders_and_name_the_user_files(tmp_path: Path) -> None:
    (tmp_path / "planning.yaml").write_text('rag:\n  retrieved_tokens: {value: 900, source: "our chunks"}\n')
    s = load_settings((str(tmp_path),))
    assert s.value("rag.retrieved_tokens") == 900 and s.source("rag.retrieved_tokens") == "our chunks"
    assert s.files == (str(tmp_path / "planning.yaml"),)
    assert load_settings().value("rag.retrieved_tokens") == 1500


def test_a_dotted_path_the_file_lacks_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="evaluation.nope"):
        load_settings().value("evaluation.nope")


# ------------------------------------------------------------------ tasks.yaml


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (lambda d: d["task_types"]["qa"].update(metrcs=[]), "task_types.qa.metrcs", ["is not a key", "'metrics'"]),
        (lambda d: d["task_types"]["code"].update(max_new_tokens="x"), "task_types.code.max_new_tokens", ["integer"]),
        (lambda d: d["metrics"]["accuracy"].update(kind="peritem"), "metrics.accuracy.kind", ["'per_item'"]),
        (lambda d: d["task_types"]["qa"].update(metrics=["exact_match", "nope"]), "task_types.qa.metrics", ["'nope'"]),
        (lambda d: d["aliases"].update(foo="bar"), "aliases.foo", ["'bar'"]),
        (lambda d: d.update(optons={}), "optons", ["is not a key", "'options'"]),
    ],
)
def test_tasks_file_problems_name_the_key(change, key: str, words: list) -> None:
    data = copy.deepcopy(_yaml("tasks.yaml"))
    change(data)
    with pytest.raises(CatalogError) as info:
        tasks_module.validate(data)
    problem = next((p for p in info.value.problems if p.field == f"tasks.yaml: {key}"), None)
    assert problem is not None, info.value.problems
    assert all(w in str(problem) for w in words), str(problem)


def test_bundled_tasks_file_validates_and_model_strengths_use_its_task_types() -> None:
    tasks_module.validate(_yaml("tasks.yaml"))
    known = set(load_tasks().task_types)
    assert all(set(m.strengths) <= known for m in load_catalog().models)


# ------------------------------------------------------------------ GPU names


@pytest.mark.parametrize(
    ("written", "gpu"),
    [
        ("a100", "A100-80GB"), ("A100 80", "A100-80GB"), ("a100-80gb", "A100-80GB"), ("A100 SXM 80GB", "A100-80GB"),
        ("a100-sxm", "A100-80GB"), ("A100 40", "A100-40GB"), ("a100-40gb", "A100-40GB"), ("H100", "H100-SXM"),
        ("h100 sxm", "H100-SXM"), ("H100 SXM5", "H100-SXM"), ("h100 80gb", "H100-SXM"), ("H100 PCIe", "H100-PCIe"),
        ("h200", "H200"), ("H200 SXM", "H200"), ("l4", "L4"), ("l40s", "L40S"), ("a10g", "A10G"), ("A10", "A10G"),
        ("t4", "T4"), ("4090", "RTX-4090"), ("rtx 4090", "RTX-4090"), ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("3090", "RTX-3090"), ("rtx3090", "RTX-3090"), ("GeForce RTX 3090", "RTX-3090"), ("NVIDIA H100", "H100-SXM"),
        ("RTX 3060", "RTX-3060"), ("3060", "RTX-3060"), ("NVIDIA GeForce RTX 3060", "RTX-3060"),
        ("RTX 3060 12GB", "RTX-3060"), ("rtx 5090", "RTX-5090"), ("5090", "RTX-5090"), ("GeForce RTX 5090", "RTX-5090"),
        ("B200", "B200"), ("b200 sxm", "B200"), ("HGX B200", "B200"), ("DGX B200", "B200"),
    ],
)  # fmt: skip
def test_gpu_spellings_resolve(written: str, gpu: str) -> None:
    assert load_catalog().gpu(written).id == gpu


def test_unknown_gpu_names_the_field_and_how_to_add_one() -> None:
    with pytest.raises(UserError) as info:
        load_catalog().gpu("A100-90GB", field="facts.gpu")
    text = str(info.value)
    assert text.startswith("facts.gpu: 'A100-90GB' is not a GPU in the catalog — did you mean 'A100-80GB'")
    assert text.endswith("(or add it with --catalog-dir)")


def test_bundled_aliases_name_one_gpu_each() -> None:
    gpus = load_catalog().gpus
    keys = [cat.gpu_key(n) for g in gpus for n in (g.id, *g.aliases)]
    assert len(keys) == len(set(keys))


def test_an_alias_naming_two_gpus_is_rejected() -> None:
    data = [g.model_dump() for g in load_catalog().gpus]
    data[0]["aliases"] = ["A100"]
    with pytest.raises(ValueError, match="also names"):
        cat.Catalog.model_validate({"gpus": data, "models": [], "providers": []})


# ------------------------------------------------------------------ validation once per content


def test_bundled_planning_and_tasks_validate_once_per_content(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls: list[str] = []
    real = settings_module._validate
    monkeypatch.setattr(settings_module, "_validate", lambda *a: calls.append("planning") or real(*a))
    settings_module._load.cache_clear()
    try:
        load_settings()
        settings_module._load.cache_clear()
        load_settings()
    finally:
        settings_module._load.cache_clear()
    assert calls == ["planning"]
    assert list(tmp_path.glob("ftplan/planning-validated-*"))
    load_tasks.cache_clear()
    try:
        load_tasks()
    finally:
        load_tasks.cache_clear()
    assert list(tmp_path.glob("ftplan/tasks-validated-*"))
