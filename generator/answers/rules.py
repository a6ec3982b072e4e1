"""Cross-field rules in three tiers, each a small named function of validated answers.

Adjustments run first (so the others see clean values) and every one is listed in the plan with its reason;
errors stop loading and are reported all at once; warnings are printed and planned around.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from typing import Any

from generator.answers.schema import HOSTED_PROVIDERS, MAX_EXAMPLE_PAIRS, MIN_EXAMPLE_PAIRS, Answers
from generator.errors import Problem
from generator.record import Record
from generator.tasks import load_tasks


class Adjustment(Record):
    """A value ftplan changed, and why (the plan lists every one)."""

    field: str
    old: Any
    new: Any
    reason: str


ErrorRule = Callable[[Answers], "Problem | None"]
AdjustRule = Callable[[Answers], "tuple[Answers, list[Adjustment]]"]


def check_enough_example_pairs(a: Answers) -> Problem | None:
    if len(a.example_pairs) >= MIN_EXAMPLE_PAIRS:
        return None
    return Problem(
        "example_pairs",
        f"needs at least {MIN_EXAMPLE_PAIRS} pairs, got {len(a.example_pairs)}",
        "add representative `- {input: ..., output: ...}` pairs (3-5) so the task's pattern is visible",
    )


def check_target_above_baseline(a: Answers) -> Problem | None:
    base, target = a.facts.baseline_score, a.facts.target_score
    if base is None or target is None or target > base:
        return None
    return Problem(
        "facts.target_score",
        f"must be above facts.baseline_score ({base}), got {target}",
        "set the score fine-tuning must reach, higher than what you have today, e.g. "
        f"{min(1.0, round(base + 0.05, 2))}",
    )


def check_open_source_not_api(a: Answers) -> Problem | None:
    if not (a.provider == "open_source" and a.infrastructure == "api_fine_tune"):
        return None
    return Problem(
        "infrastructure",
        "api_fine_tune needs a hosted provider, but provider is open_source",
        "use infrastructure: cloud_gpu or local for open-weights models, or pick provider: openai | google",
    )


def check_local_has_gpu(a: Answers) -> Problem | None:
    if a.infrastructure != "local" or a.facts.gpu:
        return None
    return Problem(
        "facts.gpu",
        "is required when infrastructure is local (the plan must fit your GPU's memory)",
        "add `gpu: RTX-4090` (your card) under facts:, or use infrastructure: cloud_gpu",
    )


def check_restricted_data_not_uploaded(a: Answers) -> Problem | None:
    if not (a.facts.data_sensitivity == "restricted" and a.infrastructure == "api_fine_tune"):
        return None
    return Problem(
        "infrastructure",
        "api_fine_tune uploads the training data to the provider, but facts.data_sensitivity is restricted",
        "use infrastructure: local or cloud_gpu (your own account), or relax facts.data_sensitivity",
    )


_ISO_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def check_language_codes(a: Answers) -> Problem | None:
    bad = [lang for lang in a.facts.languages or [] if not _ISO_CODE.match(lang)]
    if not bad:
        return None
    return Problem(
        "facts.languages",
        f"not ISO 639-1 language codes: {', '.join(repr(b) for b in bad)}",
        "write codes such as [en, de, pt-br]",
    )


def check_examples_cover_pairs(a: Answers) -> Problem | None:
    have = a.facts.examples_available
    if have is None or have == 0 or have >= len(a.example_pairs):
        return None
    return Problem(
        "facts.examples_available",
        f"is {have}, fewer than the {len(a.example_pairs)} example pairs you gave",
        "give the number of labelled examples you have in total, e.g. 40000",
    )


def few_examples_threshold() -> int:
    """planning.yaml's data.minimum_examples (the one home of the 500-example minimum, with its source)."""
    from generator.plan.settings import load_settings  # the planner's module; imported when a rule needs it

    return int(load_settings().value("data.minimum_examples"))


def warn_many_example_pairs(a: Answers) -> Problem | None:
    if len(a.example_pairs) <= MAX_EXAMPLE_PAIRS:
        return None
    return Problem(
        "example_pairs",
        f"has {len(a.example_pairs)} pairs; {MIN_EXAMPLE_PAIRS}-{MAX_EXAMPLE_PAIRS} are expected",
        "keep the 3-5 most representative; put the rest in your training data (--data FILE.jsonl)",
    )


def warn_restricted_data_hosted_provider(a: Answers) -> Problem | None:
    if not (
        a.facts.data_sensitivity == "restricted"
        and a.provider in HOSTED_PROVIDERS
        and a.infrastructure != "api_fine_tune"
    ):
        return None
    return Problem(
        "provider",
        f"{a.provider} serves from its own cloud, but facts.data_sensitivity is restricted",
        "the plan keeps training on your machines; check that serving through the provider is allowed",
    )


def warn_few_examples(a: Answers) -> Problem | None:
    have = a.facts.examples_available
    if have is None:
        return None
    minimum = few_examples_threshold()
    if have >= minimum:
        return None
    return Problem(
        "facts.examples_available",
        f"{have} labelled examples is few for fine-tuning (under {minimum})",
        "expect the plan to favour prompting or few-shot; collect more examples to make tuning pay off",
    )


