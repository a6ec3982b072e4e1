"""Find `scaffolds/` and `configs/` in a source checkout, an editable install and an installed wheel alike."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # In a wheel the folders are force-included under generator/_data/; in a checkout they sit beside it.
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"ftplan's bundled '{name}/' folder is missing: reinstall ftplan")


def configs_dir() -> Path:
    return _data_dir("configs")


def scaffolds_dir() -> Path:
    return _data_dir("scaffolds")


def examples_dir() -> Path:
    return configs_dir() / "examples"


DEFAULT_EXAMPLE = "support_triage.yaml"
