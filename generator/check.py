"""`ftplan check DIR`: after a user edits a generated repo's configs, is it still valid, does it still fit,
and how far has the cost drifted from the plan? Reads plan.json and configs/*.yaml; imports no ML library."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from generator.errors import Problem, UserError
from generator.paths import configs_dir

# Ranges a sane SFT run stays inside; outside them the run is almost surely a typo.
RANGES: dict[str, tuple[float, float, str]] = {
    "learning_rate": (1e-7, 1e-2, "LoRA uses 1e-4..2e-4, full fine-tuning ~2e-5"),
    "num_train_epochs": (0.01, 20, "1-3 epochs; more over-fits"),
    "lora_r": (1, 1024, "8-64 is usual; 16 is TRL's default"),
    "lora_alpha": (1, 4096, "alpha = 2r is the usual choice"),
    "lora_dropout": (0.0, 0.99, "0.0-0.1"),
    "per_device_train_batch_size": (1, 4096, "a positive integer"),
    "gradient_accumulation_steps": (1, 4096, "a positive integer"),
    "max_length": (16, 1_048_576, "the p95 token length of your data"),
    "weight_decay": (0.0, 1.0, "0.0-0.1"),
}
COST_DRIFT_WARNING = 0.25  # +-25% from the plan's training cost is worth a look


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning", "info"]
    problem: Problem


@lru_cache(maxsize=1)
def trl_keys() -> frozenset[str]:
    data = yaml.safe_load((configs_dir() / "trl_keys.yaml").read_text(encoding="utf-8"))
    return frozenset(data["keys"])


def _yaml(path: Path, findings: list[Finding]) -> dict[str, Any] | None:
    if not path.is_file():
        findings.append(Finding("error", Problem(str(path), "missing", "restore it (ftplan scaffold) or git "
                                                 "checkout it")))
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        findings.append(Finding("error", Problem(str(path), f"is not valid YAML{where}", "fix the syntax")))
        return None
    if not isinstance(data, dict):
        findings.append(Finding("error", Problem(str(path), "must be a mapping of keys to values",
                                                 "restore the generated file")))
        return None
    return data


def _check_trl_config(path: Path, cfg: dict[str, Any], findings: list[Finding]) -> None:
    valid = trl_keys()
    for key in cfg:
        if key not in valid:
            close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else "remove it: `trl sft` rejects unknown keys"
            findings.append(Finding("error", Problem(f"{path.name}: {key}", "is not a TRL SFT key", fix)))
    for key, (lo, hi, hint) in RANGES.items():
        if key not in cfg:
            continue
        val = cfg[key]
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            findings.append(Finding("error", Problem(f"{path.name}: {key}", f"must be a number, got {val!r}",
                                                     hint)))
        elif not lo <= val <= hi:
            findings.append(Finding("error", Problem(f"{path.name}: {key}", f"{val} is outside {lo:g}..{hi:g}",
                                                     hint)))


def _grad_ckpt(cfg: dict[str, Any]) -> bool:
    """transformers 5 calls it activation_checkpointing; older configs say gradient_checkpointing."""
    return bool(cfg.get("activation_checkpointing", cfg.get("gradient_checkpointing", False)))


def _method(cfg: dict[str, Any]) -> str:
    if cfg.get("load_in_4bit"):
        return "qlora"
    return "lora" if cfg.get("use_peft") else "full"


def _fit_and_cost(plan: dict[str, Any], cfg: dict[str, Any], findings: list[Finding]) -> None:
    from generator.catalog import load_catalog
    from generator.plan.compute import estimate_compute
    from generator.plan.memory import estimate_memory
    from generator.plan.training import estimator_optimizer

    cat = load_catalog()
    name = str(cfg.get("model_name_or_path", ""))
    entry = next((m for m in cat.models if m.hf_id == name or m.id == name), None)
    if entry is None:
        findings.append(Finding("warning", Problem("train.yaml: model_name_or_path",
                                                   f"{name!r} is not in the catalog, so memory is not re-estimated",
                                                   "add it with --catalog-dir or check the fit by hand")))
        return
    hw = plan["training"]["hardware"]
    gpu = cat.gpu(hw["gpu"])
    method = _method(cfg)
    targets = cfg.get("lora_target_modules") or ["all-linear"]
    mem = estimate_memory(
        entry.architecture, method=method, seq_len=int(cfg.get("max_length", 1024)),  # type: ignore[arg-type]
        batch_size=int(cfg.get("per_device_train_batch_size", 8)),
        grad_ckpt=_grad_ckpt(cfg),
        lora_r=int(cfg.get("lora_r", 16)), lora_targets=targets if isinstance(targets, list) else [targets],
        optimizer=estimator_optimizer(str(cfg.get("optim", "adamw_torch"))),  # type: ignore[arg-type]
        gpus=int(hw["gpu_count"]), sharding="fsdp" if hw["strategy"] in ("fsdp", "zero3") else "ddp")
    planned = float(hw["peak_memory_gb"])
    if mem.peak_memory_gb > gpu.memory_gb:
        findings.append(Finding("error", Problem(
            "train.yaml", f"needs ~{mem.peak_memory_gb:.1f} GB per GPU, more than the plan's {gpu.id} "
                          f"({gpu.memory_gb:g} GB)",
            "lower per_device_train_batch_size or max_length, turn on gradient_checkpointing, or use QLoRA "
            "(load_in_4bit: true)")))
    else:
        findings.append(Finding("info", Problem("memory", f"~{mem.peak_memory_gb:.1f} GB per GPU of "
                                                          f"{gpu.memory_gb:g} GB (plan: {planned:.1f} GB)")))
    tokens = plan["data"]["dataset_tokens"] * float(cfg.get("num_train_epochs", 1))
    comp = estimate_compute(entry.architecture, method=method, tokens=tokens,  # type: ignore[arg-type]
                            seq_len=int(cfg.get("max_length", 1024)),
                            grad_ckpt=_grad_ckpt(cfg),
                            peak_tflops=gpu.training_tflops, gpus=int(hw["gpu_count"]))
    usd = sum(comp.gpu_hours) / 2 * gpu.usd_per_hour
    plan_usd = float(plan["cost"]["training_usd"]) or 0.0
    if plan_usd > 0:
        drift = usd / plan_usd - 1
        sev: Literal["warning", "info"] = "warning" if abs(drift) > COST_DRIFT_WARNING else "info"
        findings.append(Finding(sev, Problem("cost", f"training now ~${usd:,.2f} against the plan's "
                                                     f"${plan_usd:,.2f} ({drift:+.0%})",
                                             "re-plan (ftplan plan .ftplan-answers.yml) if this is intended"
                                             if sev == "warning" else "")))


def check_repo(repo: Path) -> list[Finding]:
    repo = repo.expanduser()
    plan_path = repo / "plan.json"
    if not plan_path.is_file():
        raise UserError(Problem(str(repo), "is not a repository made by `ftplan scaffold` (no plan.json)",
                                "pass the folder ftplan scaffold wrote"))
    try:
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(Problem(str(plan_path), f"is not valid JSON ({e})", "restore it from git")) from e
    findings: list[Finding] = []
    train = _yaml(repo / "configs" / "train.yaml", findings)
    smoke = _yaml(repo / "configs" / "smoke.yaml", findings)
    for path, cfg in ((repo / "configs" / "train.yaml", train), (repo / "configs" / "smoke.yaml", smoke)):
        if cfg is not None:
            _check_trl_config(path, cfg, findings)
    _yaml(repo / "configs" / "eval.yaml", findings)
    _yaml(repo / "configs" / "rollout.yaml", findings)
    if train is not None and not any(f.severity == "error" for f in findings):
        _fit_and_cost(plan, train, findings)
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        if not (repo / "data" / name).is_file():
            findings.append(Finding("warning", Problem(f"data/{name}", "missing",
                                                       "add your data (data/FORMAT.md), then `make validate`")))
    return findings
