"""STRATEGY.md, the plan's JSON and an HTML page, all rendered from one Plan.

User text reaches the template only as variable values (never as template source) and is escaped for the
Markdown context it lands in: quoted blocks, table cells or inline text.
"""

from __future__ import annotations

import html
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


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)", r"<em>\1</em>", out)


def markdown_to_html(md: str, title: str) -> str:
    """The subset STRATEGY.md uses: headings, tables, lists, block quotes and paragraphs."""
    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"(#{1,6}) (.*)", line):
            n = len(m.group(1))
            body.append(f"<h{n}>{_inline_html(m.group(2))}</h{n}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", r.strip("|"))] for r in rows]
            head, data = cells[0], cells[2:]
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline_html(c)}</th>" for c in head)
                        + "</tr></thead><tbody>")
            body += ["<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in data]
            body.append("</tbody></table>")
            continue
        elif re.match(r"\s*(- |\d+\. )", line):
            tag = "ol" if re.match(r"\s*\d+\. ", line) else "ul"
            items = []
            while i < len(lines) and re.match(r"\s*(- |\d+\. )", lines[i]):
                items.append(re.sub(r"^\s*(- |\d+\. )", "", lines[i]))
                i += 1
            body.append(f"<{tag}>" + "".join(f"<li>{_inline_html(x)}</li>" for x in items) + f"</{tag}>")
            continue
        elif line.startswith(">"):
            quoted = []
            while i < len(lines) and lines[i].startswith(">"):
                quoted.append(lines[i][1:].strip())
                i += 1
            body.append("<blockquote>" + "<br>".join(_inline_html(q) for q in quoted) + "</blockquote>")
            continue
        elif line.strip():
            body.append(f"<p>{_inline_html(line)}</p>")
        i += 1
    style = ("body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
             "line-height:1.5}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;"
             "padding:.25rem .5rem;vertical-align:top}blockquote{border-left:4px solid #ccc;margin:0;"
             "padding:0 1rem;color:#444}")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render_html(plan: Plan, answers: object) -> str:
    return markdown_to_html(render_markdown(plan, answers), f"Fine-tuning strategy: {plan.meta.project_name}")
