"""Evaluation throughput: batched generation against one example at a time (issue 4, item 4).

    python bench/bench_eval.py [--repeats 3] [--batch 16]

Bakes the bundled example into a temporary folder, builds its tiny smoke model and data, then runs the
generated `scripts/evaluate.py --profile smoke --baseline-only` with `--batch-size 16` and `--batch-size 1`,
alternating, each into a fresh output folder (no cache). It reports the generation rate evaluate.py itself
measures (examples/s of the zero-shot pass, model loading excluded) and the ratio per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_eval(repo: Path, batch: int, out: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "scripts/evaluate.py", "--config", "configs/eval.yaml", "--profile", "smoke",
                    "--baseline-only", "--batch-size", str(batch), "--output-dir", str(out)],
                   cwd=repo, env=env, check=True, capture_output=True)
    report = json.loads((out / "baseline_report.json").read_text())
    timings = report["timings"]
    zero = next(v for k, v in timings.items() if isinstance(v, dict) and "zero" in k)
    return float(zero["examples_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ftplan-bench-eval-"))
    repo = work / "repo"
    example = ROOT / "configs" / "examples" / "support_triage.yaml"
    subprocess.run([sys.executable, "-m", "generator.cli", "scaffold", str(example), "-o", str(repo),
                    "--today", "2026-11-25"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["make", "smoke-data", f"PYTHON={sys.executable}"], cwd=repo, check=True, capture_output=True)
    batched, single, ratios = [], [], []
    for i in range(args.repeats):
        b = run_eval(repo, args.batch, work / f"b{i}")
        s = run_eval(repo, 1, work / f"s{i}")
        batched.append(b)
        single.append(s)
        ratios.append(b / s)
        print(f"pair {i + 1}: batch {args.batch} {b:.1f} ex/s, batch 1 {s:.1f} ex/s, ratio {b / s:.2f}")
    print(f"median: batch {args.batch} {statistics.median(batched):.1f} ex/s, batch 1 {statistics.median(single):.1f} "
          f"ex/s, ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f})")


if __name__ == "__main__":
    main()
