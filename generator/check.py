"""`ftplan check DIR`: after a user edits a generated repo's configs, is it still valid, does it still fit,
and how far has the cost drifted from the plan? Reads plan.json and every config file; imports no ML library.

Nothing here reads the catalog: the GPU entry and the architecture are in plan.json, fit and cost go through
plan/fit.py (the planner's own function), train.yaml is read back through render/trl.py (the mapping that
wrote it), and eval/rollout/ftplan.yaml through the generated repo's scripts/schemas.py."""

from __future__ import annotations

import difflib
import importlib.util
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from generator.errors import Problem, UserError
from generator.paths import configs_dir, scaffolds_dir

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


@lru_cache(maxsize=2)
def trl_keys(trainer: Literal["sft", "dpo"] = "sft") -> frozenset[str]:
    """The keys `trl sft` accepts, or for configs/dpo.yaml those less the SFT-only ones plus DPO's own."""
    data = yaml.safe_load((configs_dir() / "trl_keys.yaml").read_text(encoding="utf-8"))
    keys = frozenset(data["keys"])
    if trainer == "dpo":
        return (keys - frozenset(data["sft_only_keys"])) | frozenset(data["dpo_only_keys"])
    return keys


def _yaml(path: Path, findings: list[Finding]) -> dict[str, Any] | None:
    if not path.is_file():
        findings.append(Finding("error", Problem(str(path), "missing", "restore it (ftplan scaffold) or git "
                                                 "checkout it")))
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        from generator.safety import UTF8_FIX, not_utf8

        findings.append(Finding("error", Problem(str(path), f"is not UTF-8 text ({not_utf8(e)})", UTF8_FIX)))
        return None
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


def _check_trl_config(path: Path, cfg: dict[str, Any], findings: list[Finding],
                      trainer: Literal["sft", "dpo"] = "sft") -> None:
    valid = trl_keys(trainer)
    for key in cfg:
        if key not in valid:
            close = difflib.get_close_matches(str(key), sorted(valid), n=1, cutoff=0.6)
            fix = f"did you mean '{close[0]}'?" if close else f"remove it: TRL's {trainer.upper()} parser rejects " \
                                                              "unknown keys"
            findings.append(Finding("error", Problem(f"{path.name}: {key}", f"is not a TRL {trainer.upper()} key",
                                                     fix)))
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


SCHEMA_KINDS = {"eval.yaml": "eval", "rollout.yaml": "rollout", "ftplan.yaml": "ftplan"}
# Launch configs and the GPU count each must start: multi-GPU ones run the plan's count.
ACCELERATE = ("single_gpu.yaml", "multi_gpu.yaml", "fsdp.yaml", "deepspeed_zero3.yaml")
# configs/hosted.yaml: the keys render/scaffold.py writes and scripts/submit_hosted.py reads.
HOSTED_KEYS = frozenset({"provider", "model", "epochs", "learning_rate_multiplier", "adapter_size",
                         "training_usd_per_1m_tokens", "price_source", "max_tokens_per_example", "tuning_window",
                         "model_retirement", "suffix", "data", "output_dir", "vertex"})


def _schemas() -> Any | None:
    """The generated repo's own config schemas, from ftplan's copy of the scaffold (never the user's repo)."""
    path = scaffolds_dir() / "open_weights" / "{{cookiecutter.slug}}" / "scripts" / "schemas.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("ftplan_scaffold_schemas", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module if callable(getattr(module, "validate_file", None)) else None


def _check_schemas(repo: Path, findings: list[Finding]) -> None:
    schemas = _schemas()
    for name, kind in SCHEMA_KINDS.items():
        path = repo / "configs" / name
        if schemas is None:
            findings.append(Finding("info", Problem(f"configs/{name}", "not schema-checked: this ftplan has no "
                                                    "scripts/schemas.py in its scaffold")))
            continue
        if not path.is_file():
            sev: Literal["error", "info"] = "info" if name == "ftplan.yaml" else "error"
            findings.append(Finding(sev, Problem(f"configs/{name}", "missing", "restore it (ftplan scaffold)")))
            continue
        for message in schemas.validate_file(kind, path):
            findings.append(Finding("error", Problem(f"configs/{name}", str(message))))


def _check_hosted(repo: Path, findings: list[Finding]) -> None:
    path = repo / "configs" / "hosted.yaml"
    if not path.exists():
        return
    cfg = _yaml(path, findings)
    if cfg is None:
        return
    for key in sorted(set(map(str, cfg)) - HOSTED_KEYS):
        close = difflib.get_close_matches(key, sorted(HOSTED_KEYS), n=1, cutoff=0.6)
        findings.append(Finding("error", Problem(f"hosted.yaml: {key}", "is not a hosted-tuning key",
                                                 f"did you mean '{close[0]}'?" if close else "remove it")))
    for key in sorted(HOSTED_KEYS - set(map(str, cfg))):
        findings.append(Finding("error", Problem(f"hosted.yaml: {key}", "missing", "restore it (ftplan scaffold)")))


