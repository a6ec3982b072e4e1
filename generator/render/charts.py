"""The HTML plan's charts as inline SVG: readable without JavaScript, no plotting library at run time.

Each function takes the plan's JSON (`Plan.to_dict()`, the stable keys) and returns one `<figure>` holding an
`<svg class="chart" data-chart=NAME>` whose data marks carry `class="mark"`, and a caption that says in words
what the chart shows, or "" when the plan has nothing to draw. Every text from the plan is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 200, 28, 44  # plot margins: y labels left, legend right, x labels below
FONT = 'font-family="system-ui,sans-serif" font-size="12"'


def _usd(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"${value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"${value / 1000:.0f}k"
    if abs(value) >= 1000:
        return f"${value / 1000:.1f}k"
    return f"${value:.2f}" if 0 < abs(value) < 10 else f"${value:.0f}"


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if step * m >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def _span(lo: float, hi: float) -> list[float]:
    """Round ticks covering lo..hi (lo may be negative)."""
    if lo >= 0:
        return _ticks(hi)
    step = _ticks(hi - lo)[1]
    start = math.floor(lo / step) * step
    return [start + step * i for i in range(math.ceil((hi - start) / step - 1e-9) + 1)]


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT}{extra}>{escape(text)}</text>'


def _figure(name: str, title: str, body: list[str], caption: str, height: int = HEIGHT) -> str:
    svg = (f'<svg class="chart" data-chart="{name}" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" aria-label="{escape(title)}">'
           f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")
    return f'<figure class="chart-figure">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def _y_axis(ticks: list[float], scale: Any, label: Any) -> list[str]:
    out = []
    for t in ticks:
        y = scale(t)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(_text(LEFT - 6, y + 4, label(t), "end"))
    return out


def cost_chart(plan: dict[str, Any], names: dict[str, str]) -> str:
    """Cumulative 12-month cost per option, the break-even month marked."""
    roi = plan.get("roi") or {}
    rows = [r for r in roi.get("rows", []) if r.get("cumulative_usd")]
    if not rows:
        return ""
    months = len(rows[0]["cumulative_usd"])
    top = max(max(r["cumulative_usd"]) for r in rows)
    ticks = _ticks(top)
    x = lambda m: LEFT + (WIDTH - LEFT - RIGHT) * m / months  # noqa: E731
    y = lambda v: HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * v / ticks[-1]  # noqa: E731
    body = _y_axis(ticks, y, _usd)
    for m in range(0, months + 1, 3 if months > 6 else 1):
        body.append(_text(x(m), HEIGHT - BOTTOM + 16, str(m), "middle"))
    body.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, "month", "middle"))
    recommended = (plan.get("decision") or {}).get("recommendation")
    for i, row in enumerate(rows):
        colour = PALETTE[i % len(PALETTE)]
        points = [(0, row.get("one_off_usd", 0.0)), *enumerate(row["cumulative_usd"], start=1)]
        path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in points)
        bold = row["option"] == recommended
        body.append(f'<polyline class="mark" data-option="{escape(row["option"])}" points="{path}" fill="none" '
                    f'stroke="{colour}" stroke-width="{3.5 if bold else 2}"/>')
        label = names.get(row["option"], row["option"]) + (" (chosen)" if bold else "")
        ly = TOP + 8 + 18 * i
        body.append(f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 30}" y1="{ly:.1f}" y2="{ly:.1f}" '
                    f'stroke="{colour}" stroke-width="3"/>')
        body.append(_text(WIDTH - RIGHT + 36, ly + 4, label))
    month = roi.get("break_even_month")
    if month:
        bx = x(month)
        body.append(f'<line class="mark break-even" x1="{bx:.1f}" x2="{bx:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                    'stroke="#333" stroke-dasharray="5 4"/>')
        right_half = bx > (LEFT + WIDTH - RIGHT) / 2
        body.append(_text(bx - 4 if right_half else bx + 4, TOP + 12, f"break-even: month {month}",
                          "end" if right_half else "start"))
        when = f"the recommended option breaks even in month {month}"
    else:
        when = "no option breaks even against today's approach within the 12 months"
    totals = "; ".join(f"{names.get(r['option'], r['option'])} {_usd(r['cumulative_usd'][-1])}" for r in rows)
    compared = f" against {roi['compared_to']}" if roi.get("compared_to") else ""
    return _figure("cost", "Cumulative cost over 12 months, per option", body,
                   f"Cumulative cost by month{compared}: {when}. After {months} months: {totals}.")


def memory_chart(plan: dict[str, Any]) -> str:
    """Peak training memory per GPU as a stacked bar, against the GPU's memory."""
    hw = (plan.get("training") or {}).get("hardware") or {}
    parts = {k: v for k, v in (hw.get("memory_breakdown") or {}).items() if v > 0}
    if not parts:
        return ""
    capacity = hw.get("gpu_memory_gb") or 0.0
    peak = hw.get("peak_memory_gb") or sum(parts.values())
    height = 170
    ticks = _ticks(max(capacity, peak, sum(parts.values())) * 1.05)
    x = lambda v: LEFT + (WIDTH - LEFT - RIGHT) * v / ticks[-1]  # noqa: E731
    body: list[str] = []
    for t in ticks:
        body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{TOP}" y2="{TOP + 70}" stroke="#e5e5e5"/>')
        body.append(_text(x(t), TOP + 88, f"{t:g} GB", "middle"))
    start = 0.0
    for i, (name, gb) in enumerate(parts.items()):
        colour = PALETTE[i % len(PALETTE)]
        body.append(f'<rect class="mark" data-part="{escape(name)}" x="{x(start):.1f}" y="{TOP + 10}" '
                    f'width="{max(x(start + gb) - x(start), 0.5):.1f}" height="50" fill="{colour}">'
                    f"<title>{escape(name)}: {gb:.2f} GB</title></rect>")
        col, row = divmod(i, 2)
        lx, ly = LEFT + 150 * col, TOP + 106 + 18 * row
        body.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        body.append(_text(lx + 16, ly + 1, f"{name.replace('_', ' ')} {gb:.1f} GB"))
        start += gb
    gpu = hw.get("gpu") or "GPU"
    if capacity:
        cx = x(capacity)
        body.append(f'<line class="mark capacity" x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP}" y2="{TOP + 70}" '
                    'stroke="#b00" stroke-width="2.5"/>')
        body.append(_text(min(cx + 4, WIDTH - 4), TOP + 6, f"{gpu}: {capacity:g} GB",
                          "start" if cx + 120 < WIDTH else "end", ' fill="#b00"'))
    verdict = ("fits" if hw.get("fits", peak <= capacity) else "does NOT fit") if capacity else "no GPU chosen"
    biggest = max(parts, key=lambda k: parts[k])
    return _figure("memory", "Peak training memory per GPU", body,
                   f"Peak memory per GPU {peak:.1f} GB against {gpu}'s {capacity:g} GB ({verdict}); the largest "
                   f"part is {biggest.replace('_', ' ')} ({parts[biggest]:.1f} GB).", height)


