"""The built-in metrics: the only table of metric implementations in this repository.

Each metric turns every (prediction, reference) pair into a small vector of counts, and its score is a
function of the *sum* of those vectors. A per-item metric's vector is its score (summed, then divided by n);
a corpus metric (macro-F1, field-F1, chrF) keeps the counts it needs. Summing is what lets scripts/stats.py
bootstrap and permute with one matrix product instead of recomputing each metric thousands of times.

The names are exactly the `builtin: true` metrics of ftplan's configs/tasks.yaml; any other metric named in
configs/eval.yaml is a user metric (scripts/user_metrics.py). Families live in their own modules:
scripts/text_metrics.py (ROUGE-L, chrF, BLEU, equal to rouge-score and sacrebleu), scripts/sql_exec.py
(execution accuracy), scripts/code_exec.py (pass@1, opt-in), scripts/judge.py (pairwise win rate).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from text_metrics import CHRF_CHAR_ORDER, bleu_from_sums, bleu_stats, chrf_from_sums, chrf_stats, rouge_l


def norm_label(text: str) -> str:
    """The first line, without a final full stop, lowercased: how a label answer is compared."""
    lines = text.strip().splitlines()
    return lines[0].strip().strip(".").lower() if lines else ""


def macro_f1(pairs: list[tuple[str, str]], labels: list[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over the configured label set (or the gold labels without one)."""
    classes = sorted(set(labels) if labels else {g for g, _ in pairs})
    f1s = []
    for c in classes:
        tp = sum(1 for g, p in pairs if g == c and p == c)
        fp = sum(1 for g, p in pairs if g != c and p == c)
        fn = sum(1 for g, p in pairs if g == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s) if f1s else 0.0


def chrf(stats: list[list[int]]) -> float:
    """Corpus chrF from per-example chrf_stats."""
    total = np.sum(np.asarray(stats, dtype=float), axis=0) if stats else np.zeros(3 * CHRF_CHAR_ORDER)
    return float(chrf_from_sums(total))


def parse_json(text: str) -> Any:
    """The answer as JSON (a ```json fence allowed), or None."""
    text = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except (json.JSONDecodeError, RecursionError):
        return None


def flat_fields(obj: Any, prefix: str = "") -> set[tuple[str, str]]:
    """The (dotted path, value) pairs of every leaf of a JSON value."""
    if isinstance(obj, dict):
        return {kv for k, v in obj.items() for kv in flat_fields(v, f"{prefix}{k}.")}
    if isinstance(obj, list):
        return {kv for i, v in enumerate(obj) for kv in flat_fields(v, f"{prefix}{i}.")}
    return {(prefix.rstrip("."), json.dumps(obj).lower())}


def field_counts(hyp: str, ref: str) -> tuple[int, int, int]:
    """(true positive, false positive, false negative) leaf fields of the answer against the reference."""
    gold, pred = flat_fields(parse_json(ref)), parse_json(hyp)
    pred_f = flat_fields(pred) if pred is not None else set()
    return len(gold & pred_f), len(pred_f - gold), len(gold - pred_f)


def field_accuracy(hyp: str, ref: str) -> float:
    """Share of the reference's leaf fields the answer gets exactly right (1.0 for an empty reference)."""
    gold = parse_json(ref)
    fields = flat_fields(gold) if isinstance(gold, (dict, list)) and gold else set()
    if not fields:
        return float(parse_json(hyp) == gold)
    pred = parse_json(hyp)
    return len(fields & (flat_fields(pred) if pred is not None else set())) / len(fields)


def exact(hyp: str, ref: str, task: str) -> float:
    """Equal after whitespace normalisation; for extraction, equal as JSON."""
    if task == "extraction":
        pr = parse_json(ref)
        if pr is not None:
            return float(parse_json(hyp) == pr)
    return float(" ".join(hyp.split()) == " ".join(ref.split()))


def f1_from_sums(t: np.ndarray, empty: float) -> np.ndarray:
    tp, fp, fn = t[..., 0], t[..., 1], t[..., 2]
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.full(denom.shape, empty, dtype=float), where=denom > 0)


