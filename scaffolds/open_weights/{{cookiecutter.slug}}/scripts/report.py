"""What the evaluation reports: paired comparisons per metric, gates, error analysis and the Markdown report."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import stats
from common import UserError
from metrics import METRICS, Metric, flat_fields, norm_label, parse_json, per_example

OTHER_LABEL = "<other>"  # a prediction outside the label set


def vectors(metrics: dict[str, Metric], outputs: list[str], examples: list[dict], cfg: dict,
            against: list[str] | None = None) -> dict:
    """Per-example count vectors of every metric for one system's outputs; a pairwise metric (win_rate)
    scores them against `against`, the base model's zero-shot answers (the base itself scores 0.5)."""
    refs, rows = [e["reference"] for e in examples], [e.get("row") or {} for e in examples]
    pair = {**cfg, "_against": against if against is not None else outputs,
            "_prompts": [str(e["prompt"][-1].get("content", "")) if e.get("prompt") else "" for e in examples]}
    return {name: m.vectors(outputs, refs, pair if m.pairwise else cfg, rows) for name, m in metrics.items()}


def compare(cfg: dict, metrics: dict[str, Metric], base: dict, tuned: dict) -> dict[str, dict]:
    """Paired statistics of every metric, with the test configs/eval.yaml names for it (shared resamples)."""
    items = {name: (base[name], tuned[name], m.value, test_of(cfg, name, m)) for name, m in metrics.items()}
    try:
        return stats.paired_many(items, stats.settings(cfg))
    except ValueError as exc:
        raise UserError(f"metrics.{exc}") from None


def test_of(cfg: dict, name: str, metric: Metric) -> str:
    spec = (cfg.get("metrics") or {}).get(name) if isinstance(cfg.get("metrics"), dict) else None
    return str((spec or {}).get("test") or metric.test)


def probe_correct(hyp: str, ref: str) -> float:
    """Right if the answer's first line is the reference or contains it as a whole word."""
    line, want = norm_label(hyp), norm_label(ref)
    return float(line == want or re.search(rf"(?<!\w){re.escape(want)}(?!\w)", line) is not None)


def error_analysis(cfg: dict, metrics: dict[str, Metric], examples: list[dict], base_out: list[str],
                   tuned_out: list[str], base: dict, tuned: dict) -> dict:
    """What the tuned model still gets wrong, and what data would fix it."""
    task, primary, refs = cfg["task_type"], cfg["primary_metric"], [e["reference"] for e in examples]
    metric = metrics[primary]
    if task == "classification":
        acc = METRICS["accuracy"]
        per_ex = per_example(acc.vectors(tuned_out, refs, cfg, []), acc)
    else:
        per_ex = per_example(tuned[primary], metric)
    order = sorted(range(len(refs)), key=lambda i: per_ex[i])
    worst = [
        {"index": i, "input": str(examples[i]["prompt"][-1]["content"])[:300], "reference": refs[i],
         "base": base_out[i], "tuned": tuned_out[i], "score": per_ex[i]}
        for i in order if per_ex[i] < 1.0
    ][: int(cfg.get("max_error_examples", 20))]
    out: dict[str, Any] = {"wrong_examples": worst, "n_wrong": sum(v < 1.0 for v in per_ex), "advice": []}
    if task == "classification":
        labels = sorted({norm_label(x) for x in (cfg.get("labels") or [])} | {norm_label(r) for r in refs})
        matrix = {g: dict.fromkeys(labels + [OTHER_LABEL], 0) for g in labels}
        for r, h in zip(refs, tuned_out, strict=True):
            p = norm_label(h)
            matrix[norm_label(r)][p if p in labels else OTHER_LABEL] += 1
        out["confusion_matrix"] = matrix
        pairs = Counter({(g, p): n for g, row in matrix.items() for p, n in row.items() if p != g and n})
        for (g, p), n in pairs.most_common(3):
            these = f"{n} '{g}' example{'s' if n != 1 else ''}"
            out["advice"].append(
                f"{these} {'were' if n != 1 else 'was'} labelled '{p}': add examples that contrast '{g}' with "
                f"'{p}', and check the guidelines for the boundary between them" if p != OTHER_LABEL else
                f"{these} got an answer outside the label set: add more '{g}' examples and keep the answer "
                "format to exactly one label")
    elif task == "extraction":
        missing = Counter(k for h, r in zip(tuned_out, refs, strict=True)
                          for k, _ in flat_fields(parse_json(r))
                          - (flat_fields(parse_json(h)) if parse_json(h) is not None else set()))
        invalid = sum(parse_json(h) is None for h in tuned_out)
        out["missed_fields"] = dict(missing.most_common(10))
        if invalid:
            out["advice"].append(f"{invalid} output{'s were' if invalid != 1 else ' was'} not valid JSON: add "
                                 "examples with the exact schema")
        for k, n in missing.most_common(3):
            out["advice"].append(f"field '{k}' was wrong or missing {n} time{'s' if n != 1 else ''}: add examples "
                                 "where it is filled")
    slices = sorted({e["slice"] for e in examples if e.get("slice")})
    if slices:
        out["slices"] = {}
        for s in slices:
            idx = np.array([i for i, e in enumerate(examples) if e.get("slice") == s])
            b = float(metric.value(base[primary][idx].sum(axis=0), len(idx)))
            t = float(metric.value(tuned[primary][idx].sum(axis=0), len(idx)))
            out["slices"][s] = {"n": len(idx), "base": b, "tuned": t}
        weakest = min(slices, key=lambda s: out["slices"][s]["tuned"])
        if len(slices) > 1 and out["slices"][weakest]["tuned"] < max(v["tuned"] for v in out["slices"].values()):
            w = out["slices"][weakest]
            out["advice"].append(f"weakest slice '{weakest}' ({primary} {w['tuned']:.3f} on {w['n']} examples): "
                                 "collect more examples from it")
    if not out["advice"] and worst:
        out["advice"].append(f"add examples like the {len(worst)} lowest-scoring ones listed below")
    if not worst:
        out["advice"].append("the tuned model gets every held-out example right: add harder and rarer cases to "
                             "the held-out set before trusting the gates")
    return out


