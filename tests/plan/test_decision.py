"""The decision matrix reads its options and task knowledge from configs/tasks.yaml, the one home of both."""

from __future__ import annotations

from typing import get_args

from generator.plan.data import LABELLED_TASKS
from generator.plan.decision import options
from generator.plan.records import Option
from generator.plan.risks import OPEN_ENDED_TASKS
from generator.tasks import load_tasks


def test_the_option_type_names_the_options_of_tasks_yaml_simplest_first() -> None:
    assert get_args(Option) == tuple(load_tasks().options)
    assert options() == get_args(Option)


def test_task_names_the_planner_singles_out_are_task_types_of_tasks_yaml() -> None:
    types = set(load_tasks().task_types)
    assert set(OPEN_ENDED_TASKS) <= types and set(LABELLED_TASKS) <= types


def test_the_matrix_and_its_summary_use_the_tables_names(plans) -> None:
    names = load_tasks().options
    for plan in plans.values():
        d = plan.decision
        assert [r.option for r in d.matrix] == list(names)
        assert d.summary.startswith(f"{names[d.recommendation]} scores ")


def test_format_consistency_follows_the_tables_structured_flag(plans) -> None:
    tasks = load_tasks()
    for plan in plans.values():
        row = next(r for r in plan.decision.matrix if r.option == "fine_tune")
        reason = " ".join(row.reasons)
        structured = tasks.task(plan.meta.task_type).structured
        assert (f"a {plan.meta.task_type} task has a fixed output space" in reason) == structured
