"""Kill tests (issue 4): SIGKILL the generated repository's training and evaluation mid-run, run the same
command again, and check that it picks up where it stopped and ends where an uninterrupted run ends.

    python -m pytest tests/test_e2e_kill.py -q -m slow

Slow (about a minute): bakes the support-triage plan, builds the tiny local model and trains it on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from tests.test_e2e import bake  # noqa: E402

pytestmark = pytest.mark.slow
STEP_TIMEOUT = 600
MAX_STEPS = 60  # fixed, so an uninterrupted run and a killed-and-resumed one must end at the same step
SAVE_STEPS = 10  # a checkpoint and an evaluation (save_steps must be a multiple of eval_steps)
EVAL_BATCH = 4  # small generation batches: the evaluation's cache grows in many small appends to kill between
POLL_S = 0.02
KILL_SETTINGS = "configs/kill-ftplan.yaml"  # configs/ftplan.yaml with early stopping off


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def train_cmd(out: Path) -> list[str]:
    flags = f"--max_steps {MAX_STEPS} --save_steps {SAVE_STEPS} --eval_steps {SAVE_STEPS} --logging_steps 5"
    return [sys.executable, "scripts/train.py", "--config", "configs/smoke.yaml", "--ftplan-config", KILL_SETTINGS,
            *flags.split(), "--output_dir", str(out)]  # fmt: skip


def eval_cmd(adapter: Path, out: Path) -> list[str]:
    return [sys.executable, "scripts/evaluate.py", "--config", "configs/eval.yaml", "--profile", "smoke",
            "--adapter", str(adapter), "--output-dir", str(out), "--batch-size", str(EVAL_BATCH)]  # fmt: skip


def run(repo: Path, cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=repo, env=env(), capture_output=True, text=True, timeout=STEP_TIMEOUT)


def kill_when(repo: Path, cmd: list[str], log: Path, ready) -> None:
    """Start cmd, SIGKILL it as soon as ready() is true, and check that it really died mid-run."""
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env=env(), stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STEP_TIMEOUT
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, (
        f"the run ended (exit {proc.returncode}) before it could be killed:\n{log.read_text()[-3000:]}"
    )


def complete_checkpoints(out: Path) -> list[int]:
    return sorted(int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/trainer_state.json"))


def cache_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """The support-triage bake with smoke/ built, and configs/kill-ftplan.yaml: the generated ftplan.yaml with
    early stopping off, so that every run trains exactly MAX_STEPS."""
    repo, plan = bake(tmp_path_factory.mktemp("kill"), "support_triage.yaml")
    made = run(
        repo,
        [sys.executable, "scripts/make_tiny_model.py", "--out", "smoke", "--method", plan.training.method],
    )
    assert made.returncode == 0, made.stderr[-3000:]
    settings = yaml.safe_load((repo / "configs" / "ftplan.yaml").read_text())
    assert settings.get("early_stopping_patience"), "configs/ftplan.yaml lost its early stopping"
    (repo / KILL_SETTINGS).write_text(yaml.safe_dump({**settings, "early_stopping_patience": None}))
    return repo


@pytest.fixture(scope="module")
def reference(repo: Path) -> Path:
    """An uninterrupted training run: the step count and the adapter the other runs are compared with."""
    out = repo / "runs" / "reference"
    proc = run(repo, train_cmd(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_killed_training_resumes_and_ends_at_the_same_step(repo: Path, reference: Path) -> None:
    out = repo / "runs" / "killed"
    kill_when(repo, train_cmd(out), repo / "runs" / "killed.log", lambda: bool(complete_checkpoints(out)))
    assert not (out / "run_metadata.json").exists()
    saved = complete_checkpoints(out)
    assert saved and saved[-1] < MAX_STEPS, saved
    # A kill during a save leaves a newer checkpoint folder without trainer_state.json; resuming must skip it.
    partial = out / f"checkpoint-{saved[-1] + SAVE_STEPS}"
    if not partial.exists():
        shutil.copytree(out / f"checkpoint-{saved[-1]}", partial)
        (partial / "trainer_state.json").unlink()

    proc = run(repo, train_cmd(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Resuming from {out / f'checkpoint-{saved[-1]}'}" in proc.stdout + proc.stderr
    resumed = json.loads((out / "run_metadata.json").read_text())
    uninterrupted = json.loads((reference / "run_metadata.json").read_text())
    assert resumed["global_step"] == uninterrupted["global_step"] == MAX_STEPS
    assert resumed["stopped_early"] is False and resumed["padding_free"] is True
    assert resumed["early_stopping_patience"] is None  # read from --ftplan-config, not the generated file
    # The resumed run restores the optimizer, scheduler, RNG and data position: the same evaluations follow.
    steps = [e["step"] for e in uninterrupted["eval_loss"]]
    assert [e["step"] for e in resumed["eval_loss"]] == steps
    for got, want in zip(resumed["eval_loss"], uninterrupted["eval_loss"], strict=True):
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-4), (got, want)


def test_killed_evaluation_continues_from_its_cache(repo: Path, reference: Path) -> None:
    whole, killed = repo / "runs" / "eval-whole", repo / "runs" / "eval-killed"
    first = run(repo, eval_cmd(reference, whole))
    assert first.returncode in (0, 1), first.stderr[-3000:]  # 1 = a gate failed, still a full report

    cache = killed / "generations.jsonl"
    kill_when(
        repo,
        eval_cmd(reference, killed),
        repo / "runs" / "eval-killed.log",
        lambda: cache_lines(cache) >= 2 * EVAL_BATCH,
    )
    assert not (killed / "eval_report.json").exists()
    done_before = cache_lines(cache)
    assert 0 < done_before < cache_lines(whole / "generations.jsonl")

    second = run(repo, eval_cmd(reference, killed))
    assert second.returncode == first.returncode, second.stderr[-3000:]
    want = json.loads((whole / "eval_report.json").read_text())
    got = json.loads((killed / "eval_report.json").read_text())
    assert got["metrics"] == want["metrics"]
    assert got["gates"] == want["gates"] and got["passed"] == want["passed"]
    reused = sum(t["cached"] for t in got["timings"].values() if isinstance(t, dict) and "cached" in t)
    assert reused >= done_before, got["timings"]
    assert cache_lines(cache) == cache_lines(whole / "generations.jsonl")  # nothing generated twice