def warn_hosted_provider_local(a: Answers) -> Problem | None:
    if not (a.provider in HOSTED_PROVIDERS and a.infrastructure == "local"):
        return None
    return Problem(
        "provider",
        f"{a.provider}'s models cannot be trained on your own GPUs",
        "the plan uses an open-weights model on your GPU; set provider: open_source to make that explicit",
    )


def warn_duplicate_example_pairs(a: Answers) -> Problem | None:
    counts = Counter(p.input for p in a.example_pairs)
    dupes = sorted(text for text, n in counts.items() if n > 1)
    if not dupes:
        return None
    return Problem(
        "example_pairs",
        f"repeats the input {dupes[0]!r}",
        "give distinct inputs so the pairs show the range of the task",
    )


def warn_perfect_target(a: Answers) -> Problem | None:
    if a.facts.target_score != 1.0:
        return None
    return Problem(
        "facts.target_score",
        "1.0 is a perfect score; label noise alone usually makes it unreachable",
        "set the score that would be worth shipping, e.g. 0.95",
    )


def adjust_gpu_for_api_fine_tune(a: Answers) -> tuple[Answers, list[Adjustment]]:
    if a.infrastructure != "api_fine_tune" or (a.facts.gpu is None and a.facts.gpu_count is None):
        return a, []
    reason = "infrastructure is api_fine_tune: the provider chooses the hardware"
    changes = [
        Adjustment(f"facts.{name}", getattr(a.facts, name), None, reason)
        for name in ("gpu", "gpu_count")
        if getattr(a.facts, name) is not None
    ]
    facts = a.facts.model_copy(update={"gpu": None, "gpu_count": None})
    return a.model_copy(update={"facts": facts}), changes


_LANGUAGE_NAMES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "francais": "fr", "spanish": "es",
    "espanol": "es", "portuguese": "pt", "italian": "it", "dutch": "nl", "polish": "pl", "russian": "ru",
    "ukrainian": "uk", "turkish": "tr", "arabic": "ar", "hebrew": "he", "hindi": "hi", "bengali": "bn",
    "chinese": "zh", "mandarin": "zh", "japanese": "ja", "korean": "ko", "vietnamese": "vi", "thai": "th",
    "indonesian": "id", "swedish": "sv", "norwegian": "no", "danish": "da", "finnish": "fi", "czech": "cs",
    "greek": "el", "romanian": "ro", "hungarian": "hu",
}  # fmt: skip


def _language_code(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    lowered = plain.strip().lower().replace("_", "-")
    return _LANGUAGE_NAMES.get(lowered, lowered)


def adjust_languages(a: Answers) -> tuple[Answers, list[Adjustment]]:
    langs = a.facts.languages
    if langs is None:
        return a, []
    normalized: list[str] = []
    for lang in langs:
        code = _language_code(lang)
        if code not in normalized:
            normalized.append(code)
    if normalized == langs:
        return a, []
    change = Adjustment(
        "facts.languages", langs, normalized, "languages are lowercase ISO 639-1 codes, once each"
    )
    return a.model_copy(update={"facts": a.facts.model_copy(update={"languages": normalized})}), [change]


def adjust_metric_name(a: Answers) -> tuple[Answers, list[Adjustment]]:
    """The table's name for the metric (configs/tasks.yaml); a metric it does not know stays the user's own,
    normalised to lowercase with underscores, and the generated repo asks for its implementation."""
    metric = a.facts.metric
    if metric is None:
        return a, []
    tasks = load_tasks()
    new = tasks.canonical_metric(metric)
    if new == metric:
        return a, []
    if new in tasks.metrics:
        reason = f"configs/tasks.yaml names this metric {new}"
    else:
        reason = "metric names are lowercase with underscores"
    change = Adjustment("facts.metric", metric, new, reason)
    return a.model_copy(update={"facts": a.facts.model_copy(update={"metric": new})}), [change]


ADJUSTMENT_RULES: tuple[AdjustRule, ...] = (adjust_gpu_for_api_fine_tune, adjust_languages, adjust_metric_name)
ERROR_RULES: tuple[ErrorRule, ...] = (
    check_enough_example_pairs, check_target_above_baseline, check_open_source_not_api, check_local_has_gpu,
    check_restricted_data_not_uploaded, check_language_codes, check_examples_cover_pairs,
)  # fmt: skip
WARNING_RULES: tuple[ErrorRule, ...] = (
    warn_many_example_pairs, warn_restricted_data_hosted_provider, warn_few_examples,
    warn_hosted_provider_local, warn_duplicate_example_pairs, warn_perfect_target,
)  # fmt: skip


def apply_rules(answers: Answers) -> tuple[Answers, list[Adjustment], list[Problem], list[Problem]]:
    """(adjusted answers, adjustments, errors, warnings); warnings are computed only when there is no error."""
    adjustments: list[Adjustment] = []
    for adjust in ADJUSTMENT_RULES:
        answers, changes = adjust(answers)
        adjustments += changes
    errors = [p for rule in ERROR_RULES if (p := rule(answers)) is not None]
    warnings = [] if errors else [p for rule in WARNING_RULES if (p := rule(answers)) is not None]
    return answers, adjustments, errors, warnings
