"""`ftplan update DIR [ANSWERS]`: re-plan a repository ftplan made, keeping every edit and every user file.

Like copier's `run_update`: the new plan is rendered into a temporary folder, and each file ftplan generated
is merged three ways (base = `.ftplan/base/`, what ftplan wrote last time; ours = the file in the repo;
theirs = the new render). Clean merges are applied, conflicts are written with markers (merge.py) and
listed; the caller exits 1 while any remain. Files ftplan did not generate are never written, moved or
deleted. STRATEGY.md and plan.json are ftplan's report, not a config: they are replaced (an edited copy is
kept under `.ftplan/replaced/`), and the change of each headline number is reported. Nothing is written
before every file has been merged in memory, and the record (.ftplan/) is updated last, so an interrupted
update can simply be run again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.errors import Problem, UserError
from generator.lifecycle.manifest import MANIFEST, RECORD, read_record, repo_files, write_record
from generator.lifecycle.merge import merge3

ANSWERS_FILE = ".ftplan-answers.yml"
REPLACED = ("STRATEGY.md", "plan.json")  # ftplan's report of the plan: replaced, never merged
NEW_SUFFIX = ".ftplan-new"  # where the new version goes when the repo's file cannot take it

# The numbers a person compares between two plans: (label, path in plan.json).
HEADLINE = (
    ("recommendation", "decision.recommendation"),
    ("base model", "base_model.id"),
    ("method", "training.method"),
    ("GPU", "training.hardware.gpu"),
    ("GPU count", "training.hardware.gpu_count"),
    ("peak memory per GPU (GB)", "training.hardware.peak_memory_gb"),
    ("GPU-hours", "training.hardware.gpu_hours"),
    ("training cost (USD)", "cost.training_usd"),
    ("total cost (USD)", "cost.total_usd"),
    ("train examples", "data.split.train"),
    ("held-out size", "evaluation.heldout_size"),
    ("primary metric", "evaluation.primary_metric"),
    ("target score", "evaluation.target_score"),
    ("learning rate", "training.hyperparameters.learning_rate"),
    ("epochs", "training.hyperparameters.epochs"),
    ("effective batch size", "training.hyperparameters.effective_batch_size"),
    ("LoRA rank", "training.hyperparameters.lora_r"),
    ("max sequence length", "training.hyperparameters.max_seq_length"),
)


@dataclass
class Change:
    path: str
    action: str  # see ACTIONS
    detail: str = ""


ACTIONS = {
    "updated": "ftplan's new version (you had not edited it)",
    "merged": "your edits and ftplan's changes, merged cleanly",
    "conflict": "your edits and ftplan's changes overlap: resolve the <<<<<<< markers",
    "kept": "your edits; ftplan's version did not change",
    "added": "new in this plan",
    "replaced": "ftplan's report of the plan, replaced",
    "removed": "no longer generated, and you had not edited it",
    "left": "no longer generated; kept because you edited it",
    "skipped": "not touched",
}


@dataclass
class UpdateResult:
    changes: list[Change] = field(default_factory=list)
    headline: list[tuple[str, Any, Any]] = field(default_factory=list)  # (label, old, new), changed only
    unchanged: int = 0  # generated files identical before and after

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.action == "conflict"]


def _get(tree: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def headline_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    return [(label, _get(old, key), _get(new, key)) for label, key in HEADLINE
            if _get(old, key) != _get(new, key)]


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read(path: Path) -> bytes | None:
    """The repo's file, or None when it is missing; a symlink or folder is not a file ftplan may write."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise _NotAFile
    return path.read_bytes() if path.exists() else None


class _NotAFile(Exception):
    pass


