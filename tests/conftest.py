"""Shared fixtures: the bundled examples, planned as of a fixed date so every figure is reproducible."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from generator.answers import load_answers
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "configs" / "examples"
TODAY = date(2026, 11, 25)


def plan_for(name: str, today: date = TODAY):
    loaded = load_answers(EXAMPLES / name)
    return loaded, build_plan(loaded, load_catalog(), load_settings(), today)


@pytest.fixture(scope="session")
def plans():
    return {p.name: plan_for(p.name)[1] for p in sorted(EXAMPLES.glob("*.yaml"))}


def load_module(path: Path, name: str) -> ModuleType:
    """A generated repo's script (or a bench file) imported from its path, without installing it."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
