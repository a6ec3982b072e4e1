"""Hypothesis over the configs of a generated repository, through the entry points whose start-up is slow (issue 9):
`train.py --dry-run` (TRL's parser) and `rehearse.py --dry-run` (which runs train.py and evaluate.py --dry-run).
Whatever the bytes, the exit code is 0, 1 or 2, nothing prints a traceback or `error: internal`, every other
stderr line of a failure is an `error:` line, and every config is byte-identical after the run.

The generated repository's own tests fuzz the fast entry points (tests/test_hostile*.py in the bake).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.answers import load_answers
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.settings import load_settings
from generator.render.scaffold import write_scaffold
from tests.conftest import EXAMPLES, TODAY
from tests.hostile.test_cli_fuzz import mutated

pytestmark = pytest.mark.slow
FUZZ = settings(max_examples=6, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "FTPLAN_DEBUG": "", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# output_dir and lora_target_modules: the typed test below (train.py checks their types before TRL parses).
TRAIN_KEYS = ["learning_rate", "per_device_train_batch_size", "max_length", "lora_r", "num_train_epochs",
              "model_name_or_path", "dataset_name", "seed", "lora_alpha", "gradient_accumulation_steps"]
VALUES = st.one_of(st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=16), st.none(), st.booleans(),
                   st.lists(st.integers(), max_size=2), st.sampled_from(["-1", "1e400", ".nan", "[[[", "\u2028"]))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    loaded = load_answers(EXAMPLES / "support_triage.yaml")
    out = tmp_path_factory.mktemp("fuzz-generated") / "repo"
    write_scaffold(loaded, build_plan(loaded, load_catalog(), load_settings(), TODAY), out)
    return out


def run_clean(repo: Path, argv: list[str], config: Path, content: bytes) -> None:
    """Write `content` to `config`, run the script in the repo, check the exit and that `config` is unchanged."""
    original = config.read_bytes()
    config.write_bytes(content)
    try:
        proc = subprocess.run([sys.executable, *argv], cwd=repo, capture_output=True, env=ENV, timeout=300)
        out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        shown = f"{argv} exit {proc.returncode}\nstdout: {out[-1500:]}\nstderr: {err[-3000:]}"
        assert proc.returncode in (0, 1, 2), shown
        assert "Traceback" not in out + err and "error: internal" not in err, shown
        if proc.returncode == 1:
            assert any(line.startswith("error: ") for line in err.splitlines()), shown
        assert config.read_bytes() == content, "the config changed\n" + shown
    finally:
        config.write_bytes(original)
        shutil.rmtree(repo / "rehearse", ignore_errors=True)


def typed(original: bytes, key: str, value: object) -> bytes:
    """The YAML with one key set to a value of the wrong type or range (well-formed, so it reaches the checks)."""
    data = yaml.safe_load(original)
    data[key] = value
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


@FUZZ
@given(data=st.data())
def test_train_dry_run_on_a_fuzzed_train_yaml(repo, data):
    config = repo / "configs" / "train.yaml"
    original = config.read_bytes()
    content = data.draw(st.one_of(mutated(original),
                                  st.builds(lambda k, v: typed(original, k, v), st.sampled_from(TRAIN_KEYS), VALUES)))
    run_clean(repo, ["scripts/train.py", "--config", "configs/train.yaml", "--dry-run"], config, content)


@pytest.mark.parametrize(("key", "value"), [("output_dir", 0), ("lora_target_modules", {"a": 1})])
def test_train_dry_run_on_a_wrongly_typed_key(repo, key, value):
    config = repo / "configs" / "train.yaml"
    run_clean(repo, ["scripts/train.py", "--config", "configs/train.yaml", "--dry-run"], config,
              typed(config.read_bytes(), key, value))


@FUZZ
@given(data=st.data(), which=st.sampled_from(["train.yaml", "eval.yaml", "data.yaml", "ftplan.yaml"]))
def test_rehearse_dry_run_on_a_fuzzed_config(repo, data, which):
    config = repo / "configs" / which
    original = config.read_bytes()
    keys = sorted(yaml.safe_load(original) or {})
    content = data.draw(st.one_of(mutated(original),
                                  st.builds(lambda k, v: typed(original, k, v), st.sampled_from(keys), VALUES)))
    raw = repo / "raw.csv"
    raw.write_text("input,output\n" + "".join(f"ticket {i} about {w},{w}\n" for i in range(10)
                                              for w in ("billing", "bug")), encoding="utf-8")
    run_clean(repo, ["scripts/rehearse.py", "--dry-run", *(["--raw", "raw.csv"] if which == "data.yaml" else [])],
              config, content)