def candidates_chart(plan: dict[str, Any]) -> str:
    """Candidate base models: training cost against the selection score, the chosen one marked."""
    everyone = [c for c in plan.get("candidates") or [] if c.get("score") is not None]
    rows = [c for c in everyone if c.get("fits", True)]  # no configuration fits: no cost to place
    if not rows:
        return ""
    floor = 0.01  # a cent: costs below it are drawn at it (a log axis has no zero)
    costs = [max(float(c.get("training_usd") or 0.0), floor) for c in rows]
    lo, hi = min(costs), max(costs)
    log = hi / lo > 20
    to_x = (lambda v: math.log10(v)) if log else (lambda v: v)  # noqa: E731
    x_lo, x_hi = (math.floor(to_x(lo)), math.ceil(to_x(hi))) if log else (0.0, _ticks(hi)[-1])
    x_hi = x_hi if x_hi > x_lo else x_lo + 1
    scores = [float(c["score"]) for c in rows]
    y_ticks = _span(min(0.0, min(scores)), max(scores) * 1.05)
    x = lambda v: LEFT + (WIDTH - LEFT - RIGHT) * (to_x(v) - x_lo) / (x_hi - x_lo)  # noqa: E731
    y = lambda v: (HEIGHT - BOTTOM  # noqa: E731
                   - (HEIGHT - TOP - BOTTOM) * (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]))
    body = _y_axis(y_ticks, y, lambda t: f"{t:g}")
    x_ticks = [10.0 ** e for e in range(int(x_lo), int(x_hi) + 1)] if log else _ticks(hi)
    for t in x_ticks:
        body.append(_text(x(t), HEIGHT - BOTTOM + 16, _usd(t), "middle"))
    axis = "training cost (log scale)" if log else "training cost"
    body.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, axis, "middle"))
    body.append(_text(LEFT - 6, TOP - 12, "score", "end"))
    chosen = (plan.get("base_model") or {}).get("id")
    for c, cost in sorted(zip(rows, costs, strict=True), key=lambda pair: pair[0]["id"] != chosen):
        is_chosen = c["id"] == chosen
        fill = PALETTE[5] if is_chosen else PALETTE[0]
        cx, cy = x(cost), y(float(c["score"]))
        body.append(f'<circle class="mark" data-model="{escape(str(c["id"]))}" cx="{cx:.1f}" cy="{cy:.1f}" '
                    f'r="{7 if is_chosen else 4.5}" fill="{fill}" stroke="{PALETTE[5] if is_chosen else PALETTE[0]}" '
                    f'fill-opacity="{1 if is_chosen else 0.7}"><title>{escape(str(c["id"]))}: score {c["score"]}, '
                    f"{_usd(cost)}</title></circle>")
        if is_chosen:
            body.append(_text(cx + 10, cy - 8, f"{c['id']} (chosen)", extra=' font-weight="bold"'))
    body.append(f'<circle cx="{WIDTH - RIGHT + 18}" cy="{TOP + 8}" r="4.5" fill="{PALETTE[0]}"/>')
    body.append(_text(WIDTH - RIGHT + 28, TOP + 12, "a candidate"))
    body.append(f'<circle cx="{WIDTH - RIGHT + 18}" cy="{TOP + 26}" r="7" fill="{PALETTE[5]}"/>')
    body.append(_text(WIDTH - RIGHT + 28, TOP + 30, "the chosen model"))

    top = sorted(rows, key=lambda c: -float(c["score"]))[:3]
    left_out = len(everyone) - len(rows)
    return _figure("candidates", "Candidate base models: cost against score", body,
                   f"{len(rows)} candidate models by training cost and selection score (hover a point for its "
                   f"name); chosen: {chosen or 'none'}; highest scores: "
                   + ", ".join(f"{c['id']} {c['score']} at {_usd(float(c.get('training_usd') or 0))}" for c in top)
                   + (f". {left_out} more fit no GPU configuration and are not drawn." if left_out else ".")
                   + (" Costs under $0.01 are drawn at $0.01." if min(costs) == floor else ""))


