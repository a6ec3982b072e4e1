"""Forgetting measured on lm-evaluation-harness tasks instead of the bundled probe: the base model and the
base + adapter answer the same task items, paired per item. Configure it in configs/eval.yaml

    forgetting:
      lm_eval_tasks: [arc_easy, hellaswag]   # any lm_eval task names; [] keeps the bundled probe
      limit: 200                             # items per task (null: all); the interval narrows with more
      batch_size: 8

and install the harness: `pip install lm-eval` (it downloads the tasks' datasets on first use). The smoke
run keeps the bundled probe (no downloads). Items are paired by (task, doc_id); the per-item score is the
task's `acc` (else `exact_match`, else its first numeric metric).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import UserError

PREFERRED = ("acc", "exact_match", "acc_norm")


def require_lm_eval() -> Any:
    try:
        import lm_eval
    except ImportError:
        raise UserError("forgetting.lm_eval_tasks: needs lm-evaluation-harness — pip install lm-eval, or set "
                        "`lm_eval_tasks: []` to use the bundled probe") from None
    return lm_eval


def model_args(cfg: dict, which: str) -> str:
    """lm_eval's `hf` model arguments: the base, or the base + PEFT adapter (or a full fine-tune's folder)."""
    base, adapter = str(cfg["base_model"]), cfg.get("adapter")
    if which == "base" or not adapter:
        return f"pretrained={base}"
    if (Path(adapter) / "adapter_config.json").exists():
        return f"pretrained={base},peft={adapter}"
    return f"pretrained={adapter}"


def item_scores(samples: dict[str, list[dict]]) -> dict[tuple[str, Any], float]:
    """(task, doc_id) -> the item's score, from simple_evaluate(..., log_samples=True)["samples"]."""
    out = {}
    for task, rows in samples.items():
        for row in rows:
            name = next((k for k in PREFERRED if isinstance(row.get(k), (int, float))), None)
            if name is None:
                name = next((k for k, v in row.items() if k not in ("doc_id", "target")
                             and isinstance(v, (int, float)) and not isinstance(v, bool)), None)
            if name is not None:
                out[(task, row["doc_id"])] = float(row[name])
    return out


def lm_eval_scores(cfg: dict) -> tuple[list[float], list[float]]:
    """Per-item scores of base and tuned on the same lm_eval items, in the same order."""
    lm_eval = require_lm_eval()
    fg = cfg.get("forgetting") or {}
    runs = {}
    for which in ("base", "tuned"):
        result = lm_eval.simple_evaluate(model="hf", model_args=model_args(cfg, which),
                                         tasks=list(fg["lm_eval_tasks"]), limit=fg.get("limit"),
                                         batch_size=fg.get("batch_size", 8), log_samples=True,
                                         device=None if cfg.get("device") in (None, "auto") else cfg["device"])
        runs[which] = item_scores(result.get("samples") or {})
    keys = sorted(set(runs["base"]) & set(runs["tuned"]), key=str)
    if not keys:
        raise UserError(f"forgetting.lm_eval_tasks: lm_eval returned no per-item scores for {fg['lm_eval_tasks']}")
    return [runs["base"][k] for k in keys], [runs["tuned"][k] for k in keys]