def plan_changes(repo: Path, new_repo: Path, record: dict[str, bytes], answers_from_repo: bool
                 ) -> tuple[UpdateResult, dict[str, bytes | None], dict[str, bytes]]:
    """What the update does, computed in memory: (result, writes: path -> bytes or None to delete,
    new record: path -> the bytes ftplan generated this time)."""
    result = UpdateResult()
    writes: dict[str, bytes | None] = {}
    theirs_all = {rel: (new_repo / rel).read_bytes() for rel in repo_files(new_repo)}
    new_record = dict(theirs_all)
    for rel in sorted(set(theirs_all) | set(record)):
        base, theirs = record.get(rel), theirs_all.get(rel)
        try:
            ours = _read(repo / rel)
        except _NotAFile:
            result.changes.append(Change(rel, "skipped", "not a plain file in your repo (a link or a folder)"))
            continue
        if rel == ANSWERS_FILE and answers_from_repo:
            # The input of this update: never rewritten; recorded as planned from.
            if ours is not None:
                new_record[rel] = ours
            result.unchanged += 1
            continue
        if theirs is None:  # ftplan no longer generates it
            if ours is None:
                continue
            if ours == base:
                writes[rel] = None
                result.changes.append(Change(rel, "removed"))
            else:
                result.changes.append(Change(rel, "left"))
            continue
        if ours is None:
            if base is None:
                writes[rel] = theirs
                result.changes.append(Change(rel, "added"))
            else:
                new_record[rel] = theirs
                result.changes.append(Change(rel, "skipped", "you deleted it; not restored"))
            continue
        if rel in REPLACED or rel == ANSWERS_FILE:
            if ours == theirs:
                result.unchanged += 1
                continue
            writes[rel] = theirs
            detail = ""
            if base is not None and ours != base:
                writes[f"{RECORD}/replaced/{rel}"] = ours
                detail = f"your edited copy is in {RECORD}/replaced/{rel}"
            result.changes.append(Change(rel, "replaced", detail))
            continue
        if ours == theirs:
            result.unchanged += 1
            continue
        if base is None:  # a file of yours where ftplan now writes one: yours stays, ftplan's goes beside it
            writes[rel + NEW_SUFFIX] = theirs
            result.changes.append(Change(rel, "conflict", f"you have your own file here; ftplan's new one is "
                                                          f"{rel}{NEW_SUFFIX}: merge it by hand, then delete it"))
            continue
        if ours == base:
            writes[rel] = theirs
            result.changes.append(Change(rel, "updated"))
            continue
        if base == theirs:
            result.changes.append(Change(rel, "kept"))
            continue
        texts = [_text(ours), _text(base), _text(theirs)]
        if None in texts:
            writes[rel + NEW_SUFFIX] = theirs
            result.changes.append(Change(rel, "conflict", f"not UTF-8 text, so not merged; ftplan's new one is "
                                                          f"{rel}{NEW_SUFFIX}"))
            continue
        merged, conflicts = merge3(texts[0] or "", texts[1] or "", texts[2] or "")
        writes[rel] = merged.encode("utf-8")
        if conflicts:
            result.changes.append(Change(rel, "conflict", f"{conflicts} conflict(s) marked in the file"))
        else:
            result.changes.append(Change(rel, "merged"))
    return result, writes, new_record


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def require_record(repo: Path) -> dict[str, bytes]:
    """What ftplan generated in `repo` last time; a UserError when `repo` has no record."""
    record = read_record(repo) if repo.is_dir() else None
    if record is None:
        raise UserError(Problem("DIR", f"{repo} has no {MANIFEST}: it was not made by `ftplan scaffold` (or by "
                                "one older than `ftplan update`)",
                                "scaffold into a new folder and copy your files over, or pass a repo ftplan made"))
    return record


def update_repo(repo: Path, loaded: Any, plan: Any, *, dry_run: bool = False) -> UpdateResult:
    """Re-render `plan` and merge it into `repo` (with dry_run: compute only). See the module docstring."""
    from generator.render.scaffold import _render

    repo = repo.resolve()
    record = require_record(repo)
    source = Path(str(getattr(loaded, "source", "")))
    answers_from_repo = source.is_file() and (repo / ANSWERS_FILE).exists() and \
        os.path.samefile(source, repo / ANSWERS_FILE)
    with tempfile.TemporaryDirectory(prefix="ftplan-update-") as tmp:
        new_repo = _render(loaded, plan, Path(tmp))
        result, writes, new_record = plan_changes(repo, new_repo, record, answers_from_repo)
    old_plan = _text(record.get("plan.json"))
    try:
        old = json.loads(old_plan) if old_plan else {}
    except ValueError:
        old = {}
    result.headline = headline_changes(old, plan.to_dict())
    if dry_run:
        return result
    for rel, data in writes.items():
        if data is None:
            (repo / rel).unlink()
        else:
            _write_bytes(repo / rel, data)
    write_record(repo, sorted(new_record), plan.meta.ftplan_version, base=new_record)
    return result
