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


def test_corpus_metric_bootstrap_at_10k_items_is_fast() -> None:
    """chrF's 18 counts per item: 2,000 resamples + 2,000 permutations of 10,000 items in seconds, not minutes."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 20, size=(10_000, 18)).astype(float)
    tuned = base + rng.integers(0, 3, size=(10_000, 18))
    started = time.perf_counter()
    res = stats.paired(base, tuned, METRICS["chrf"].value, "sign_flip", settings(2000, 0))
    assert time.perf_counter() - started < 30 and res["test"] == "sign_flip"
