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
BUILTIN = {"accuracy", "macro_f1", "field_f1", "field_accuracy", "exact_match", "json_validity", "rouge_l", "chrf",
           "bleu", "json_schema_validity", "execution_accuracy", "pass_at_1", "win_rate"}
# need a schema file (tests/test_json_schema.py), a database, opt-in tests, a judge
CONTEXT = {"json_schema_validity", "execution_accuracy", "pass_at_1", "win_rate"}


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


@pytest.mark.parametrize("name", sorted(BUILTIN - CONTEXT))
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


def _random_corpus(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """Random segments: words, punctuation, digits, accents, CJK, emoji, odd whitespace, empty strings."""
    alphabet = list("abcdefgh ABC 0123 .,;:!?-'\"()&<>/ é ü ß Ж 漢字 🙂 \t\n") + ["&amp;", "<skipped>", "-\n"]

    def seg() -> str:
        return "" if rng.random() < 0.05 else "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))

    refs = [seg() for _ in range(n)]
    hyps = [r if rng.random() < 0.2 else seg() if rng.random() < 0.5 else r[: len(r) // 2] + seg() for r in refs]
    return hyps, refs


def test_chrf_and_bleu_equal_sacrebleu_on_random_corpora() -> None:
    sacrebleu = pytest.importorskip("sacrebleu")
    chrf_ref, bleu_ref = sacrebleu.metrics.CHRF(), sacrebleu.metrics.BLEU()
    rng = random.Random(0)
    for _ in range(300):
        hyps, refs = _random_corpus(rng, rng.randint(1, 8))
        ours = mt.score(mt.METRICS["chrf"], hyps, refs, {})
        assert ours == pytest.approx(chrf_ref.corpus_score(hyps, [refs]).score / 100, abs=1e-6)
        ours = mt.score(mt.METRICS["bleu"], hyps, refs, {})
        assert ours == pytest.approx(bleu_ref.corpus_score(hyps, [refs]).score / 100, abs=1e-6)


def test_rouge_l_equals_rouge_score_on_random_corpora() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(1)
    for _ in range(300):
        hyps, refs = _random_corpus(rng, 4)
        for h, r in zip(hyps, refs, strict=True):
            assert mt.rouge_l(h, r) == pytest.approx(scorer.score(r, h)["rougeL"].fmeasure, abs=1e-9)


def test_bleu_hand_value() -> None:
    # identical 4+ token segments: every precision 1, no brevity penalty
    assert mt.score(mt.METRICS["bleu"], ["the cat sat on the mat"], ["the cat sat on the mat"], {}) == 1.0
    assert mt.score(mt.METRICS["bleu"], ["xyz"], ["the cat"], {}) == 0.0
    assert mt.score(mt.METRICS["bleu"], ["a b"], ["a b"], {}) == 0.0  # no 3-grams: sacrebleu's BLEU is 0


def _sqlite(path: Path) -> Path:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE t (id INTEGER, name TEXT, score REAL);"
                       "INSERT INTO t VALUES (1, 'ann', 2.5), (2, 'bob', 1.0), (3, 'cy', 2.5);")
    conn.commit()
    conn.close()
    return path


def test_execution_accuracy_compares_result_sets(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "app.sqlite")
    cfg = {"sql": {"database": str(db), "dialect": "sqlite", "timeout_s": 2}}
    ref = "SELECT name FROM t WHERE score > 2"
    preds = [
        "SELECT name FROM t WHERE score >= 2.5",  # same rows, other query: right
        "```sql\nSELECT name FROM t WHERE score > 2 ORDER BY name DESC;\n```",  # order ignored: right
        "SELECT name FROM t",  # extra row: wrong
        "SELEC nonsense",  # error: wrong
        "DELETE FROM t",  # refused by the read-only connection: wrong, and the table keeps its rows
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",  # timeout
    ]
    got = mt.METRICS["execution_accuracy"].vectors(preds, [ref] * len(preds), cfg, [{}] * len(preds))
    assert got[:, 0].tolist() == [1, 1, 0, 0, 0, 0]
    ordered = "SELECT name FROM t ORDER BY id"
    got = mt.METRICS["execution_accuracy"].vectors(["SELECT name FROM t ORDER BY id DESC", ordered],
                                                   [ordered] * 2, cfg, [{}, {}])
    assert got[:, 0].tolist() == [0, 1]  # the reference orders its rows: order matters
    import sqlite3

    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_execution_accuracy_transpiles_dialects_and_reads_duckdb(tmp_path: Path) -> None:
    pytest.importorskip("sqlglot")
    db = _sqlite(tmp_path / "app.sqlite")
    cfg = {"sql": {"database": str(db), "dialect": "postgres"}}
    got = mt.METRICS["execution_accuracy"].vectors(["SELECT name FROM t WHERE name ILIKE 'A%'"],
                                                   ["SELECT name FROM t WHERE id = 1"], cfg, [{}])
    assert got[0, 0] == 1.0  # ILIKE exists in postgres, not in SQLite: sqlglot rewrote it
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "app.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'ann'), (2, 'bob')) v(id, name)")
    con.close()
    cfg = {"sql": {"database": str(path), "dialect": "duckdb"}}
    got = mt.METRICS["execution_accuracy"].vectors(["SELECT name FROM t WHERE id < 2", "DROP TABLE t"],
                                                   ["SELECT 'ann'"] * 2, cfg, [{}, {}])
    assert got[:, 0].tolist() == [1, 0]


def test_a_failing_reference_query_is_a_user_error(tmp_path: Path) -> None:
    from common import UserError

    cfg = {"sql": {"database": str(_sqlite(tmp_path / "a.sqlite"))}}
    with pytest.raises(UserError, match="example 1: the reference query fails"):
        mt.METRICS["execution_accuracy"].vectors(["SELECT 1"], ["SELECT * FROM missing"], cfg, [{}])


def test_pass_at_1_runs_tests_only_when_allowed(capsys: pytest.CaptureFixture) -> None:
    from common import UserError

    rows = [{"tests": "assert add(2, 3) == 5"}, {"test_cases": ["assert add(0, 0) == 0", "assert add(1, 1) == 2"]},
            {"tests": "assert add(1, 2) == 3"}, {"tests": "assert add(1, 2) == 3"}, {"tests": "assert True"}]
    preds = ["```python\ndef add(a, b):\n    return a + b\n```", "def add(a, b):\n    return a + b",
             "def add(a, b):\n    return a - b",  # wrong
             "def add(a, b):\n    while True: pass",  # never ends: killed at the time limit
             "x = bytearray(4 * 1024 ** 3)"]  # over the memory limit
    metric = mt.METRICS["pass_at_1"]
    with pytest.raises(UserError, match="allow_code_execution"):
        metric.vectors(preds, [""] * 5, {}, rows)
    cfg = {"allow_code_execution": True, "code_execution": {"timeout_s": 1, "memory_mb": 512}}
    assert metric.vectors(preds, [""] * 5, cfg, rows)[:, 0].tolist() == [1, 1, 0, 0, 0]
    assert "WARNING: allow_code_execution is true" in capsys.readouterr().err
    with pytest.raises(UserError, match="example 1: pass_at_1 needs the row's tests"):
        metric.vectors(["pass"], [""], cfg, [{}])


def test_judge_verdicts_are_position_swapped() -> None:
    import judge

    assert judge.combine("A", "B") == 1.0 and judge.combine("B", "A") == 0.0  # consistent win / loss
    assert judge.combine("A", "A") == 0.5 and judge.combine("TIE", "B") == 0.5  # position bias, tie
    assert judge.verdict("Answer: b.") == "B" and judge.verdict("no idea") == "TIE"
    same = mt.METRICS["win_rate"].vectors(["x", "y"], ["r", "r"], {}, [{}, {}])
    assert same[:, 0].tolist() == [0.5, 0.5]  # the base against itself: 0.5 by construction, no judge needed
