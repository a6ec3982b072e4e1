"""scripts/ab_analysis.py: statistics against published values, then one synthetic log per decision.

pytest tests/test_ab_analysis.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import ab_analysis as ab  # noqa: E402

CONFIG = {
    "sample_size_per_arm": 2000,
    "split": {"control": 0.5, "treatment": 0.5},
    "srm_alpha": 0.001,
    "min_lift": 0.0,
    "guardrails": {"p95_latency_ms": 300, "error_rate": 0.01, "cost_per_request_usd": 0.0004},
}


def test_newcombe_matches_the_paper() -> None:
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10 -> +0.0524 to +0.3339
    lo, hi = ab.newcombe(48, 80, 56, 70)
    assert lo == pytest.approx(0.0524, abs=1e-4) and hi == pytest.approx(0.3339, abs=1e-4)


def test_srm_and_two_proportion_p() -> None:
    assert ab.srm_p_value(5000, 5000, 0.5) == 1.0
    # 5200 vs 4800 under 50/50: chi2 = 2 * 200^2 / 5000 = 16 -> p = 6.3e-5 (chi-square table, 1 df)
    assert ab.srm_p_value(4800, 5200, 0.5) == pytest.approx(6.334e-5, rel=1e-3)
    assert ab.srm_p_value(9500, 500, 0.05) == 1.0  # a 5% canary is not a mismatch
    # 50/100 vs 65/100: pooled 0.575, z = 0.15 / sqrt(0.575 * 0.425 * 0.02) = 2.1456 -> p = 0.03191
    assert ab.two_proportion_p(50, 100, 65, 100) == pytest.approx(0.03191, rel=1e-3)
    assert ab.p95(list(range(1, 101))) == 95


def write_log(path: Path, arms: dict[str, tuple[int, float, float, float]]) -> Path:
    """arms: variant -> (n, success rate, p95-ish latency in ms, cost); deterministic rows."""
    rows = []
    for variant, (n, rate, latency, cost) in arms.items():
        wins = round(n * rate)
        for i in range(n):
            rows.append(
                {
                    "variant": variant,
                    "success": int(i < wins),
                    "latency_ms": latency * (0.5 + (i % 20) / 40),
                    "cost": cost,
                    "error": 0,
                }
            )
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(
            "variant,success,latency_ms,cost,error\n"
            + "".join(
                f"{r['variant']},{str(bool(r['success'])).lower()},{r['latency_ms']},{r['cost']},{r['error']}\n"
                for r in rows
            )
        )
    return path


def run(tmp_path: Path, log: Path, cfg: dict | None = None) -> tuple[int, dict, str]:
    config = tmp_path / "rollout.yaml"
    config.write_text(json.dumps(cfg or CONFIG))
    report = tmp_path / "ab.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/ab_analysis.py"),
            str(log),
            "--config",
            str(config),
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
    )
    return (
        proc.returncode,
        json.loads(report.read_text()) if report.exists() else {},
        proc.stdout + proc.stderr,
    )


def test_ship(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.csv", {"control": (2500, 0.84, 200, 0.0003), "treatment": (2500, 0.89, 200, 0.0002)}
    )
    code, rep, out = run(tmp_path, log)
    assert code == 0 and rep["decision"] == "ship" and "DECISION: SHIP" in out
    assert rep["lift"] == pytest.approx(0.05) and rep["lift_ci95"][0] > 0


def test_keep_running_when_the_sample_is_short(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.jsonl", {"control": (600, 0.84, 200, 0.0003), "treatment": (600, 0.86, 200, 0.0003)}
    )
    code, rep, _ = run(tmp_path, log)
    assert code == 3 and rep["decision"] == "keep running" and rep["sample_size_reached"] is False


def test_roll_back_when_the_lift_is_negative(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.csv", {"control": (2500, 0.84, 200, 0.0003), "treatment": (2500, 0.78, 200, 0.0003)}
    )
    code, rep, _ = run(tmp_path, log)
    assert code == 4 and rep["lift_ci95"][1] < 0


def test_roll_back_when_the_full_sample_shows_no_lift(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.csv", {"control": (2500, 0.84, 200, 0.0003), "treatment": (2500, 0.845, 200, 0.0003)}
    )
    code, rep, _ = run(tmp_path, log)
    assert (
        code == 4 and rep["lift_ci95"][0] < 0 < rep["lift_ci95"][1] and "no improvement" in rep["reasons"][0]
    )


def test_roll_back_on_a_guardrail_breach(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.csv", {"control": (2500, 0.84, 200, 0.0003), "treatment": (2500, 0.90, 400, 0.0003)}
    )
    code, rep, _ = run(tmp_path, log)
    assert code == 4 and "p95_latency_ms" in rep["reasons"][0]
    assert [g["passed"] for g in rep["guardrails"]] == [False, True, True]


def test_roll_back_on_sample_ratio_mismatch(tmp_path: Path) -> None:
    log = write_log(
        tmp_path / "o.csv", {"control": (2600, 0.84, 200, 0.0003), "treatment": (2300, 0.90, 200, 0.0003)}
    )
    code, rep, _ = run(tmp_path, log)
    assert code == 4 and rep["srm"]["p_value"] < 0.001 and "sample-ratio mismatch" in rep["reasons"][0]
    # the same counts are fine when the plan split traffic 53/47
    code, rep, _ = run(tmp_path, log, {**CONFIG, "split": {"treatment": 2300 / 4900}})
    assert code == 0 and rep["srm"]["p_value"] > 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("variant,success,latency_ms,cost\nblue,1,10,0.1\n", "variant='blue'"),
        ("variant,success,latency_ms\ncontrol,1,10\n", "missing column(s) ['cost']"),
        ("variant,success,latency_ms,cost\ncontrol,maybe,10,0.1\n", "success='maybe'"),
        ("variant,success,latency_ms,cost\ncontrol,1,10,0.1\n", "no rows for ['treatment']"),
    ],
)
def test_bad_input_exits_1_with_the_field(tmp_path: Path, content: str, message: str) -> None:
    log = tmp_path / "o.csv"
    log.write_text(content)
    code, _, out = run(tmp_path, log)
    assert code == 1 and message in out and "Traceback" not in out


def test_shipped_rollout_config_is_usable() -> None:
    cfg = ab.load_config("rollout", ROOT / "configs/rollout.yaml")
    assert (
        cfg["sample_size_per_arm"] > 0 and 0 < cfg["srm_alpha"] < 1 and cfg["stages"][0]["traffic_pct"] == 0
    )
