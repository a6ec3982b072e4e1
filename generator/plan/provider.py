"""Hosted fine-tuning availability on the plan's date, with the dates that decide it; the user's own tuned hosted
models and when they stop serving; and the migration to open weights (gold labels, or distillation)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from generator.plan.inputs import Inputs
from generator.plan.records import (
    DataPlan,
    HostedBaseline,
    HostedTuning,
    ProviderStatus,
    TunedModelFlag,
    TuningWindow,
)

if TYPE_CHECKING:
    from generator.catalog import HostedModel

# A tuned model that retires inside the 12-month ROI horizon cannot pay back its training.
ROI_HORIZON = timedelta(days=365)
OPEN_WEIGHTS_ALTERNATIVE = (
    "train an open-weight model with LoRA/QLoRA (this plan's open-weights path; the generated repo runs it)"
)


# Words that mark a model the team tuned itself ("our fine-tuned gpt-4o-mini", "a custom gpt-4.1 model").
TUNED_WORDS = ("fine-tuned", "fine tuned", "finetuned", "fine-tune", "fine tune", "tuned", "custom")
TUNED_WINDOW_CHARS = 30  # how far from the model's name a tuned-word may stand
# OpenAI's fine-tuned model ids: ft:<base>[-<snapshot date>]:<org>:<suffix>:<id>
_FT_ID = re.compile(r"\bft:([a-z0-9][a-z0-9.\-]{0,60})", re.IGNORECASE)
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{4})$")
# Hosted model families, for a tuned model the catalog does not list (gpt-3.5-turbo, older Claude or Gemini).
_FAMILY = re.compile(r"\b(?:gpt-[0-9][a-z0-9.\-]{0,20}|claude-[a-z0-9.\-]{1,20}|gemini-[a-z0-9.\-]{1,20})",
                     re.IGNORECASE)


def _hosted_models(inp: Inputs) -> dict[str, tuple[str, HostedModel]]:
    """Every tunable model of the catalog by id: (provider id, the model)."""
    return {m.id: (p.id, m) for p in inp.catalog.providers for m in p.models}


def _base_of(name: str, known: Mapping[str, object]) -> str:
    """The catalog id a written model name or snapshot stands for ("gpt-4o-mini-2024-07-18" -> gpt-4o-mini)."""
    name = name.lower().rstrip(".-:")
    if name in known:
        return name
    bare = _SNAPSHOT.sub("", name)
    return bare if bare in known else name


def _names(inp: Inputs, known: dict[str, tuple[str, HostedModel]]) -> list[tuple[str, str]]:
    """(written name, catalog id) pairs, longest first: ids, their spaced forms and planning.yaml's names."""
    pairs = {(k, k) for k in known} | {(k.replace("-", " "), k) for k in known}
    for row in inp.settings.raw("hosted_inference")["models"]:
        if row["id"] in known:
            pairs |= {(n.lower(), row["id"]) for n in row["names"]}
    return sorted(pairs, key=lambda p: -len(p[0]))


def named_tuned_models(inp: Inputs) -> list[tuple[str, str]]:
    """(base id, the quoted words) of every hosted model the answers say the team fine-tuned: an `ft:` model id
    (in the text or facts.current_model), or a model name next to 'fine-tuned'/'tuned'/'custom'."""
    known = _hosted_models(inp)
    texts = (inp.answers.current_approach, inp.answers.training_data, inp.answers.use_case,
             inp.answers.current_limitations, inp.answers.facts.current_model or "")
    return list(_scan(texts, tuple(_names(inp, known)), frozenset(known)))


