"""One-off costs of the fine-tuning project and the 12-month cost of every option, with the break-even month.

Per-request API cost = (prompt tokens x input price + output tokens x output price) / 1e6, at the reference
API model's prices in planning.yaml. Open-weight serving is GPU-hours x $/hour (rollout.serving_gpus).
"""

from __future__ import annotations

from typing import Any

from generator.answers.inference import DEFAULT_INSTRUCTION_TOKENS
from generator.catalog import GpuEntry
from generator.plan.data import example_tokens, prompt_tokens_after_tuning
from generator.plan.effort import engineering_terms, label_rate
from generator.plan.inputs import Inputs
from generator.plan.provider import tuned_base, tuned_prices
from generator.plan.records import Cost, DataPlan, EngineeringTerm, Option, Roi, RoiRow

MONTHS = 12
MILLION = 1e6


def api_request_usd(prompt_tokens: float, output_tokens: float, in_price: float, out_price: float) -> float:
    return (prompt_tokens * in_price + output_tokens * out_price) / MILLION


def one_off_costs(inp: Inputs, data: DataPlan, training_usd: float, training_range: tuple[float, float],
                  hosted_training_usd: float, eval_gpu_usd: float, *, gpus: int | None = None,
                  preference: bool | None = None) -> Cost:
    """Training, labelling, evaluation and engineering of the fine-tuning project. Labelling is priced per
    example by plan/effort.py (your rate when given); engineering is the scope's weeks (facts.engineering_weeks
    when given). `gpus` and `preference` are the planned setup's (default: facts.gpu_count, known pairs)."""
    f, s = inp.facts, inp.settings
    # The held-out set gets a second annotation unless it is already a frozen or hand-verified set.
    reannotate = 0 if f.heldout_available else max(data.split.heldout - f.validation_available, 0)
    labels = data.to_collect + reannotate
    rate = label_rate(inp)
    labor = labels * rate.usd
    per_week = float(s.value("engineering.usd_per_week"))
    terms = engineering_terms(inp, data.to_collect, hosted=bool(hosted_training_usd),
                              gpus=f.gpu_count if gpus is None else gpus,
                              preference=f.preference_pairs_available > 0 if preference is None else preference)
    scoped = sum(t.weeks for t in terms)
    weeks = f.engineering_weeks if f.engineering_weeks is not None else scoped
    engineering = weeks * per_week
    scope = " | ".join(f"{t.name.replace('_', ' ')} {t.weeks:g} — {t.why}" for t in terms)
    if f.engineering_weeks is not None:
        eng_why = (f"{weeks:g} engineer-weeks (facts.engineering_weeks) x ${per_week:,.0f} "
                   f"({s.source('engineering.usd_per_week')}); the plan's scope alone would be {scoped:g} weeks: "
                   f"{scope}")
    else:
        eng_why = (f"{weeks:g} engineer-weeks from the plan's scope x ${per_week:,.0f} per week "
                   f"({s.source('engineering.usd_per_week')}) — {scope}")
    held = ("the held-out set is your frozen evaluation set: no re-annotation" if f.heldout_available
            else f"a second annotation of {reannotate:,} held-out items"
            + (f" (your {f.validation_available:,} hand-verified items need none)" if f.validation_available else ""))
    notes = [
        f"Data labour: {data.to_collect:,} examples to collect + {held}, at {rate.why}.",
        f"Engineering: ${engineering:,.0f} = {eng_why}.",
    ]
    if f.owned_gpus:
        notes.append("Your own GPUs: training and serving cost electricity (and serving the purchase's "
                     f"amortisation), not rental ({s.source('owned_gpu.electricity_usd_per_kwh')}).")
    if hosted_training_usd:
        notes.append("Hosted training is billed per token: dataset tokens x epochs x the provider's price.")
    total = training_usd + labor + hosted_training_usd + eval_gpu_usd + engineering
    return Cost(
        training_usd=round(training_usd, 2), training_usd_range=(round(training_range[0], 2),
                                                                  round(training_range[1], 2)),
        data_labor_usd=round(labor, 2), hosted_api_usd=round(hosted_training_usd, 2),
        evaluation_usd=round(eval_gpu_usd, 2), engineering_usd=round(engineering, 2), total_usd=round(total, 2),
        notes=notes, labeling_usd_per_example=round(rate.usd, 4), labeling_tier=rate.tier,
        labeling_seconds_per_example=round(rate.seconds, 1), engineering_weeks=round(weeks, 2),
        engineering_terms=[EngineeringTerm(name=t.name, weeks=t.weeks, why=t.why) for t in terms],
    )


def owned_gpu_monthly(inp: Inputs, gpu: GpuEntry, count: int) -> tuple[float, str]:
    """A month of GPUs you own: board power around the clock at the electricity price + straight-line
    amortisation of the purchase price (planning.yaml owned_gpu, the catalog's board power and price)."""
    s = inp.settings
    hours = float(s.value("serving.hours_per_month"))
    kwh = float(s.value("owned_gpu.electricity_usd_per_kwh"))
    months = int(s.value("owned_gpu.amortisation_months"))
    if gpu.board_power_w is None:
        return 0.0, (f"{gpu.id} has no board power in the catalog: add board_power_w (and purchase_usd) to a "
                     "user gpus.yaml to price power and amortisation")
    power = count * gpu.board_power_w / 1000 * hours * kwh
    amort = count * (gpu.purchase_usd or 0.0) / months
    how = (f"power {count} x {gpu.board_power_w:g} W x {hours:g} h x ${kwh:g}/kWh = ${power:,.2f}"
           f" ({s.source('owned_gpu.electricity_usd_per_kwh')})")
    if gpu.purchase_usd:
        how += (f" + amortisation {count} x ${gpu.purchase_usd:,.0f} / {months} months = ${amort:,.2f} "
                f"({gpu.owned_source})")
    else:
        how += "; no purchase price in the catalog, so no amortisation (add purchase_usd)"
    return power + amort, how


