"""STRATEGY.md and the plan's JSON, rendered from one Plan (the HTML page: render/html.py).

User text reaches the template only as variable values (never as template source) and is escaped for the
Markdown context it lands in: quoted blocks, table cells or inline text.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

import jinja2

from generator.plan.records import Plan
from generator.tasks import load_tasks

TEMPLATES = Path(__file__).resolve().parent / "templates"
METHOD_NAMES = {"lora": "LoRA", "qlora": "QLoRA", "full": "full fine-tuning", "hosted": "hosted tuning",
                "none": "no training yet"}


def _inline(text: object) -> str:
    return " ".join(str(text).split())


def _cell(text: object) -> str:
    return _inline(text).replace("|", "\\|")


def _quote(text: object) -> str:
    lines = str(text).strip().splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's own compiled-template cache in the user's cache folder: start-up is compile-free after the
    first run. None where that folder cannot be written (the templates are then compiled each time)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftplan" / "jinja"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(base)) if os.access(base, os.W_OK) else None


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True, trim_blocks=False,
                             bytecode_cache=_bytecode_cache())
    env.filters.update(inline=_inline, cell=_cell, quote=_quote, option=lambda o: load_tasks().options.get(o, o),
                       method=lambda m: METHOD_NAMES.get(m, m))
    return env


def render_markdown(plan: Plan, answers: object) -> str:
    criteria: list[str] = []
    for row in plan.decision.matrix:
        criteria += [c for c in row.scores if c not in criteria]
    text = _env().get_template("strategy.md.j2").render(plan=plan, answers=answers, criteria=criteria)
    return re.sub(r"\n{3,}", "\n\n", text)


def render_json(plan: Plan) -> str:
    return plan.to_json() + "\n"