@dataclass(frozen=True)
class Metric:
    """vectors(preds, refs, cfg, rows) -> (n, d) counts; value(sums (..., d), n) -> score(s).

    rows: the held-out JSONL rows (user metrics, tests, databases); cfg: the eval config (labels, task_type).
    """

    name: str
    kind: str  # per_item | corpus
    test: str  # the paired test when eval.yaml names none: mcnemar (right/wrong) or sign_flip
    vectors: Callable[[list[str], list[str], dict, list[dict]], np.ndarray]
    value: Callable[[np.ndarray, int], np.ndarray]
    description: str
    pairwise: bool = False  # scores an answer against the base's answer: cfg carries `_against`, `_prompts`


def per_item(name: str, test: str, score: Callable[[str, str, dict], float], description: str) -> Metric:
    def vectors(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
        return np.array([score(h, r, cfg) for h, r in zip(preds, refs, strict=True)], dtype=float).reshape(-1, 1)

    return Metric(name, "per_item", test, vectors, lambda s, n: np.asarray(s)[..., 0] / max(n, 1), description)


def _macro_f1_vectors(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
    gold = [norm_label(r) for r in refs]
    classes = sorted({norm_label(x) for x in cfg.get("labels") or []} or set(gold))
    index = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(refs), len(classes), 3))
    for row, (g, h) in enumerate(zip(gold, preds, strict=True)):
        p = norm_label(h)
        if g == p and g in index:
            out[row, index[g], 0] = 1
            continue
        if p in index:
            out[row, index[p], 1] = 1
        if g in index:
            out[row, index[g], 2] = 1
    return out.reshape(len(refs), -1)


def _macro_f1_value(sums: np.ndarray, n: int) -> np.ndarray:
    s = np.asarray(sums, dtype=float)
    per_class = f1_from_sums(s.reshape(*s.shape[:-1], -1, 3), 0.0)
    return per_class.mean(axis=-1) if per_class.shape[-1] else np.zeros(per_class.shape[:-1])


