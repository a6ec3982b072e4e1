"""Paired statistics of tuned vs base on the same examples: bootstrap interval, McNemar, sign-flip test.

Every metric arrives as per-example count vectors (scripts/metrics.py), so each resample is a weighted sum:
the paired bootstrap draws the same example indices for both systems (Efron & Tibshirani 1993, ch. 13) and
the sign-flip test swaps the two systems' outputs per example (approximate randomization, Noreen 1989). Both
run as one matrix product per block of resamples, seeded from configs/eval.yaml `statistics.seed`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DEFAULTS = {"confidence": 0.95, "bootstrap_resamples": 2000, "permutation_resamples": 2000,
            "mcnemar_exact_below": 25, "seed": 0}
BLOCK = 256  # resamples per matrix product: bounds memory at BLOCK x n weights


def settings(cfg: dict) -> dict[str, Any]:
    """configs/eval.yaml `statistics:` over the defaults above (the plan's values are written there)."""
    return {**DEFAULTS, **(cfg.get("statistics") or {})}


def mcnemar(base: Any, tuned: Any, exact_below: int = DEFAULTS["mcnemar_exact_below"]) -> float:
    """Two-sided McNemar p-value; exact binomial on the discordant pairs when b + c < exact_below
    (Miller 2024, arXiv 2411.00640), else chi-square with continuity correction."""
    b_arr, t_arr = np.asarray(base, dtype=float) > 0.5, np.asarray(tuned, dtype=float) > 0.5
    b, c = int(np.sum(b_arr & ~t_arr)), int(np.sum(t_arr & ~b_arr))
    if b + c == 0:
        return 1.0
    if b + c < exact_below:
        tail = sum(math.comb(b + c, i) for i in range(min(b, c) + 1)) / 2 ** (b + c)
        return min(1.0, 2 * tail)
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)
    return math.erfc(math.sqrt(chi2 / 2))  # survival function of chi-square, 1 degree of freedom


def _bootstrap_weights(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """How often each example is drawn in each of `rows` resamples of size n."""
    idx = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n).astype(float)


def paired(base: np.ndarray, tuned: np.ndarray, value: Any, test: str, st: dict[str, Any]) -> dict[str, Any]:
    """Delta, percentile bootstrap interval and p-value of tuned - base.

    base, tuned: (n, d) per-example count vectors; value(sums (..., d), n) -> the metric; test: mcnemar or
    sign_flip. McNemar needs right/wrong per-item scores (d = 1, values 0 or 1).
    """
    base, tuned = np.asarray(base, dtype=float), np.asarray(tuned, dtype=float)
    n = len(base)
    b_val, t_val = float(value(base.sum(axis=0), n)), float(value(tuned.sum(axis=0), n))
    rng = np.random.default_rng(int(st["seed"]))
    deltas = []
    for start in range(0, int(st["bootstrap_resamples"]), BLOCK):
        w = _bootstrap_weights(rng, min(BLOCK, int(st["bootstrap_resamples"]) - start), n)
        deltas.append(value(w @ tuned, n) - value(w @ base, n))
    d = np.sort(np.concatenate(deltas)) if n else np.zeros(1)
    tail, last = (1 - float(st["confidence"])) / 2, len(d) - 1
    ci = [float(d[int(tail * last)]), float(d[math.ceil((1 - tail) * last)])]
    if test == "mcnemar":
        if base.shape[1] != 1 or not np.isin(np.r_[base[:, 0], tuned[:, 0]], (0.0, 1.0)).all():
            raise ValueError("mcnemar needs right/wrong (0 or 1) scores per example — use sign_flip")
        p = mcnemar(base[:, 0], tuned[:, 0], int(st["mcnemar_exact_below"]))
    else:
        observed, hits, total = abs(t_val - b_val), 0, int(st["permutation_resamples"])
        diff, both = tuned - base, base.sum(axis=0)
        for start in range(0, total, BLOCK):
            swap = (rng.random((min(BLOCK, total - start), n)) < 0.5).astype(float)
            moved = swap @ diff  # what the swapped examples carry from one arm to the other
            a, z = both + moved, tuned.sum(axis=0) - moved
            hits += int(np.sum(np.abs(value(z, n) - value(a, n)) >= observed - 1e-12))
        p = (hits + 1) / (total + 1)
    return {"base": b_val, "tuned": t_val, "delta": t_val - b_val, "ci": ci,
            "confidence": float(st["confidence"]), "p_value": p, "test": test}
