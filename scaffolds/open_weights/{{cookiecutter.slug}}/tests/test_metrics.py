"""scripts/metrics.py: hand-checked values of every built-in metric, and the summed-count form stats.py uses.

pytest tests/test_metrics.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import metrics as mt  # noqa: E402

# The built-in metrics of ftplan's configs/tasks.yaml; ftplan's own tests compare this list with that file.
BUILTIN = {"accuracy", "macro_f1", "field_f1", "field_accuracy", "exact_match", "json_validity", "rouge_l", "chrf"}


def test_registry_is_the_builtin_set() -> None:
    assert set(mt.METRICS) == BUILTIN
    assert all(m.kind in ("per_item", "corpus") and m.test in ("mcnemar", "sign_flip") for m in mt.METRICS.values())


def test_rouge_l_hand_value() -> None:
    # LCS("the cat sat", "the cat was sat") = 3: P = 3/3, R = 3/4, F1 = 2PR/(P+R) = 6/7
    assert mt.rouge_l("the cat sat", "the cat was sat") == pytest.approx(6 / 7)
    assert mt.rouge_l("a b", "c d") == 0.0
    assert mt.rouge_l("Same Words", "same words") == 1.0


def test_chrf_hand_value() -> None:
    # "ab" vs "ac": unigrams match 1 of 2 both ways (F = 0.5), bigrams 0 of 1 (F = 0); orders 3-6 are empty
    assert mt.chrf([mt.chrf_stats("ab", "ac")]) == pytest.approx(0.25)
    assert mt.chrf([mt.chrf_stats("hello world", "helloworld")]) == pytest.approx(1.0)  # whitespace ignored
    assert mt.chrf([mt.chrf_stats("xyz", "abc")]) == 0.0


def test_macro_f1_hand_value() -> None:
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
    # label a: tp 1, fn 1 -> F1 2/3; label b: tp 2, fp 1 -> F1 4/5; macro = (2/3 + 4/5) / 2
    assert mt.macro_f1(pairs) == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert mt.macro_f1(pairs, ["a", "b", "c"]) == pytest.approx((2 / 3 + 4 / 5) / 3)
    # the registry's count form gives the same, over the configured label set
    refs, preds = [g for g, _ in pairs], [p for _, p in pairs]
    assert mt.score(mt.METRICS["macro_f1"], preds, refs, {}) == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert mt.score(mt.METRICS["macro_f1"], preds, refs, {"labels": ["A", "b", "c"]}) == pytest.approx(
        (2 / 3 + 4 / 5) / 3)


def test_extraction_metrics() -> None:
    ref = '{"name": "Ann", "age": 3}'
    assert mt.field_counts('{"name": "Ann", "age": 4}', ref) == (1, 1, 1)
    assert mt.field_counts("not json", ref) == (0, 0, 2)
    assert mt.exact('```json\n{"age": 3, "name": "Ann"}\n```', ref, "extraction") == 1.0
    assert mt.exact("def f( x ):\n  return x", "def f( x ): return x", "code") == 1.0
    assert mt.norm_label("  Billing.\nbecause...") == "billing"


def test_field_accuracy_per_item() -> None:
    ref = '{"name": "Ann", "age": 3, "tags": ["a", "b"]}'
    assert mt.field_accuracy('{"name": "Ann", "age": 3, "tags": ["a", "b"]}', ref) == 1.0
    assert mt.field_accuracy('{"name": "Ann", "age": 4, "tags": ["a"], "x": 1}', ref) == pytest.approx(2 / 4)
    assert mt.field_accuracy("not json", ref) == 0.0
    assert mt.field_accuracy("{}", "{}") == 1.0 and mt.field_accuracy("[1]", "{}") == 0.0
    got = mt.score(mt.METRICS["field_accuracy"], ['{"age": 3}', "no"], ['{"age": 3, "name": "Ann"}', '{"a": 1}'], {})
    assert got == pytest.approx((0.5 + 0.0) / 2)  # the mean of the per-item shares


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_summed_counts_equal_the_direct_value(name: str) -> None:
    """What the bootstrap relies on: a metric of any subset is its value at the subset's summed vectors."""
    rng = random.Random(name)
    words = ["a", "b", "c", '{"k": 1}', '{"k": 2, "j": "x"}', "the cat", "sat on"]
    refs = [rng.choice(words) for _ in range(40)]
    preds = [rng.choice(words) for _ in range(40)]
    metric = mt.METRICS[name]
    vectors = metric.vectors(preds, refs, {"task_type": "extraction"}, [])
    for idx in (list(range(40)), list(range(0, 40, 3))):
        direct = mt.score(metric, [preds[i] for i in idx], [refs[i] for i in idx], {"task_type": "extraction"})
        if name == "macro_f1":  # the label set is fixed by the whole set's references
            direct = mt.macro_f1([(mt.norm_label(refs[i]), mt.norm_label(preds[i])) for i in idx],
                                 sorted({mt.norm_label(r) for r in refs}))
        assert float(metric.value(vectors[idx].sum(axis=0), len(idx))) == pytest.approx(direct)
    each = np.asarray(mt.per_example(vectors, metric))
    assert np.all((each >= 0) & (each <= 1))


def test_user_metric_reads_the_row() -> None:
    metric = mt.user_metric("has_label", lambda p, r, row: float(p == row.get("label")), "sign_flip")
    assert mt.score(metric, ["x", "y"], ["r", "r"], {}, [{"label": "x"}, {"label": "x"}]) == 0.5
    bad = mt.user_metric("bad", lambda p, r, row: "yes", "sign_flip")
    with pytest.raises(TypeError, match="bad: score\\(\\) returned 'yes'"):
        bad.vectors(["x"], ["r"], {}, [{}])
