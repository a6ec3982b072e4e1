"""Paired statistics of tuned vs base on the same examples: bootstrap interval, McNemar, sign-flip test.

Every metric arrives as per-example count vectors (scripts/metrics.py), so each resample is a weighted sum:
the paired bootstrap draws the same example indices for both systems (Efron & Tibshirani 1993, ch. 13) and
the sign-flip test swaps the two systems' outputs per example (approximate randomization, Noreen 1989). Both
run as one matrix product per block of resamples, and one block of resample weights serves every metric of
the evaluation, so ten metrics cost little more than one. Seeded from configs/eval.yaml `statistics.seed`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULTS = {"confidence": 0.95, "bootstrap_resamples": 2000, "permutation_resamples": 2000,
            "mcnemar_exact_below": 25, "seed": 0}
BLOCK = 256  # resamples per matrix product: bounds memory at BLOCK x n weights
Value = Callable[[np.ndarray, int], np.ndarray]


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


def _flips(rng: np.random.Generator, rows: int, n: int) -> np.ndarray:
    """A fair coin per (permutation, example), from random bytes (8 coins per byte: much faster than floats)."""
    bits = np.unpackbits(rng.integers(0, 256, size=(rows, (n + 7) // 8), dtype=np.uint8), axis=1)[:, :n]
    return bits.astype(float)


def _check_mcnemar(name: str, base: np.ndarray, tuned: np.ndarray) -> None:
    if base.shape[1] != 1 or not np.isin(np.r_[base[:, 0], tuned[:, 0]], (0.0, 1.0)).all():
        raise ValueError(f"{name}.test: mcnemar needs right/wrong (0 or 1) scores per example — use sign_flip")


def paired_many(items: dict[str, tuple[Any, Any, Value, str]], st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Delta, percentile bootstrap interval and p-value of tuned - base for each metric, on shared resamples.

    items: name -> (base, tuned, value, test); base, tuned: (n, d) per-example count vectors (the same n for
    every metric); value(sums (..., d), n) -> the metric; test: mcnemar or sign_flip. McNemar needs
    right/wrong per-item scores (d = 1, values 0 or 1). A metric's result does not depend on which other
    metrics are computed with it: the resample weights come from the seed alone.
    """
    arrays = {k: (np.asarray(b, dtype=float), np.asarray(t, dtype=float), v, test)
              for k, (b, t, v, test) in items.items()}
    if not arrays:
        return {}
    n = len(next(iter(arrays.values()))[0])
    for name, (base, tuned, _, test) in arrays.items():
        if test == "mcnemar":
            _check_mcnemar(name, base, tuned)
    seed, n_boot, n_perm = int(st["seed"]), int(st["bootstrap_resamples"]), int(st["permutation_resamples"])
    deltas: dict[str, list[np.ndarray]] = {k: [] for k in arrays}
    boot = np.random.default_rng([seed, 0])  # two streams: the interval does not depend on the test
    for start in range(0, n_boot if n else 0, BLOCK):
        w = _bootstrap_weights(boot, min(BLOCK, n_boot - start), n)
        for k, (base, tuned, value, _) in arrays.items():
            deltas[k].append(value(w @ tuned, n) - value(w @ base, n))
    flip_names = [k for k, a in arrays.items() if a[3] != "mcnemar"]
    observed = {k: abs(float(arrays[k][2](arrays[k][1].sum(axis=0), n) - arrays[k][2](arrays[k][0].sum(axis=0), n)))
                for k in flip_names}
    hits = dict.fromkeys(flip_names, 0)
    perm = np.random.default_rng([seed, 1])
    for start in range(0, n_perm if flip_names and n else 0, BLOCK):
        swap = _flips(perm, min(BLOCK, n_perm - start), n)
        for k in flip_names:
            base, tuned, value, _ = arrays[k]
            moved = swap @ (tuned - base)  # what the swapped examples carry from one arm to the other
            a, z = base.sum(axis=0) + moved, tuned.sum(axis=0) - moved
            hits[k] += int(np.sum(np.abs(value(z, n) - value(a, n)) >= observed[k] - 1e-12))
    tail, out = (1 - float(st["confidence"])) / 2, {}
    for k, (base, tuned, value, test) in arrays.items():
        b_val, t_val = float(value(base.sum(axis=0), n)), float(value(tuned.sum(axis=0), n))
        d = np.sort(np.concatenate(deltas[k])) if deltas[k] else np.zeros(1)
        last = len(d) - 1
        ci = [float(d[int(tail * last)]), float(d[math.ceil((1 - tail) * last)])]
        if test == "mcnemar":
            p = mcnemar(base[:, 0], tuned[:, 0], int(st["mcnemar_exact_below"]))
        else:
            p = (hits[k] + 1) / (n_perm + 1)
        out[k] = {"base": b_val, "tuned": t_val, "delta": t_val - b_val, "ci": ci,
                  "confidence": float(st["confidence"]), "p_value": p, "test": test}
    return out


def paired(base: Any, tuned: Any, value: Value, test: str, st: dict[str, Any]) -> dict[str, Any]:
    """paired_many for one metric."""
    return paired_many({"m": (base, tuned, value, test)}, st)["m"]