def forgetting_passed(probe: dict, max_drop: float) -> bool:
    """The forgetting gate: fail only when the drop is real AND larger than allowed.

    Real: the paired bootstrap interval of the drop (base - tuned) lies above 0, i.e. the probe is worse with
    95% confidence; larger than allowed: the point drop exceeds max_drop. A gate on the point alone fails
    about 1 run in 7 on a 42-item probe with no forgetting at all (sampling noise of a few items); a gate on
    the interval's upper end fails most such runs. This rule fails an unchanged model at most ~2.5% of the
    time (the one-sided error of the interval; tests/test_stats.py simulates it), and the report prints the
    interval's upper end: the most forgetting the probe cannot rule out (a larger probe narrows it).
    """
    return not (probe["drop_ci"][0] > 0 and probe["drop"] > max_drop)


def gate_results(cfg: dict, metrics: dict, probe: dict | None) -> list[dict]:
    """Each gate of configs/eval.yaml with its value and result."""
    results = []
    for g in cfg.get("gates") or []:
        op, threshold = g["op"], g["threshold"]
        if g["metric"] == "forgetting_probe":
            value = probe["drop"] if probe else None
            passed = probe is not None and forgetting_passed(probe, threshold)
        else:
            value = metrics[g["metric"]]["tuned" if op == ">=" else "ci"]
            value = value if op == ">=" else value[0]
            passed = value >= threshold if op == ">=" else value > threshold
        results.append({"metric": g["metric"], "op": op, "threshold": threshold, "value": value,
                        "passed": passed, "reason": g.get("reason", "")})
    return results


TEST_NAMES = {"mcnemar": "McNemar", "sign_flip": "sign-flip permutation"}


def gate_text(g: dict, level: str) -> str:
    """A gate as a sentence: `macro_f1 >= 0.9` -> "tuned macro_f1 must be at least 0.9"."""
    if g["metric"] == "forgetting_probe":
        return (f"the forgetting probe may not drop by more than {g['threshold']} (with the {level} CI of the "
                "drop above 0)")
    if g["op"] == ">=":
        return f"tuned {g['metric']} must be at least {g['threshold']}"
    return f"the lower end of the {level} CI of tuned − base {g['metric']} must be above {g['threshold']}"


def synthetic(report: dict) -> bool:
    """The smoke run: data made by scripts/make_tiny_model.py under smoke/, not the user's."""
    cfg = report.get("config") or {}
    return bool(cfg.get("synthetic")) or str(cfg.get("heldout", "")).replace("\\", "/").startswith("smoke/")


