"""The planning engine: answers + catalog + settings + date in, Plan out. Pure: no printing, files or clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from generator import __version__
from generator.answers import LoadedAnswers
from generator.catalog import BaseModelEntry, Catalog
from generator.errors import Problem, UserError
from generator.plan.cost import api_request_usd, one_off_costs, owned_gpu_monthly, roi
from generator.plan.data import example_tokens, plan_data, prompt_tokens_after_tuning
from generator.plan.decision import apply_hard_rules, decide
from generator.plan.effort import with_label_rate
from generator.plan.evaluation import plan_evaluation
from generator.plan.fit import with_owned_rates
from generator.plan.inputs import Inputs
from generator.plan.provider import hosted_baseline, hosted_tuning, hosted_usable, migration, provider_status
from generator.plan.records import (
    Assumption,
    BaseModelChoice,
    Meta,
    Method,
    Option,
    Plan,
    ProviderStatus,
    Roi,
    Rollout,
    ServingPlan,
    Training,
)
from generator.plan.risks import plan_risks
from generator.plan.rollout import plan_rollout, retrieval_design
from generator.plan.selection import candidates_table, rank_models, why_chosen
from generator.plan.serving import plan_serving
from generator.plan.settings import Settings
from generator.plan.training import Setup, hardware, hyperparameters, p95_example_tokens, preference_stage
from generator.tasks import load_tasks

# Generation runs forward passes only: roughly a third of a training step's FLOPs per token (2N of 6N).
FORWARD_SHARE_OF_TRAINING = 1 / 3
EVAL_RUNS = 3  # zero-shot, few-shot and tuned each read the held-out set
# The generated repo's launch configs, by the plan's distribution strategy.
ACCELERATE_CONFIGS = {"single_gpu": "single_gpu.yaml", "ddp": "multi_gpu.yaml", "fsdp": "fsdp.yaml",
                      "zero3": "deepspeed_zero3.yaml"}


def _assumptions(loaded: LoadedAnswers) -> list[Assumption]:
    out = [Assumption(field=i.field, value=str(i.value), how=i.how, kind=i.kind) for i in loaded.inferred]
    out += [Assumption(field=a.field, value=f"{a.old!r} -> {a.new!r}", how=a.reason, kind="adjusted")
            for a in loaded.adjustments]
    out += [Assumption(field=w.field, value="", how=f"{w.message} — {w.fix}" if w.fix else w.message,
                       kind="warning") for w in loaded.warnings]
    return out


def _hosted_cost(inp: Inputs, status: ProviderStatus, dataset_tokens: int,
                 epochs: int) -> tuple[float, float, str]:
    """(training $, monthly inference $, how) of the provider's tuned model."""
    entry = inp.catalog.provider(inp.answers.provider)
    model = next(m for m in entry.models if m.id == status.hosted_model)
    f = inp.facts
    train = dataset_tokens * epochs * (model.training_usd_per_1m_tokens or 0.0) / 1e6
    per_req = api_request_usd(prompt_tokens_after_tuning(inp) + f.avg_input_tokens, f.avg_output_tokens,
                              model.input_usd_per_1m or 0.0, model.output_usd_per_1m or 0.0)
    return train, per_req * f.monthly_requests, f"{model.id} tuned on {entry.platform}, billed per token"


def _serving(inp: Inputs, entry: BaseModelEntry, setup: Setup) -> ServingPlan:
    """The latency model's serving choice: on your own GPU when you own them, else any catalog GPU."""
    f = inp.facts
    if f.owned_gpus or inp.answers.infrastructure == "local":
        gpus = [setup.gpu]
    else:  # rented: GPUs several providers list, and the one the user named
        gpus = [g for g in inp.catalog.gpus if g.cloud_listed or g.id == setup.gpu.id]
    p95_input = p95_example_tokens(inp) - f.avg_output_tokens
    return plan_serving(inp, entry, gpus, p95_input)


def _open_weights_monthly(inp: Inputs, entry: BaseModelEntry, setup: Setup) -> tuple[float, str]:
    """Serving the tuned model around the clock: rental, or power + amortisation on GPUs you own."""
    sp = _serving(inp, entry, setup)
    n = sp.replicas * sp.gpus_per_replica
    if inp.facts.owned_gpus:
        gpu = inp.catalog.gpu(sp.gpu)
        _, how = owned_gpu_monthly(inp, gpu, n)
        return sp.monthly_usd, f"on your own {n}x {sp.gpu} around the clock: {how} ({sp.why})"
    return sp.monthly_usd, f"self-hosted on {n}x {sp.gpu} around the clock ({sp.why})"


