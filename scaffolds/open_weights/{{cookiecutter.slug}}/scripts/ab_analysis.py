"""Decide an A/B test of the tuned model from logged outcomes: ship, keep running, or roll back.

Run from the repository root:

    python scripts/ab_analysis.py outcomes.csv                          # uses configs/rollout.yaml
    python scripts/ab_analysis.py outcomes.jsonl --config configs/rollout.yaml --report reports/ab.json

OUTCOMES is CSV (with a header) or JSONL, one request per row: variant (control|treatment), success (0/1,
true/false), latency_ms, cost; optional error (0/1) and format_valid (0/1) feed those guardrails.
Exit code: 0 ship, 3 keep running, 4 roll back, 1 bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

Z_95 = 1.959964  # two-sided 95% normal quantile
P95 = 0.95  # the latency guardrail is on the 95th percentile (nearest-rank)
EXIT = {"ship": 0, "keep running": 3, "roll back": 4}
TRUE, FALSE = {"1", "true", "yes", "t", "y"}, {"0", "false", "no", "f", "n", ""}


class InputError(Exception):
    """A user error: the message names the field and the fix."""


def to_bool(value: Any, field: str, row: int) -> bool:
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise InputError(f"row {row}: {field}={value!r} — use 0/1 or true/false")


def to_float(value: Any, field: str, row: int) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"row {row}: {field}={value!r} is not a number") from None


def load_outcomes(path: Path) -> dict[str, list[dict]]:
    """Rows grouped by arm, each with success, latency_ms, cost and the optional error/format_valid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"OUTCOMES: cannot read {path} ({exc})") from None
    if path.suffix == ".jsonl":
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"OUTCOMES: {path} line {exc.lineno}: not JSON — one object per line") from None
    else:
        rows = list(csv.DictReader(text.splitlines()))
    arms: dict[str, list[dict]] = {"control": [], "treatment": []}
    for n, row in enumerate(rows, 1):
        missing = [c for c in ("variant", "success", "latency_ms", "cost") if c not in row]
        if missing:
            raise InputError(
                f"row {n}: missing column(s) {missing} — need variant, success, latency_ms, cost"
            )
        variant = str(row["variant"]).strip().lower()
        if variant not in arms:
            raise InputError(f"row {n}: variant={row['variant']!r} — must be control or treatment")
        arms[variant].append(
            {
                "success": to_bool(row["success"], "success", n),
                "latency_ms": to_float(row["latency_ms"], "latency_ms", n),
                "cost": to_float(row["cost"], "cost", n),
                **{
                    k: to_bool(row[k], k, n)
                    for k in ("error", "format_valid")
                    if row.get(k) not in (None, "")
                },
            }
        )
    empty = [a for a, r in arms.items() if not r]
    if empty:
        raise InputError(f"OUTCOMES: no rows for {empty} — log both arms")
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


def load_config(path: str) -> dict[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"--config: cannot read {path}: {exc}") from None
    if not isinstance(cfg.get("sample_size_per_arm"), int) or cfg["sample_size_per_arm"] < 1:
        raise InputError(f"sample_size_per_arm: missing or not a positive integer in {path}")
    share = (cfg.get("split") or {}).get("treatment", 0.5)
    if not 0 < float(share) < 1:
        raise InputError(f"split.treatment: {share} must be between 0 and 1 (the treatment's traffic share)")
    return cfg


def main(outcomes: Path, config: str, report: Path | None) -> int:
    result = decide(load_config(config), load_outcomes(outcomes))
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
        print(f"wrote {report}")
    return result["exit_code"]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outcomes", type=Path, help="CSV or JSONL of logged requests")
    ap.add_argument("--config", default="configs/rollout.yaml")
    ap.add_argument("--report", type=Path, help="write the decision and figures as JSON here")
    args = ap.parse_args()
    try:
        sys.exit(main(args.outcomes, args.config, args.report))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