def rollout_chart(plan: dict[str, Any]) -> str:
    """The rollout stages on a day axis, each bar as high as its share of traffic."""
    rollout = plan.get("rollout") or {}
    stages = rollout.get("stages") or []
    if not stages:
        return ""
    total = sum(int(s.get("min_days") or 0) for s in stages)
    days = max(total + 2, 1)
    x = lambda d: LEFT + (WIDTH - LEFT - RIGHT) * d / days  # noqa: E731
    y = lambda pct: HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * pct / 100  # noqa: E731
    body = _y_axis([0, 25, 50, 75, 100], y, lambda t: f"{t:g}%")
    for d in _ticks(days, 6):
        if d <= days:
            body.append(_text(x(d), HEIGHT - BOTTOM + 16, f"{d:g}", "middle"))
    body.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, "day", "middle"))
    start = 0
    for i, stage in enumerate(stages):
        length = int(stage.get("min_days") or 0)
        pct = float(stage.get("traffic_pct") or 0)
        span = length if length else days - start  # the last stage (full traffic) runs on
        colour = PALETTE[i % len(PALETTE)]
        top = y(max(pct, 1.5))  # shadow (0% of users) still shows as a thin bar
        body.append(f'<rect class="mark" data-stage="{escape(str(stage.get("name")))}" x="{x(start):.1f}" '
                    f'y="{top:.1f}" width="{max(x(start + span) - x(start) - 2, 2):.1f}" '
                    f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{colour}" fill-opacity="0.85"/>')
        label = f"{stage.get('name')} {pct:g}%" + (f", {length} d" if length else ", then on")
        ly = TOP + 8 + 18 * i
        body.append(f'<rect x="{WIDTH - RIGHT + 12}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        body.append(_text(WIDTH - RIGHT + 30, ly + 1, label))
        start += length
    ab = rollout.get("ab") or {}
    extra = (f"; the A/B needs {ab['sample_size_per_arm']:,} requests per arm" if ab.get("sample_size_per_arm")
             else "")
    return _figure("rollout", "Rollout stages: share of traffic by day", body,
                   f"{len(stages)} stages over at least {total} days before full traffic{extra}: "
                   + ", ".join(f"{s.get('name')} {s.get('traffic_pct')}%" for s in stages) + ".")