def current_model_prices(inp: Inputs) -> tuple[str, float, float, str, dict[str, Any] | None]:
    """(model, $ in, $ out per 1M, source, the hosted_inference row) of what runs today: facts.current_model
    from planning.yaml hosted_inference, else the provider's reference API model."""
    f, s = inp.facts, inp.settings
    if f.current_model:
        table = s.raw("hosted_inference")
        model_id = tuned_base(inp, f.current_model)
        row = next((m for m in table["models"] if m["id"] == model_id), None)
        tuned = tuned_prices(inp, model_id)
        if tuned is not None:
            in_p, out_p, source = tuned
            return model_id, in_p, out_p, source, row
        if row is not None:
            return (row["id"], float(row["input_usd_per_1m"]), float(row["output_usd_per_1m"]),
                    f"{table['source']}, {table['as_of']}", row)
    api = f"reference_api.{inp.answers.provider}"
    return (str(s.value(f"{api}.model")), float(s.value(f"{api}.input_usd_per_1m")),
            float(s.value(f"{api}.output_usd_per_1m")), f"{s.source(api)}, {s.value(api + '.as_of')}", None)


def roi(inp: Inputs, cost: Cost, ft_monthly_usd: float, ft_how: str) -> Roi:
    f, s = inp.facts, inp.settings
    ref, in_p, out_p, price_source, row = current_model_prices(inp)
    prompt = f.current_prompt_tokens + f.avg_input_tokens
    base_req = api_request_usd(prompt, f.avg_output_tokens, in_p, out_p)
    k = int(s.value("few_shot.examples_in_prompt"))
    shots = k * (f.avg_input_tokens + f.avg_output_tokens)
    few_req = api_request_usd(prompt + shots, f.avg_output_tokens, in_p, out_p)
    retrieved = float(s.value("rag.retrieved_tokens"))
    # Retrieval replaces whatever context is pasted into today's prompt: instructions + input + the passages.
    rag_prompt = min(prompt, DEFAULT_INSTRUCTION_TOKENS + f.avg_input_tokens) + retrieved
    rag_req = api_request_usd(rag_prompt, f.avg_output_tokens, in_p, out_p)
    rag_infra = float(s.value("rag.monthly_infra_usd"))
    rag_setup = float(s.value("rag.setup_weeks")) * float(s.value("engineering.usd_per_week"))
    n = f.monthly_requests
    plans: dict[Option, tuple[float, float]] = {
        "prompting": (0.0, n * base_req),
        "few_shot": (0.0, n * few_req),
        "rag": (rag_setup, n * rag_req + rag_infra),
        "fine_tune": (cost.total_usd, ft_monthly_usd),
        "rag_and_fine_tune": (cost.total_usd + rag_setup, ft_monthly_usd + rag_infra),
    }
    rows = [RoiRow(option=o, one_off_usd=round(one, 2), monthly_usd=round(monthly, 2),
                   cumulative_usd=[round(one + monthly * m, 2) for m in range(1, MONTHS + 1)])
            for o, (one, monthly) in plans.items()]
    current, tuned = rows[0].cumulative_usd, rows[3].cumulative_usd
    even = next((m for m in range(1, MONTHS + 1) if tuned[m - 1] <= current[m - 1]), None)
    notes = [
        f"Prompting: {prompt:,.0f} prompt + {f.avg_output_tokens:,.0f} output tokens per request on {ref} "
        f"(${in_p}/${out_p} per 1M tokens, {price_source}) x {n:,} requests/month.",
        f"Few-shot adds {k} example pairs ({shots:,.0f} tokens) to every prompt.",
        f"RAG sends {rag_prompt:,.0f} prompt tokens per request (instructions, the input and {retrieved:,.0f} "
        f"retrieved tokens, in place of any pasted documents) and adds ${rag_infra:,.0f}/month of vector search.",
        f"Fine-tune: {ft_how}; its prompt shrinks to ~{prompt_tokens_after_tuning(inp):.0f} instruction tokens "
        f"(~{example_tokens(inp):.0f} tokens per request in all).",
    ]
    if f.data_sensitivity == "restricted":
        notes.append("Restricted data may not be sent to a hosted API: the prompting, few-shot and RAG rows "
                     "price the hosted alternative for reference only.")
    if even is None:
        notes.append("Fine-tuning does not pay back within 12 months on cost alone; it must win on quality, "
                     "latency or data control.")
    retires = successor = None
    if f.current_model and row is None:
        notes.append(f"facts.current_model {f.current_model!r} has no price in planning.yaml hosted_inference: "
                     f"the prompting rows use {ref}; add the model there to price what you run.")
    if row is not None and row["retires"] is not None:
        retires, successor = row["retires"].isoformat(), row["successor"]
        if (row["retires"] - inp.today).days <= MONTHS * 31:
            notes.append(f"{ref} retires on {retires}" + (f"; its successor is {successor}" if successor else
                         "; the provider names no successor in the catalog") +
                         ": the prompting option must migrate within the horizon, and so must any model tuned "
                         "on it.")
    return Roi(rows=rows, break_even_month=even, compared_to=f"prompting {ref} as today", notes=notes,
               current_model=ref, current_model_retires=retires, current_model_successor=successor)
