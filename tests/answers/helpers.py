"""Shared answers for the tests of generator.answers: one valid file, and ways to change it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from generator.answers import Answers
from generator.errors import Problem, UserError

VALID: dict[str, Any] = {
    "project_name": "support-triage",
    "provider": "open_source",
    "budget": "moderate",
    "infrastructure": "cloud_gpu",
    "use_case": "Route incoming support tickets to one of four queues",
    "current_approach": "GPT-4o-mini with a 2,000-token prompt and 12 few-shot examples",
    "current_limitations": "84% accuracy; $0.002 per ticket; 1.2 s p95 latency",
    "training_data": "40,000 tickets labelled by agents over two years",
    "example_pairs": [
        {"input": "My card was charged twice this month", "output": "billing"},
        {"input": "The app crashes when I open settings", "output": "bug"},
        {"input": "How do I change my email address?", "output": "account"},
        {"input": "Please add a dark mode", "output": "feature_request"},
    ],
    "success_criteria": "macro-F1 >= 0.92 on a frozen held-out set",
    "facts": {"examples_available": 40000, "baseline_score": 0.84, "target_score": 0.92},
}


def data(**changes: Any) -> dict[str, Any]:
    """VALID with top-level keys replaced; `facts__x=v` sets one fact; a value of ... deletes the key."""
    out = copy.deepcopy(VALID)
    for key, value in changes.items():
        target, name = (
            (out["facts"], key.removeprefix("facts__")) if key.startswith("facts__") else (out, key)
        )
        if value is ...:
            target.pop(name, None)
        else:
            target[name] = value
    return out


def answers(**changes: Any) -> Answers:
    return Answers.model_validate(data(**changes))


def problems_of(call: Any, *args: Any) -> list[Problem]:
    with pytest.raises(UserError) as info:
        call(*args)
    return info.value.problems


def fields(problems: list[Problem]) -> list[str]:
    return [p.field for p in problems]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def pairs(*outputs: str, inputs: list[str] | None = None) -> list[dict[str, str]]:
    inputs = inputs or [f"Input number {i} with some words in it" for i in range(len(outputs))]
    return [{"input": i, "output": o} for i, o in zip(inputs, outputs, strict=True)]
