"""`ftplan scaffold`: STRATEGY.md plus the runnable repository, written all at once or not at all.

Rendering happens in a hidden temporary folder beside the target and is renamed into place at the end, so
an interrupted run (Ctrl-C, SIGKILL, a full disk) leaves no half-written repository. Which files exist is
decided here (hosted-tuning files only for hosted plans), not deleted afterwards by hooks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from generator.errors import Problem, UserError
from generator.lifecycle.manifest import foreign_files, repo_files, write_record
from generator.paths import scaffolds_dir
from generator.plan.records import Plan
from generator.render.bake import bake
from generator.render.strategy import render_json, render_markdown
from generator.render.trl import dpo_yaml, smoke_yaml, train_yaml

TEMP_PREFIX = ".ftplan-tmp-"
OPEN_WEIGHTS = "open_weights"
HOSTED = "hosted"
HOSTED_PROVIDERS = {"google": "vertex", "openai": "openai"}


# The answers' free text the templates show, as data (never rendered as a template).
TEXT_FIELDS = ("use_case", "current_approach", "current_limitations", "training_data", "success_criteria")


def scaffold_context(plan: Plan, answers: Any) -> dict[str, Any]:
    """The `_ftplan` context of the templates: the plan exactly as plan.json holds it, plus the user's text."""
    return {"plan": plan.to_dict(), "text": {name: str(getattr(answers, name)) for name in TEXT_FIELDS}}


