"""Bake a cookiecutter template with a context whose user text is never rendered as a template.

Cookiecutter renders the *values* of ordinary context variables as Jinja. Keys starting with a single
underscore are copied verbatim, so every value that holds user text travels inside `_ftplan`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# Files copied byte for byte: scripts and tests are plain Python that read their YAML.
COPY_WITHOUT_RENDER = ["scripts/*", "tests/*", "data/*", "Makefile"]
# The `yaml` and `comment` filters every template uses for plan values and user text.
EXTENSIONS = ["generator.render.filters.FtplanFilters"]
# Tool caches and run outputs that may sit in a template checkout and must never reach a user's repo.
IGNORED = ("cookiecutter.json", "__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache", ".hypothesis",
           "smoke", "outputs", "reports")


def bake(template: Path, slug: str, ftplan: dict, output_dir: Path) -> Path:
    """Render `template` into `output_dir/slug` and return that path. `output_dir` must exist.

    The template is staged inside `output_dir` (the caller's private staging folder), so a killed run
    leaves nothing behind that the caller's clean-up does not remove.
    """
    staged = output_dir / ".template"
    shutil.copytree(template, staged, ignore=shutil.ignore_patterns(*IGNORED))
    context = {"slug": slug, "_ftplan": ftplan, "_copy_without_render": COPY_WITHOUT_RENDER,
               "_extensions": EXTENSIONS}
    (staged / "cookiecutter.json").write_text(json.dumps(context), encoding="utf-8")

    from cookiecutter.main import cookiecutter  # slow import, only when baking

    try:
        result = cookiecutter(str(staged), no_input=True, output_dir=str(output_dir), accept_hooks=False)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return Path(result)
