"""json_schema_validity (scripts/metrics.py): the same verdicts as jsonschema's own validator, McNemar per item,
and clear errors for a missing or broken schema.

pytest tests/test_json_schema.py
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_schemas import fresh_repo, run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import evaluate as ev  # noqa: E402
import report as rp  # noqa: E402
from common import UserError  # noqa: E402
from metrics import METRICS, per_example, score  # noqa: E402

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "amount"],
    "properties": {"name": {"type": "string", "minLength": 1}, "amount": {"type": "number", "minimum": 0},
                   "currency": {"enum": ["EUR", "USD"]}, "tags": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": False,
}


def random_answer(rng: random.Random) -> str:
    """Valid, subtly invalid and non-JSON answers, as a model writes them."""
    obj: dict = {}
    if rng.random() < 0.9:
        obj["name"] = rng.choice(["ACME", "", "Zed", 3])
    if rng.random() < 0.9:
        obj["amount"] = rng.choice([0, 12.5, -1, "12", 1e9])
    if rng.random() < 0.4:
        obj["currency"] = rng.choice(["EUR", "USD", "GBP"])
    if rng.random() < 0.3:
        obj["tags"] = rng.choice([["a"], ["a", 2], []])
    if rng.random() < 0.1:
        obj["extra"] = True
    text = json.dumps(obj)
    roll = rng.random()
    if roll < 0.1:
        return text[:-1]  # cut off
    if roll < 0.2:
        return f"```json\n{text}\n```"  # fenced: parsed like json_validity does
    return text if roll < 0.95 else "[" + text + "]"


@pytest.fixture()
def cfg(tmp_path: Path) -> dict:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA), encoding="utf-8")
    return {"json_schema": str(path), "task_type": "extraction"}


def test_agrees_with_jsonschema_on_random_answers(cfg: dict) -> None:
    rng = random.Random(0)
    answers = [random_answer(rng) for _ in range(400)]
    metric = METRICS["json_schema_validity"]
    mine = per_example(metric.vectors(answers, [""] * len(answers), cfg, []), metric)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    theirs = []
    for a in answers:
        text = a.removeprefix("```json\n").removesuffix("\n```")
        try:
            theirs.append(float(validator.is_valid(json.loads(text))))
        except json.JSONDecodeError:
            theirs.append(0.0)
    assert mine == theirs
    assert 0.05 < sum(theirs) / len(theirs) < 0.95  # both kinds represented
    assert score(metric, answers, [""] * len(answers), cfg) == pytest.approx(sum(theirs) / len(theirs))


def test_paired_with_mcnemar_in_the_comparison(cfg: dict) -> None:
    cfg = {**cfg, "metrics": {"json_schema_validity": {}}, "primary_metric": "json_schema_validity",
           "statistics": {"bootstrap_resamples": 200, "permutation_resamples": 200, "seed": 0}}
    resolved = ev.resolve_metrics(cfg, "eval.yaml")
    good, bad = '{"name": "A", "amount": 1}', '{"name": "A", "amount": -1}'
    examples = [{"prompt": [{"role": "user", "content": f"q{i}"}], "reference": good, "slice": None}
                for i in range(30)]
    base_v = rp.vectors(resolved, [bad] * 30, examples, cfg)
    tuned_v = rp.vectors(resolved, [good] * 25 + [bad] * 5, examples, cfg)
    result = rp.compare(cfg, resolved, base_v, tuned_v)["json_schema_validity"]
    assert (result["base"], result["tuned"], result["test"]) == (0.0, pytest.approx(25 / 30), "mcnemar")
    assert result["p_value"] < 0.001


def test_missing_broken_or_unnamed_schema_is_a_clear_error(tmp_path: Path, cfg: dict) -> None:
    base = {"metrics": {"json_schema_validity": {}}, "primary_metric": "json_schema_validity", "_dry_run": False}
    with pytest.raises(UserError, match="add `json_schema: data/schema.json`"):
        ev.resolve_metrics(base, "eval.yaml")
    with pytest.raises(UserError, match="cannot read"):
        ev.resolve_metrics({**base, "json_schema": str(tmp_path / "none.json")}, "eval.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"type": "objekt"}), encoding="utf-8")
    with pytest.raises(UserError, match="is not a valid JSON Schema"):
        ev.resolve_metrics({**base, "json_schema": str(broken)}, "eval.yaml")
    assert ev.resolve_metrics({**base, **cfg}, "eval.yaml")


def test_dry_run_names_a_missing_schema_file(tmp_path: Path) -> None:
    repo = fresh_repo(tmp_path)
    path = repo / "configs/eval.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(task_type="extraction", labels=None, metrics={"json_schema_validity": {}},
                primary_metric="json_schema_validity", json_schema="data/schema.json",
                gates=[{"metric": "json_schema_validity", "op": ">=", "threshold": 0.9}])
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    proc = run(repo, ["scripts/evaluate.py", "--dry-run"])
    assert proc.returncode == 0, proc.stderr
    assert "missing  json_schema: data/schema.json" in proc.stdout