def _check_accelerate(repo: Path, gpu_count: int, findings: list[Finding]) -> None:
    for name in ACCELERATE:
        path = repo / "configs" / "accelerate" / name
        cfg = _yaml(path, findings)
        if cfg is None:
            continue
        want = 1 if name == "single_gpu.yaml" else gpu_count
        got = cfg.get("num_processes")
        if isinstance(got, bool) or not isinstance(got, int) or got != want:
            findings.append(Finding("warning", Problem(
                f"accelerate/{name}: num_processes", f"is {got!r}, the plan trains on {want} GPU(s)",
                f"set it to {want}, or re-plan with facts.gpu_count (the cost assumes {gpu_count})")))


def _fit(plan: dict[str, Any], inputs: dict[str, Any]) -> Any:
    from generator.catalog import Architecture
    from generator.plan.fit import fit
    from generator.plan.records import GpuSpec

    hw = plan["training"]["hardware"]
    arch = Architecture.model_validate(plan["base_model"]["architecture"])
    gpu = GpuSpec(**hw["gpu_spec"])
    return fit(arch, gpu, method=inputs["method"], seq_len=int(inputs["seq_len"]),
               micro_batch=int(inputs["micro_batch"]), grad_ckpt=bool(inputs["grad_ckpt"]),
               lora_r=int(inputs["lora_r"]), targets=tuple(inputs["targets"]), optimizer=inputs["optimizer"],
               gpu_count=int(inputs["gpu_count"]), strategy=inputs["strategy"], tokens=float(inputs["tokens"]),
               headroom=float(inputs["headroom"]), loss=inputs.get("loss", "fp32"))


def _fit_and_cost(plan: dict[str, Any], cfg: dict[str, Any], findings: list[Finding]) -> None:
    """Re-fit and re-cost from plan.json alone (its architecture and GPU entry) through plan/fit.py, with the
    inputs train.yaml now says; drift is reported only for the inputs the user changed."""
    from generator.render.trl import fit_inputs

    hw = plan["training"]["hardware"]
    planned_inputs = hw["fit_inputs"]
    gpu = hw["gpu_spec"]
    now_inputs, changed = fit_inputs(cfg, planned_inputs)
    planned, now = _fit(plan, planned_inputs), _fit(plan, now_inputs)
    edits = ", ".join(sorted(set(changed.values())))
    limit = f"{now.limit_gb:.1f} GB usable of {gpu['memory_gb']:g} GB ({planned_inputs['headroom']:.0%})"
    if not now.fits:
        findings.append(Finding("error", Problem(
            "train.yaml", f"needs ~{now.peak_memory_gb:.1f} GB per GPU, more than the plan's {gpu['id']} allows "
                          f"({limit})" + (f"; edited: {edits}" if edits else ""),
            "lower per_device_train_batch_size or max_length, turn on activation_checkpointing, or use QLoRA "
            "(load_in_4bit: true)")))
    else:
        findings.append(Finding("info", Problem("memory", f"~{now.peak_memory_gb:.2f} GB per GPU, {limit} "
                                                          f"(plan: {hw['peak_memory_gb']:.2f} GB)")))
    if not changed:
        findings.append(Finding("info", Problem("cost", f"training ~${now.usd:,.2f} ({now.gpu_hours:.2f} GPU-hours "
                                                        f"on {hw['gpu_count']}x {gpu['id']}): as planned")))
        return
    drift = now.usd / planned.usd - 1 if planned.usd > 0 else 0.0
    sev: Literal["warning", "info"] = "warning" if abs(drift) > COST_DRIFT_WARNING else "info"
    findings.append(Finding(sev, Problem(
        "cost", f"training now ~${now.usd:,.2f} against the plan's ${planned.usd:,.2f} ({drift:+.0%}; "
                f"memory {planned.peak_memory_gb:.1f} -> {now.peak_memory_gb:.1f} GB) after editing {edits}",
        "re-plan (ftplan plan .ftplan-answers.yml) if this is intended" if sev == "warning" else "")))


def check_repo(repo: Path) -> list[Finding]:
    repo = repo.expanduser()
    if not repo.is_dir():
        raise UserError(Problem(str(repo), "no such folder" if not repo.exists() else "is not a folder",
                                "pass the folder ftplan scaffold wrote"))
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
    preference = plan.get("training", {}).get("preference") if isinstance(plan, dict) else None
    dpo_path = repo / "configs" / "dpo.yaml"
    if preference or dpo_path.exists():  # the plan's DPO stage (scripts/train_dpo.py reads it)
        dpo = _yaml(dpo_path, findings)
        if dpo is not None:
            _check_trl_config(dpo_path, dpo, findings, trainer="dpo")
    _check_schemas(repo, findings)
    _check_hosted(repo, findings)
    hw = plan.get("training", {}).get("hardware") if isinstance(plan, dict) else None
    if not isinstance(hw, dict) or "fit_inputs" not in hw or "gpu_spec" not in hw:
        findings.append(Finding("warning", Problem("plan.json", "has no fit inputs (made by an older ftplan), so "
                                                   "memory and cost are not re-checked",
                                                   "re-scaffold with this ftplan")))
        return findings
    _check_accelerate(repo, int(hw["gpu_count"]), findings)
    if train is not None and not any(f.severity == "error" for f in findings):
        _fit_and_cost(plan, train, findings)
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        if not (repo / "data" / name).is_file():
            findings.append(Finding("warning", Problem(f"data/{name}", "missing",
                                                       "add your data (data/FORMAT.md), then `make validate`")))
    return findings
