"""Shared fixtures: the bundled examples, planned as of a fixed date so every figure is reproducible."""

from __future__ import annotations

from datetime import date
from pathlib import Path

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
