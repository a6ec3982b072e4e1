"""Bake a cookiecutter template with a context whose user text is never rendered as a template.

Cookiecutter renders the *values* of ordinary context variables as Jinja. Keys starting with a single
underscore are copied verbatim, so every value that holds user text travels inside `_ftplan`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

# Files copied byte for byte: scripts and tests are plain Python that read their YAML.
COPY_WITHOUT_RENDER = ["scripts/*", "tests/*", "data/*", "Makefile"]


def bake(template: Path, slug: str, ftplan: dict, output_dir: Path) -> Path:
    """Render `template` into `output_dir/slug` and return that path. `output_dir` must exist."""
    with tempfile.TemporaryDirectory(prefix="ftplan-template-") as tmp:
        staged = Path(tmp) / "template"
        shutil.copytree(template, staged, ignore=shutil.ignore_patterns("cookiecutter.json", "__pycache__", ".ruff_cache",
                                                                        ".pytest_cache", "smoke", "outputs", "reports"))
        context = {"slug": slug, "_ftplan": ftplan, "_copy_without_render": COPY_WITHOUT_RENDER}
        (staged / "cookiecutter.json").write_text(json.dumps(context), encoding="utf-8")

        from cookiecutter.main import cookiecutter  # slow import, only when baking

        result = cookiecutter(str(staged), no_input=True, output_dir=str(output_dir), accept_hooks=False)
    return Path(result)
