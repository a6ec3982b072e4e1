"""Decide an A/B test of the tuned model from logged outcomes: ship, keep running, or roll back.

Run from the repository root:

    python scripts/ab_analysis.py outcomes.csv --dry-run                # check config and file only
    python scripts/ab_analysis.py outcomes.csv                          # uses configs/rollout.yaml
    python scripts/ab_analysis.py outcomes.jsonl --config configs/rollout.yaml --report reports/ab.json

OUTCOMES is CSV (with a header) or JSONL, one request per row: variant (control|treatment), success (0/1,
true/false), latency_ms, cost; optional error (0/1) and format_valid (0/1) feed those guardrails.
Exit code: 0 ship, 3 keep running, 4 roll back, 1 bad input. configs/rollout.yaml and the outcome rows are
checked by scripts/schemas.py: an unknown key or a bad value is an error naming the file and key.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

import schemas  # noqa: E402
from common import UserError, check_output, load_config, refuse_overwrite, report_dry_run, run, shown  # noqa: E402

Z_95 = 1.959964  # two-sided 95% normal quantile
P95 = 0.95  # the latency guardrail is on the 95th percentile (nearest-rank)
EXIT = {"ship": 0, "keep running": 3, "roll back": 4}
MAX_PROBLEMS = 20  # bad rows listed before the rest are counted


def load_outcomes(path: Path) -> dict[str, list[dict]]:
    """Rows grouped by arm, each with success, latency_ms, cost and the optional error/format_valid."""
    rows, problems = schemas.read_outcomes(path)
    arms: dict[str, list[dict]] = {"control": [], "treatment": []}
    for n, row in enumerate(rows, 1):
        parsed, bad = schemas.parse_outcome(row, f"row {n}")
        problems += bad
        if parsed is not None:
            arms[parsed.pop("variant")].append(parsed)
    if problems:
        name = shown(path)
        more = f"\n{name}: ... and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
        raise UserError("\n".join(f"{name}: {shown(p)}" for p in problems[:MAX_PROBLEMS]) + more)
    empty = [a for a, r in arms.items() if not r]
    if empty:
        raise UserError(f"{shown(path)}: no rows for {empty} — log both arms")
    return arms


def srm_p_value(n_control: int, n_treatment: int, treatment_share: float) -> float:
    """Chi-square goodness of fit of the arm counts to the planned split, 1 degree of freedom."""
    total = n_control + n_treatment
    expected = (total * (1 - treatment_share), total * treatment_share)
    chi2 = sum((o - e) ** 2 / e for o, e in zip((n_control, n_treatment), expected, strict=True))
    return math.erfc(math.sqrt(chi2 / 2))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score 95% interval of one proportion (Wilson 1927)."""
    p, z2 = successes / n, Z_95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def newcombe(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """95% CI of p2 - p1 by Newcombe's hybrid score method (Newcombe 1998, method 10)."""
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1)
    l2, u2 = wilson(s2, n2)
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def two_proportion_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided pooled z-test of p1 == p2."""
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return 1.0 if se == 0 else math.erfc(abs(s2 / n2 - s1 / n1) / se / math.sqrt(2))


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(P95 * len(ordered)) - 1)]


def arm_summary(rows: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "n": len(rows),
        "successes": sum(r["success"] for r in rows),
        "success_rate": sum(r["success"] for r in rows) / len(rows),
        "p95_latency_ms": p95([r["latency_ms"] for r in rows]),
        "cost_per_request_usd": sum(r["cost"] for r in rows) / len(rows),
    }
    for key, name in (("error", "error_rate"), ("format_valid", "format_validity")):
        seen = [r[key] for r in rows if key in r]
        out[name] = sum(seen) / len(seen) if seen else None
    return out


def guardrail_checks(treatment: dict, limits: dict) -> list[dict]:
    """Treatment-arm guardrails; a guardrail with no logged data is reported, not failed."""
    checks = []
    for name, worse_if_above in (
        ("p95_latency_ms", True),
        ("error_rate", True),
        ("cost_per_request_usd", True),
        ("format_validity", False),
    ):
        if name not in limits:
            continue
        value, limit = treatment.get(name), limits[name]
        ok = None if value is None else (value <= limit if worse_if_above else value >= limit)
        checks.append({"guardrail": name, "value": value, "limit": limit, "passed": ok})
    return checks


def decide(cfg: dict, arms: dict[str, list[dict]]) -> dict[str, Any]:
    """The decision and every figure it rests on."""
    c, t = arm_summary(arms["control"]), arm_summary(arms["treatment"])
    share = float((cfg.get("split") or {}).get("treatment", 0.5))
    srm_p = srm_p_value(c["n"], t["n"], share)
    lo, hi = newcombe(c["successes"], c["n"], t["successes"], t["n"])
    lift = t["success_rate"] - c["success_rate"]
    needed = int(cfg["sample_size_per_arm"])
    enough = min(c["n"], t["n"]) >= needed
    guards = guardrail_checks(t, cfg.get("guardrails") or {})
    min_lift = float(cfg.get("min_lift", 0.0))
    reasons = []
    if srm_p < float(cfg.get("srm_alpha", 0.001)):
        decision = "roll back"
        reasons.append(
            f"sample-ratio mismatch: {c['n']}/{t['n']} vs planned {1 - share:.0%}/{share:.0%} "
            f"(chi-square p = {srm_p:.2g}) — the assignment is broken; fix it and restart the test"
        )
    elif any(g["passed"] is False for g in guards):
        decision = "roll back"
        reasons += [
            f"guardrail {g['guardrail']} breached: {g['value']:.4g} vs limit {g['limit']}"
            for g in guards
            if g["passed"] is False
        ]
    elif hi < 0:
        decision = "roll back"
        reasons.append(f"the lift's 95% CI [{lo:+.4f}, {hi:+.4f}] lies entirely below 0")
    elif enough and lo > min_lift:
        decision = "ship"
        reasons.append(
            f"{min(c['n'], t['n'])} >= {needed} per arm and the lift's 95% CI lower bound "
            f"{lo:+.4f} > {min_lift}"
        )
    elif not enough:
        decision = "keep running"
        reasons.append(
            f"{min(c['n'], t['n'])} of the planned {needed} per arm: no decision before the planned "
            "sample (no peeking with a fixed-horizon test)"
        )
    else:
        decision = "roll back"
        reasons.append(
            f"planned sample reached and the lift's 95% CI [{lo:+.4f}, {hi:+.4f}] does not clear "
            f"{min_lift}: no improvement shown, keep the control"
        )
    return {
        "decision": decision,
        "exit_code": EXIT[decision],
        "reasons": reasons,
        "lift": lift,
        "lift_ci95": [lo, hi],
        "p_value": two_proportion_p(c["successes"], c["n"], t["successes"], t["n"]),
        "sample_size_per_arm": needed,
        "sample_size_reached": enough,
        "srm": {"p_value": srm_p, "alpha": float(cfg.get("srm_alpha", 0.001)), "treatment_share": share},
        "guardrails": guards,
        "arms": {"control": c, "treatment": t},
    }


def main(outcomes: Path, cfg: dict[str, Any], report: Path | None) -> int:
    """Decide, print the figures, write the report; the exit code is the decision."""
    result = decide(cfg, load_outcomes(outcomes))
    c, t = result["arms"]["control"], result["arms"]["treatment"]
    print(
        f"control   n={c['n']:>7}  success {c['success_rate']:.4f}  p95 {c['p95_latency_ms']:.0f} ms  "
        f"cost ${c['cost_per_request_usd']:.6f}"
    )
    print(
        f"treatment n={t['n']:>7}  success {t['success_rate']:.4f}  p95 {t['p95_latency_ms']:.0f} ms  "
        f"cost ${t['cost_per_request_usd']:.6f}"
    )
    lo, hi = result["lift_ci95"]
    print(
        f"lift {result['lift']:+.4f}  95% CI [{lo:+.4f}, {hi:+.4f}]  p = {result['p_value']:.3g}  "
        f"SRM p = {result['srm']['p_value']:.3g}"
    )
    print(f"DECISION: {result['decision'].upper()}")
    for reason in result["reasons"]:
        print(f"  - {reason}")
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"wrote {shown(report)}")
    return result["exit_code"]


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outcomes", type=Path, help="CSV or JSONL of logged requests")
    ap.add_argument("--config", default="configs/rollout.yaml")
    ap.add_argument("--report", type=Path, help="write the decision and figures as JSON here")
    ap.add_argument("--dry-run", action="store_true", help="check the config and the outcomes file only")
    args = ap.parse_args(argv)
    cfg = load_config("rollout", args.config)
    refuse_overwrite(args.report, [args.outcomes, args.config], "--report")
    check_output(args.report, "--report")
    if args.dry_run:
        if args.outcomes.is_file():
            load_outcomes(args.outcomes)
        return report_dry_run(shown(args.config), {"outcomes": str(args.outcomes)})
    return main(args.outcomes, cfg, args.report)


if __name__ == "__main__":
    run(cli)
