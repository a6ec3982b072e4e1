"""A fresh bake of every bundled example and of every provider x infrastructure x method case validates with
every generated script's own `--dry-run` (issue 8): the configs ftplan writes are the configs the scripts
accept, with no data files yet (their absence is reported, not fatal)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from generator.answers import load_answers
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings
from generator.render.scaffold import write_scaffold
from tests import test_scaffold
from tests.conftest import EXAMPLES, TODAY
from tests.test_scaffold import ACCEPTED, _id

bake_case = test_scaffold.bake_case  # the matrix bakes, shared with tests/test_scaffold.py's session cache
EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
# The scripts that load no training library for --dry-run: cheap enough for every bake.
LIGHT = {
    "validate_data": ["scripts/validate_data.py", "data/train.jsonl", "--heldout", "data/heldout.jsonl",
                      "--config", "configs/train.yaml", "--dry-run"],
    "evaluate": ["scripts/evaluate.py", "--config", "configs/eval.yaml", "--dry-run"],
    "ab_analysis": ["scripts/ab_analysis.py", "outcomes.csv", "--config", "configs/rollout.yaml", "--dry-run"],
}
# train.py --dry-run parses train.yaml with TRL's own parser (seconds per run): once per distinct train.yaml.
TRAIN = ["scripts/train.py", "--config", "configs/train.yaml", "--dry-run"]


@pytest.fixture(scope="module")
def bakes(tmp_path_factory) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name in EXAMPLE_NAMES:
        loaded = load_answers(EXAMPLES / name)
        plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
        out[name] = tmp_path_factory.mktemp("example") / "repo"
        write_scaffold(loaded, plan, out[name])
    return out


def _run(repo: Path, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=repo, capture_output=True, text=True, timeout=300)


def _assert_dry_run_passes(repo: Path, argv: list[str]) -> None:
    run = _run(repo, argv)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"{' '.join(argv)} in {repo}:\n{output}"
    assert "Traceback" not in output


@pytest.mark.parametrize("script", sorted(LIGHT))
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_bundled_example_passes_each_scripts_dry_run(bakes, name, script):
    _assert_dry_run_passes(bakes[name], LIGHT[script])


@pytest.mark.parametrize("script", sorted(LIGHT))
@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_every_matrix_case_passes_each_scripts_dry_run(bake_case, case, script):
    _assert_dry_run_passes(bake_case(case).repo, LIGHT[script])


@pytest.mark.slow
def test_every_distinct_train_yaml_passes_train_dry_run(bakes, bake_case):
    repos = list(bakes.values()) + [bake_case(c).repo for c in ACCEPTED]
    distinct: dict[str, Path] = {}
    for repo in repos:
        digest = hashlib.sha256((repo / "configs" / "train.yaml").read_bytes()).hexdigest()
        distinct.setdefault(digest, repo)
    assert len(distinct) >= 3  # lora, qlora and full at the least
    for repo in distinct.values():
        _assert_dry_run_passes(repo, TRAIN)


def test_a_broken_eval_config_fails_the_dry_run_naming_file_and_key(bakes):
    repo = bakes[EXAMPLE_NAMES[0]]
    path = repo / "configs" / "eval.yaml"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace("max_new_tokens:", "max_new_token:", 1), encoding="utf-8")
        run = _run(repo, LIGHT["evaluate"])
        assert run.returncode == 1
        assert "eval.yaml" in run.stderr + run.stdout and "max_new_token" in run.stderr + run.stdout
        assert "Traceback" not in run.stderr
    finally:
        path.write_text(original, encoding="utf-8")