def _examples_jsonl(answers: Any) -> str:
    rows = [{"messages": [{"role": "user", "content": p.input}, {"role": "assistant", "content": p.output}]}
            for p in answers.example_pairs]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _hosted_config(plan: Plan) -> str:
    """configs/hosted.yaml, in the keys scripts/prepare_hosted.py and submit_hosted.py read: all from the plan."""
    tuning = plan.provider.hosted_tuning
    assert tuning is not None, "a hosted plan names its hosted model"
    hp = plan.training.hyperparameters
    name = HOSTED_PROVIDERS[tuning.provider]
    config: dict[str, Any] = {
        "provider": name,
        "model": tuning.model,
        "epochs": hp.epochs if hp else 3,
        "learning_rate_multiplier": None,
        "adapter_size": None,
        "training_usd_per_1m_tokens": tuning.training_usd_per_1m_tokens,
        "price_source": tuning.price_source,
        "max_tokens_per_example": tuning.max_tokens_per_example,
        "tuning_window": tuning.tuning_window.to_dict(),
        "model_retirement": tuning.model_retirement,
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
    context = scaffold_context(plan, answers)
    repo = bake(scaffolds_dir() / OPEN_WEIGHTS, plan.meta.slug, context, staging)
    # The TRL configs come from render/trl.py, the mapping `ftplan check` reads them back with.
    (repo / "configs" / "train.yaml").write_text(train_yaml(context["plan"]), encoding="utf-8")
    (repo / "configs" / "smoke.yaml").write_text(smoke_yaml(context["plan"]), encoding="utf-8")
    dpo = dpo_yaml(context["plan"])  # only plans with a preference stage get one
    if dpo is not None:
        (repo / "configs" / "dpo.yaml").write_text(dpo, encoding="utf-8")
    (repo / "STRATEGY.md").write_text(render_markdown(plan, answers), encoding="utf-8")
    (repo / "plan.json").write_text(render_json(plan), encoding="utf-8")
    (repo / ".ftplan-answers.yml").write_text(
        "# The answers this repository was planned from (ftplan scaffold). Edit them, then re-plan in place\n"
        "# (your edits to the other files are kept; three-way merged):\n"
        "#   ftplan update .          (ftplan update . --dry-run shows what would change)\n"
        + dump_answers(answers), encoding="utf-8")
    (repo / "data").mkdir(exist_ok=True)
    (repo / "data" / "examples.jsonl").write_text(_examples_jsonl(answers), encoding="utf-8")
    if answers.infrastructure == "cloud_gpu" and plan.training.method != "hosted":
        from generator.lifecycle.sky import sky_yaml

        (repo / "sky.yaml").write_text(sky_yaml(context["plan"]), encoding="utf-8")
    if plan.training.method == "hosted" and plan.provider.id in HOSTED_PROVIDERS:
        hosted = scaffolds_dir() / HOSTED
        for sub, pattern in (("scripts", "*.py"), ("tests", "*.py"), ("configs", "*.yaml")):
            for src in sorted((hosted / sub).glob(pattern)):
                (repo / sub).mkdir(exist_ok=True)
                shutil.copy2(src, repo / sub / src.name)
        (repo / "configs" / "hosted.yaml").write_text(_hosted_config(plan), encoding="utf-8")
    return repo


def write_scaffold(loaded: Any, plan: Plan, target: Path, *, force: bool = False,
                   dry_run: bool = False) -> list[str]:
    """Write the repository at `target` (or, with dry_run, only list its files). Returns relative paths."""
    target = target.resolve()
    if target.exists() and not target.is_dir():
        raise UserError(Problem("-o", f"{target} is a file", "give a folder path"))
    if target.is_dir() and any(target.iterdir()) and not dry_run:
        if not force:
            raise UserError(Problem("-o", f"{target} exists and is not empty",
                                    "choose a new folder; re-plan a repository ftplan made with `ftplan update "
                                    "DIR`; --force replaces a folder holding only unedited ftplan output"))
        refuse_foreign(target)
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
    box: dict[str, Path] = {}
    previous = _unwind_on_termination(box)  # before the staging folder exists: no window where a signal strands it
    held = set(previous)
    # Signals wait while the folder is created and recorded: the handler removes whatever `box` holds.
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        box["staging"] = staging = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=work_parent))
    except OSError as e:
        _restore(previous)
        raise UserError(Problem("-o", f"cannot write in {work_parent}: {e.strerror}",
                                "choose a folder you can write to")) from e
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    try:
        repo = _render(loaded, plan, staging)
        files = repo_files(repo)
        if dry_run:
            return files
        write_record(repo, files, plan.meta.ftplan_version)
        # Both renames or neither: a signal between them would remove the old repo with the staging folder.
        if held:
            signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            if target.exists():
                os.replace(target, staging / "previous")
            os.replace(repo, target)
        finally:
            if held:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        return files
    finally:
        _restore(previous, staging)


def _restore(handlers: dict[int, Any], staging: Path | None = None) -> None:
    """Remove the staging folder with SIGTERM/SIGHUP held back, so a signal cannot cut the clean-up short,
    then put the old handlers back; a signal that came meanwhile is delivered to them afterwards."""
    held = set(handlers)
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    finally:
        if held:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def refuse_foreign(target: Path) -> None:
    """`--force` replaces a folder only when everything in it is ftplan's own, unedited output (.ftplan/)."""
    foreign = foreign_files(target)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise UserError(Problem("--force", f"{target} holds {len(foreign)} file(s) that replacing it would lose: "
                                f"{shown}", f"re-plan in place with `ftplan update {target}` (keeps your files "
                                "and merges your edits), or scaffold into a new folder"))


def _unwind_on_termination(box: dict[str, Path]) -> dict[int, Any]:
    """SIGTERM and SIGHUP remove the staging folder `box` names, then unwind through the caller's `finally`
    (SIGKILL cannot be caught: the next run's _clean_stale removes what it leaves). Removing it in the handler
    too closes the windows where the exit would pass the caller's clean-up (on entering `finally`, between two
    statements). Returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def unwind(signum: int, _frame: Any) -> None:
        staging = box.get("staging")
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise SystemExit(128 + signum)

    return {s: signal.signal(s, unwind) for s in (signal.SIGTERM, signal.SIGHUP)}
