"""Evaluation: metrics by task type, a held-out set sized to detect the target difference, and gates.

Held-out size for a paired comparison (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640):
n = (z_{1-alpha/2} + z_{1-beta})^2 * Var(d) / delta^2, with d_i = score_tuned_i - score_base_i. For right/wrong
scores d is -1/0/+1 and Var(d) = P(disagree) - delta^2.
"""

from __future__ import annotations

import math

from generator.plan.inputs import Inputs
from generator.plan.records import Assumption, Evaluation, Gate, MetricDefinition, Statistics
from generator.tasks import MetricDef, load_tasks


def z(p: float) -> float:
    """Standard normal quantile, by bisection on math.erf (exact to ~1e-12; avoids importing statistics)."""
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def heldout_size(alpha: float, power: float, delta: float, discordance: float) -> int:
    var_d = max(discordance, delta) - delta**2
    return math.ceil((z(1 - alpha / 2) + z(power)) ** 2 * var_d / delta**2)


def gate_precision_size(inp: Inputs) -> tuple[int, str]:
    """Items to read "metric >= target" to +- gate_margin at the plan's confidence: z^2 p(1-p) / m^2."""
    s, f = inp.settings, inp.facts
    p = f.target_score if f.target_score is not None else (f.baseline_score or 0.5)
    p = min(max(p, 0.01), 0.99)
    m = float(s.value("gate_margin"))
    zc = z(1 - (1 - float(s.value("evaluation.confidence"))) / 2)
    n = math.ceil(zc**2 * p * (1 - p) / m**2)
    return n, f"n = z^2 p(1-p) / m^2 = {zc:.2f}^2 x {p:g} x {1 - p:.2f} / {m:g}^2 = {n} ({s.source('gate_margin')})"


def resolvable_delta(inp: Inputs, n: int) -> float:
    """The smallest difference a paired comparison on `n` items detects: the held-out formula solved for delta."""
    s = inp.settings
    alpha, power = float(s.value("evaluation.alpha")), float(s.value("evaluation.power"))
    k = (z(1 - alpha / 2) + z(power)) ** 2
    disc = float(s.value("evaluation.discordance_rate"))
    return math.sqrt(k * disc / (max(n, 1) + k))


def target_delta(inp: Inputs) -> tuple[float, str]:
    f = inp.facts
    if f.baseline_score is not None and f.target_score is not None and f.target_score > f.baseline_score:
        d = f.target_score - f.baseline_score
        return d, f"the gap from the baseline {f.baseline_score:g} to the target {f.target_score:g}"
    d = float(inp.settings.value("evaluation.default_delta"))
    return d, inp.settings.source("evaluation.default_delta")


def _comparison(stats: Statistics, defs: list[MetricDef]) -> str:
    """The statistics the generated evaluation runs, per metric, exactly as configs/tasks.yaml assigns them."""
    mcnemar = [d.name for d in defs if d.test == "mcnemar"]
    sign_flip = [d.name for d in defs if d.test != "mcnemar"]
    tests = []
    if mcnemar:
        tests.append(f"by McNemar's test (exact binomial below {stats.mcnemar_exact_below} discordant pairs) for "
                     + ", ".join(mcnemar))
    if sign_flip:
        tests.append(f"by a paired sign-flip permutation test ({stats.permutation_resamples:,} permutations) for "
                     + ", ".join(sign_flip))
    return ("Zero-shot and few-shot prompting of the base model, the base model and the tuned model all answer "
            f"the same frozen held-out items; per item d = tuned - base, {stats.confidence:.0%} CI by paired "
            f"bootstrap ({stats.bootstrap_resamples:,} resamples, seed {stats.seed}), p-value "
            + "; ".join(tests) + ".")


