"""The task knowledge of `configs/tasks.yaml`: task types, their metrics, metric names and decision options.

The one home of these tables. Every layer asks here: the answers schema (which task types exist, what a metric
name means), the planner (which metrics judge a task, how each is tested), the renderers and `ftplan check`.
The generated `scripts/metrics.py` implements exactly the metrics marked builtin; ftplan's tests prove it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import yaml

from generator.errors import CatalogError, Problem
from generator.paths import configs_dir

FILE = "tasks.yaml"
KINDS = ("per_item", "corpus")
TESTS = ("mcnemar", "sign_flip")
_NAME_RUN = re.compile(r"[^a-z0-9@]+")
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class MetricDef:
    """How one metric is computed and compared. `builtin` False: the user's scripts/user_metrics.py scores it."""

    name: str
    builtin: bool
    kind: Literal["per_item", "corpus"]
    test: Literal["mcnemar", "sign_flip"]
    description: str


@dataclass(frozen=True)
class TaskDef:
    name: str
    metrics: tuple[str, ...]
    structured: bool
    max_new_tokens: int


@dataclass(frozen=True)
class Tasks:
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


def _fail(key: str, what: str, fix: str) -> CatalogError:
    return CatalogError(Problem(f"{FILE}: {key}", what, fix))


def _parse(data: Any) -> Tasks:
    if not isinstance(data, dict):
        raise _fail("(top level)", "must be a mapping", "restore ftplan's bundled tasks.yaml")
    unknown = set(data) - {"as_of", "options", "task_types", "metrics", "aliases"}
    if unknown:
        raise _fail(sorted(unknown)[0], "is not a key of this file", "remove it")
    metrics: dict[str, MetricDef] = {}
    for name, m in (data.get("metrics") or {}).items():
        if not isinstance(m, dict) or set(m) != {"builtin", "kind", "test", "description"}:
            raise _fail(f"metrics.{name}", "needs exactly builtin, kind, test and description", "see the others")
        if m["kind"] not in KINDS or m["test"] not in TESTS or not isinstance(m["builtin"], bool):
            raise _fail(f"metrics.{name}", f"kind must be one of {KINDS}, test one of {TESTS}, builtin true/false",
                        "fix the value")
        metrics[name] = MetricDef(name=name, builtin=m["builtin"], kind=m["kind"], test=m["test"],
                                  description=str(m["description"]))
    tasks: dict[str, TaskDef] = {}
    for name, t in (data.get("task_types") or {}).items():
        if not isinstance(t, dict) or set(t) != {"metrics", "structured", "max_new_tokens"}:
            raise _fail(f"task_types.{name}", "needs exactly metrics, structured and max_new_tokens",
                        "see the others")
        missing = [m for m in t["metrics"] if m not in metrics]
        if missing or not t["metrics"]:
            raise _fail(f"task_types.{name}.metrics", f"names metrics not defined under metrics: {missing}",
                        "define them under metrics, or remove them")
        tasks[name] = TaskDef(name=name, metrics=tuple(t["metrics"]), structured=bool(t["structured"]),
                              max_new_tokens=int(t["max_new_tokens"]))
    aliases = {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}
    bad = [k for k, v in aliases.items() if v not in metrics]
    if bad:
        raise _fail(f"aliases.{bad[0]}", f"points to {aliases[bad[0]]!r}, which is not a metric", "fix the target")
    options = {str(k): str(v["name"]) for k, v in (data.get("options") or {}).items()}
    if not tasks or not options:
        raise _fail("task_types", "no task types or options", "restore ftplan's bundled tasks.yaml")
    return Tasks(tasks=tasks, metrics=metrics, aliases=aliases, options=options)


@lru_cache(maxsize=1)
def load_tasks() -> Tasks:
    path = configs_dir() / FILE
    return _parse(yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader))