def _option_rollout(inp: Inputs, option: Option, plan_roi: Roi) -> Rollout:
    """The deployment of a prompting, few-shot or RAG verdict: that option's serving, A/B and monthly cost."""
    row = next(r for r in plan_roi.rows if r.option == option)
    model = plan_roi.current_model
    names = load_tasks().options
    retrieval = retrieval_design(inp) if option == "rag" else None
    if retrieval is not None:
        serving = (f"{names[option]}: {model} answers from the top {retrieval.top_k} reranked passages of a vector "
                   f"index ({retrieval.embedding_model.split(' (')[0]} embeddings, "
                   f"{retrieval.reranker.split(' over')[0]} reranker); re-index {retrieval.reindex}")
    elif option == "few_shot":
        serving = f"{names[option]}: {model} with the best {inp.settings.value('few_shot.examples_in_prompt')} " \
                  "example pairs in the prompt, chosen on the validation set"
    else:
        serving = f"{names[option]}: {model} with an improved prompt, versioned and scored on the held-out set"
    rollout = plan_rollout(inp, serving, 0, row.monthly_usd, row.monthly_usd / max(inp.facts.monthly_requests, 1))
    rollout.deploys = option
    rollout.retrieval = retrieval
    rollout.notes.insert(0, f"The recommendation is {names[option]}: this section deploys it (one-off "
                         f"${row.one_off_usd:,.0f}, ${row.monthly_usd:,.2f}/month, ROI table); the fine-tuning "
                         "configuration is generated for the case where the baseline proves it insufficient.")
    return rollout


def _execution(setup: Setup, hp_eval_steps: int) -> list[str]:
    where = f"{setup.gpu_count}x {setup.gpu.id}" + (f" ({setup.strategy.upper()})" if setup.gpu_count > 1 else "")
    launch = ACCELERATE_CONFIGS[setup.strategy]
    return [
        f"Runs on {where}: `make train` (one GPU) or `accelerate launch --config_file configs/accelerate/{launch} "
        "scripts/train.py --config configs/train.yaml`.",
        "Monitor train and validation loss, gradient norm, learning rate and tokens/s (TensorBoard or trackio "
        "via `--report_to`); a rising validation loss with falling train loss is over-fitting.",
        f"Checkpoint and evaluate every {hp_eval_steps} steps; keep the best checkpoint by validation loss "
        "(load_best_model_at_end) and at most 2 on disk (save_total_limit); `make train` resumes from the last one.",
        "Early stopping ends the run when validation loss stops improving.",
    ]


def _iteration(primary: str) -> list[str]:
    return [
        f"Error analysis after each `make eval`: confusion matrix / wrong answers beside the base model's, "
        f"per-slice {primary}.",
        "Turn the biggest error cluster into 50-200 new, validated training examples (never from the held-out "
        "set), then retrain and re-evaluate against the same frozen held-out set.",
        "Retrain when: the held-out gates fail; production drift (the A/B guardrails or weekly sampled "
        "quality drop 2+ points); the label set or output format changes; a better base model enters the "
        "catalog.",
    ]


