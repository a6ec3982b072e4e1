"""Re-draw docs/chart-*.png, the README's pictures of the HTML plan's charts, from the bundled example.

    python docs/render_charts.py        (needs Debian's chromium; run after a change to the charts or the plan)

Each chart is cut out of `ftplan plan --format html` with its caption and screenshotted alone in headless
Chromium, so the pictures are exactly what a reader of the HTML plan sees.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# render/html.py draws one chart per section, in the order of its SECTION_CHARTS; these are their file names.
NAMES = {"Base Model Selection": "candidates", "Training Configuration": "memory", "Deployment Plan": "rollout",
         "Cost & ROI": "cost"}
SIZE = "740,420"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from generator.render.html import SECTION_CHARTS

    names = [NAMES[heading] for heading, _ in SECTION_CHARTS]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    html = subprocess.run([sys.executable, "-m", "generator.cli", "plan", "configs/examples/support_triage.yaml",
                           "--format", "html", "--today", "2026-11-25"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    style = "".join(re.findall(r"<style>.*?</style>", html, flags=re.S))
    figures = re.findall(r'<figure class="chart-figure">.*?</figure>', html, flags=re.S)
    if len(figures) != len(names):
        print(f"expected {len(names)} charts, found {len(figures)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for name, figure in zip(names, figures, strict=True):
            page = Path(tmp) / f"{name}.html"
            page.write_text(f"<!doctype html><meta charset=utf-8>{style}<body style='margin:8px'>{figure}",
                            encoding="utf-8")
            out = ROOT / "docs" / f"chart-{name}.png"
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--window-size={SIZE}", f"--screenshot={out}", page.as_uri()],
                           check=True, capture_output=True, timeout=120)
            print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
