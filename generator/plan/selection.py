"""Base-model ranking: license, language, task fit, size for the task, memory on the GPU, cost."""

from __future__ import annotations

import math

from generator.catalog import BaseModelEntry
from generator.plan.inputs import Inputs
from generator.plan.records import Candidate, usd
from generator.plan.rollout import serving_gpus
from generator.plan.training import Setup, best_setup, p95_example_tokens
from generator.record import Record

# Weights of the ranking score; task fit matters most, then the size band, then cost and recency.
TASK_FIT_POINTS = 3.0
SIZE_BAND_POINTS = 2.0
INSTRUCT_POINTS = 0.5
RECENT_POINTS = 0.5
RECENT_DAYS = 540  # released within ~18 months counts as current
COST_POINTS_PER_DECADE = 0.5


class Ranked(Record):
    entry: BaseModelEntry
    setup: Setup | None
    score: float
    excluded: str  # why it cannot be used; "" when usable
    task_fit: bool


def licence_block(inp: Inputs, entry: BaseModelEntry) -> str:
    """Why the licence's user-count threshold rules the model out for this product, or ""."""
    limit = entry.license_mau_limit
    users = inp.facts.monthly_active_users
    if limit is None or users is None or users <= limit:
        return ""
    return (f"license {entry.license} needs a separate licence above {limit:,} monthly active users; the "
            f"product has {users:,} (facts.monthly_active_users)")


def _size_points(inp: Inputs, params_b: float) -> float:
    """Full points at the band's geometric middle, losing a point per doubling away from it."""
    band = inp.settings.raw(f"model_size_by_task.{inp.facts.task_type}")
    middle = math.sqrt(float(band["min_b"]) * float(band["max_b"]))
    return SIZE_BAND_POINTS - abs(math.log2(params_b / middle))


def _year_usd(inp: Inputs, entry: BaseModelEntry, setup: Setup) -> float:
    """Training plus a year of serving: what the model choice really costs."""
    gpus, _ = serving_gpus(inp, entry, setup.gpu)
    return setup.usd + 12 * gpus * float(inp.settings.value("serving.hours_per_month")) * setup.gpu.usd_per_hour


def rank_models(inp: Inputs, lora_r: int, dataset_tokens: int) -> list[Ranked]:
    f = inp.facts
    max_b = float(inp.settings.value(f"budget_max_params_b.{inp.answers.budget}"))
    p95 = p95_example_tokens(inp)
    ranked = []
    for entry in inp.catalog.models:
        excluded = ""
        if f.commercial_use and not entry.commercial_use:
            excluded = f"license {entry.license} does not allow commercial use"
        elif licence := licence_block(inp, entry):
            excluded = licence
        elif missing := [lang for lang in f.languages if not entry.covers_language(lang)]:
            excluded = f"does not list language(s) {', '.join(missing)}"
        elif entry.params_b > max_b:
            excluded = f"{entry.params_b:g}B is above the {inp.answers.budget} budget's {max_b:g}B"
        elif entry.context_length < p95:
            excluded = (f"its native context of {entry.context_length:,} tokens cannot hold the p95 example of "
                        f"~{p95:,.0f} tokens (inputs would be truncated)")

        setup = None if excluded else best_setup(inp, entry, lora_r, dataset_tokens)
        if not excluded and setup is None:
            excluded = "does not fit the available GPU(s) even with QLoRA"
        fit = f.task_type in entry.strengths
        score = 0.0
        if setup:
            recent = (inp.today - entry.released).days <= RECENT_DAYS
            score = (TASK_FIT_POINTS * fit + _size_points(inp, entry.params_b)
                     + INSTRUCT_POINTS * entry.instruct + RECENT_POINTS * recent
                     - COST_POINTS_PER_DECADE * math.log10(1 + _year_usd(inp, entry, setup)))
        ranked.append(Ranked(entry, setup, round(score, 2), excluded, fit))
    ranked.sort(key=lambda r: (bool(r.excluded), -r.score, r.entry.params_b))
    return ranked


def candidates_table(ranked: list[Ranked]) -> list[Candidate]:
    rows = []
    for i, r in enumerate(ranked, start=1):
        if r.excluded:
            rec = f"excluded: {r.excluded}"
        elif i == 1:
            rec = "recommended"
        elif i <= 3:
            rec = "alternative"
        else:
            rec = "usable"
        s = r.setup
        rows.append(Candidate(
            rank=i, id=r.entry.id, params_b=r.entry.params_b, license=r.entry.license,
            commercial_use=r.entry.commercial_use, task_fit=r.task_fit,
            method=f"{s.method} on {s.gpu_count}x {s.gpu.id}" if s else "-",
            peak_memory_gb=round(s.memory.peak_memory_gb, 1) if s else 0.0, fits=s is not None,
            gpu_hours=round(s.gpu_hours, 2) if s else 0.0, training_usd=round(s.usd, 2) if s else 0.0,
            score=r.score, recommendation=rec,
        ))
    return rows


def why_chosen(inp: Inputs, top: Ranked, runner_up: Ranked | None) -> str:
    e, s = top.entry, top.setup
    assert s is not None
    parts = [
        f"{e.id} ({e.params_b:g}B, {e.license}{', commercial use allowed' if e.commercial_use else ''})",
        f"lists {inp.facts.task_type} among its strengths" if top.task_fit
        else f"does not list {inp.facts.task_type} but scores best overall",
        f"fits {s.gpu_count}x {s.gpu.id} with {s.method} at {s.memory.peak_memory_gb:.1f} GB",
        f"trains for about {usd(s.usd)}",
    ]
    text = ", ".join(parts) + "."
    if runner_up and runner_up.setup:
        text += (f" Runner-up {runner_up.entry.id} scores {runner_up.score:.2f} against {top.score:.2f}; "
                 "try it if the held-out gates fail.")
    return text