def markdown(report: dict, a: str, b: str) -> str:
    level = f"{next(iter(report['metrics'].values()))['confidence']:.0%}" if report["metrics"] else "95%"
    lines = [
        f"# {'Baseline' if report['baseline_only'] else 'Evaluation'} report",
        "",
        f"{report['n_examples']} held-out examples, task `{report['task_type']}`, primary metric "
        f"`{report['primary_metric']}`. Paired comparison: {a} vs {b}.",
        "",
        *(["> Smoke run: synthetic data and a tiny model made by scripts/make_tiny_model.py. These numbers "
           "prove the pipeline runs; they say nothing about your task.", ""] if synthetic(report) else []),
        f"| metric | {a} | {b} | delta | {level} CI (paired bootstrap) | p | test |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in report["metrics"].items():
        lines.append(
            f"| {name} | {m['base']:.4f} | {m['tuned']:.4f} | {m['delta']:+.4f} | "
            f"[{m['ci'][0]:+.4f}, {m['ci'][1]:+.4f}] | {m['p_value']:.4g} | {TEST_NAMES.get(m['test'], m['test'])} |"
        )
    if "win_rate" in report["metrics"]:
        w = report["metrics"]["win_rate"]
        lines += ["", f"win_rate: the judge compares {b} with {a} answer by answer, so {a} is 0.5 by construction; "
                  f"{b}'s win rate over {a} is {w['tuned']:.4f} ({level} CI [{0.5 + w['ci'][0]:.4f}, "
                  f"{0.5 + w['ci'][1]:.4f}]; ties and order-dependent verdicts count 0.5)."]
    if report.get("probe"):
        p = report["probe"]
        lines += [
            "",
            f"Forgetting probe ({p['n']} items, {p.get('source', 'bundled probe')}): base {p['base']:.3f}, "
            f"tuned {p['tuned']:.3f}, drop {p['drop']:+.3f} ({level} CI [{p['drop_ci'][0]:+.3f}, "
            f"{p['drop_ci'][1]:+.3f}], p {p['p_value']:.3g}). The gate fails only when the interval lies above 0 "
            "and the drop exceeds its limit; the interval's upper end is the most forgetting this probe cannot "
            "rule out.",
        ]
    if report.get("prompting_meets_target") is not None:
        lines += [
            "",
            "Prompting already meets the target: fine-tuning may not be needed (see STRATEGY.md)."
            if report["prompting_meets_target"]
            else "Prompting does not meet the target on this held-out set: the baseline to beat is above.",
        ]
    vs_few = (report.get("tuned_vs_few_shot") or {}).get(report["primary_metric"])
    if vs_few:
        lines += [
            "",
            f"Tuned vs few-shot prompting on {report['primary_metric']}: {vs_few['delta']:+.4f} "
            f"({level} CI [{vs_few['ci'][0]:+.4f}, {vs_few['ci'][1]:+.4f}], p {vs_few['p_value']:.3g}).",
        ]
    if report.get("gates"):
        lines += ["", "| gate | value | result |", "|---|---|---|"]
        for g in report["gates"]:
            v = "n/a" if g["value"] is None else f"{g['value']:.4f}"
            lines.append(f"| {gate_text(g, level)} | {v} | {'PASS' if g['passed'] else 'FAIL'} |")
        lines += ["", f"**Overall: {'PASS' if report['passed'] else 'FAIL'}**"]
    ea = report.get("error_analysis") or {}
    if ea.get("advice"):
        lines += ["", "## What data to add next", ""] + [f"- {x}" for x in ea["advice"]]
    if ea.get("confusion_matrix"):
        cols = list(next(iter(ea["confusion_matrix"].values())))
        lines += [
            "",
            "## Confusion matrix (rows: reference, columns: tuned answer)",
            "",
            "| | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        lines += [
            f"| {g} | " + " | ".join(str(row[c]) for c in cols) + " |"
            for g, row in ea["confusion_matrix"].items()
        ]
    if ea.get("wrong_examples"):
        lines += [
            "",
            f"## Examples the {b} model gets wrong (first {len(ea['wrong_examples'])})",
            "",
            f"| input | reference | {a} | {b} |",
            "|---|---|---|---|",
        ]
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")[:120]  # noqa: E731
        lines += [
            f"| {cell(w['input'])} | {cell(w['reference'])} | {cell(w['base'])} | {cell(w['tuned'])} |"
            for w in ea["wrong_examples"]
        ]
    return "\n".join(lines) + "\n"


