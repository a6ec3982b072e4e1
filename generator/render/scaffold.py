"""`ftplan scaffold`: STRATEGY.md plus the runnable repository, written all at once or not at all.

Rendering happens in a hidden temporary folder beside the target and is renamed into place at the end, so
an interrupted run (Ctrl-C, SIGKILL, a full disk) leaves no half-written repository. Which files exist is
decided here (hosted-tuning files only for hosted plans), not deleted afterwards by hooks.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from generator.errors import Problem, UserError
from generator.paths import scaffolds_dir
from generator.plan.models import Plan
from generator.render.bake import bake
from generator.render.strategy import render_json, render_markdown

TEMP_PREFIX = ".ftplan-tmp-"
OPEN_WEIGHTS = "open_weights"
HOSTED = "hosted"
HOSTED_PROVIDERS = {"google": "vertex", "openai": "openai"}


def scaffold_context(plan: Plan, answers: Any) -> dict[str, Any]:
    """The `_ftplan` context of the templates: the plan's decisions plus the user's text, as data."""
    t, e, r = plan.training, plan.evaluation, plan.rollout
    hp, hw = t.hyperparameters, t.hardware
    assert hp is not None and hw is not None and r is not None and plan.base_model is not None
    return {
        "project_name": plan.meta.project_name,
        "today": plan.meta.today,
        "ftplan_version": plan.meta.ftplan_version,
        "task_type": plan.meta.task_type,
        "labels": plan.meta.labels,
        "use_case": answers.use_case,
        "success_criteria": answers.success_criteria,
        "method": t.open_weights_method,
        "base_model": plan.base_model.to_dict(),
        "hyperparameters": hp.to_dict(),
        "reasons": dict(t.reasons),
        "hardware": {"gpu": hw.gpu, "gpu_count": hw.gpu_count, "gpu_memory_gb": hw.gpu_memory_gb,
                     "peak_memory_gb": hw.peak_memory_gb, "gpu_hours": hw.gpu_hours, "strategy": hw.strategy,
                     "usd_per_hour": hw.usd_per_hour},
        "cost": {"training_usd": plan.cost.training_usd, "total_usd": plan.cost.total_usd},
        "evaluation": {"primary_metric": e.primary_metric, "metrics": e.metrics, "heldout_size": e.heldout_size,
                       "baseline_score": e.baseline_score, "target_score": e.target_score,
                       "gates": [g.to_dict() for g in e.gates]},
        "rollout": {"serving": r.serving, "baseline_rate": r.ab.baseline_rate, "mde": r.ab.mde,
                    "alpha": r.ab.alpha, "power": r.ab.power, "sample_size_per_arm": r.ab.sample_size_per_arm,
                    "duration_days": r.ab.duration_days, "daily_requests": r.ab.daily_requests,
                    "stages": [s.to_dict() for s in r.stages], "guardrails": r.guardrails,
                    "srm_alpha": r.srm_alpha, "rollback_criteria": r.rollback_criteria},
        "hosted_baseline": _hosted_baseline(plan, answers),
    }


def _hosted_baseline(plan: Plan, answers: Any) -> dict[str, Any] | None:
    """The provider's OpenAI-compatible endpoint, for scoring today's hosted model on the same held-out set."""
    if answers.provider == "open_source":
        return None
    from generator.plan.settings import load_settings

    api = load_settings().raw(f"reference_api.{answers.provider}")
    return {"endpoint": api["endpoint"], "model": api["endpoint_model"], "api_key_env": api["api_key_env"],
            "source": api.get("endpoint_source", api["source"])}


def _examples_jsonl(answers: Any) -> str:
    rows = [{"messages": [{"role": "user", "content": p.input}, {"role": "assistant", "content": p.output}]}
            for p in answers.example_pairs]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _hosted_config(plan: Plan, provider_id: str) -> str:
    """configs/hosted.yaml, in the keys scripts/prepare_hosted.py and submit_hosted.py read."""
    from generator.catalog import load_catalog

    entry = load_catalog().provider(provider_id)
    model = next(m for m in entry.models if m.id == plan.provider.hosted_model)
    closing = sorted((w for w in entry.tuning_windows if w.closes), key=lambda w: w.closes)  # type: ignore[arg-type, return-value]
    notice = next((n.date for n in entry.notes if closing and n.date <= closing[0].closes), None)  # type: ignore[operator]
    hp = plan.training.hyperparameters
    name = HOSTED_PROVIDERS[provider_id]
    config: dict[str, Any] = {
        "provider": name,
        "model": model.id,
        "epochs": hp.epochs if hp else 3,
        "learning_rate_multiplier": None,
        "adapter_size": None,
        "training_usd_per_1m_tokens": model.training_usd_per_1m_tokens or 0.0,
        "price_source": f"{entry.source.split()[0]} (as of {entry.as_of.isoformat()})",
        "max_tokens_per_example": model.max_example_tokens,
        "tuning_window": {
            "closes": closing[0].closes.isoformat() if closing else None,  # type: ignore[union-attr]
            "notice": notice.isoformat() if notice else None,
            "source": entry.source.split()[0],
        },
        "model_retirement": model.retires.isoformat() if model.retires else None,
        "suffix": plan.meta.slug[:64],
        "data": {"train": "data/train.jsonl", "validation": "data/validation.jsonl"},
        "output_dir": "hosted",
        "vertex": {"gcs_uri_prefix": None},
    }
    header = (
        "# Hosted tuning settings, from the plan (ftplan scaffold). Read by scripts/prepare_hosted.py and\n"
        "# scripts/submit_hosted.py. Credentials never go here: OPENAI_API_KEY, or GOOGLE_APPLICATION_CREDENTIALS\n"
        "# with GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION, come from the environment.\n"
        f"#   python scripts/prepare_hosted.py --provider {name} data/train.jsonl -o hosted/train.jsonl\n"
        f"#   python scripts/submit_hosted.py --provider {name} --dry-run\n"
        "# Vertex: set vertex.gcs_uri_prefix to gs://BUCKET/FOLDER before submitting.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def _clean_stale(parent: Path) -> None:
    """Remove temp folders of earlier runs that were killed (their process is gone)."""
    for tmp in parent.glob(TEMP_PREFIX + "*"):
        try:
            pid = int(tmp.name[len(TEMP_PREFIX):].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError, OSError):
            continue


def _render(loaded: Any, plan: Plan, staging: Path) -> Path:
    from generator.answers import dump_answers

    answers = loaded.answers
    repo = bake(scaffolds_dir() / OPEN_WEIGHTS, plan.meta.slug, scaffold_context(plan, answers), staging)
    (repo / "STRATEGY.md").write_text(render_markdown(plan, answers), encoding="utf-8")
    (repo / "plan.json").write_text(render_json(plan), encoding="utf-8")
    (repo / ".ftplan-answers.yml").write_text(
        "# The answers this repository was planned from (ftplan scaffold). Edit and re-plan with:\n"
        "#   ftplan plan .ftplan-answers.yml\n" + dump_answers(answers), encoding="utf-8")
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "examples.jsonl").write_text(_examples_jsonl(answers), encoding="utf-8")
    provider = plan.provider.id
    if plan.training.method == "hosted" and provider in HOSTED_PROVIDERS:
        hosted = scaffolds_dir() / HOSTED
        for sub, pattern in (("scripts", "*.py"), ("tests", "*.py"), ("configs", "*.yaml")):
            for src in sorted((hosted / sub).glob(pattern)):
                (repo / sub).mkdir(exist_ok=True)
                shutil.copy2(src, repo / sub / src.name)
        (repo / "configs" / "hosted.yaml").write_text(_hosted_config(plan, provider), encoding="utf-8")
    return repo


def write_scaffold(loaded: Any, plan: Plan, target: Path, *, force: bool = False,
                   dry_run: bool = False) -> list[str]:
    """Write the repository at `target` (or, with dry_run, only list its files). Returns relative paths."""
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise UserError(Problem("-o", f"{target} is a file", "give a folder path"))
    if target.is_dir() and any(target.iterdir()) and not force and not dry_run:
        raise UserError(Problem("-o", f"{target} exists and is not empty",
                                "choose a new folder, or pass --force to replace it"))
    cwd = Path.cwd().resolve()
    if force and (target == cwd or target in cwd.parents):
        raise UserError(Problem("-o", f"{target} is the current folder or holds it; --force would delete it",
                                "scaffold into a new folder, e.g. -o ./my-project"))
    source = Path(str(getattr(loaded, "source", ""))).expanduser()
    if force and source.is_file() and target in source.resolve().parents:
        raise UserError(Problem("-o", f"{target} holds the answers file {source}; --force would delete it",
                                "move the answers file out of that folder, or choose another -o"))
    parent = target.parent
    if not parent.is_dir():
        raise UserError(Problem("-o", f"folder {parent} does not exist", "create it first"))
    work_parent = Path(tempfile.gettempdir()) if dry_run else parent
    if not dry_run:
        _clean_stale(parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=work_parent))
    except OSError as e:
        raise UserError(Problem("-o", f"cannot write in {work_parent}: {e.strerror}",
                                "choose a folder you can write to")) from e
    try:
        repo = _render(loaded, plan, staging)
        files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file())
        if dry_run:
            return files
        if target.exists():
            old = staging / "previous"
            os.replace(target, old)
        os.replace(repo, target)
        return files
    finally:
        shutil.rmtree(staging, ignore_errors=True)
