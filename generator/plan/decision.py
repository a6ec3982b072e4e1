"""Should you fine-tune? A matrix over prompting, few-shot, RAG, fine-tuning and RAG + fine-tuning.

Criteria follow the vendors' guidance (OpenAI model-optimization guide, Anthropic prompt-engineering overview,
Google Vertex tuning overview): missing or changing knowledge -> retrieval; inconsistent format, style or a
pattern hard to put into a prompt -> fine-tuning; little labelled data -> prompting; high volume with a long
prompt -> fine-tuning pays back. Each score is -2..+2 and comes with the reason a reader can check.
"""

from __future__ import annotations

from typing import TypeGuard, get_args

from generator.plan.inputs import Inputs
from generator.plan.records import Decision, MatrixRow, Option
from generator.tasks import load_tasks

FORMAT_WORDS = ("format", "inconsistent", "style", "tone", "schema", "json", "structure", "voice", "label")
# Monthly prompt tokens above which a shorter prompt on a smaller model pays for a fine-tune (~$400/month
# at the reference API input price, see planning.yaml reference_api).
HIGH_VOLUME_PROMPT_TOKENS = 1e9
LOW_VOLUME_REQUESTS = 10_000
TIGHT_LATENCY_MS = 500


def _is_option(name: str) -> TypeGuard[Option]:
    return name in get_args(Option)


def options() -> tuple[Option, ...]:
    """The options of configs/tasks.yaml, simplest first: a simpler option wins a tie (a team should not
    fine-tune when prompting scores the same). The Option type names the same ids (a test proves it)."""
    return tuple(o for o in load_tasks().options if _is_option(o))


def _add(scores: dict[Option, dict[str, int]], reasons: dict[Option, list[str]], criterion: str,
         deltas: dict[Option, int], reason: str) -> None:
    for opt in scores:
        scores[opt][criterion] = deltas.get(opt, 0)
        if deltas.get(opt, 0):
            reasons[opt].append(f"{criterion} {deltas[opt]:+d}: {reason}")


