"""`ftplan scaffold` under faults: SIGKILL mid-render leaves no partial repository, a later run cleans up,
and an unwritable or missing parent is a clear exit-1 message, not a traceback.

The kill lands inside the render window on purpose: the test waits for the staging folder to appear beside
the target, then kills after a delay that sweeps the measured length of the render.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from generator.render.scaffold import TEMP_PREFIX
from tests.conftest import ROOT, TODAY

ATTEMPTS = 8  # kill delays spread over the render window: 0, 1/8, ..., 7/8 of its measured length
POLL_S = 0.001
START_TIMEOUT_S = 60.0


def _env(tmpdir: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmpdir), OMP_NUM_THREADS="1")
    env.pop("FTPLAN_TODAY", None)
    return env


def _command(target: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", "scaffold", "-o", str(target), "--today", TODAY.isoformat(),
            *extra]


def _files(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()}


def _staging(parent: Path) -> list[Path]:
    return sorted(parent.glob(TEMP_PREFIX + "*"))


def _run_and_time_render(target: Path, tmpdir: Path) -> float:
    """A normal run; returns seconds from the staging folder appearing to the process exiting."""
    proc = subprocess.Popen(_command(target), env=_env(tmpdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    seen = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        if seen is None and _staging(target.parent):
            seen = time.monotonic()
        time.sleep(POLL_S)
    out, err = proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 0, out + err
    assert seen is not None, "the staging folder never appeared beside the target"
    return time.monotonic() - seen


def _kill_during_render(target: Path, tmpdir: Path, delay: float, *extra: str,
                        signum: int = signal.SIGKILL) -> tuple[bool, str]:
    """Start a scaffold, send `signum` `delay` s after its staging folder appears. Returns (landed, stdout)."""
    before = set(_staging(target.parent))
    proc = subprocess.Popen(_command(target, *extra), env=_env(tmpdir), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while proc.poll() is None and not set(_staging(target.parent)) - before:
        assert time.monotonic() < deadline, "scaffold never started rendering"
        time.sleep(POLL_S)
    if proc.poll() is None:
        time.sleep(delay)
        proc.send_signal(signum)
    out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    landed = proc.returncode in (-signum, 128 + signum) and "wrote" not in out
    return landed, out


def _assert_no_partial_repo(target: Path, reference: set[str]) -> str:
    """The target is absent or exactly a complete repository; returns which."""
    if not target.exists():
        return "absent"
    got = _files(target)
    assert got == reference, f"partial repository: missing {sorted(reference - got)[:5]}, " \
                             f"extra {sorted(got - reference)[:5]}"
    return "complete"


def _reference(tmp_path: Path) -> tuple[Path, Path, float]:
    """A private TMPDIR, a reference repository rendered by a normal run, and that render's length in s."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    ref = tmp_path / "ref" / "repo"
    ref.parent.mkdir()
    return tmpdir, ref, _run_and_time_render(ref, tmpdir)


def _sweep(tmp_path: Path, force: bool) -> None:
    tmpdir, ref, render_s = _reference(tmp_path)
    reference = _files(ref)
    assert {"STRATEGY.md", "plan.json", "configs/train.yaml"} <= reference

    landed, states = 0, set()
    for i in range(ATTEMPTS):
        parent = tmp_path / f"attempt{i}"
        parent.mkdir()
        target = parent / "repo"
        if force:
            shutil.copytree(ref, target)
        ok, _ = _kill_during_render(target, tmpdir, render_s * i / ATTEMPTS, *(["--force"] if force else []))
        landed += ok
        if not ok:
            continue
        state = _assert_no_partial_repo(target, reference)
        states.add(state)
        leftovers = {p.name for p in parent.iterdir()} - {"repo"}
        assert all(name.startswith(TEMP_PREFIX) for name in leftovers), leftovers
        # Killed before its clean-up, a run leaves its staging folder; killed after it (between the clean-up
        # and the final message), the repository is complete and nothing is left.
        assert leftovers or state == "complete", "a killed run's staging folder must remain until cleaned"

        # A later run (same parent, another target) removes the dead run's staging folder.
        again = subprocess.run(_command(parent / "again"), env=_env(tmpdir), capture_output=True, text=True,
                               timeout=START_TIMEOUT_S)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _staging(parent) == []
        assert _files(parent / "again") == reference
    assert landed >= 1, "no kill landed inside the render window"
    assert states, "no kill was checked"


def test_sigkill_mid_render_leaves_no_partial_repository(tmp_path):
    _sweep(tmp_path, force=False)


def test_sigkill_mid_force_replace_leaves_old_or_new_never_half(tmp_path):
    _sweep(tmp_path, force=True)


def test_sigkill_leaves_nothing_in_the_system_temp_dir_after_a_later_run(tmp_path):
    tmpdir, _, render_s = _reference(tmp_path)
    parent = tmp_path / "parent"
    parent.mkdir()
    landed = 0
    for i in range(1, 4):  # early in the render, while the template copy exists
        ok, _ = _kill_during_render(parent / f"repo{i}", tmpdir, render_s * i / 8)
        landed += ok
    assert landed >= 1, "no kill landed inside the render window"
    again = subprocess.run(_command(parent / "again"), env=_env(tmpdir), capture_output=True, text=True,
                           timeout=START_TIMEOUT_S)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _staging(parent) == []
    assert sorted(p.name for p in tmpdir.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_mid_render_remove_the_staging_folder_at_once(tmp_path, signum):
    tmpdir, ref, render_s = _reference(tmp_path)
    landed = 0
    for i in range(4):
        parent = tmp_path / f"attempt{i}"
        parent.mkdir()
        ok, _ = _kill_during_render(parent / "repo", tmpdir, render_s * i / 4, signum=signum)
        landed += ok
        if ok:  # no later run needed: the interrupted one cleaned up after itself
            assert _staging(parent) == [], "a terminated run left its staging folder"
            assert not (parent / "repo").exists() or _files(parent / "repo") == _files(ref)
    assert landed >= 1, "no signal landed inside the render window"


def test_stale_staging_of_a_dead_process_is_removed_and_a_live_ones_kept(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = parent / f"{TEMP_PREFIX}{dead.pid}-abc"
    (stale / "half").mkdir(parents=True)
    live = parent / f"{TEMP_PREFIX}{os.getpid()}-xyz"  # this process is alive: another run in progress
    live.mkdir()
    res = subprocess.run(_command(parent / "repo"), env=_env(tmp_path), capture_output=True, text=True,
                         timeout=START_TIMEOUT_S)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not stale.exists()
    assert live.exists()


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """A folder nobody (root included) can create entries in."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)],
                                                        capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr +i: cannot make a read-only folder")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_read_only_parent_is_a_clear_error(tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    with _read_only(parent):
        res = subprocess.run(_command(parent / "repo"), env=_env(tmp_path), capture_output=True, text=True,
                             timeout=START_TIMEOUT_S)
        listing = list(parent.iterdir())
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    assert str(parent) in res.stderr
    assert "permi" in res.stderr.lower() or "read-only" in res.stderr.lower()
    assert listing == []


def test_missing_parent_is_a_clear_error(tmp_path):
    target = tmp_path / "no" / "such" / "repo"
    res = subprocess.run(_command(target), env=_env(tmp_path), capture_output=True, text=True,
                         timeout=START_TIMEOUT_S)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "no").exists()
