"""The people-time a fine-tuning project costs: what one labelled example costs, and how many engineer-weeks the
plan's scope takes. Both read planning.yaml `labeling` and `engineering`; a given fact always wins.

Labelling: seconds per example = reading the input and the output (labeling.reading_words_per_minute) + producing
the output (a label choice, copying fields at typing speed, or writing it at a share of typing speed) x the hourly
cost of the annotator the task needs: an expert occupation the answers name (or the task type demands), else
skilled staff the answers name, else a crowd workforce.
"""

from __future__ import annotations

import re

from generator.plan.inputs import Inputs
from generator.plan.records import Assumption
from generator.plan.settings import Settings
from generator.record import Record
from generator.tasks import load_tasks

SECONDS_PER_HOUR = 3600
# Fields that describe who labels, searched first: what the training data says outranks the use case's words.
_LABEL_FIELDS = ("training_data", "current_approach", "use_case", "current_limitations", "success_criteria")


class LabelRate(Record):
    """The cost of one labelled example and how it was priced."""

    usd: float
    tier: str  # "given", "crowd", "skilled" or the expert occupation
    seconds: float
    usd_per_hour: float
    why: str


class EffortTerm(Record):
    name: str
    weeks: float
    why: str


def _words_in(text: str, words: list[str]) -> str | None:
    """The first of `words` that starts a word in `text` (lower-cased)."""
    return next((w for w in words if re.search(r"\b" + re.escape(w.lower()), text)), None)


def annotator(s: Settings, task_type: str, fields: dict[str, str]) -> tuple[str, float, str]:
    """(tier, $ per hour of employer cost, why) of whoever must label this task."""
    lab = s.raw("labeling")
    share = float(s.value("labeling.wage_share_of_employer_cost"))
    loaded = f"/ {share:g} wage share of employer cost ({s.source('labeling.wage_share_of_employer_cost')})"
    rows = {r["occupation"]: r for r in lab["experts"]["rows"]}
    found: list[tuple[float, str, str]] = []
    for name in _LABEL_FIELDS:
        text = (fields.get(name) or "").lower()
        for row in rows.values():
            word = _words_in(text, row["words"])
            if word:
                found.append((float(row["wage_usd_per_hour"]), row["occupation"], f"{name} mentions '{word}'"))
    by_task = lab["expert_by_task"].get(task_type)
    if by_task:
        found.append((float(rows[by_task]["wage_usd_per_hour"]), by_task, f"a {task_type} task needs a {by_task}"))
    if found:
        wage, occupation, reason = max(found, key=lambda x: x[0])
        row = rows[occupation]
        return occupation, wage / share, (f"expert labelling ({reason}): {occupation} median ${wage:.2f}/hour "
                                          f"({row['source']}) {loaded}")
    skilled = lab["skilled"]
    for name in _LABEL_FIELDS:
        word = _words_in((fields.get(name) or "").lower(), skilled["words"])
        if word:
            wage = float(skilled["wage_usd_per_hour"])
            return "skilled", wage / share, (f"skilled staff ({name} mentions '{word}'): ${wage:.2f}/hour "
                                             f"({skilled['source']}) {loaded}")
    crowd = lab["crowd"]
    return "crowd", float(crowd["usd_per_hour"]), (f"no expert or staff named in the answers: a crowd workforce at "
                                                   f"${float(crowd['usd_per_hour']):.2f}/hour ({crowd['source']})")


