"""pass@1 of code answers: each held-out example's tests run on the generated code in a subprocess
(Chen et al. 2021, HumanEval; one greedy sample per problem, so pass@1 is the share of problems that pass).

This RUNS CODE THE MODEL WROTE. It is off until configs/eval.yaml says `allow_code_execution: true`; each
program runs in a fresh temporary folder with `python -I`, an empty environment (no proxies, no keys), and
CPU-time and memory limits (`code_execution: {timeout_s, memory_mb}`). That is a guard, not a sandbox: the
code can still reach the network and the file system as your user, so run the evaluation in a container or
a throw-away VM when the model is not trusted.

A held-out row carries its tests as `tests` (Python source that asserts, run after the answer's code) or
`test_cases` (a list of such statements). The answer's code is its first ```python fence, or the whole answer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import UserError

DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB = 10.0, 1024
FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)
WARNING = ("WARNING: allow_code_execution is true — pass_at_1 runs the code the model generated on this "
           "machine (time and memory limits, no sandbox). Run it in a container if the model is not trusted.")


def extract_code(text: str) -> str:
    m = FENCE.search(text)
    return (m.group(1) if m else text).strip("\n")


def tests_of(row: dict, index: int) -> str:
    if isinstance(row.get("tests"), str) and row["tests"].strip():
        return row["tests"]
    cases = row.get("test_cases")
    if isinstance(cases, list) and cases and all(isinstance(c, str) for c in cases):
        return "\n".join(cases)
    raise UserError(f"heldout: example {index + 1}: pass_at_1 needs the row's tests — add `tests` (Python that "
                    "asserts) or `test_cases` (a list of assert statements) to each held-out row")


def require_opt_in(cfg: dict) -> None:
    if cfg.get("allow_code_execution") is not True:
        raise UserError("allow_code_execution: pass_at_1 runs the generated code — set `allow_code_execution: "
                        "true` in configs/eval.yaml to allow it (read scripts/code_exec.py first), or drop "
                        "pass_at_1 from metrics")


def _limits(cpu_s: int, memory_mb: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        mem = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_one(code: str, tests: str, timeout_s: float, memory_mb: int) -> bool:
    """True when the program (the answer's code, then the tests) exits 0 within the limits."""
    with tempfile.TemporaryDirectory(prefix="pass_at_1_") as tmp:
        program = Path(tmp) / "solution.py"
        program.write_text(f"{code}\n\n{tests}\n", encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "PYTHONDONTWRITEBYTECODE": "1",
               "NO_PROXY": "*", "no_proxy": "*"}
        try:
            done = subprocess.run([sys.executable, "-I", str(program)], cwd=tmp, env=env, capture_output=True,
                                  timeout=timeout_s + 1, stdin=subprocess.DEVNULL,
                                  preexec_fn=_limits(max(1, int(timeout_s)), memory_mb) if os.name == "posix"
                                  else None)
        except (subprocess.TimeoutExpired, OSError):
            return False
        return done.returncode == 0


def pass_at_1(preds: list[str], rows: list[dict], cfg: dict) -> list[float]:
    """1.0 per example whose tests pass on the generated code; run in parallel, one process per example."""
    require_opt_in(cfg)
    tests = [tests_of(row, i) for i, row in enumerate(rows[: len(preds)])]
    if len(tests) < len(preds):
        raise UserError("heldout: pass_at_1 needs the held-out rows (with their tests) beside the answers")
    print(WARNING, file=sys.stderr)
    limits = cfg.get("code_execution") or {}
    timeout_s = float(limits.get("timeout_s", DEFAULT_TIMEOUT_S))
    memory_mb = int(limits.get("memory_mb", DEFAULT_MEMORY_MB))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        ok = pool.map(lambda p: run_one(extract_code(p[0]), p[1], timeout_s, memory_mb), zip(preds, tests, strict=True))
        return [float(x) for x in ok]
