"""The reports' pictures as PNG files: evaluation deltas with their intervals, token lengths, loss curves.

    python scripts/charts.py reports/eval_report.json      # -> reports/eval_report.png
    python scripts/charts.py smoke/reports/eval_report.json

validate_data.py and train.py draw their own charts through this module. matplotlib is optional (it is in the
training extra): without it every function returns a one-line note saying how to get the charts, and the
reports are unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MISSING = "no chart: matplotlib is not installed (pip install matplotlib, or the training extra)"
GOOD, BAD, NEUTRAL = "#009E73", "#D55E00", "#0072B2"  # Okabe-Ito: readable with colour-vision deficiencies


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _plain(text: Any) -> str:
    """Text from the data (a file name, a label) as matplotlib shows it literally: a `$` pair would be read as
    mathematics, and some such text (`$\\x$`) makes saving the figure fail."""
    return str(text).replace("$", r"\$")


def _save(plt: Any, fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"chart: {path}"


def token_lengths(lengths: dict[str, list[int]], max_length: int | None, path: Path) -> str:
    """One histogram per file of tokens per example, with the training limit marked."""
    plt = _pyplot()
    if plt is None:
        return MISSING
    fig, ax = plt.subplots(figsize=(7, 3.6))
    every = [v for values in lengths.values() for v in values]
    lo, hi = (min(every), max(every)) if every else (0, 1)
    step = max(1, -(-(hi - lo + 1) // 40))  # whole tokens per bin, at most 40 bins, the same for every file
    bins = list(range(lo, hi + step + 1, step))
    for (name, values), colour in zip(lengths.items(), (NEUTRAL, "#E69F00", "#CC79A7"), strict=False):
        if len(values):
            ax.hist(values, bins=bins, alpha=0.6, color=colour, label=f"{_plain(Path(name).name)} ({len(values):,})")
    if max_length:
        ax.axvline(max_length, color=BAD, linestyle="--", linewidth=2)
        ax.annotate(f"max_length {max_length}", (max_length, 1), xycoords=("data", "axes fraction"),
                    xytext=(-4, -14), textcoords="offset points", ha="right", color=BAD)
    ax.set_xlabel("tokens per example (prompt + answer)")
    ax.set_ylabel("examples")
    ax.set_title("Token lengths")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)
    return _save(plt, fig, path)


def _per_class_f1(matrix: dict[str, dict[str, int]]) -> dict[str, float]:
    out = {}
    for label, row in matrix.items():
        tp = row.get(label, 0)
        fn = sum(row.values()) - tp
        fp = sum(r.get(label, 0) for g, r in matrix.items() if g != label)
        out[label] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return out


def eval_deltas(report: dict[str, Any], path: Path) -> str:
    """Tuned - base per metric with its paired interval (and per-class F1 of the tuned model for labels)."""
    plt = _pyplot()
    if plt is None:
        return MISSING
    metrics = report.get("metrics") or {}
    matrix = (report.get("error_analysis") or {}).get("confusion_matrix")
    panels = 2 if matrix else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 0.5 * max(len(metrics), len(matrix or {})) + 2),
                             squeeze=False)
    ax = axes[0][0]
    names = list(metrics)
    level = f"{next(iter(metrics.values())).get('confidence', 0.95):.0%}" if metrics else "95%"
    for i, name in enumerate(names):
        m = metrics[name]
        lo, hi = m["ci"]
        colour = GOOD if lo > 0 else BAD if hi < 0 else NEUTRAL
        ax.errorbar(m["delta"], i, xerr=[[m["delta"] - lo], [hi - m["delta"]]], fmt="o", color=colour,
                    capsize=4)
    ax.axvline(0, color="#555", linewidth=1)
    ax.set_yticks(range(len(names)), [_plain(n) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel(f"tuned − base, with the {level} paired interval")
    ax.set_title("Better than the base model?" if not report.get("baseline_only") else "Few-shot − zero-shot")
    if matrix:
        f1 = _per_class_f1(matrix)
        bx = axes[0][1]
        bx.barh([_plain(k) for k in f1], list(f1.values()), color=NEUTRAL)
        bx.set_xlim(0, 1)
        bx.invert_yaxis()
        bx.set_xlabel("F1 of the tuned model")
        bx.set_title("Per class")
    return _save(plt, fig, path)


def loss_curves(log_history: list[dict[str, Any]], path: Path) -> str:
    """Training and validation loss by step, from the trainer's log (trainer_state.json log_history)."""
    plt = _pyplot()
    if plt is None:
        return MISSING
    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    if not train and not evals:
        return "no chart: the trainer logged no loss (raise logging_steps' frequency)"
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if train:
        ax.plot(*zip(*train, strict=True), color=NEUTRAL, label="training loss")
    if evals:
        ax.plot(*zip(*evals, strict=True), color="#E69F00", marker="o", label="validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("Loss curves")
    ax.legend(frameon=False)
    return _save(plt, fig, path)


def cli(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    from common import UserError, check_output, read_text, shown

    report = Path(args[0])
    try:
        data = json.loads(read_text(report, 256 << 20))
    except json.JSONDecodeError as exc:
        raise UserError(f"{shown(report)}: not JSON ({exc.msg}) — pass a report of scripts/evaluate.py") from None
    except ValueError as exc:  # not a file, not UTF-8, an integer of thousands of digits
        raise UserError(str(exc)) from None
    except RecursionError:
        raise UserError(f"{shown(report)}: JSON nested too deeply — pass a report of scripts/evaluate.py") from None
    check_output(report.with_suffix(".png"), "the chart")
    try:
        print(eval_deltas(data, report.with_suffix(".png")))
    except (AttributeError, KeyError, TypeError, ValueError, IndexError, StopIteration) as exc:
        raise UserError(f"{shown(report)}: not a report of scripts/evaluate.py ({type(exc).__name__}: "
                        f"{shown(str(exc)[:80])}) — pass reports/eval_report.json or baseline_report.json") from None
    return 0


if __name__ == "__main__":
    from common import run

    run(cli)
