"""The data plan: volume against the minimum, a frozen held-out split, quality gates and a forgetting mix."""

from __future__ import annotations

import math
from typing import Literal

from generator.plan.inputs import Inputs
from generator.plan.records import DataPlan, Split, usd

SplitMethod = Literal["random", "stratified", "time", "frozen_existing"]

# Task types of configs/tasks.yaml whose answer is one label: their data plan adds label-balance checks.
LABELLED_TASKS = ("classification",)


def prompt_tokens_after_tuning(inp: Inputs) -> float:
    """A tuned model needs a short instruction instead of the current long prompt."""
    return float(inp.settings.value("fine_tune.prompt_tokens_after"))


def example_tokens(inp: Inputs) -> float:
    f = inp.facts
    return f.avg_input_tokens + prompt_tokens_after_tuning(inp) + f.avg_output_tokens


def plan_data(inp: Inputs, heldout_needed: int) -> DataPlan:
    f, s = inp.facts, inp.settings
    minimum = int(s.value("data.minimum_examples"))
    n = f.examples_available
    ratios = s.raw("data.split")
    verified = f.validation_available
    if f.heldout_available:
        # A named evaluation set is the frozen held-out: it is not carved from the training data.
        heldout = f.heldout_available
        heldout_source = f"your existing frozen evaluation set ({heldout:,} items)"
        validation = min(int(n * float(ratios["validation"])), max(heldout, 1))
        validation = max(validation, min(verified, n // 2))
        validation_source = (f"your {verified:,} hand-verified items first" if verified
                             else "a stratified slice of the training data")
        train = max(n - validation, 0)
        method: SplitMethod = "frozen_existing"
    else:
        heldout = min(max(heldout_needed, int(s.value("data.heldout_min"))), int(s.value("data.heldout_max")))
        # On small sets the held-out share is capped at twice the planned ratio, validation at its ratio.
        heldout = min(heldout, int(n * 2 * float(ratios["heldout"])))
        validation = min(int(n * float(ratios["validation"])), heldout)
        train = max(n - heldout - validation, 0)
        heldout_source = (f"your hand-verified items first ({min(verified, heldout):,} of {verified:,}), then a "
                          "frozen slice of the rest" if verified else "a frozen slice of the labelled data")
        left = max(verified - heldout, 0)
        validation_source = (f"the remaining {min(left, validation):,} hand-verified items first" if left
                             else "a slice of the labelled data")
        method = ("time" if f.time_ordered
                  else "stratified" if f.task_type in LABELLED_TASKS else "random")
        if method == "time":
            heldout_source += ": the most recent items (a time split: a random one leaks the future into training)"
    meets = n >= minimum
    to_collect = 0 if meets else minimum - n
    if meets:
        justification = (f"{n:,} examples meet the {minimum}-example minimum: {train:,} to train on, a frozen "
                         f"held-out set of {heldout:,} ({heldout_source}; sized in Evaluation), "
                         f"{validation:,} for early stopping ({validation_source}).")
    else:
        justification = (f"{n:,} examples fall short of the {minimum}-example minimum by {to_collect:,}: "
                         "collect or label those first; with fewer the held-out set cannot show a real "
                         "difference and the model will overfit.")
    labels_text = inp.answers.training_data.strip()
    collection = [
        f"Start from what exists: {labels_text[:300]}" + ("…" if len(labels_text) > 300 else ""),
        "Write every example in the chat format of data/FORMAT.md; the assistant turn is exactly the output "
        "the success criteria grade.",
        "Cover the hard cases the current approach gets wrong (its failures are the cheapest signal).",
    ]
    if to_collect:
        cost = to_collect * f.labeling_cost_per_example_usd
        collection.append(f"Label {to_collect:,} more examples (about {usd(cost)} at "
                          f"${f.labeling_cost_per_example_usd:.2f} each) before training.")
    if f.task_type in LABELLED_TASKS:
        collection.append("Balance labels: at least ~50 examples of the rarest label, or collect more of it.")
    gates = [
        "Schema: every line valid JSON with `messages` ending in an assistant turn (scripts/validate_data.py).",
        "No empty or whitespace-only turns; no non-string content.",
        "Token length after the chat template within max_seq_length; the answer survives truncation.",
        "Exact and near duplicates removed (MinHash, Jaccard >= 0.9).",
        "No leakage: no held-out example (exact or near) appears in train; the held-out set is frozen "
        "before training and never edited after the baseline is measured.",
        "A person reads 50 random examples: labels agree with the success criteria.",
    ]
    if f.task_type in LABELLED_TASKS:
        gates.append("Label balance reported; no label under 2% without a plan for it.")
    mix = float(s.value("data.forgetting_mix_fraction"))
    return DataPlan(
        examples_available=n,
        minimum=minimum,
        meets_minimum=meets,
        justification=justification,
        to_collect=to_collect,
        collection=collection,
        split=Split(train=train, validation=validation, heldout=heldout, method=method,
                    heldout_source=heldout_source, validation_source=validation_source),
        quality_gates=gates,
        forgetting_mix={
            "fraction": mix,
            "examples": math.ceil(train * mix),
            "dataset": str(s.value("data.forgetting_mix_dataset")),
            "split": str(s.raw("data.forgetting_mix_dataset")["split"]),
            "source": f"{s.value('data.forgetting_mix_dataset')} ({s.raw('data.forgetting_mix_dataset')['license']}"
                      f" licence), general chat rows: {s.source('data.forgetting_mix_dataset')}",
            "why": s.source("data.forgetting_mix_fraction"),
        },
        avg_input_tokens=f.avg_input_tokens,
        avg_output_tokens=f.avg_output_tokens,
        dataset_tokens=int(train * example_tokens(inp)),
    )