def decide(inp: Inputs) -> Decision:
    f, s = inp.facts, inp.settings
    ordered = options()
    simplicity = {opt: i for i, opt in enumerate(ordered)}
    scores: dict[Option, dict[str, int]] = {o: {} for o in ordered}
    reasons: dict[Option, list[str]] = {o: [] for o in ordered}

    if f.knowledge_freshness in ("periodic", "realtime"):
        weight = 2 if f.knowledge_freshness == "realtime" else 1
        _add(scores, reasons, "knowledge_freshness",
             {"rag": 2, "rag_and_fine_tune": 2, "fine_tune": -2 * weight, "prompting": -1, "few_shot": -1},
             f"knowledge is {f.knowledge_freshness}: retrieval stays current, weights baked at training go stale")
    else:
        _add(scores, reasons, "knowledge_freshness", {"fine_tune": 1},
             "knowledge is static: what the model learns in training stays true")

    private = f.needs_private_knowledge  # given, or inferred once from the text (generator.answers.inference)
    if private:
        _add(scores, reasons, "private_knowledge",
             {"rag": 2, "rag_and_fine_tune": 2, "prompting": -2, "few_shot": -2, "fine_tune": -1},
             "answers depend on documents the model has never seen: retrieve them; fine-tuning teaches "
             "format, not facts")
    else:
        _add(scores, reasons, "private_knowledge", {"rag": -1, "rag_and_fine_tune": -1},
             "no private documents are needed: retrieval adds latency and cost for nothing")

    structured = load_tasks().task(f.task_type).structured
    format_pain = any(w in (inp.answers.current_limitations or "").lower() for w in FORMAT_WORDS)
    if structured or format_pain:
        why = []
        if structured:
            why.append(f"a {f.task_type} task has a fixed output space that examples teach better than prose")
        if format_pain:
            why.append("the current limitations name format/style/label consistency")
        _add(scores, reasons, "format_consistency",
             {"fine_tune": 2, "rag_and_fine_tune": 1, "few_shot": 1, "prompting": -1}, "; ".join(why))
    else:
        _add(scores, reasons, "format_consistency", {"prompting": 1, "few_shot": 1},
             f"a {f.task_type} task without named format problems: instructions may be enough")

    prompt_tokens_month = f.monthly_requests * (f.current_prompt_tokens + f.avg_input_tokens)
    if prompt_tokens_month >= HIGH_VOLUME_PROMPT_TOKENS:
        _add(scores, reasons, "volume_and_prompt_length",
             {"fine_tune": 2, "rag_and_fine_tune": 1, "few_shot": -2, "prompting": -1},
             f"{f.monthly_requests:,} requests/month x {f.current_prompt_tokens + f.avg_input_tokens:,.0f} "
             f"prompt tokens = {prompt_tokens_month / 1e9:.1f}B tokens/month: a tuned small model with a short "
             "prompt cuts that bill")
    elif f.monthly_requests < LOW_VOLUME_REQUESTS:
        _add(scores, reasons, "volume_and_prompt_length",
             {"fine_tune": -1, "rag_and_fine_tune": -1, "prompting": 1},
             f"only {f.monthly_requests:,} requests/month: training and hosting cannot pay back")
    else:
        _add(scores, reasons, "volume_and_prompt_length", {},
             "moderate volume: cost does not decide")

    if f.latency_p95_ms is not None and f.latency_p95_ms < TIGHT_LATENCY_MS:
        _add(scores, reasons, "latency",
             {"fine_tune": 2, "rag": -1, "rag_and_fine_tune": -1, "few_shot": -1, "prompting": -1},
             f"p95 latency budget {f.latency_p95_ms:.0f} ms: a small tuned model with a short prompt answers "
             "fastest; retrieval and long prompts add time")

    minimum = int(s.value("data.minimum_examples"))
    floor = int(s.value("data.hard_floor_examples"))
    n = f.examples_available
    if n < floor:
        _add(scores, reasons, "data_volume",
             {"fine_tune": -3, "rag_and_fine_tune": -3, "few_shot": 2, "prompting": 1},
             f"{n:,} labelled examples is below the {floor}-example floor where tuning shows an effect "
             f"({s.source('data.hard_floor_examples')})")
    elif n < minimum:
        _add(scores, reasons, "data_volume", {"fine_tune": -1, "rag_and_fine_tune": -1, "few_shot": 1},
             f"{n:,} examples is under the {minimum} ftplan asks for a trustworthy held-out set")
    else:
        bonus = 2 if n >= 10 * minimum else 1
        _add(scores, reasons, "data_volume", {"fine_tune": bonus, "rag_and_fine_tune": bonus},
             f"{n:,} labelled examples: enough to train and to hold out a frozen test set")

    if f.baseline_score is not None and f.target_score is not None:
        gap = f.target_score - f.baseline_score
        if gap <= 0.02:
            _add(scores, reasons, "baseline_gap", {"prompting": 1, "few_shot": 1, "fine_tune": -1},
                 f"the current approach ({f.baseline_score:.2f}) is within {gap:.2f} of the target: "
                 "better prompts may close it")
        elif gap >= 0.05:
            _add(scores, reasons, "baseline_gap", {"fine_tune": 1, "rag_and_fine_tune": 1, "prompting": -1},
                 f"a {gap:.2f} gap between current ({f.baseline_score:.2f}) and target ({f.target_score:.2f}) "
                 "is more than prompt tweaks usually close")

    if f.data_sensitivity == "restricted":
        hosted = inp.answers.provider != "open_source"
        _add(scores, reasons, "data_sensitivity",
             {"fine_tune": 1, "prompting": -2 if hosted else 0, "few_shot": -2 if hosted else 0,
              "rag": -1 if hosted else 0},
             "restricted data may not leave your machines: open weights on your own GPU keep it in"
             + ("; the hosted provider's prompting does not" if hosted else ""))

    if inp.answers.budget == "minimal":
        _add(scores, reasons, "budget", {"fine_tune": -1, "rag_and_fine_tune": -2, "prompting": 1},
             "a minimal budget favours what needs no training run or extra infrastructure")

    rows = [MatrixRow(option=o, scores=scores[o], total=sum(scores[o].values()), reasons=reasons[o])
            for o in ordered]
    best = max(rows, key=lambda r: (r.total, -simplicity[r.option]))
    if n < floor and best.option in ("fine_tune", "rag_and_fine_tune"):
        best = max((r for r in rows if "fine_tune" not in r.option), key=lambda r: r.total)
    warranted = best.option in ("fine_tune", "rag_and_fine_tune")

    proof = [
        f"Freeze a held-out set before any training and score the current approach on it "
        f"({f.metric or 'the success metric'}): that is the baseline every later number is compared with.",
        "Run zero-shot and few-shot prompting of the chosen base model on the same held-out set "
        "(`make baseline`): fine-tuning is justified only if these stay below the target.",
    ]
    if private:
        proof.append("Measure retrieval recall@k on questions whose answer is in your documents before tuning.")
    runner_up = sorted(rows, key=lambda r: (-r.total, simplicity[r.option]))[1]
    names = load_tasks().options
    summary = f"{names[best.option]} scores {best.total:+d} against {runner_up.total:+d} for {names[runner_up.option]}"
    summary += " (the simpler option wins a tie)." if runner_up.total == best.total else "."
    return Decision(recommendation=best.option, summary=summary, matrix=rows, proof_required=proof,
                    fine_tune_warranted=warranted)


