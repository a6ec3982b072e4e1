"""The task knowledge of `configs/tasks.yaml`: task types, their metrics, metric names and decision options.

The one home of these tables. Every layer asks here: the answers schema (which task types exist, what a metric
name means), the planner (which metrics judge a task, how each is tested), the renderers and `ftplan check`.
The generated `scripts/metrics.py` implements exactly the metrics marked builtin; ftplan's tests prove it.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from functools import lru_cache
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from generator.errors import CatalogError, Problem
from generator.paths import configs_dir
from generator.record import Record

FILE = "tasks.yaml"
_NAME_RUN = re.compile(r"[^a-z0-9@]+")
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class MetricDef(Record):
    """How one metric is computed and compared. `builtin` False: the user's scripts/user_metrics.py scores it."""

    name: str
    builtin: bool
    kind: Literal["per_item", "corpus"]
    test: Literal["mcnemar", "sign_flip"]
    description: str


class TaskDef(Record):
    name: str
    metrics: tuple[str, ...]
    structured: bool
    max_new_tokens: int


class Tasks(Record):
    tasks: dict[str, TaskDef]
    metrics: dict[str, MetricDef]
    aliases: dict[str, str]
    options: dict[str, str]  # option id -> display name, simplest first

    @property
    def task_types(self) -> tuple[str, ...]:
        return tuple(self.tasks)

    def task(self, name: str) -> TaskDef:
        return self.tasks[name]

    def canonical_metric(self, name: str) -> str:
        """The table's name for what a person wrote ('F1', 'ROUGE-L' -> macro_f1, rouge_l); unknown names are
        normalised to lowercase with underscores and kept: they become user metrics."""
        key = _NAME_RUN.sub("_", name.strip().lower()).strip("_") or name
        return self.aliases.get(key, key)

    def metric(self, name: str) -> MetricDef:
        """The definition of a metric; a name the table does not know is a user metric, tested by sign-flip."""
        found = self.metrics.get(name)
        if found is not None:
            return found
        return MetricDef(name=name, builtin=False, kind="per_item", test="sign_flip",
                         description="your own metric: score(prediction, reference, example) in "
                                     "scripts/user_metrics.py, averaged over the held-out set")

    @property
    def builtin_metrics(self) -> tuple[str, ...]:
        return tuple(n for n, m in self.metrics.items() if m.builtin)


@functools.cache
def _schema() -> type[BaseModel]:
    """The shape of tasks.yaml, built only when the file is validated (new content; see load_tasks)."""
    from generator.catalog import Strict

    text = Annotated[str, Field(min_length=1)]

    class Metric(Strict):
        model_config = ConfigDict(strict=True)
        builtin: bool = Field(description="computed by the generated scripts/metrics.py")
        kind: Literal["per_item", "corpus"]
        test: Literal["mcnemar", "sign_flip"]
        description: text

    class TaskType(Strict):
        model_config = ConfigDict(strict=True)
        metrics: list[text] = Field(min_length=1, description="the plan's metrics, the primary first")
        structured: bool
        max_new_tokens: int = Field(ge=1, le=1 << 20)

    class Option(Strict):
        model_config = ConfigDict(strict=True)
        name: text

    class TasksFile(Strict):
        model_config = ConfigDict(strict=True)
        as_of: dt.date = Field(strict=False)
        options: dict[Name, Option] = Field(min_length=1)
        task_types: dict[Name, TaskType] = Field(min_length=1)
        metrics: dict[Name, Metric] = Field(min_length=1)
        aliases: dict[Name, Name] = Field(default_factory=dict)

    return TasksFile


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_@]*$")]


def _references(data: dict) -> list[Problem]:
    """Names that must point at something defined in the file."""
    metrics = set(data["metrics"])
    problems = []
    for name, task in data["task_types"].items():
        for m in task["metrics"]:
            if m not in metrics:
                problems.append(Problem(f"{FILE}: task_types.{name}.metrics", f"'{m}' is not defined under metrics",
                                        "define it under metrics, or remove it"))
    for alias, target in data.get("aliases", {}).items():
        if target not in metrics:
            problems.append(Problem(f"{FILE}: aliases.{alias}", f"points to '{target}', which is not a metric",
                                    "fix the target"))
    return problems


def validate(data: Any) -> None:
    """Raise CatalogError listing every problem of tasks.yaml as `tasks.yaml: key: what — fix`."""
    from generator.catalog import validation_problems

    schema = _schema()
    if not isinstance(data, dict):
        raise CatalogError(Problem(f"{FILE}: (top level)", "must be a mapping", "restore ftplan's bundled tasks.yaml"))
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(validation_problems(exc, schema, lambda loc: FILE)) from exc
    problems = _references(data)
    if problems:
        raise CatalogError(problems)


def _parse(data: dict) -> Tasks:
    """The tables of an already-validated tasks.yaml."""
    metrics = {
        name: MetricDef(name=name, builtin=m["builtin"], kind=m["kind"], test=m["test"], description=m["description"])
        for name, m in data["metrics"].items()
    }
    tasks = {
        name: TaskDef(name=name, metrics=tuple(t["metrics"]), structured=t["structured"],
                      max_new_tokens=t["max_new_tokens"])
        for name, t in data["task_types"].items()
    }
    options = {k: v["name"] for k, v in data["options"].items()}
    return Tasks(tasks=tasks, metrics=metrics, aliases=dict(data.get("aliases") or {}), options=options)


@lru_cache(maxsize=1)
def load_tasks() -> Tasks:
    """The task tables; the file is validated once per content (a marker in the user's cache, as the catalog)."""
    from generator.catalog import load_once

    path = configs_dir() / FILE

    def read() -> Any:
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
        except (OSError, yaml.YAMLError) as exc:
            raise CatalogError(Problem(str(path), f"cannot read: {exc}", "reinstall ftplan")) from exc

    return _parse(load_once("tasks", [path], read, validate))
