"""scripts/stats.py: McNemar against hand values, the paired bootstrap and sign-flip test on known gaps.

pytest tests/test_stats.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import stats  # noqa: E402
from metrics import METRICS  # noqa: E402


def settings(resamples: int, seed: int, **extra) -> dict:
    return {**stats.DEFAULTS, "bootstrap_resamples": resamples, "permutation_resamples": resamples, "seed": seed,
            **extra}


def col(xs: list[float]) -> np.ndarray:
    return np.asarray(xs, dtype=float).reshape(-1, 1)


def mean(s: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(s)[..., 0] / n


def test_mcnemar_exact_and_asymptotic() -> None:
    # b = 0, c = 6: exact two-sided p = 2 * 0.5^6 = 0.03125
    assert stats.mcnemar([0] * 6 + [1] * 4, [1] * 6 + [1] * 4) == pytest.approx(0.03125)
    # b = 10, c = 30 (>= 25): chi2 = (|10-30|-1)^2/40 = 9.025, p = 0.002663 (chi-square table, 1 df)
    base = [1] * 10 + [0] * 30
    tuned = [0] * 10 + [1] * 30
    assert stats.mcnemar(base, tuned) == pytest.approx(0.0026636, rel=1e-3)
    assert stats.mcnemar([1, 0], [1, 0]) == 1.0
    # the threshold of the exact test comes from eval.yaml `statistics.mcnemar_exact_below`
    assert stats.mcnemar(base, tuned, exact_below=100) != stats.mcnemar(base, tuned, exact_below=25)


def test_paired_stats_detect_a_real_difference_and_not_a_null_one() -> None:
    base = [1.0] * 40 + [0.0] * 60  # 40% right
    better = [1.0] * 40 + [1.0] * 30 + [0.0] * 30  # the same 40 plus 30 more: 70% right
    res = stats.paired(col(base), col(better), mean, "mcnemar", settings(500, 0))
    assert res["delta"] == pytest.approx(0.3) and res["test"] == "mcnemar"
    assert 0.0 < res["ci"][0] < 0.3 < res["ci"][1]
    assert res["p_value"] < 1e-6
    same = stats.paired(col(base), col(list(base)), mean, "sign_flip", settings(200, 0))
    assert same["ci"] == [0.0, 0.0] and same["p_value"] == 1.0
    # a per-item score under the permutation test: a real gap in ROUGE-L is significant
    b = [0.2 + 0.01 * (i % 5) for i in range(60)]
    t = [x + 0.3 for x in b]
    res = stats.paired(col(b), col(t), mean, "sign_flip", settings(300, 1))
    assert res["p_value"] < 0.01 and res["ci"][0] == pytest.approx(0.3)


def test_seeded_and_deterministic_and_the_confidence_is_used() -> None:
    rng = np.random.default_rng(3)
    b, t = col(rng.random(200)), col(rng.random(200) + 0.05)
    one = stats.paired(b, t, mean, "sign_flip", settings(400, 7))
    assert one == stats.paired(b, t, mean, "sign_flip", settings(400, 7))
    narrow = stats.paired(b, t, mean, "sign_flip", settings(400, 7, confidence=0.5))
    assert narrow["ci"][1] - narrow["ci"][0] < one["ci"][1] - one["ci"][0] and narrow["confidence"] == 0.5


def test_mcnemar_refuses_scores_that_are_not_right_or_wrong() -> None:
    with pytest.raises(ValueError, match="sign_flip"):
        stats.paired(col([0.5, 1.0]), col([1.0, 1.0]), mean, "mcnemar", settings(10, 0))


@pytest.mark.timing
def test_statistics_of_every_metric_at_10k_items_take_under_two_seconds() -> None:
    """Issue 11: accuracy + macro-F1 over 14 labels + chrF at 10,000 items, 2,000 resamples and permutations
    each, on shared resamples. Skip with `-m "not timing"` on a loaded machine."""
    rng = np.random.default_rng(0)
    n = 10_000
    acc_b, acc_t = (rng.random((n, 1)) < 0.6).astype(float), (rng.random((n, 1)) < 0.8).astype(float)
    f1_b = np.eye(42)[rng.integers(0, 42, n)]
    f1_t = np.eye(42)[rng.integers(0, 42, n)]
    ch_b = rng.integers(0, 20, size=(n, 18)).astype(float)
    ch_t = ch_b + rng.integers(0, 3, size=(n, 18))
    items = {"accuracy": (acc_b, acc_t, METRICS["accuracy"].value, "mcnemar"),
             "macro_f1": (f1_b, f1_t, METRICS["macro_f1"].value, "sign_flip"),
             "chrf": (ch_b, ch_t, METRICS["chrf"].value, "sign_flip")}
    started = time.perf_counter()
    res = stats.paired_many(items, settings(2000, 0))
    assert time.perf_counter() - started < 2.0 and set(res) == set(items)


def test_a_metric_does_not_depend_on_the_metrics_beside_it() -> None:
    rng = np.random.default_rng(5)
    b, t = col(rng.random(300)), col(rng.random(300) + 0.1)
    alone = stats.paired(b, t, mean, "sign_flip", settings(300, 2))
    together = stats.paired_many({"x": (b, t, mean, "sign_flip"), "y": (t, b, mean, "sign_flip")}, settings(300, 2))
    assert together["x"] == alone


def _probe(base: list[float], tuned: list[float]) -> dict:
    res = stats.paired(col(base), col(tuned), mean, "mcnemar", settings(1000, 0))
    return {"drop": -res["delta"], "drop_ci": [-res["ci"][1], -res["ci"][0]]}


def test_forgetting_gate_passes_an_unchanged_model_on_a_small_probe() -> None:
    """42 probe items, base and tuned equally able (each item right with its own chance, noise per run):
    the gate (drop <= 0.05) must pass at least 97% of runs. The point-drop gate it replaces failed ~1 in 7."""
    import report

    rng = np.random.default_rng(11)
    passed = point_passed = 0
    runs = 300
    for _ in range(runs):
        ability = rng.uniform(0.3, 1.0, 42)
        base, tuned = (rng.random(42) < ability).astype(float), (rng.random(42) < ability).astype(float)
        probe = _probe(list(base), list(tuned))
        passed += report.forgetting_passed(probe, 0.05)
        point_passed += probe["drop"] <= 0.05
    assert passed / runs >= 0.97
    assert point_passed / runs < passed / runs


def test_forgetting_gate_fails_real_forgetting() -> None:
    import report

    base = [1.0] * 160 + [0.0] * 40  # 80% right
    tuned = [1.0] * 100 + [0.0] * 100  # 50%: a real drop of 0.3
    assert not report.forgetting_passed(_probe(base, tuned), 0.05)
    assert report.forgetting_passed(_probe(base, tuned), 0.35)  # within the limit the config allows


def test_corpus_metric_bootstrap_at_10k_items_is_fast() -> None:
    """chrF's 18 counts per item: 2,000 resamples + 2,000 permutations of 10,000 items in seconds, not minutes."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 20, size=(10_000, 18)).astype(float)
    tuned = base + rng.integers(0, 3, size=(10_000, 18))
    started = time.perf_counter()
    res = stats.paired(base, tuned, METRICS["chrf"].value, "sign_flip", settings(2000, 0))
    assert time.perf_counter() - started < 10 and res["test"] == "sign_flip"
