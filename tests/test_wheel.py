"""The package as users get it: build the wheel, install it into a fresh venv, plan and scaffold from a folder
outside the checkout, and prove the planner installs and imports without the training stack.

Slow (a build and a pip install from the package index, about a minute); marked `slow`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, TODAY

pytestmark = pytest.mark.slow

BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120
TRAINING_STACK = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "datasets")
JUNK_PARTS = (".ruff_cache", "__pycache__", ".pytest_cache", ".mypy_cache")


@dataclass
class Installed:
    wheel: Path
    python: Path
    ftplan: Path
    outside: Path  # a working folder outside the checkout

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FTPLAN_TODAY", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, *cmd: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(c) for c in cmd], cwd=self.outside, env=self.env(), capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S)


def _check(res: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert res.returncode == 0, f"{res.args}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    # Build from a copy so the checkout gets no build/ or egg-info litter.
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "dist",
                                                             ".hypothesis", *JUNK_PARTS))
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                           "-q", "-w", str(dist), str(src)], capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT_S))
    wheels = sorted(dist.glob("ftplan-*.whl"))
    assert len(wheels) == 1, wheels
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    _check(subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                           str(wheels[0])], capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S))
    outside = base / "work"
    outside.mkdir()
    return Installed(wheels[0], python, env_dir / "bin" / "ftplan", outside)


def test_wheel_ships_the_scaffolds_and_the_knowledge_base(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    must = ["generator/_data/configs/catalog/models.yaml", "generator/_data/configs/trl_keys.yaml",
            "generator/_data/configs/planning.yaml", "generator/_data/configs/examples/support_triage.yaml",
            "generator/_data/scaffolds/open_weights/{{cookiecutter.slug}}/configs/eval.yaml",
            "generator/_data/scaffolds/open_weights/{{cookiecutter.slug}}/scripts/train.py",
            "generator/_data/scaffolds/open_weights/{{cookiecutter.slug}}/Makefile",
            "generator/_data/scaffolds/hosted/scripts/prepare_hosted.py", "generator/cli.py"]
    assert [n for n in must if n not in names] == []
    # Every template file in the checkout is in the wheel (nothing lost to an include rule).
    for folder in ("scaffolds", "configs"):
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT).as_posix()
            if path.is_file() and not any(part in JUNK_PARTS for part in path.parts) and path.suffix != ".pyc":
                assert f"generator/_data/{rel}" in names, rel
    assert not [n for n in names if any(part in n.split("/") for part in JUNK_PARTS) or n.endswith(".pyc")]


def test_installed_package_is_not_the_checkout(installed):
    res = _check(installed.run(installed.python, "-c", "import generator, generator.paths as p; "
                               "print(generator.__file__); print(p.scaffolds_dir()); print(p.configs_dir())"))
    lines = res.stdout.splitlines()
    assert all("site-packages" in line and str(ROOT) not in line for line in lines), lines
    assert lines[1].endswith("generator/_data/scaffolds") and lines[2].endswith("generator/_data/configs")


def test_ftplan_plan_runs_from_the_wheel(installed):
    answers = installed.outside / "answers.yaml"
    shutil.copy(EXAMPLES / "support_triage.yaml", answers)
    res = _check(installed.run(installed.ftplan, "plan", answers.name, "--today", TODAY.isoformat()))
    assert "Should You Fine-Tune?" in res.stdout and "Total Cost & ROI" in res.stdout
    res = _check(installed.run(installed.ftplan, "plan", answers.name, "--format", "json", "--today",
                               TODAY.isoformat()))
    assert json.loads(res.stdout)["decision"]["recommendation"] == "fine_tune"


def test_ftplan_scaffold_runs_from_the_wheel(installed):
    target = installed.outside / "repo"
    _check(installed.run(installed.ftplan, "scaffold", "-o", target.name, "--today", TODAY.isoformat()))
    for rel in ("STRATEGY.md", "plan.json", ".ftplan-answers.yml", "configs/train.yaml", "configs/smoke.yaml",
                "scripts/train.py", "Makefile", "data/examples.jsonl"):
        assert (target / rel).is_file(), rel
    plan = json.loads((target / "plan.json").read_text(encoding="utf-8"))
    assert "site-packages" in plan["meta"]["answers_source"]  # the bundled default, found inside the wheel
    assert not [p for p in target.rglob("*") if p.name in JUNK_PARTS]
    _check(installed.run(installed.ftplan, "check", target.name))


def test_hosted_scaffold_from_an_example_inside_the_wheel(installed):
    """The hosted scripts ship too, and the examples are usable straight from the installed data."""
    res = _check(installed.run(installed.python, "-c", "import generator.paths as p; print(p.examples_dir())"))
    example = Path(res.stdout.strip()) / "vertex_hosted_tuning.yaml"
    assert example.is_file() and "site-packages" in str(example)
    target = installed.outside / "hosted"
    _check(installed.run(installed.ftplan, "scaffold", example, "-o", target.name, "--today", TODAY.isoformat()))
    assert (target / "scripts" / "prepare_hosted.py").is_file() and (target / "configs" / "hosted.yaml").is_file()


def test_the_training_stack_is_not_installed(installed):
    for module in TRAINING_STACK:
        res = installed.run(installed.python, "-c", f"import {module}")
        assert res.returncode != 0 and "ModuleNotFoundError" in res.stderr, module


def test_importing_the_cli_loads_no_training_library(installed):
    res = _check(installed.run(installed.python, "-X", "importtime", "-c", "import generator.cli"))
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    assert "generator" in imported
    assert imported.isdisjoint(TRAINING_STACK), sorted(imported & set(TRAINING_STACK))
