"""Planner start-up against its yardsticks, measured in one run (issue 4, item 1).

    python bench/startup.py [--runs 7]

Compares, as whole processes (CPU seconds and wall seconds, the minimum and median of N runs, interleaved so
machine noise hits every command alike):
  imports   python -c "import typer, pydantic, jinja2, yaml"      (the yardstick: plan <= 2x)
  plan      ftplan plan configs/examples/support_triage.yaml
  scaffold  ftplan scaffold configs/examples/support_triage.yaml -o TMP
  bare-cc   cookiecutter --no-input of the same template (context from tests/fixtures/scaffold_context.json)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "configs" / "examples" / "support_triage.yaml"


def _run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    py = sys.executable
    work = Path(tempfile.mkdtemp(prefix="ftplan-bench-"))
    template = work / "template"
    shutil.copytree(ROOT / "scaffolds" / "open_weights", template)
    ctx = json.loads((ROOT / "tests" / "fixtures" / "scaffold_context.json").read_text())
    ctx["_copy_without_render"] = ["scripts/*", "tests/*", "data/*", "Makefile"]
    (template / "cookiecutter.json").write_text(json.dumps(ctx))
    cookiecutter = str(Path(py).parent / "cookiecutter")
    commands = {
        "imports": [py, "-c", "import typer, pydantic, jinja2, yaml"],
        "plan": [py, "-m", "generator.cli", "plan", str(EXAMPLE), "--today", "2026-11-25", "-o",
                 str(work / "STRATEGY.md")],
        "scaffold": [py, "-m", "generator.cli", "scaffold", str(EXAMPLE), "--today", "2026-11-25", "--force",
                     "-o", str(work / "repo")],
        "bare-cc": [cookiecutter, "--no-input", "-f", "-o", str(work / "cc"), str(template)],
    }
    for cmd in commands.values():  # warm-up: page cache, .pyc files, Jinja's bytecode cache
        _run(cmd, ROOT)
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            samples[name].append(_run(cmd, ROOT))
    shutil.rmtree(work, ignore_errors=True)
    out = {}
    for name, rows in samples.items():
        cpu = [c for c, _ in rows]
        wall = [w for _, w in rows]
        out[name] = {"cpu_min": min(cpu), "cpu_median": statistics.median(cpu), "wall_min": min(wall),
                     "wall_median": statistics.median(wall)}
    base = out["imports"]
    for name in out:
        out[name]["cpu_ratio_to_imports"] = out[name]["cpu_median"] / base["cpu_median"]
        out[name]["wall_ratio_to_imports"] = out[name]["wall_median"] / base["wall_median"]
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{'command':<10} {'cpu min':>8} {'cpu med':>8} {'wall min':>9} {'wall med':>9} {'cpu x':>6} {'wall x':>7}")
    for name, r in out.items():
        print(f"{name:<10} {r['cpu_min']:8.3f} {r['cpu_median']:8.3f} {r['wall_min']:9.3f} {r['wall_median']:9.3f} "
              f"{r['cpu_ratio_to_imports']:6.2f} {r['wall_ratio_to_imports']:7.2f}")


if __name__ == "__main__":
    main()
