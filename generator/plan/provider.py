"""Hosted fine-tuning availability on the plan's date, with the dates that decide it."""

from __future__ import annotations

from datetime import timedelta

from generator.plan.inputs import Inputs
from generator.plan.records import HostedBaseline, HostedTuning, ProviderStatus, TuningWindow

# A tuned model that retires inside the 12-month ROI horizon cannot pay back its training.
ROI_HORIZON = timedelta(days=365)
OPEN_WEIGHTS_ALTERNATIVE = (
    "train an open-weight model with LoRA/QLoRA (this plan's open-weights path; the generated repo runs it)"
)


def provider_status(inp: Inputs) -> ProviderStatus:
    pid = inp.answers.provider
    today = inp.today
    if pid == "open_source":
        return ProviderStatus(
            id=pid, name="Open-weight models", fine_tuning_available=True,
            notes=["Open weights can be tuned on any GPU you rent or own; no provider can retire them."],
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
    return ProviderStatus(
        id=pid, name=f"{entry.name} on {entry.platform}", fine_tuning_available=available, notes=notes,
        alternative="" if best and open_all else OPEN_WEIGHTS_ALTERNATIVE,
        hosted_model=best.id if best else "",
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
