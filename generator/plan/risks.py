"""Risks E1-E4 of the template, each with the check that detects it and the mitigation."""

from __future__ import annotations

from generator.plan.inputs import Inputs
from generator.plan.records import DataPlan, Decision, Evaluation, Hyperparameters, Level, Risk
from generator.tasks import load_tasks

# Open-ended generation tasks of configs/tasks.yaml: tuning them shifts the model's general behaviour most.
OPEN_ENDED_TASKS = ("chat", "generation")
SMALL_SET = 2_000  # below this, 3 epochs over-fit easily (OpenAI guidance on small sets)


def plan_risks(inp: Inputs, decision: Decision, data: DataPlan, evaluation: Evaluation, method: str,
               hp: Hyperparameters | None) -> list[Risk]:
    f = inp.facts
    gap_small = (f.baseline_score is not None and f.target_score is not None
                 and f.target_score - f.baseline_score <= 0.02)
    e1: Level = "high" if not decision.fine_tune_warranted or gap_small else "medium"
    e2: Level = "high" if not data.meets_minimum else "medium" if f.labeling_cost_per_example_usd > 0 else "low"
    e3: Level = "high" if method == "full" else "medium" if f.task_type in OPEN_ENDED_TASKS else "low"
    e4: Level = "high" if data.split.train < SMALL_SET else "medium" if hp and hp.epochs >= 2 else "low"
    return [
        Risk(id="E1", name="Unnecessary fine-tuning", level=e1,
             check=f"`make baseline`: zero-shot and few-shot prompting of the base model on the frozen held-out "
                   f"set; if either reaches {evaluation.primary_metric} >= "
                   f"{f.target_score if f.target_score is not None else 'the target'}, stop here.",
             mitigation=f"The decision matrix recommends {load_tasks().options[decision.recommendation]}; "
                        "spend the first day on prompts and few-shot examples before any GPU-hour."),
        Risk(id="E2", name="Bad data", level=e2,
             check="`make validate` (schema, roles, empty turns, length after the chat template, duplicates, "
                   "leakage into the held-out set) exits 0; 50 random examples read by a person.",
             mitigation="Fix at the source and re-run validation; relabel disagreements; never edit the "
                        "held-out set after the baseline is measured."),
        Risk(id="E3", name="Catastrophic forgetting", level=e3,
             check=f"The forgetting probe before and after: the drop stays within "
                   f"{next(g.threshold for g in evaluation.gates if g.metric == 'forgetting_probe'):.0%}.",
             mitigation=f"Mix {data.forgetting_mix['fraction']:.0%} general instruction data into training; "
                        "LoRA rather than full (it forgets less, Biderman et al. 2024); lower rank, learning rate "
                        "or epochs if the probe drops."),
        Risk(id="E4", name="Overfitting", level=e4,
             check="Validation loss evaluated during training; early stopping after "
                   f"{hp.early_stopping_patience if hp else 3} evaluations without improvement keeps the best "
                   "checkpoint; the held-out gap between train and held-out metrics is reported.",
             mitigation="More or more varied data, fewer epochs, LoRA dropout, a lower rank; never tune "
                        "hyperparameters on the held-out set (use the validation split)."),
    ]
