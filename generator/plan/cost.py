"""One-off costs of the fine-tuning project and the 12-month cost of every option, with the break-even month.

Per-request API cost = (prompt tokens x input price + output tokens x output price) / 1e6, at the reference
API model's prices in planning.yaml. Open-weight serving is GPU-hours x $/hour (rollout.serving_gpus).
"""

from __future__ import annotations

from generator.plan.data import example_tokens, prompt_tokens_after_tuning
from generator.plan.inputs import Inputs
from generator.plan.records import Cost, DataPlan, Option, Roi, RoiRow

MONTHS = 12
MILLION = 1e6


def api_request_usd(prompt_tokens: float, output_tokens: float, in_price: float, out_price: float) -> float:
    return (prompt_tokens * in_price + output_tokens * out_price) / MILLION


def one_off_costs(inp: Inputs, data: DataPlan, training_usd: float, training_range: tuple[float, float],
                  hosted_training_usd: float, eval_gpu_usd: float) -> Cost:
    f, s = inp.facts, inp.settings
    labels = data.to_collect + data.split.heldout
    labor = labels * f.labeling_cost_per_example_usd
    engineering = float(s.value("fine_tune.setup_engineering_usd"))
    notes = [
        f"Data labour: {data.to_collect:,} examples to collect + a second annotation of the {data.split.heldout:,} "
        f"held-out items, at ${f.labeling_cost_per_example_usd:.2f} each.",
        f"Engineering: ${engineering:,.0f} ({s.source('fine_tune.setup_engineering_usd')}).",
    ]
    if hosted_training_usd:
        notes.append("Hosted training is billed per token: dataset tokens x epochs x the provider's price.")
    total = training_usd + labor + hosted_training_usd + eval_gpu_usd + engineering
    return Cost(
        training_usd=round(training_usd, 2), training_usd_range=(round(training_range[0], 2),
                                                                  round(training_range[1], 2)),
        data_labor_usd=round(labor, 2), hosted_api_usd=round(hosted_training_usd, 2),
        evaluation_usd=round(eval_gpu_usd, 2), engineering_usd=round(engineering, 2), total_usd=round(total, 2),
        notes=notes,
    )


def roi(inp: Inputs, cost: Cost, ft_monthly_usd: float, ft_how: str) -> Roi:
    f, s = inp.facts, inp.settings
    api = f"reference_api.{inp.answers.provider}"
    in_p, out_p = float(s.value(f"{api}.input_usd_per_1m")), float(s.value(f"{api}.output_usd_per_1m"))
    ref = s.value(f"{api}.model")
    prompt = f.current_prompt_tokens + f.avg_input_tokens
    base_req = api_request_usd(prompt, f.avg_output_tokens, in_p, out_p)
    k = int(s.value("few_shot.examples_in_prompt"))
    shots = k * (f.avg_input_tokens + f.avg_output_tokens)
    few_req = api_request_usd(prompt + shots, f.avg_output_tokens, in_p, out_p)
    retrieved = float(s.value("rag.retrieved_tokens"))
    rag_req = api_request_usd(prompt + retrieved, f.avg_output_tokens, in_p, out_p)
    rag_infra = float(s.value("rag.monthly_infra_usd"))
    rag_setup = float(s.value("rag.setup_engineering_usd"))
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
        f"(${in_p}/${out_p} per 1M tokens, {s.source(api)}, {s.value(api + '.as_of')}) x {n:,} requests/month.",
        f"Few-shot adds {k} example pairs ({shots:,.0f} tokens) to every prompt.",
        f"RAG adds {retrieved:,.0f} retrieved tokens per request and ${rag_infra:,.0f}/month of vector search.",
        f"Fine-tune: {ft_how}; its prompt shrinks to ~{prompt_tokens_after_tuning(inp):.0f} instruction tokens "
        f"(~{example_tokens(inp):.0f} tokens per request in all).",
    ]
    if f.data_sensitivity == "restricted":
        notes.append("Restricted data may not be sent to a hosted API: the prompting, few-shot and RAG rows "
                     "price the hosted alternative for reference only.")
    if even is None:
        notes.append("Fine-tuning does not pay back within 12 months on cost alone; it must win on quality, "
                     "latency or data control.")
    return Roi(rows=rows, break_even_month=even, compared_to=f"prompting {ref} as today", notes=notes)
