"""Facts the user did not give, inferred once from the answers (and from `--data` measurements).

A pure function of (answers, data stats): a given fact always wins; a measured one beats an inferred one; an
inferred one beats a documented default. Every filled fact is returned as an `Inferred` note saying where it
came from, and the plan lists each. The keyword tables here are inference heuristics, not task knowledge:
task types and their metrics are configs/tasks.yaml's.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Literal

from generator.answers import text_facts
from generator.answers.schema import MAX_EXAMPLES, Answers, EffectiveFacts, Freshness
from generator.answers.text_facts import script_share
from generator.record import Record
from generator.tasks import load_tasks


class Inferred(Record):
    """A fact the user did not give: its value and how it was obtained (kind: inferred, measured, default)."""

    field: str
    value: Any
    how: str
    kind: Literal["inferred", "measured", "default", "warning"] = "inferred"


class DataStats(Record):
    """What `measure_data` counted in a JSONL file of training examples."""

    path: str
    count: int
    avg_input_tokens: int
    avg_output_tokens: int
    formats: dict[str, int]
    labels: tuple[str, ...] | None  # the distinct outputs, when they look like a small label set


# OpenAI, "What are tokens and how to count them" (help.openai.com): 1 token ~ 4 characters of English text.
CHARS_PER_TOKEN = 4
# Outputs this short (in words) with no sentence punctuation read as labels.
LABEL_MAX_WORDS = 3
# Summaries: outputs under half the input length (in characters) that are still prose.
SUMMARY_MAX_RATIO = 0.5
MAX_LABELS = 50  # more distinct outputs than this is not a label set the plan can report

# Defaults for facts nobody gave, each with the reason the plan prints.
DEFAULT_MONTHLY_REQUESTS = 100_000
DEFAULT_LATENCY_P95_MS = 2000
# A human label at ~$15/hour taking ~25 s is $0.10 (US crowd-work wage levels; override with your own rate).
DEFAULT_LABELING_COST_USD = 0.10
# Instructions in a typical production prompt before the few-shot examples and the input.
DEFAULT_INSTRUCTION_TOKENS = 300
_USE_CASE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("translation", ("translat",)),
    ("summarization", ("summar", "tl;dr", "condense")),
    ("extraction", ("extract", "parse", "pull out", "fill in the fields")),
    ("classification", ("classif", "categor", "route", "triage", "label", "tag ", "detect", "sentiment")),
    ("code", ("code", "sql", "python", "function", "program")),
    ("qa", ("answer question", "question answering", "faq", "q&a")),
    ("chat", ("chat", "conversation", "assistant", "dialog")),
)
_FRESHNESS_KEYWORDS: tuple[tuple[Freshness, tuple[str, ...]], ...] = (
    ("realtime", ("real-time", "realtime", "live ", "stock price", "current price", "inventory")),
    ("periodic", ("weekly", "monthly", "latest", "updated", "changes often", "new products", "news")),
)
# Words that say the answers depend on documents the model has never seen (retrieval's case). The second
# half are symptoms of missing knowledge: a model that is outdated, hallucinates or does not know.
PRIVATE_KEYWORDS = ("knowledge base", "documentation", "internal doc", "our docs", "wiki", "policies",
                    "policy documents", "product catalog", "manuals", "our documents", "internal documents",
                    "the documents", "outdated", "stale",
                    "doesn't know", "does not know", "latest", "policy changes", "hallucinat")  # fmt: skip
# Numbers and the noun after them are matched in two linear steps (no nested quantifiers: user text can be
# megabytes long and must not make a regex backtrack).
_NUMBER = re.compile(r"\d[\d,._]*")
# A count written with more digits than this is no count (and float() of 400 digits overflows).
MAX_NUMBER_DIGITS = 15
_EXAMPLE_NOUN = re.compile(
    r"\s?([km])?\+?\s+(?:[\w/-]{1,30}\s+){0,2}?"
    r"(examples?|tickets?|rows?|pairs?|records?|samples?|documents?|emails?|conversations?|messages?|items?|"
    r"contracts?|letters?|posts?|queries|query|questions?|chats?|reviews?|transcripts?|calls?|notes?|reports?|"
    r"articles?|sentences?|texts?|cases?|claims?|receipts?|invoices?|reply pairs|dialogues?|snippets?|files?)\b",
    re.IGNORECASE,
)
# Counts that are not training examples even when a data noun follows ("12,000 preference pairs", "90,000
# unlabelled tickets": inputs without the outputs training needs).
_NOT_EXAMPLES = ("preference", "held-out", "heldout", "hold-out", "benchmark", "test set", "audit", "unlabelled",
                 "unlabeled", "unannotated", "without labels", "raw ")
_CODE_SNIPPETS = ("```", "#include", "=>", "};")
_CODE_DEFINITION = re.compile(r"\b(?:def|function|fn|func|class)\s+\w+\s?[(:{]")


def _looks_like_code(text: str) -> bool:
    low = text.lower()
    if any(snippet in text for snippet in _CODE_SNIPPETS) or _CODE_DEFINITION.search(text):
        return True
    if re.search(r"\bselect\b", low) and re.search(r"\bfrom\b", low):
        return True
    return bool(re.search(r"\breturn\b", text)) and ";" in text


@functools.cache
def _rates() -> dict[str, float]:
    """Characters per token of the scripts a 4-character rule undercounts (planning.yaml, sourced)."""
    from generator.plan.settings import load_settings  # the planner's module; imported when text needs it

    table = load_settings().raw("data.chars_per_token_by_script")
    return {k: float(v) for k, v in table.items() if k != "source"}


def estimate_tokens(text: str) -> int:
    """~4 characters per token for Latin-like text; CJK, Thai and Devanagari at their own rates."""
    if text.isascii():
        return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))
    counts = script_share(text)
    rates = _rates()
    other = len(text) - sum(counts.values())
    tokens = other / CHARS_PER_TOKEN + sum(n / rates[script] for script, n in counts.items() if n)
    return max(1, math.ceil(tokens))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict | list)
    except (ValueError, RecursionError):
        return False


def looks_like_label(text: str) -> bool:
    return (
        len(text.split()) <= LABEL_MAX_WORDS and not re.search(r"[.!?]\s|[.!?]$", text) and "\n" not in text
    )


def infer_task_type(answers: Answers) -> tuple[str, str]:
    """The task type and how it was decided: output shape first (hard evidence), then the use-case words."""
    outputs = [p.output for p in answers.example_pairs]
    inputs = [p.input for p in answers.example_pairs]
    use_case = f" {answers.use_case.lower()} "
    if outputs and all(_is_json_object(o) for o in outputs):
        return "extraction", "every example output is a JSON object"
    if outputs and all(_looks_like_code(o) for o in outputs):
        return "code", "every example output looks like code"
    if (
        outputs
        and all(looks_like_label(o) for o in outputs)
        and not any(w in use_case for w in ("translat",))
    ):
        distinct = len(set(outputs))
        return (
            "classification",
            f"every example output is a short label ({distinct} distinct of {len(outputs)})",
        )
    for task, words in _USE_CASE_KEYWORDS:
        hit = next((w for w in words if w in use_case), None)
        if hit:
            return task, f"use_case mentions '{hit.strip()}'"
    in_chars, out_chars = sum(map(len, inputs)), sum(map(len, outputs))
    if in_chars and out_chars < SUMMARY_MAX_RATIO * in_chars:
        return "summarization", f"outputs are {out_chars / in_chars:.0%} of the inputs' length, in prose"
    return "generation", "no sign of labels, JSON, code or summaries in the example pairs"


def _examples_from_text(text: str) -> tuple[int, str] | None:
    """The largest "N examples/tickets/rows" count mentioned in the training_data description."""
    best: tuple[int, str] | None = None
    for number in _NUMBER.finditer(text):
        noun = _EXAMPLE_NOUN.match(text, number.end())
        if noun is None:
            continue
        scale = {"k": 1000, "m": 1_000_000}.get((noun.group(1) or "").lower(), 1)
        raw = number.group(0).rstrip(",._")
        # "12.5k" is a decimal; in "40,000" or "40.000" the separators group thousands.
        digits = raw.replace(",", "").replace("_", "") if scale > 1 else re.sub(r"\D", "", raw)
        if len(digits) > MAX_NUMBER_DIGITS:
            continue
        try:
            value = int(float(digits) * scale)
        except (ValueError, OverflowError):
            continue
        quote = text[number.start() : noun.end()].strip()
        if any(w in quote.lower() for w in _NOT_EXAMPLES):
            continue
        if value <= MAX_EXAMPLES and (best is None or value > best[0]):
            best = (value, quote)
    return best


# Example inputs this many times shorter than the length the text describes are not representative.
SHORT_PAIRS_FACTOR = 4
_RATE_NOTE = f"1 token ~ {CHARS_PER_TOKEN} characters; CJK, Thai, Devanagari at planning.yaml's own rates"
# Words that say the data is a time series: a random split would leak the future into training.
TIME_ORDER_WORDS = ("time-ordered", "time ordered", "chronolog", "time series", "time-series", "timestamped",
                    "drifts over time", "by date")
OWNED_WORDS = ("our own gpu", "our own rtx", "our own a100", "our own h100", "we own", "on-prem", "on prem",
               "in-house gpu", "our workstation", "our server")


# Facts whose absence means "none known" (no frozen set, no pairs, no user count): left unset, not defaulted
# with a note, unless the text states them.
UNSET_MEANS_NONE = ("heldout_available", "validation_available", "preference_pairs_available",
                    "monthly_active_users", "engineering_weeks", "ab_min_days", "p95_input_tokens",
                    "max_input_tokens", "current_model", "owned_gpus")


def _length_rates() -> tuple[float, float, float]:
    from generator.plan.settings import load_settings  # the planner's module; imported when text needs it

    s = load_settings()
    return (float(s.value("data.words_per_page")), float(s.value("data.tokens_per_word")),
            float(s.value("data.spoken_words_per_minute")))


def current_model_in(text: str) -> tuple[str, str] | None:
    """(catalog id, the words) of a hosted model the text names: planning.yaml hosted_inference's names."""
    from generator.plan.settings import load_settings

    low = " " + re.sub(r"\s+", " ", text.lower()) + " "
    found: list[tuple[int, str, str]] = []
    for model in load_settings().raw("hosted_inference")["models"]:
        for name in model["names"]:
            at = low.find(name.lower())
            # a name must not be the start of a longer one ("gpt-4o" in "gpt-4o-mini")
            while at >= 0 and (low[at + len(name)].isalnum() or low[at + len(name)] in "-." and
                               low[at + len(name) + 1].isalnum()):
                at = low.find(name.lower(), at + 1)
            if at >= 0:
                found.append((-len(name), model["id"], name))
    if not found:
        return None
    _, model_id, name = min(found)
    return model_id, name


