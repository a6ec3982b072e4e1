"""Paired statistics of the generated evaluation at 10,000 held-out items: today's vectorised scripts/stats.py
against the first wave's pure-Python bootstrap (issue 11, item 3), on the same predictions, in one run.

    python bench/bench_eval_stats.py [--items 10000] [--resamples 2000] [--before 77358c2]

A 14-label classification task (accuracy: McNemar; macro-F1: sign-flip permutation test), base right 60% of the
time and tuned 80%, both with the bootstrap CI. `--before` is the git revision whose evaluate.py is the
yardstick; it is read with `git show`, so the checkout is not touched. Prints seconds and the two results'
deltas (they must agree: same metric, different resampling).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = "scaffolds/open_weights/{{cookiecutter.slug}}/scripts"
LABELS = [f"queue_{i:02d}" for i in range(14)]


def _data(n: int) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(0)
    refs = [rng.choice(LABELS) for _ in range(n)]
    base = [r if rng.random() < 0.6 else rng.choice(LABELS) for r in refs]
    tuned = [r if rng.random() < 0.8 else rng.choice(LABELS) for r in refs]
    return refs, base, tuned


def _before(rev: str, tmp: Path) -> object:
    source = subprocess.run(["git", "show", f"{rev}:{SCRIPTS}/evaluate.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = tmp / "evaluate_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("evaluate_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--before", default="77358c2")
    args = ap.parse_args()
    refs, base, tuned = _data(args.items)

    sys.path.insert(0, str(ROOT / SCRIPTS))
    import report
    from metrics import METRICS

    metrics = {m: METRICS[m] for m in ("accuracy", "macro_f1")}
    cfg = {"task_type": "classification", "labels": LABELS, "metrics": {"accuracy": {}, "macro_f1": {}},
           "statistics": {"bootstrap_resamples": args.resamples, "permutation_resamples": args.resamples,
                          "seed": 0}}
    examples = [{"reference": r} for r in refs]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        now = report.compare(cfg, metrics, report.vectors(metrics, base, examples, cfg),
                             report.vectors(metrics, tuned, examples, cfg))
        best = min(best, time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        old = _before(args.before, Path(tmp))
        old_cfg = {"task_type": "classification", "labels": LABELS, "metrics": ["accuracy", "macro_f1"],
                   "bootstrap": {"resamples": args.resamples, "seed": 0}}
        start = time.perf_counter()
        then = old.compare(old_cfg, refs, base, tuned)  # type: ignore[attr-defined]
        before_s = time.perf_counter() - start

    print(f"{args.items:,} items, {args.resamples:,} bootstrap resamples + {args.resamples:,} permutations, "
          "accuracy (McNemar) + macro-F1 over 14 labels (sign-flip)")
    print(f"  before ({args.before}, pure Python): {before_s:7.2f} s")
    print(f"  now (scripts/stats.py, numpy):      {best:7.2f} s (best of 3)   {before_s / best:.0f}x faster")
    for name in metrics:
        print(f"  {name}: delta {then[name]['delta']:+.4f} before, {now[name]['delta']:+.4f} now; "
              f"95% CI {then[name]['ci95'][0]:+.4f}..{then[name]['ci95'][1]:+.4f} before, "
              f"{now[name]['ci'][0]:+.4f}..{now[name]['ci'][1]:+.4f} now")
    return 0


if __name__ == "__main__":
    sys.exit(main())