@functools.lru_cache(maxsize=16)
def _scan(texts: tuple[str, ...], names: tuple[tuple[str, str], ...],
          known_ids: frozenset[str]) -> tuple[tuple[str, str], ...]:
    """The search itself, once per answers (the ROI, the migration and the flags all ask)."""
    known = dict.fromkeys(known_ids, None)
    found: dict[str, str] = {}
    for raw in texts:
        text = re.sub(r"\s+", " ", raw.lower())
        for m in _FT_ID.finditer(text):
            base = _base_of(m.group(1).split(":")[0], known)
            found.setdefault(base, m.group(0).rstrip(".,;"))
        taken = bytearray(len(text))  # characters already matched by a longer name
        for name, model_id in names:
            start = text.find(name)
            while start >= 0:
                end = start + len(name)
                longer = end < len(text) and (text[end].isalnum() or text[end] in "-." and
                                             end + 1 < len(text) and text[end + 1].isalnum())
                if not longer and not any(taken[start:end]):
                    taken[start:end] = b"\x01" * (end - start)
                    window = text[max(0, start - TUNED_WINDOW_CHARS):end + TUNED_WINDOW_CHARS]
                    if any(w in window for w in TUNED_WORDS) and not text[max(0, start - 3):start].endswith("ft:"):
                        found.setdefault(model_id, text[max(0, start - TUNED_WINDOW_CHARS):end].strip())
                start = text.find(name, start + 1)
        for m in _FAMILY.finditer(text):
            if any(taken[m.start():m.end()]) or text[max(0, m.start() - 3):m.start()] == "ft:":
                continue
            window = text[max(0, m.start() - TUNED_WINDOW_CHARS):m.end() + TUNED_WINDOW_CHARS]
            if any(w in window for w in TUNED_WORDS):
                found.setdefault(_base_of(m.group(0), known), m.group(0))
    return tuple(found.items())


def tuned_base(inp: Inputs, model: str) -> str:
    """The base id of a model name, `ft:` ids included ("ft:gpt-4o-mini-2024-07-18:acme::x" -> gpt-4o-mini)."""
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":")[0]
    return _base_of(name, _hosted_models(inp))


def tuned_prices(inp: Inputs, model_id: str) -> tuple[float, float, str] | None:
    """($ in, $ out per 1M, source) of the user's own fine-tuned `model_id`, when the answers say they tuned it and
    the catalog prices its tuned inference per token; else None."""
    if model_id not in {base for base, _ in named_tuned_models(inp)}:
        return None
    entry = _hosted_models(inp).get(model_id)
    if entry is None or entry[1].input_usd_per_1m is None or entry[1].output_usd_per_1m is None:
        return None
    provider = inp.catalog.provider(entry[0])
    return (entry[1].input_usd_per_1m, entry[1].output_usd_per_1m,
            f"your fine-tuned {model_id} at its tuned-inference price, catalog providers.yaml {provider.id} "
            f"(as of {provider.as_of.isoformat()})")


def tuned_model_flags(inp: Inputs) -> list[TunedModelFlag]:
    """The user's own tuned hosted models, each with the date its base retires in the catalog."""
    known = _hosted_models(inp)
    flags = []
    for base, quote in named_tuned_models(inp):
        entry = known.get(base)
        if entry is None:
            flags.append(TunedModelFlag(base=base, provider="", quote=quote, retires=None, days_left=None,
                                        in_catalog=False))
            continue
        pid, model = entry
        retires = model.retires
        flags.append(TunedModelFlag(base=base, provider=pid, quote=quote,
                                    retires=retires.isoformat() if retires else None,
                                    days_left=(retires - inp.today).days if retires else None, in_catalog=True))
    return flags


def _flag_note(inp: Inputs, flag: TunedModelFlag) -> str:
    you = f"Your fine-tuned {flag.base} ('{flag.quote}')"
    if not flag.in_catalog:
        return (f"{you} is not among the catalog's tunable models: check its provider's deprecations page for the "
                "date it stops serving, and plan the migration before it (this plan's open-weights path).")
    if flag.retires is None:
        return f"{you}: the catalog lists no retirement for {flag.base} on {inp.today.isoformat()}."
    if flag.days_left is not None and flag.days_left <= 0:
        return (f"{you} stopped serving on {flag.retires}, when {flag.base} retired: whatever still calls it fails; "
                "replace it now (this plan's open-weights path, or a successor model).")
    return (f"{you} stops serving on {flag.retires}, when {flag.base} retires ({flag.days_left} days after "
            f"{inp.today.isoformat()}): replace it before then (this plan's open-weights path, or a successor).")