def _second_wave_facts(answers: Answers, fields: dict[str, str], lengths: list[text_facts.Length],
                       values: dict[str, Any], put: Any) -> None:
    """Facts the plan needs for held-out, licence, ROI, context and effort, from the text when it says them."""
    given = answers.facts
    for name in UNSET_MEANS_NONE:
        values[name] = getattr(given, name)
    finders = (("heldout_available", text_facts.heldout_available, int),
               ("validation_available", text_facts.validation_available, int),
               ("preference_pairs_available", text_facts.preference_pairs, int),
               ("monthly_active_users", text_facts.monthly_active_users, int),
               ("engineering_weeks", text_facts.engineering_weeks, float),
               ("ab_min_days", text_facts.ab_min_days, int))
    # What exists is in training_data and current_approach; success_criteria describes what will be measured.
    existing = {k: v for k, v in fields.items() if k in ("training_data", "current_approach")}
    for name, finder, kind in finders:
        if values[name] is not None:
            continue
        found = finder(existing if name in ("heldout_available", "validation_available") else fields)
        if found is not None:
            put(name, kind(found.value), f"{found.field} says '{found.quote}'", "inferred")
    p95 = [x for x in lengths if x.kind == "p95"]
    if values["p95_input_tokens"] is None and p95:
        top = max(p95, key=lambda x: x.tokens)
        put("p95_input_tokens", top.tokens, f"{top.field} says '{top.quote}'", "inferred")
    if values["current_model"] is None:
        named = current_model_in(answers.current_approach)
        if named:
            put("current_model", named[0], f"current_approach names '{named[1]}'", "inferred")
    if values["owned_gpus"] is None:
        text = " ".join(fields.values()).lower()
        word = next((w for w in OWNED_WORDS if w in text), None)
        if answers.infrastructure == "local":
            put("owned_gpus", True, "infrastructure: local — your own GPUs cost power and amortisation, "
                "not rental", "default")
        elif word:
            put("owned_gpus", True, f"the answers mention '{word}'", "inferred")
    text = " ".join(fields.values()).lower()
    word = next((w for w in TIME_ORDER_WORDS if w in text), None)
    values["time_ordered"] = word is not None
    if word:
        put("time_ordered", True, f"the answers mention '{word}': split by time, not at random", "inferred")
    for name, empty in (("heldout_available", 0), ("validation_available", 0), ("preference_pairs_available", 0),
                        ("ab_min_days", 0), ("p95_input_tokens", 0), ("max_input_tokens", 0),
                        ("owned_gpus", False)):
        if values[name] is None:
            values[name] = empty