def apply_hard_rules(inp: Inputs, decision: Decision, break_even_month: int | None) -> Decision:
    """Rules that overrule the score: fine-tuning is not recommended when the gain cannot be seen or paid for.

    1. noise: the gap from baseline to target is smaller than the difference the available held-out set can
       resolve (evaluation.resolvable_delta), so no evaluation could show that tuning reached it;
    2. payback: tuning does not pay back within the 12-month horizon and quality is not the blocker (the gap is
       at most hard_rules.quality_gap_small) and nothing else (restricted data) demands it;
    3. retrieval first: RAG + fine-tuning with no measured baseline becomes RAG alone, measured first.
    """
    from generator.plan.evaluation import resolvable_delta

    f, s = inp.facts, inp.settings
    if not decision.fine_tune_warranted:
        return decision
    fired: list[str] = []
    gap = (f.target_score - f.baseline_score
           if f.baseline_score is not None and f.target_score is not None else None)
    if gap is not None and gap > 0:
        n = f.heldout_available or int(min(s.value("data.heldout_max"),
                                           f.examples_available * 2 * float(s.raw("data.split")["heldout"])))
        noise = resolvable_delta(inp, n)
        if gap < noise:
            fired.append(f"noise: the {gap:.3f} gap from {f.baseline_score:g} to {f.target_score:g} is below the "
                         f"{noise:.3f} difference a held-out set of {n:,} items can resolve (alpha "
                         f"{s.value('evaluation.alpha')}, power {s.value('evaluation.power')}): no evaluation "
                         "could show fine-tuning reached the target")
    small = float(s.value("hard_rules.quality_gap_small"))
    quality_ok = gap is not None and gap <= small
    if break_even_month is None and quality_ok and f.data_sensitivity != "restricted":
        fired.append(f"payback: fine-tuning does not pay back within 12 months and quality is not the blocker "
                     f"(the gap is {gap:.3f}, at most {small:g}: {s.source('hard_rules.quality_gap_small')})")
    if decision.recommendation == "rag_and_fine_tune" and f.baseline_score is None:
        fired.append("retrieval first: no baseline is known, so build and measure retrieval alone before adding "
                     "fine-tuning; tune only if the RAG baseline misses the target on format or style")
    if not fired:
        return decision
    simplicity = {opt: i for i, opt in enumerate(options())}
    allowed = [r for r in decision.matrix if "fine_tune" not in r.option]
    if fired[-1].startswith("retrieval first"):
        allowed = [r for r in allowed if r.option == "rag"]
    best = max(allowed, key=lambda r: (r.total, -simplicity[r.option]))
    names = load_tasks().options
    summary = (f"{names[best.option]}: hard rule(s) fired before the score — " + "; ".join(fired) + ".")
    return Decision(recommendation=best.option, summary=summary, matrix=decision.matrix,
                    proof_required=decision.proof_required, fine_tune_warranted=False, rules_fired=fired)