def build_plan(loaded: LoadedAnswers, catalog: Catalog, settings: Settings, today: date,
               catalog_dirs: Sequence[str] = ()) -> Plan:
    """The plan; `catalog_dirs` are the user folders `catalog` and `settings` were loaded with (recorded only)."""
    facts = loaded.effective_facts()
    inp = Inputs(answers=loaded.answers, facts=facts, catalog=catalog, settings=settings, today=today,
                 assumptions=_assumptions(loaded))
    inp = with_owned_rates(with_label_rate(inp))
    facts = inp.facts
    decision = decide(inp)
    status = provider_status(inp)
    status.hosted_baseline = hosted_baseline(inp)
    status.hosted_tuning = hosted_tuning(inp, status)
    evaluation = plan_evaluation(inp)
    data = plan_data(inp, evaluation.heldout_size)
    lora_r = int(settings.value("hyperparameters.lora_r"))
    ranked = rank_models(inp, lora_r, data.dataset_tokens)
    usable = [r for r in ranked if not r.excluded]
    if not usable:
        raise UserError(Problem("facts.gpu", "no catalog model can be trained on the GPU(s) and license given",
                                "name a larger GPU or more GPUs (facts.gpu, facts.gpu_count), or allow "
                                "non-commercial licenses (facts.commercial_use: false)"))
    top = usable[0]
    setup = top.setup
    assert setup is not None
    hp, reasons = hyperparameters(inp, top.entry, setup, lora_r, data.split.train)
    hw = hardware(setup, hp.epochs)
    # The hard rules need the payback of the fine-tune: cost it as if it were chosen, then decide.
    probe_monthly = _open_weights_monthly(inp, top.entry, setup)[0]
    preference = preference_stage(inp, setup)
    probe_cost = one_off_costs(inp, data, setup.fit.usd, setup.fit.usd_range, 0.0, 0.0, gpus=setup.gpu_count,
                               preference=preference is not None)
    decision = apply_hard_rules(inp, decision, roi(inp, probe_cost, probe_monthly, "").break_even_month)

    method: Method
    if not decision.fine_tune_warranted:
        method = "none"
        why = (f"The decision matrix recommends {load_tasks().options[decision.recommendation]}: do not train yet. "
               f"The configuration below is what fine-tuning would use if the baseline proves prompting "
               f"insufficient ({setup.method} on {setup.gpu_count}x {setup.gpu.id}).")
    elif loaded.answers.infrastructure == "api_fine_tune" and hosted_usable(status):
        method = "hosted"
        why = (f"{status.name} accepts tuning jobs on {today.isoformat()} and {status.hosted_model} serves beyond "
               "the 12-month horizon; the open-weights configuration below is generated too, as the "
               "migration path.")
    else:
        method = setup.method
        why = reasons["method"]
        if loaded.answers.infrastructure == "api_fine_tune":
            why = f"Hosted tuning is not usable ({status.alternative or 'see Provider'}): {why}"

    training_usd, training_range = setup.fit.usd, setup.fit.usd_range
    if facts.owned_gpus and setup.gpu.board_power_w is not None:
        # your own GPUs: a training run costs its electricity (the purchase is amortised in the monthly cost)
        per_hour = setup.gpu.board_power_w / 1000 * float(settings.value("owned_gpu.electricity_usd_per_kwh"))
        lo, hi = setup.fit.gpu_hours_range
        training_usd, training_range = setup.fit.gpu_hours * per_hour, (lo * per_hour, hi * per_hour)
    hosted_training, monthly, ft_how = 0.0, 0.0, ""
    if method == "hosted":
        hosted_training, monthly, ft_how = _hosted_cost(inp, status, data.dataset_tokens, hp.epochs)
        training_usd, training_range = 0.0, (0.0, 0.0)
    eval_tokens = EVAL_RUNS * data.split.heldout * example_tokens(inp)
    eval_hours = eval_tokens / (setup.compute.tokens_per_second[0] / FORWARD_SHARE_OF_TRAINING) / 3600
    eval_per_hour = setup.gpu.usd_per_hour
    if facts.owned_gpus and setup.gpu.board_power_w is not None:  # your own GPUs: the evaluation's electricity
        eval_per_hour = setup.gpu.board_power_w / 1000 * float(settings.value("owned_gpu.electricity_usd_per_kwh"))
    eval_usd = eval_hours * eval_per_hour
    cost = one_off_costs(inp, data, training_usd, training_range, hosted_training, eval_usd,
                         gpus=setup.gpu_count if method != "hosted" else 1,
                         preference=preference is not None and method != "hosted")

    sp = _serving(inp, top.entry, setup)
    n_serve = sp.replicas * sp.gpus_per_replica
    if method != "hosted":
        monthly, ft_how = _open_weights_monthly(inp, top.entry, setup)
        quant = "" if sp.precision == "bf16" else f", weights in {sp.precision} (merged adapter, quantized)"
        serving = (f"vLLM serving {top.entry.hf_id} with the LoRA adapter (--enable-lora; several adapters can "
                   f"share one base) on {n_serve}x {sp.gpu}{quant}" if setup.method != "full" and not quant
                   else f"vLLM serving the fine-tuned {top.entry.id} on {n_serve}x {sp.gpu}{quant}")
    else:
        serving = f"{status.name}: the tuned {status.hosted_model} endpoint"
    plan_roi = roi(inp, cost, monthly, ft_how)
    if decision.fine_tune_warranted:
        per_request = monthly / max(facts.monthly_requests, 1)
        rollout = plan_rollout(inp, serving, n_serve if method != "hosted" else 0, monthly, per_request)
        if method != "hosted":
            rollout.serving_plan = sp
            if not sp.meets_latency:
                rollout.notes.insert(0, f"No catalog GPU, precision or batch meets the {facts.latency_p95_ms:,} ms "
                                        f"p95 budget: the fastest is ~{sp.p95_latency_ms:,.0f} ms ({sp.why}). "
                                        "Shorten the prompt, choose a smaller model or relax the budget.")
    else:
        rollout = _option_rollout(inp, decision.recommendation, plan_roi)

    status.migration, status.distillation_usd = migration(inp, data, top.entry.id)
    training = Training(preference=preference if method != "hosted" else None,
                        method=method, open_weights_method=setup.method, why=why, hyperparameters=hp,
                        reasons=reasons, hardware=hw, execution=_execution(setup, hp.eval_steps),
                        iteration=_iteration(evaluation.primary_metric))
    runner_up = usable[1] if len(usable) > 1 else None
    e = top.entry
    return Plan(
        meta=Meta(project_name=loaded.answers.project_name or loaded.answers.slug, slug=loaded.answers.slug,
                  today=today.isoformat(), ftplan_version=__version__, answers_source=loaded.source,
                  task_type=facts.task_type, labels=list(facts.labels),
                  catalog_dirs=[str(d) for d in catalog_dirs]),
        decision=decision,
        provider=status,
        base_model=BaseModelChoice(id=e.id, hf_id=e.hf_id, params_b=e.params_b, license=e.license,
                                   commercial_use=e.commercial_use, context_length=e.context_length,
                                   why=why_chosen(inp, top, runner_up),
                                   architecture=e.architecture.model_dump(mode="json")),
        candidates=candidates_table(ranked),
        data=data,
        training=training,
        cost=cost,
        evaluation=evaluation,
        rollout=rollout,
        roi=plan_roi,
        risks=plan_risks(inp, decision, data, evaluation, setup.method, hp),
        assumptions=inp.assumptions,
    )
