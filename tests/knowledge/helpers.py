"""Shared by the tests of user knowledge files: run the CLI, copy a bundled catalog entry, write a user file."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from generator.catalog import configs_dir
from generator.cli import app


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def bundled(kind: str, entry_id: str) -> dict:
    raw = yaml.safe_load((configs_dir() / "catalog" / f"{kind}.yaml").read_text(encoding="utf-8"))
    return next(e for e in raw["entries"] if e["id"] == entry_id)


def write(folder: Path, name: str, data: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
