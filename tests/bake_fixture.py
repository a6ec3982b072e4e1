"""Dev helper: bake the open-weights template with tests/fixtures/scaffold_context.json.

    python tests/bake_fixture.py OUT_DIR
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.render.bake import bake  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ctx = json.loads((ROOT / "tests/fixtures/scaffold_context.json").read_text())
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
print(bake(ROOT / "scaffolds/open_weights", ctx["slug"], ctx["_ftplan"], out))
