"""Dev helper: bake the open-weights template with tests/fixtures/scaffold_context.json, or rewrite that file.

    python tests/bake_fixture.py OUT_DIR
    python tests/bake_fixture.py --write   (re-snapshot the context of the default example, after a plan change)

The snapshot is the exact cookiecutter.json a bake writes (`slug`, `_ftplan` = plan.to_dict() + the answers'
text, `_extensions`), so `cookiecutter --no-input` can bake the template alone (bench/startup.py does).
"""

import json
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generator.render.bake import EXTENSIONS, bake  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/scaffold_context.json"
TODAY = date(2026, 11, 25)

if sys.argv[1:] == ["--write"]:
    from generator.answers import load_answers
    from generator.catalog import load_catalog
    from generator.paths import DEFAULT_EXAMPLE, examples_dir
    from generator.plan import build_plan
    from generator.plan.settings import load_settings
    from generator.render.scaffold import scaffold_context

    loaded = load_answers(examples_dir() / DEFAULT_EXAMPLE)
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    plan.meta.answers_source = str(Path(plan.meta.answers_source).relative_to(ROOT))  # no machine paths
    ctx = {"slug": plan.meta.slug, "_ftplan": scaffold_context(plan, loaded.answers), "_extensions": EXTENSIONS}
    FIXTURE.write_text(json.dumps(ctx, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(FIXTURE)
else:
    ctx = json.loads(FIXTURE.read_text())
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(bake(ROOT / "scaffolds/open_weights", ctx["slug"], ctx["_ftplan"], out))
