"""The HTML plan (`ftplan plan --format html`): markdown-it-py's rendering of STRATEGY.md plus inline SVG charts
that need no JavaScript, checked as markup and as pixels in headless Chromium (skipped where it is missing)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import EXAMPLES

CHARTS = {"cost", "memory", "candidates", "rollout"}
SVG = "{http://www.w3.org/2000/svg}"
runner = CliRunner()


def html_plan(example: Path) -> str:
    res = runner.invoke(app, ["plan", str(example), "--format", "html", "--today", "2026-11-25"])
    assert res.exit_code == 0, res.output
    return res.stdout


def charts(page: str) -> dict[str, ET.Element]:
    out = {}
    for svg in re.findall(r"<svg\b.*?</svg>", page, flags=re.S):
        root = ET.fromstring(svg)  # well-formed XML, or this raises
        out[root.get("data-chart", "")] = root
    return out


def marks(svg: ET.Element) -> list[ET.Element]:
    return [e for e in svg.iter() if "mark" in (e.get("class") or "").split()]


def chromium() -> str | None:
    return next((p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (stdlib only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_has_its_four_charts_with_marks(example: Path) -> None:
    page = html_plan(example)
    found = charts(page)
    assert set(found) == CHARTS, sorted(found)
    for name, svg in found.items():
        assert svg.find(f"{SVG}title") is not None and svg.get("role") == "img", name
        assert len(marks(svg)) >= (4 if name == "candidates" else 2), name
        for el in marks(svg):  # drawn inside the picture, with a real size
            for attr in ("width", "height"):
                if el.get(attr) is not None:
                    assert float(el.get(attr, "0")) > 0, (name, ET.tostring(el)[:120])
    assert page.count("<figcaption>") == 4 and "<script" not in page


def test_markdown_is_rendered_by_markdown_it_with_nested_lists_and_alignment() -> None:
    from generator.render.html import markdown_to_html

    page = markdown_to_html("- option\n  - criterion one\n  - criterion two\n\n| a | b |\n|:--|--:|\n| x | 1 |\n"
                            "\n<b>raw</b> and **bold**", "t")
    assert re.search(r"<li>option\s*<ul>\s*<li>criterion one</li>", page)
    assert 'style="text-align:right"' in page and "<strong>bold</strong>" in page
    assert "<b>raw</b>" not in page and "&lt;b&gt;raw&lt;/b&gt;" in page


def test_the_break_even_month_is_marked() -> None:
    page = html_plan(EXAMPLES / "support_triage.yaml")
    cost = charts(page)["cost"]
    line = [e for e in marks(cost) if "break-even" in (e.get("class") or "")]
    assert len(line) == 1 and "break-even: month" in ET.tostring(cost, encoding="unicode")
    assert len([e for e in marks(cost) if e.tag == f"{SVG}polyline"]) == 5  # one line per option


def test_user_text_in_charts_is_escaped() -> None:
    from generator.render import charts as C

    plan = {"candidates": [{"id": "<script>x</script>", "score": 1.0, "training_usd": 2.0, "fits": True}],
            "base_model": {"id": "<script>x</script>"}}
    svg = C.candidates_chart(plan)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(re.search(r"<svg\b.*?</svg>", svg, flags=re.S).group(0))  # type: ignore[union-attr]


def test_markdown_it_is_not_imported_for_markdown() -> None:
    code = ("import sys; from generator.cli import app; from typer.testing import CliRunner; "
            "CliRunner().invoke(app, ['plan', 'configs/examples/support_triage.yaml', '--today', '2026-11-25']); "
            "print('markdown_it' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_headless_chromium_draws_the_page(example: Path, tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the pixel check is skipped")
    page = tmp_path / "plan.html"
    page.write_text(html_plan(example), encoding="utf-8")
    shot = tmp_path / "plan.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1000,2400", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    width, height, raw = png_pixels(shot)
    assert (width, height) == (1000, 2400)
    assert len(set(raw)) > 16, "the screenshot is blank"
