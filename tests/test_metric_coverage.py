"""Every task type and every metric the planner can emit is computed by the generated evaluation, or routed to
the user-metric extension point with a message that names it (issue 8)."""

from __future__ import annotations

import importlib
import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from generator.cli import app
from generator.paths import scaffolds_dir
from generator.tasks import load_tasks
from tests.answers.helpers import VALID

SCRIPTS = scaffolds_dir() / "open_weights" / "{{cookiecutter.slug}}" / "scripts"
TASKS = load_tasks()
TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def generated_metrics():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("metrics")
    finally:
        sys.path.remove(str(SCRIPTS))
        sys.modules.pop("metrics", None)


def test_generated_metrics_are_exactly_the_builtin_ones(generated_metrics):
    assert set(generated_metrics.METRICS) == set(TASKS.builtin_metrics)


@pytest.mark.parametrize("name", TASKS.builtin_metrics)
def test_generated_metric_tests_and_kinds_match_the_table(generated_metrics, name):
    impl, spec = generated_metrics.METRICS[name], TASKS.metric(name)
    assert (impl.test, impl.kind) == (spec.test, spec.kind)


# Per metric: (perfect predictions, references, a wrong prediction set) of the shape the metric reads.
_TEXT = (["the cat sat on the mat", "a quick brown fox"], ["the cat sat on the mat", "a quick brown fox"],
         ["zz", "yy"])
_JSON = (['{"a": 1, "b": "x"}', '{"c": [1, 2]}'], ['{"a": 1, "b": "x"}', '{"c": [1, 2]}'], ["nope", "{}"])
_LABEL = (["billing", "bug"], ["billing", "bug"], ["bug", "billing"])
_SQL = (["SELECT 1 + 1", "SELECT 'a' AS x"], ["SELECT 2", "SELECT 'a'"], ["SELECT 3", "SELEC nonsense"])
_CODE = (["def f(x):\n    return x + 1", "```python\ndef f(x):\n    return x + 1\n```"], ["", ""],
         ["def f(x):\n    return x", "syntax error here"])
_CODE_ROWS = [{"tests": "assert f(1) == 2"}, {"test_cases": ["assert f(0) == 1"]}]
SAMPLES = {"accuracy": _LABEL, "macro_f1": _LABEL, "exact_match": _TEXT, "rouge_l": _TEXT, "chrf": _TEXT,
           "bleu": _TEXT, "field_f1": _JSON, "field_accuracy": _JSON, "json_validity": _JSON,
           "json_schema_validity": _JSON,
           "execution_accuracy": _SQL, "pass_at_1": _CODE}
# win_rate needs a judge endpoint: the generated repo's tests/test_endpoint.py runs it against a judge served on
# loopback; here it must at least exist and score the base against itself 0.5 by construction.
NEEDS_A_JUDGE = {"win_rate"}


@pytest.mark.parametrize("name", TASKS.builtin_metrics)
def test_every_builtin_metric_computes(generated_metrics, name, tmp_path):
    metric = generated_metrics.METRICS[name]
    if name in NEEDS_A_JUDGE:
        assert generated_metrics.score(metric, ["x", "y"], ["r", "r"], {}) == 0.5
        return
    good, refs, bad = SAMPLES[name]
    db = tmp_path / "db.sqlite"
    sqlite3.connect(db).close()
    schema = tmp_path / "schema.json"  # every _JSON reference has a field; the wrong "{}" has none
    schema.write_text(json.dumps({"type": "object", "minProperties": 1}), encoding="utf-8")
    cfg = {"json_schema": str(schema), "labels": ["billing", "bug"],
           "task_type": "extraction" if refs is _JSON[1] else "qa",
           "sql": {"database": str(db)}, "allow_code_execution": True}
    rows = _CODE_ROWS if name == "pass_at_1" else None
    perfect = generated_metrics.score(metric, good, refs, cfg, rows)
    wrong = generated_metrics.score(metric, bad, refs, cfg, rows)
    assert perfect == pytest.approx(1.0)
    assert math.isfinite(wrong) and 0.0 <= wrong < perfect


