"""Loading a PEFT adapter folder, checked, for evaluate.py, serve.py and merge.py: every way the folder can be
wrong is one UserError line that names the folder and the fix, never a library traceback.

- corrupt: adapter_config.json not JSON or not an object, weights truncated or missing, r or lora_alpha not a
  sane number (PEFT would try to allocate any r it is given);
- made for another model: tensors whose shapes do not fit the base (another r, another width), target modules the
  base lacks, or weights of other modules (PEFT only warns and leaves them at their initial values, so the "tuned"
  model would silently score as the base).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

from common import UserError, read_text, shown

MAX_LORA_RANK = 1 << 16  # far above any rank in use (vLLM's largest is 512): a larger r is a corrupt config
SIZE = r"torch\.Size\((\[[^\]]*\])\)"
SIZE_MISMATCH = re.compile(rf"size mismatch for (\S+?): copying a param with shape {SIZE} from checkpoint, the shape "
                           rf"in current model is {SIZE}")


def detail(exc: BaseException) -> str:
    """An exception as a short single line for an error message."""
    return shown(" ".join(f"{type(exc).__name__}: {exc}".split())[:240])


def corrupt_adapter(folder: Path, exc: BaseException) -> str:
    detail = shown(" ".join(str(exc).split())[:200])
    return (f"adapter: {shown(folder)} cannot be loaded as a PEFT adapter ({type(exc).__name__}: {detail}) — the "
            "folder is incomplete or corrupt: retrain (make train) or pass the folder of a complete adapter with "
            "--adapter")


def misfit_adapter(folder: Path, base: str, why: str) -> str:
    """The adapter is readable but made for another model: which base it names, and the two ways out."""
    try:
        trained_on = json.loads(read_text(folder / "adapter_config.json")).get("base_model_name_or_path")
    except (ValueError, AttributeError, RecursionError):
        trained_on = None
    named = f" (its adapter_config.json names {shown(trained_on)})" if trained_on else ""
    return (f"adapter: {shown(folder)} does not fit base_model {shown(base)}: {why} — it was trained on another "
            f"base model{named} or its weights do not match its adapter_config.json: pass the base it was "
            "trained on with --base-model, or retrain (make train) and pass that folder with --adapter")


def adapter_problem(folder: Path, base: str, exc: BaseException) -> str:
    """One line for a PEFT load failure: weights of the wrong shape, modules the base lacks, or a corrupt folder."""
    text = " ".join(str(exc).split())
    found = SIZE_MISMATCH.search(text)
    if found:
        name, theirs, ours = found.groups()
        return misfit_adapter(folder, base, f"{name} is {theirs} in the adapter but {ours} in the model")
    if "not found in the base model" in text or "Target modules" in text:
        return misfit_adapter(folder, base, f"its target modules are not in the model ({shown(text[:160])})")
    return corrupt_adapter(folder, exc)


def missing_weights(model: Any, folder: Path) -> tuple[list[str], int]:
    """LoRA weights the loaded adapter expects that its weights file lacks (PEFT only warns and leaves them at their
    initial values: an adapter of another model would silently score as the base), and how many it expects."""
    from peft.utils import get_peft_model_state_dict

    expected = set(get_peft_model_state_dict(model))
    weights = folder / "adapter_model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), "pt") as fh:
            found = set(fh.keys())
    elif (folder / "adapter_model.bin").is_file():
        import torch

        found = set(torch.load(folder / "adapter_model.bin", map_location="cpu", weights_only=True))
    else:
        return [], len(expected)
    return sorted(expected - found), len(expected)


def lora_ranks(folder: Path, config: dict) -> list[int]:
    """`r` and the `rank_pattern` ranks of an adapter config, checked to be whole numbers in [0, MAX_LORA_RANK]
    (PEFT would try to allocate whatever it is given), and `lora_alpha` and `alpha_pattern` to be finite numbers."""
    def with_pattern(value: Any, pattern: Any) -> list[Any]:
        return [value, *((pattern or {}).values() if isinstance(pattern or {}, dict) else [pattern])]

    ranks = with_pattern(config.get("r") or 0, config.get("rank_pattern"))
    alphas = [a for a in with_pattern(config.get("lora_alpha"), config.get("alpha_pattern")) if a is not None]
    if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= MAX_LORA_RANK for r in ranks):
        why = f"adapter_config.json: r / rank_pattern {shown(ranks)[:80]} are not whole numbers in [0, {MAX_LORA_RANK}]"
        raise UserError(corrupt_adapter(folder, ValueError(why)))
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in alphas):
        why = f"adapter_config.json: lora_alpha / alpha_pattern {shown(alphas)[:80]} are not finite numbers"
        raise UserError(corrupt_adapter(folder, ValueError(why)))
    return ranks


def load_adapter(model: Any, folder: Path, base: str) -> Any:
    """`model` with the PEFT adapter of `folder`, checked: a corrupt folder (bad JSON, truncated or missing weights),
    weights of the wrong shape and weights of another model's modules are each one UserError naming the folder."""
    from peft import PeftModel

    lora_ranks(folder, read_adapter_json(folder, "adapter_config.json"))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*missing adapter keys")  # checked below, as an error
            tuned = PeftModel.from_pretrained(model, str(folder))
        missing, expected = missing_weights(tuned, folder)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - bad JSON, truncated safetensors, missing files, wrong shapes
        raise UserError(adapter_problem(folder, base, exc)) from None
    if missing:
        raise UserError(misfit_adapter(folder, base, f"its weights file lacks {len(missing)} of the {expected} LoRA "
                                                     f"weights the model needs (e.g. {shown(missing[0])})"))
    return tuned


def read_adapter_json(folder: Path, name: str) -> dict:
    """One JSON object file of the adapter folder, or a UserError naming the folder and the fix."""
    try:
        data = json.loads(read_text(folder / name))
    except (ValueError, RecursionError) as exc:
        raise UserError(corrupt_adapter(folder, ValueError(f"{name}: {exc}"))) from None
    if not isinstance(data, dict):
        raise UserError(corrupt_adapter(folder, ValueError(f"{name} is a JSON {type(data).__name__}, not an object")))
    return data
