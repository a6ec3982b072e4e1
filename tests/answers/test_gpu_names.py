"""GPU names are the catalog's to resolve: answers keep what the user wrote; the plan names the catalog GPU.

The aliases live in configs/catalog/gpus.yaml (a user catalog's GPUs resolve the same way), so answers hold
no GPU list of their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.answers import parse_answers
from generator.catalog import load_catalog
from generator.cli import app
from generator.plan import build_plan
from generator.plan.settings import load_settings
from tests.answers.helpers import data
from tests.conftest import TODAY


def test_answers_keep_the_gpu_name_as_written() -> None:
    loaded = parse_answers(data(infrastructure="local", facts__gpu="  rtx 4090 ", facts__languages=["French"]), "t")
    assert loaded.answers.facts.gpu == "rtx 4090" and loaded.answers.facts.languages == ["fr"]
    assert {a.field for a in loaded.adjustments} == {"facts.languages"}
    unknown = parse_answers(data(facts__gpu="MI300X"), "t")
    assert unknown.answers.facts.gpu == "MI300X" and unknown.adjustments == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a100 80gb", "A100-80GB"),
        ("NVIDIA H100 SXM5", "H100-SXM"),
        ("rtx 4090", "RTX-4090"),
        ("4090", "RTX-4090"),
        ("h100 pcie", "H100-PCIe"),
    ],
)
def test_the_plan_resolves_gpu_spellings_through_the_catalog(given: str, expected: str) -> None:
    loaded = parse_answers(data(infrastructure="local", facts__gpu=given), "t")
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    assert plan.training.hardware.gpu == expected


def test_the_plan_takes_a_catalog_id_as_written() -> None:
    loaded = parse_answers(data(infrastructure="local", facts__gpu="A100-80GB"), "t")
    assert build_plan(loaded, load_catalog(), load_settings(), TODAY).training.hardware.gpu == "A100-80GB"


def test_plan_with_an_unknown_gpu_exits_1_naming_facts_gpu(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(data(infrastructure="local", facts__gpu="MI300X")), encoding="utf-8")
    res = CliRunner().invoke(app, ["plan", str(path), "--today", TODAY.isoformat()])
    assert res.exit_code == 1, res.output
    assert "facts.gpu" in res.output and "MI300X" in res.output and "Traceback" not in res.output