def _answers(tmp_path: Path, task: str, metric: str | None = None) -> Path:
    data = json.loads(json.dumps(VALID))
    data["facts"]["task_type"] = task
    if metric:
        data["facts"]["metric"] = metric
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _plan(path: Path) -> dict:
    result = CliRunner().invoke(app, ["plan", str(path), "--format", "json", "--today", TODAY])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("task", TASKS.task_types)
def test_each_task_type_plans_only_computable_metrics(tmp_path, task):
    ev = _plan(_answers(tmp_path, task))["evaluation"]
    assert ev["metrics"] == list(TASKS.task(task).metrics)
    assert [d["name"] for d in ev["metric_definitions"]] == ev["metrics"]
    assert all(d["builtin"] for d in ev["metric_definitions"])
    assert ev["primary_metric"] == TASKS.task(task).metrics[0]


def _bake(tmp_path: Path, answers: Path) -> Path:
    out = tmp_path / "repo"
    result = CliRunner().invoke(app, ["scaffold", str(answers), "-o", str(out), "--today", TODAY])
    assert result.exit_code == 0, result.output
    return out


def _dry_run(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/evaluate.py", "--config", "configs/eval.yaml", "--dry-run"],
                          cwd=repo, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("task", TASKS.task_types)
def test_each_task_types_generated_evaluation_accepts_its_metrics(tmp_path, task):
    repo = _bake(tmp_path, _answers(tmp_path, task))
    run = _dry_run(repo)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("written, canonical", [("F1", "macro_f1"), ("ROUGE-L", "rouge_l"), ("EM", "exact_match"),
                                               ("pass@1", "pass_at_1"), ("exec acc", "execution_accuracy"),
                                               ("win rate", "win_rate"), ("BLEU", "bleu")])
def test_a_metric_alias_becomes_the_builtin_metric(tmp_path, written, canonical):
    ev = _plan(_answers(tmp_path, "classification", written))["evaluation"]
    assert ev["primary_metric"] == canonical
    assert all(d["builtin"] for d in ev["metric_definitions"])


def test_a_users_own_metric_is_routed_to_the_extension_point(tmp_path):
    answers = _answers(tmp_path, "generation", "acceptance rate")
    plan = _plan(answers)
    ev = plan["evaluation"]
    assert ev["primary_metric"] == "acceptance_rate"
    own = [d for d in ev["metric_definitions"] if d["name"] == "acceptance_rate"]
    assert own and own[0]["builtin"] is False
    assert any("acceptance_rate" in a["how"] and "user_metrics.py" in a["how"] for a in plan["assumptions"])

    repo = _bake(tmp_path, answers)
    run = _dry_run(repo)
    assert run.returncode == 1
    assert "acceptance_rate" in run.stdout + run.stderr and "user_metrics.py" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr

    user = repo / "scripts" / "user_metrics.py"
    user.write_text(user.read_text(encoding="utf-8") + "\n\ndef acceptance_rate(prediction, reference, example):\n"
                    "    return float(prediction.strip() == reference.strip())\n\n\n"
                    'METRICS["acceptance_rate"] = acceptance_rate\n', encoding="utf-8")
    run = _dry_run(repo)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("task, metric, dry_run_needs", [("code", "pass@1", "allow_code_execution"),
                                                         ("chat", "win rate", "judge.endpoint"),
                                                         ("code", "execution accuracy", None)])
def test_a_metric_that_needs_the_user_says_what_in_the_dry_run(tmp_path, task, metric, dry_run_needs):
    """A plan may name these metrics; the bake writes their config sections, and --dry-run names the one key the
    user must fill in (code execution is opt-in, the judge URL comes only from the user)."""
    repo = _bake(tmp_path, _answers(tmp_path, task, metric))
    run = _dry_run(repo)
    if dry_run_needs is None:
        assert run.returncode == 0 and "sql.database" in run.stdout, run.stdout + run.stderr
    else:
        assert run.returncode == 1 and f"error: {dry_run_needs}:" in run.stderr, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
