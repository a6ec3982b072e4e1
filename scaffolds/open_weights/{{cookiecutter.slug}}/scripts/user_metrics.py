"""Your own metrics: the extension point for a metric configs/eval.yaml names that scripts/metrics.py lacks.

Add a function `score(prediction, reference, example) -> float` and register it under the metric's name:

    def acceptance_rate(prediction: str, reference: str, example: dict) -> float:
        '''1.0 when a reviewer would accept the answer as it stands.'''
        return float(prediction.strip().lower() == reference.strip().lower())

    METRICS["acceptance_rate"] = acceptance_rate

`prediction` is the model's answer, `reference` the held-out answer, `example` the held-out JSONL row itself
(any extra keys you put there, such as a `label` or test cases, are in it). Return a score per example, higher
is better, in [0, 1] where that makes sense. The evaluation averages it over the held-out set and compares
base and tuned with a paired bootstrap interval and the test configs/eval.yaml names for it (sign_flip; or
mcnemar when every score is 0 or 1). `python scripts/evaluate.py --dry-run` fails, naming the metric, until
every user metric of configs/eval.yaml is registered here.
"""

from __future__ import annotations

from collections.abc import Callable

METRICS: dict[str, Callable[[str, str, dict], float]] = {}
