"""The plan as one HTML page: STRATEGY.md through markdown-it-py, plus inline SVG charts (no JavaScript).

markdown-it-py is imported here only, so `ftplan plan --format md` never pays for it. Raw HTML in the Markdown
is off: user text quoted in STRATEGY.md arrives escaped, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from generator.plan.records import Plan
from generator.render import charts
from generator.render.strategy import render_markdown
from generator.tasks import load_tasks

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.5;"
    "color:#1a1a1a}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "vertical-align:top}th{background:#f4f4f4}blockquote{border-left:4px solid #ccc;margin:0;padding:0 1rem;"
    "color:#444}code{background:#f4f4f4;padding:0 .2em;border-radius:3px}"
    ".chart-figure{margin:1rem 0 1.5rem}.chart-figure svg{max-width:100%;height:auto;display:block}"
    "figcaption{color:#444;font-size:.9rem;max-width:720px}"
)

# Top-level section heading (a word in its text) -> the chart drawn at the top of that section.
SECTION_CHARTS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("Base Model Selection", charts.candidates_chart),
    ("Training Configuration", charts.memory_chart),
    ("Deployment Plan", charts.rollout_chart),
    ("Cost & ROI", lambda plan: charts.cost_chart(plan, dict(load_tasks().options))),
]


def markdown_to_html(md: str, title: str, figures: dict[str, str] | None = None) -> str:
    """CommonMark + tables; `figures` maps a top-level `##` heading's text fragment to HTML put under it."""
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(md)
    out: list[Token] = []
    for i, token in enumerate(tokens):
        out.append(token)
        if token.type == "heading_close" and token.tag == "h2" and token.level == 0:
            heading = tokens[i - 1].content
            for key, figure in (figures or {}).items():
                if key in heading and figure:
                    block = Token("html_block", "", 0)
                    block.content = figure + "\n"
                    out.append(block)
    body = parser.renderer.render(out, parser.options, {})
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n")


def render_html(plan: Plan, answers: object) -> str:
    data = plan.to_dict()
    figures = {key: draw(data) for key, draw in SECTION_CHARTS}
    return markdown_to_html(render_markdown(plan, answers), f"Fine-tuning strategy: {plan.meta.project_name}",
                            figures)
