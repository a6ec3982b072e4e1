"""planning.yaml's labelling, engineering and distillation tables are checked like the rest of the file: a task type
without its output work, an expert the rows lack or a week count out of range is an error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import CatalogError
from generator.plan.settings import load_settings
from generator.tasks import load_tasks


def problems(tmp_path: Path, text: str) -> str:
    (tmp_path / "planning.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_settings([tmp_path])
    return "\n".join(f"{p.field}: {p.message}" for p in info.value.problems)


def test_every_task_type_has_its_labelling_output_work():
    s = load_settings()
    work = {k: v for k, v in s.raw("labeling.output_work").items() if k != "source"}
    assert set(work) == set(load_tasks().task_types)


def test_an_unknown_task_in_output_work_is_refused(tmp_path):
    found = problems(tmp_path, "labeling:\n  output_work:\n    poetry: compose\n")
    assert "labeling.output_work" in found and "poetry" in found


def test_a_bad_output_work_value_is_refused(tmp_path):
    assert "choose, transcribe or compose" in problems(tmp_path, "labeling:\n  output_work:\n    code: dictate\n")


def test_expert_by_task_must_name_an_expert_row(tmp_path):
    found = problems(tmp_path, "labeling:\n  expert_by_task: {code: wizard}\n")
    assert "labeling" in found and "wizard" in found


def test_engineering_weeks_are_bounded_and_complete(tmp_path):
    weeks = "engineering:\n  weeks:\n    {}: {{value: {}, source: x y z}}\n"
    assert "engineering.weeks.base" in problems(tmp_path, weeks.format("base", -1))
    assert "engineering.weeks.typo" in problems(tmp_path, weeks.format("typo", 1))


def test_a_user_can_override_the_crowd_rate(tmp_path):
    (tmp_path / "planning.yaml").write_text("labeling:\n  crowd: {usd_per_hour: 30.0}\n", encoding="utf-8")
    assert load_settings([tmp_path]).value("labeling.crowd.usd_per_hour") == 30.0