def provider_status(inp: Inputs) -> ProviderStatus:
    pid = inp.answers.provider
    today = inp.today
    flags = tuned_model_flags(inp)
    if pid == "open_source":
        return ProviderStatus(
            id=pid, name="Open-weight models", fine_tuning_available=True,
            notes=["Open weights can be tuned on any GPU you rent or own; no provider can retire them."]
            + [_flag_note(inp, f) for f in flags], tuned_models=flags,
        )
    entry = inp.catalog.provider(pid, field="provider")
    notes = [f"{n.date.isoformat()}: {n.text} ({n.source})" for n in entry.notes if n.date <= today]
    for w in entry.tuning_windows:
        if w.closes:
            state = "closed" if w.closes <= today else "closes"
            notes.append(f"Job creation for {w.audience.replace('_', ' ')} {state} on {w.closes.isoformat()}"
                         + (f" ({w.note})" if w.note else "") + ".")
    open_all = entry.tuning_open(today, "all")
    open_active = entry.tuning_open(today, "active_orgs")
    models = entry.open_models(today, "active_orgs" if open_active and not open_all else "all")
    durable = [m for m in models if m.retires is None or m.retires - today > ROI_HORIZON]
    for m in models:
        if m.retires:
            notes.append(f"{m.id}: tuned models stop serving on {m.retires.isoformat()} "
                         f"({(m.retires - today).days} days after {today.isoformat()}).")
    available = bool(models)
    if not available:
        notes.append(f"On {today.isoformat()} {entry.name} ({entry.platform}) accepts no new tuning jobs.")
    elif not open_all:
        notes.append(f"On {today.isoformat()} only organizations already using {entry.name} fine-tuning may "
                     "create jobs; new or inactive ones cannot.")
    if available and not durable:
        notes.append("Every tunable model retires within the 12-month ROI horizon: a tuned model would stop "
                     "serving before it pays back.")
    best = min(durable, key=lambda m: m.training_usd_per_1m_tokens or 0.0) if durable else None
    notes += [_flag_note(inp, f) for f in flags]
    return ProviderStatus(
        id=pid, name=f"{entry.name} on {entry.platform}", fine_tuning_available=available, notes=notes,
        alternative="" if best and open_all else OPEN_WEIGHTS_ALTERNATIVE,
        hosted_model=best.id if best else "", tuned_models=flags,
    )


def hosted_usable(status: ProviderStatus) -> bool:
    """Hosted tuning is planned only where everyone may start jobs and the tuned model outlives the ROI."""
    return status.fine_tuning_available and bool(status.hosted_model) and not status.alternative


def hosted_baseline(inp: Inputs) -> HostedBaseline | None:
    """The provider's OpenAI-compatible endpoint, for scoring today's hosted model on the same held-out set."""
    if inp.answers.provider == "open_source":
        return None
    api = inp.settings.raw(f"reference_api.{inp.answers.provider}")
    return HostedBaseline(endpoint=str(api["endpoint"]), model=str(api["endpoint_model"]),
                          api_key_env=str(api["api_key_env"]), source=str(api.get("endpoint_source", api["source"])))


def hosted_tuning(inp: Inputs, status: ProviderStatus) -> HostedTuning | None:
    """The hosted model's tuning terms (price, limits, the window that closes first), for configs/hosted.yaml."""
    if not status.hosted_model:
        return None
    entry = inp.catalog.provider(status.id, field="provider")
    model = entry.hosted_model(status.hosted_model)
    closing = sorted(w.closes for w in entry.tuning_windows if w.closes)
    first = closing[0] if closing else None
    notice = next((n.date for n in entry.notes if first and n.date <= first), None)
    source = entry.source.split()[0] if entry.source else ""
    return HostedTuning(
        provider=status.id, platform=entry.platform, model=model.id,
        training_usd_per_1m_tokens=model.training_usd_per_1m_tokens or 0.0,
        price_source=f"{source} (as of {entry.as_of.isoformat()})", as_of=entry.as_of.isoformat(),
        max_tokens_per_example=model.max_example_tokens,
        tuning_window=TuningWindow(closes=first.isoformat() if first else None,
                                   notice=notice.isoformat() if notice else None, source=source),
        model_retirement=model.retires.isoformat() if model.retires else None,
    )


# Words that say unlabelled inputs exist: the only material distillation can run on.
UNLABELLED_WORDS = ("unlabelled", "unlabeled", "unannotated", "not labelled", "not labeled", "not yet labelled",
                    "not yet labeled", "without labels", "no labels", "raw logs", "raw transcripts", "raw tickets",
                    "raw emails", "raw conversations")