def seconds_per_example(s: Settings, task_type: str, input_tokens: float, output_tokens: float) -> tuple[float, str]:
    """Reading the input and the output, then producing the output the way the task type does."""
    per_word = float(s.value("data.tokens_per_word"))
    read_wpm = float(s.value("labeling.reading_words_per_minute"))
    type_wpm = float(s.value("labeling.typing_words_per_minute"))
    in_words, out_words = input_tokens / per_word, output_tokens / per_word
    reading = (in_words + out_words) / read_wpm * 60
    work = s.raw("labeling.output_work")[task_type]
    if work == "choose":
        producing = float(s.value("labeling.decision_seconds"))
        how = f"{producing:g} s to pick the label ({s.source('labeling.decision_seconds')})"
    elif work == "transcribe":
        producing = out_words / type_wpm * 60
        how = f"{out_words:,.0f} words copied out at {type_wpm:g} wpm ({s.source('labeling.typing_words_per_minute')})"
    else:
        share = float(s.value("labeling.composing_share_of_typing"))
        producing = out_words / (type_wpm * share) * 60
        how = (f"{out_words:,.0f} words written at {type_wpm * share:g} wpm ({type_wpm:g} wpm typing x {share:g}: "
               f"{s.source('labeling.composing_share_of_typing')})")
    why = (f"{reading + producing:,.0f} s per example: reading {in_words + out_words:,.0f} words at {read_wpm:g} wpm "
           f"({s.source('labeling.reading_words_per_minute')}) + {how}")
    return reading + producing, why


def label_rate(inp: Inputs) -> LabelRate:
    """What one more labelled example costs: facts.labeling_cost_per_example_usd when you gave it, else priced
    from the task's reading and writing time and the annotator it needs."""
    f, s = inp.facts, inp.settings
    if inp.answers.facts.labeling_cost_per_example_usd is not None:
        usd = f.labeling_cost_per_example_usd
        return LabelRate(usd=usd, tier="given", seconds=0.0, usd_per_hour=0.0,
                         why=f"${usd:.2f} per example (facts.labeling_cost_per_example_usd)")
    tier, hourly, who = annotator(s, f.task_type, inp.answers.free_text())
    seconds, how = seconds_per_example(s, f.task_type, f.avg_input_tokens, f.avg_output_tokens)
    usd = seconds / SECONDS_PER_HOUR * hourly
    return LabelRate(usd=usd, tier=tier, seconds=seconds, usd_per_hour=hourly,
                     why=f"${usd:.2f} per example = {how} x ${hourly:.2f}/hour, {who}")


LABELING_FACT = "facts.labeling_cost_per_example_usd"


def with_label_rate(inp: Inputs) -> Inputs:
    """`inp` with facts.labeling_cost_per_example_usd priced for this task (when you did not give it), and the
    assumption that says how: every part of the plan that prices labelling then reads the same number."""
    if inp.answers.facts.labeling_cost_per_example_usd is not None:
        return inp
    rate = label_rate(inp)
    facts = inp.facts.model_copy(update={"labeling_cost_per_example_usd": round(rate.usd, 4)})
    note = Assumption(field=LABELING_FACT, value=f"{rate.usd:.4f}", how=rate.why, kind="inferred")
    kept = [a for a in inp.assumptions if a.field != LABELING_FACT]
    return Inputs(answers=inp.answers, facts=facts, catalog=inp.catalog, settings=inp.settings, today=inp.today,
                  assumptions=[*kept, note])


def engineering_terms(inp: Inputs, to_label: int, hosted: bool, gpus: int, preference: bool) -> list[EffortTerm]:
    """The engineer-weeks of this plan's scope, term by term (planning.yaml engineering.weeks). `to_label`: new
    examples to collect (a held-out re-annotation is data preparation, priced as labour)."""
    f, s = inp.facts, inp.settings

    def term(name: str, why: str = "") -> EffortTerm:
        key = f"engineering.weeks.{name}"
        return EffortTerm(name=name, weeks=float(s.value(key)), why=f"{why}; {s.source(key)}" if why else s.source(key))

    terms = [term("base"), term("data_preparation")]
    if to_label:
        terms.append(term("labelling", f"{to_label:,} more examples to label"))
    tasks = load_tasks()
    metric = tasks.metric(tasks.canonical_metric(f.metric))
    if not metric.builtin:
        terms.append(term("custom_metric", f"'{f.metric}' is your own metric: scripts/user_metrics.py"))
    elif metric.name in s.value("engineering.metrics_needing_setup"):
        terms.append(term("metric_setup", f"'{metric.name}' needs something of yours wired into eval.yaml"))
    if preference:
        terms.append(term("preference", "the plan has a DPO stage after SFT"))
    if gpus > 1:
        terms.append(term("multi_gpu", f"training on {gpus} GPUs"))
    terms.append(term("serving_hosted") if hosted else term("serving_open_weights"))
    return terms
