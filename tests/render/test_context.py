"""The template context is the plan itself: plan.json's dict plus the answers' free text, nothing hand-built."""

from __future__ import annotations

import json

from generator.render.bake import EXTENSIONS
from generator.render.scaffold import TEXT_FIELDS, scaffold_context
from tests.conftest import ROOT, plan_for


def test_context_is_exactly_the_plan_and_the_text():
    loaded, plan = plan_for("support_triage.yaml")
    ctx = scaffold_context(plan, loaded.answers)
    assert set(ctx) == {"plan", "text"}
    assert ctx["plan"] == plan.to_dict() == json.loads(plan.to_json())
    assert ctx["text"] == {name: getattr(loaded.answers, name) for name in TEXT_FIELDS}


def test_the_bench_fixture_has_the_shape_of_a_fresh_context():
    """tests/fixtures/scaffold_context.json (bench/startup.py bakes it alone) is a snapshot of that context:
    re-snapshot it with `python tests/bake_fixture.py --write` when the plan's records change."""
    loaded, plan = plan_for("support_triage.yaml")
    fresh = scaffold_context(plan, loaded.answers)
    snap = json.loads((ROOT / "tests" / "fixtures" / "scaffold_context.json").read_text(encoding="utf-8"))
    assert snap["_extensions"] == EXTENSIONS
    assert set(snap["_ftplan"]) == set(fresh)

    def shape(d):
        return {k: shape(v) for k, v in d.items()} if isinstance(d, dict) else None

    assert shape(snap["_ftplan"]["plan"]) == shape(fresh["plan"])