def default_metric(task_type: str) -> str:
    """The success metric when none is given: the task's primary metric in configs/tasks.yaml."""
    return load_tasks().task(task_type).metrics[0]


def private_knowledge_mention(answers: Answers) -> tuple[str, str] | None:
    """(field, words) of the first mention of private documents in the prose fields, or None."""
    for name, text in answers.free_text().items():
        low = text.lower()
        word = next((w for w in PRIVATE_KEYWORDS if w in low), None)
        if word is not None:
            return name, word
    return None


def infer_facts(answers: Answers, stats: DataStats | None) -> tuple[EffectiveFacts, list[Inferred]]:
    """Fill every missing fact: given > measured (--data) > inferred from the answers > documented default."""
    given = answers.facts
    notes: list[Inferred] = []
    values: dict[str, Any] = {}

    filled: set[str] = set()

    def put(name: str, value: Any, how: str, kind: Literal["inferred", "measured", "default"]) -> None:
        """Fill `name` once: a given fact, else the first (most specific) call's value."""
        current = getattr(given, name, None)
        if current is not None:
            values[name] = current
            return
        if name in filled:
            return
        filled.add(name)
        values[name] = value
        notes.append(Inferred(f"facts.{name}", value, how, kind))

    pairs = answers.example_pairs
    fields = answers.free_text()
    lengths = text_facts.lengths(fields, *_length_rates())
    task, how = infer_task_type(answers)
    put("task_type", task, how, "inferred")

    if stats is not None and stats.count:
        put("examples_available", stats.count, f"counted {stats.count} rows in {stats.path}", "measured")
        put(
            "avg_input_tokens",
            stats.avg_input_tokens,
            f"measured in {stats.path}, 1 token ~ {CHARS_PER_TOKEN} characters",
            "measured",
        )
        put(
            "avg_output_tokens",
            stats.avg_output_tokens,
            f"measured in {stats.path}, 1 token ~ {CHARS_PER_TOKEN} characters",
            "measured",
        )
    else:
        from_text = _examples_from_text(answers.training_data)
        if from_text:
            put("examples_available", from_text[0], f"training_data says '{from_text[1]}'", "inferred")
        else:
            put(
                "examples_available",
                len(pairs),
                "only the example pairs are known: set facts.examples_available "
                "to the labelled examples you have",
                "default",
            )
        if pairs:
            avg_in = round(sum(estimate_tokens(p.input) for p in pairs) / len(pairs))
            avg_out = round(sum(estimate_tokens(p.output) for p in pairs) / len(pairs))
        else:
            avg_in = avg_out = 1
        approx = f"averaged over the {len(pairs)} example pairs ({_RATE_NOTE})"
        stated = [x for x in lengths if x.kind == "input"]
        placeholders = [i for i, p in enumerate(pairs) if text_facts.is_placeholder(p.input)]
        if placeholders:
            notes.append(Inferred(
                "example_pairs", "", f"input(s) {', '.join(str(i) for i in placeholders)} are placeholders "
                f"({pairs[placeholders[0]].input.strip()[:60]!r}), not real inputs: their length says nothing "
                "— set facts.avg_input_tokens and facts.p95_input_tokens, or measure real data with --data",
                "warning"))
        if stated and max(x.tokens for x in stated) > SHORT_PAIRS_FACTOR * avg_in:
            biggest = max(stated, key=lambda x: x.tokens)
            notes.append(Inferred(
                "example_pairs", "", f"the example inputs average ~{avg_in:,} tokens but {biggest.field} describes "
                f"'{biggest.quote}' (~{biggest.tokens:,} tokens): the pairs are far shorter than the real inputs; "
                "the plan uses the described length", "warning"))
            put("avg_input_tokens", biggest.tokens, f"{biggest.field} says '{biggest.quote}'", "inferred")
        put("avg_input_tokens", max(1, avg_in), approx, "inferred")
        put("avg_output_tokens", max(1, avg_out), approx, "inferred")

    put(
        "monthly_requests",
        DEFAULT_MONTHLY_REQUESTS,
        "unknown: assumed a mid-sized production workload; set facts.monthly_requests",
        "default",
    )
    put(
        "latency_p95_ms",
        DEFAULT_LATENCY_P95_MS,
        f"unknown: assumed an interactive request, {DEFAULT_LATENCY_P95_MS} ms p95; set facts.latency_p95_ms",
        "default",
    )

    text = f" {answers.use_case} {answers.current_limitations} {answers.training_data} ".lower()
    text = re.sub(r"monthly\s+(active\s+)?(users|requests|volume|customers|visitors)", " ", text)
    fresh = next(((f, w) for f, words in _FRESHNESS_KEYWORDS for w in words if w in text), None)
    if fresh:
        put("knowledge_freshness", fresh[0], f"the answers mention '{fresh[1].strip()}'", "inferred")
    else:
        put("knowledge_freshness", "static", "nothing suggests the knowledge changes", "default")
    private = private_knowledge_mention(answers)
    if private:
        put("needs_private_knowledge", True, f"{private[0]} mentions '{private[1]}'", "inferred")
    else:
        put("needs_private_knowledge", False, "no private documents mentioned", "default")
    put(
        "data_sensitivity",
        "internal",
        "unknown: assumed business data that may go to your own cloud account",
        "default",
    )
    put(
        "commercial_use",
        True,
        "unknown: assumed commercial, so non-commercial model licenses are excluded",
        "default",
    )
    put("languages", ["en"], "unknown: assumed English; set facts.languages", "default")
    values["gpu"] = given.gpu
    put("gpu_count", 1, "unknown: one GPU", "default")
    values["baseline_score"] = given.baseline_score
    values["target_score"] = given.target_score
    put(
        "metric",
        default_metric(values["task_type"]),
        f"configs/tasks.yaml's primary metric for {values['task_type']}",
        "default",
    )
    put(
        "labeling_cost_per_example_usd",
        DEFAULT_LABELING_COST_USD,
        "unknown: ~25 s of a $15/hour annotator per example",
        "default",
    )
    n_shots = len(pairs)
    prompt = DEFAULT_INSTRUCTION_TOKENS + n_shots * (values["avg_input_tokens"] + values["avg_output_tokens"])
    prompt += values["avg_input_tokens"]
    in_prompt = [x for x in lengths if x.kind == "prompt"]
    if in_prompt:
        pasted = max(in_prompt, key=lambda x: x.tokens)
        stated = pasted.tokens + values["avg_input_tokens"]
        put("current_prompt_tokens", stated,
            f"{pasted.field} says '{pasted.quote}' (~{pasted.tokens:,} tokens) + the input "
            f"(~{values['avg_input_tokens']:,} tokens)", "inferred")
    put(
        "current_prompt_tokens",
        prompt,
        f"assumed ~{DEFAULT_INSTRUCTION_TOKENS} tokens of instructions + your "
        f"{n_shots} example pairs as few-shot + the input",
        "inferred",
    )
    _second_wave_facts(answers, fields, lengths, values, put)

    labels: list[str] = []
    if values["task_type"] == "classification":
        if stats is not None and stats.labels:
            labels = list(stats.labels)
        else:
            labels = list(dict.fromkeys(p.output for p in pairs if looks_like_label(p.output)))
    values["labels"] = labels
    return EffectiveFacts(**values), notes
