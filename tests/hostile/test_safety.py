"""`refuse_overwrite`: an output path is never an input, by name, by symlink, by hard link, or by holding it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.errors import UserError
from generator.safety import refuse_overwrite


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text("use_case: x\n", encoding="utf-8")
    return path


def _refused(output: Path, inputs: list[Path | None], flag: str = "-o") -> str:
    with pytest.raises(UserError) as err:
        refuse_overwrite(output, inputs, flag)
    (problem,) = err.value.problems
    assert problem.field == flag and problem.fix
    return problem.message


def test_a_new_output_beside_the_input_is_allowed(tmp_path, answers):
    refuse_overwrite(tmp_path / "STRATEGY.md", [answers, None], "-o")


def test_the_output_that_is_the_input_is_refused(answers):
    assert "is the input" in _refused(answers, [answers])


def test_another_spelling_of_the_input_is_refused(tmp_path, answers):
    (tmp_path / "sub").mkdir()
    assert "is the input" in _refused(tmp_path / "sub" / ".." / "answers.yaml", [answers])


def test_a_symlink_to_the_input_is_refused(tmp_path, answers):
    link = tmp_path / "link.yaml"
    link.symlink_to(answers)
    assert "is the input" in _refused(link, [answers])


def test_a_hard_link_to_the_input_is_refused(tmp_path, answers):
    link = tmp_path / "report.md"
    os.link(answers, link)
    assert "is the input" in _refused(link, [answers])


def test_a_folder_holding_an_input_is_refused(tmp_path):
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True)
    data = repo / "train.jsonl"
    data.write_text("{}\n", encoding="utf-8")
    assert "holds the input" in _refused(repo, [data], "--force")
    assert "holds the input" in _refused(repo, [repo / "catalog"], "--force")


def test_a_folder_holding_a_hard_link_to_an_input_is_refused(tmp_path, answers):
    repo = tmp_path / "repo"
    repo.mkdir()
    os.link(answers, repo / "copy.yaml")
    assert "hard link" in _refused(repo, [answers])


def test_an_input_that_does_not_exist_is_ignored(tmp_path):
    refuse_overwrite(tmp_path / "out.md", [tmp_path / "missing.yaml"], "-o")


def test_a_folder_beside_the_inputs_is_allowed(tmp_path, answers):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "old.txt").write_text("x", encoding="utf-8")
    refuse_overwrite(repo, [answers, tmp_path], "-o")