def plan_evaluation(inp: Inputs) -> Evaluation:
    f, s = inp.facts, inp.settings
    tasks = load_tasks()
    task = tasks.task(f.task_type)
    metrics = list(task.metrics)
    primary = metrics[0]
    if f.metric:
        named = tasks.canonical_metric(f.metric)
        primary = named
        if named not in metrics:
            metrics = [named, *metrics]
    defs = [tasks.metric(m) for m in metrics]
    for d in defs:
        if not d.builtin:
            inp.assumptions.append(Assumption(
                field="facts.metric", value=d.name, kind="warning",
                how=f"{d.name} has no built-in implementation: write score() in scripts/user_metrics.py "
                    "(evaluate.py --dry-run fails naming it until then)"))
    alpha, power = float(s.value("evaluation.alpha")), float(s.value("evaluation.power"))
    delta, delta_why = target_delta(inp)
    disc = float(s.value("evaluation.discordance_rate"))
    n = heldout_size(alpha, power, delta, disc)
    formula = (f"n = (z_{{1-{alpha}/2}} + z_{{{power}}})^2 x Var(d) / delta^2 = ({z(1 - alpha / 2):.2f} + "
               f"{z(power):.2f})^2 x {max(disc, delta) - delta**2:.4f} / {delta:.3f}^2 = {n}; delta = {delta:.3f} "
               f"({delta_why}); Var(d) from a planning discordance rate of {disc:g} "
               f"({s.source('evaluation.discordance_rate')})")
    n_gate, gate_text = gate_precision_size(inp)
    if n_gate > n:
        formula += f"; the absolute gate needs more: {gate_text}"
        n = n_gate
    if f.heldout_available:
        resolves = resolvable_delta(inp, f.heldout_available)
        formula = (f"your frozen evaluation set of {f.heldout_available:,} items is the held-out set (never "
                   f"carved from training); it resolves a difference of {resolves:.3f} "
                   f"at alpha {alpha} and power {power}. For reference: {formula}")
        n = f.heldout_available
    gates = []
    if f.target_score is not None:
        gates.append(Gate(metric=primary, op=">=", threshold=f.target_score,
                          reason=f"the success criterion: {inp.answers.success_criteria.strip()[:200]}"))
    gates.append(Gate(metric=primary, op="delta_ci_low>", threshold=0.0,
                      reason="the tuned model must beat the base model on the same held-out set: the lower "
                             "end of the paired 95% CI of the difference is above zero"))
    max_drop = float(s.value("evaluation.forgetting_max_drop"))
    gates.append(Gate(metric="forgetting_probe", op="drop<=", threshold=max_drop,
                      reason=s.source("evaluation.forgetting_max_drop")))
    stats = Statistics(confidence=float(s.value("evaluation.confidence")),
                       bootstrap_resamples=int(s.value("evaluation.bootstrap_resamples")),
                       permutation_resamples=int(s.value("evaluation.permutation_resamples")),
                       mcnemar_exact_below=int(s.value("evaluation.mcnemar_exact_below")),
                       seed=int(s.value("hyperparameters.seed")))
    user = [d.name for d in defs if not d.builtin]
    comparison = _comparison(stats, defs)
    if user:
        comparison += (" " + ", ".join(user) + " has no built-in implementation: write score() in "
                       "scripts/user_metrics.py.")
    return Evaluation(
        metrics=metrics, primary_metric=primary, heldout_size=n, heldout_size_formula=formula,
        comparison=comparison,
        forgetting_probe=("A small general-capability set (arithmetic, facts, instructions; "
                          "data/forgetting_probe.jsonl, replaceable) scored before and after tuning: the drop "
                          f"must stay within {max_drop:.0%}."),
        gates=gates, baseline_score=f.baseline_score, target_score=f.target_score,
        metric_definitions=[MetricDefinition(name=d.name, builtin=d.builtin, kind=d.kind, test=d.test,
                                             description=d.description) for d in defs],
        statistics=stats, max_new_tokens=task.max_new_tokens, few_shot_k=int(s.value("evaluation.few_shot_k")),
    )