def _counts(fn: Callable[[str, str], Any]) -> Callable[[list[str], list[str], dict, list[dict]], np.ndarray]:
    def vectors(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
        rows = [fn(h, r) for h, r in zip(preds, refs, strict=True)]
        return np.asarray(rows, dtype=float).reshape(len(rows), -1)

    return vectors


def _mean(s: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(s)[..., 0] / max(n, 1)


def _column(scores: list[float]) -> np.ndarray:
    return np.asarray(scores, dtype=float).reshape(-1, 1)


def _execution(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
    from sql_exec import Scorer

    scorer, rows = Scorer(cfg), rows or [{}] * len(preds)
    return _column([scorer.score(h, r, rows[i] if i < len(rows) else {}, i)
                    for i, (h, r) in enumerate(zip(preds, refs, strict=True))])


def _pass_at_1(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
    from code_exec import pass_at_1

    return _column(pass_at_1(preds, rows, cfg))


def schema_validator(cfg: dict) -> Any:
    """A jsonschema validator for the schema file named by eval.yaml `json_schema` (checked, then cached)."""
    import jsonschema

    path = str(cfg.get("json_schema") or "")
    cached = _VALIDATORS.get(path)
    if cached is None:
        with open(path, encoding="utf-8") as fh:
            schema = json.load(fh)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        cached = _VALIDATORS[path] = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return cached


_VALIDATORS: dict[str, Any] = {}


def require_schema(cfg: dict) -> None:
    """json_schema_validity: a schema file named in eval.yaml, valid JSON Schema, and jsonschema installed."""
    import importlib.util

    from common import UserError

    if not cfg.get("json_schema"):
        raise UserError("json_schema: json_schema_validity needs the JSON Schema file the answers must follow — add "
                        "`json_schema: data/schema.json` to configs/eval.yaml")
    if importlib.util.find_spec("jsonschema") is None:
        raise UserError("json_schema_validity needs the jsonschema package — pip install jsonschema")
    if cfg.get("_dry_run") is False:
        import jsonschema

        try:
            schema_validator(cfg)
        except OSError as exc:
            raise UserError(f"json_schema: cannot read {cfg['json_schema']} ({exc.strerror}) — check the path") \
                from None
        except (ValueError, jsonschema.SchemaError) as exc:
            first = str(exc).splitlines()[0]
            raise UserError(f"json_schema: {cfg['json_schema']} is not a valid JSON Schema ({first})") from None


def _schema_validity(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
    validator, parsed = schema_validator(cfg), [parse_json(h) for h in preds]
    return _column([float(p is not None and validator.is_valid(p)) for p in parsed])


def _win_rate(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
    from judge import win_rate

    against = cfg.get("_against")
    if against is None or against is preds:
        return _column([0.5] * len(preds))  # the base against itself: a tie by construction, nothing to judge
    return _column(win_rate(preds, against, refs, rows, cfg.get("_prompts") or [""] * len(preds), cfg))


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        per_item("accuracy", "mcnemar", lambda h, r, c: float(norm_label(h) == norm_label(r)),
                 "share of answers equal to the reference label"),
        Metric("macro_f1", "corpus", "sign_flip", _macro_f1_vectors, _macro_f1_value,
               "F1 per label averaged over the full label set"),
        Metric("field_f1", "corpus", "sign_flip", _counts(field_counts),
               lambda s, n: f1_from_sums(np.asarray(s, dtype=float), 1.0),
               "micro-F1 over the (field, value) pairs of the JSON answer"),
        per_item("field_accuracy", "sign_flip", lambda h, r, c: field_accuracy(h, r),
                 "share of the reference's fields the JSON answer gets exactly right"),
        per_item("exact_match", "mcnemar", lambda h, r, c: exact(h, r, str(c.get("task_type", ""))),
                 "answer equal to the reference after whitespace normalisation"),
        per_item("json_validity", "mcnemar", lambda h, r, c: float(parse_json(h) is not None),
                 "answer parses as JSON"),
        Metric("json_schema_validity", "per_item", "mcnemar", _schema_validity, _mean,
               "answer parses as JSON and validates against eval.yaml's json_schema (jsonschema)"),
        per_item("rouge_l", "sign_flip", lambda h, r, c: rouge_l(h, r),
                 "ROUGE-L F-measure (longest common subsequence of tokens), as rouge-score computes it"),
        Metric("chrf", "corpus", "sign_flip", _counts(chrf_stats), lambda s, n: chrf_from_sums(s),
               "chrF (character n-gram F-score, beta 2), equal to sacrebleu's CHRF()"),
        Metric("bleu", "corpus", "sign_flip", _counts(bleu_stats), lambda s, n: bleu_from_sums(s),
               "corpus BLEU (13a tokens, 4-grams, exp smoothing), equal to sacrebleu's BLEU()"),
        Metric("execution_accuracy", "per_item", "mcnemar", _execution, _mean,
               "predicted SQL returns the same rows as the reference on the database (read-only)"),
        Metric("pass_at_1", "per_item", "mcnemar", _pass_at_1, _mean,
               "generated code passes the example's tests (runs code: allow_code_execution)"),
        Metric("win_rate", "per_item", "sign_flip", _win_rate, _mean,
               "pairwise LLM-judge win rate of tuned over base, position-swapped, ties 0.5", pairwise=True),
    )
}


def user_metric(name: str, fn: Callable[[str, str, dict], float], test: str) -> Metric:
    """A metric from scripts/user_metrics.py: fn(prediction, reference, example row), averaged per item."""

    def vectors(preds: list[str], refs: list[str], cfg: dict, rows: list[dict]) -> np.ndarray:
        scores = []
        for i, (h, r) in enumerate(zip(preds, refs, strict=True)):
            value = fn(h, r, rows[i] if i < len(rows) else {})
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise TypeError(f"{name}: score() returned {value!r} for example {i + 1}; return a number")
            scores.append(float(value))
        return np.array(scores, dtype=float).reshape(-1, 1)

    return Metric(name, "per_item", test, vectors, lambda s, n: np.asarray(s)[..., 0] / max(n, 1),
                  "the user's own metric (scripts/user_metrics.py)")


def score(metric: Metric, preds: list[str], refs: list[str], cfg: dict, rows: list[dict] | None = None) -> float:
    """The metric over a whole set."""
    v = metric.vectors(preds, refs, cfg, rows or [])
    return float(metric.value(v.sum(axis=0), len(refs)))


def per_example(vectors: Any, metric: Metric) -> list[float]:
    """Each example's own score from its count vector (a corpus metric computed on that example alone)."""
    return [float(x) for x in np.atleast_1d(metric.value(np.asarray(vectors), 1))]