_QUOTE_BEFORE = 40  # characters before the word kept in the quote ("120,000 unlabelled tickets")


def unlabelled_volume(inp: Inputs) -> tuple[str, str] | None:
    """(field, quote) where training_data or current_approach says unlabelled inputs exist."""
    for name in ("training_data", "current_approach"):
        text = " ".join(getattr(inp.answers, name).split())
        low = text.lower()
        hits = [(at, w) for w in UNLABELLED_WORDS if (at := low.find(w)) >= 0]
        if not hits:
            continue
        at, word = min(hits)
        head = text[max(0, at - _QUOTE_BEFORE):at]
        cut = max((head.rfind(sep) + len(sep) for sep in (". ", "; ", ", ", ": ", "(") if sep in head), default=0)
        head = re.sub(r"^\s*(?:and|plus|with|also)\s+", "", head[cut:], flags=re.IGNORECASE)
        tail = re.match(r"\s[\w-]+(?:\s[\w-]+)?", text[at + len(word):])
        return name, (head + text[at:at + len(word)] + (tail.group(0) if tail else "")).strip()
    return None


def vendor_terms(inp: Inputs, model: str) -> str:
    """The clause of the model vendor's terms on training other models with its outputs (planning.yaml)."""
    for row in inp.settings.raw("distillation.terms").values():
        if any(model.lower().startswith(p) for p in row["model_prefixes"]):
            return f"{row['terms']} ({row['source']}, as of {row['as_of']})"
    return f"the terms of service of {model}'s provider (ftplan's planning.yaml distillation.terms has no entry)"


def migration(inp: Inputs, data: DataPlan, open_model: str) -> tuple[str, float]:
    """The hosted-provider team's path to open weights, and what distilling would cost.

    Gold labels first. Distillation (the hosted model answers your unlabelled inputs, its answers become training
    targets) is advised only when the gold labels fall short of the minimum and the answers describe unlabelled
    inputs, and always with the vendor's clause on training competing models named.
    """
    from generator.plan.cost import api_request_usd, current_model_prices

    if inp.answers.provider == "open_source":
        return "", 0.0
    f, s = inp.facts, inp.settings
    teacher, in_p, out_p, price_source, _ = current_model_prices(inp)
    terms = vendor_terms(inp, teacher)
    unlabelled = unlabelled_volume(inp)
    if data.meets_minimum:
        text = (f"Migration to open weights: you have {data.examples_available:,} labelled examples, so train "
                f"{open_model} on those gold labels (`make train`), not on the hosted model's answers.")
        more = f" (your {unlabelled[0]} mentions '{unlabelled[1]}')" if unlabelled else ""
        text += (f" Use distillation only for extra unlabelled volume{more}, and only where the vendor's terms of "
                 f"service allow training on {teacher}'s outputs: {terms}.")
        return text, 0.0
    if unlabelled is None:
        return (f"Migration to open weights: {data.examples_available:,} gold labels fall short of the "
                f"{data.minimum:,}-example minimum and the answers describe no unlabelled inputs, so there is nothing "
                f"to distil {teacher}'s answers from: label {data.to_collect:,} more examples (Training Data Plan) and "
                f"train {open_model} on them (`make train`). With a pool of unlabelled inputs, distillation becomes "
                f"an option, subject to {terms}."), 0.0
    # as many distilled examples as a training set that meets the minimum would hold
    n = int(max(data.split.train, data.minimum) * float(s.value("distillation.share_of_training_set")))
    per = api_request_usd(f.current_prompt_tokens + f.avg_input_tokens, f.avg_output_tokens, in_p, out_p)
    usd = n * per
    text = (f"Migration to open weights: your {unlabelled[0]} mentions '{unlabelled[1]}' and the "
            f"{data.examples_available:,} gold labels fall short of the {data.minimum:,}-example minimum, so distil: "
            f"run {teacher} (today's model, or your tuned one) with your current prompt on {n:,} unlabelled inputs "
            f"and keep its answers as training targets, then train {open_model} on them (`make train`); "
            f"`make baseline-hosted` scores the hosted model on the same held-out set first, and the held-out set "
            f"stays human-labelled. Generating them costs about ${usd:,.2f} ({n:,} x ${per:.5f} per request at "
            f"{price_source}). Check the terms first: {terms}.")
    return text, round(usd, 2)
