"""`ftplan init` driven through a pseudo-terminal, as a person would type it: answers validated on the spot,
a GPU asked for as soon as infrastructure is local, going back with `<`, and an interrupted session that
leaves its answers in a file."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from generator.answers import load_answers
from generator.answers.questions import cross_field_problems, interview
from tests.conftest import ROOT

pexpect = pytest.importorskip("pexpect", reason="pexpect drives ftplan init through a pseudo-terminal")

HEADER = r"\r\n(?P<field>[a-z0-9_]+(?:\.[a-z0-9_]+)?): "  # a question's first line: `field: description`
PROMPT = r"\r\n  [a-z0-9_ ()]+(?: \[[^\]\r\n]*\])?: $"  # the input line: `  label [default]: `
TEXT = {"use_case": "Classify support tickets into billing, bug or account",
        "current_approach": "An agent reads each ticket", "current_limitations": "Slow and inconsistent",
        "training_data": "5000 labelled tickets", "success_criteria": "macro F1 above 0.9"}


def spawn(*args: str, tmp: Path):
    child = pexpect.spawn(sys.executable, ["-m", "generator.cli", "init", *args], cwd=str(ROOT), encoding="utf-8",
                          timeout=30, dimensions=(50, 200), env={"PATH": "/usr/bin:/bin", "HOME": str(tmp),
                                                                 "PYTHONPATH": str(ROOT)})
    return child


def answer(child, field: str, text: str) -> str:
    """Wait for `field`'s question and its prompt, type `text`; returns what was shown since the last answer."""
    child.expect(rf"\r\n{re.escape(field)}: ")
    shown = child.before + child.after
    child.expect(PROMPT)
    child.sendline(text)
    return shown + child.before + child.after


def again(child, text: str) -> str:
    """The same question re-asked after a wrong answer: its prompt, then `text`."""
    child.expect(PROMPT)
    shown = child.before + child.after
    child.sendline(text)
    return shown


def finish(child) -> None:
    """Enter through the remaining optional facts until the file is written."""
    while True:
        i = child.expect([HEADER, r"wrote \S+", pexpect.EOF])
        if i:
            break
        child.expect(PROMPT)
        child.sendline("")
    child.expect(pexpect.EOF)
    child.close()


def test_local_gpu_asked_on_the_spot_wrong_choice_once_and_back(tmp_path: Path) -> None:
    out = tmp_path / "answers.yaml"
    child = spawn("-o", str(out), tmp=tmp_path)
    child.expect("Type < to go back")
    assert "blank" not in child.before
    answer(child, "project_name", "demo")
    answer(child, "provider", "opnsource")
    shown = again(child, "open_source")
    assert "did you mean 'open_source'" in shown
    assert shown.count("openai | anthropic | open_source | google") == 1  # the choices once, not twice
    answer(child, "budget", "")
    answer(child, "infrastructure", "local")
    shown = answer(child, "facts.gpu", "")  # asked right now, not after thirty more questions
    assert "facts.gpu is required when infrastructure is local" in shown
    assert "gpu (required): " in shown
    assert "is required" in again(child, "RTX-4090")
    shown = answer(child, "use_case", "<")  # back: the GPU again
    answer(child, "facts.gpu", "RTX-4090")
    for field in ("use_case", "current_approach", "current_limitations", "training_data"):
        answer(child, field, TEXT[field])
    shown = answer(child, "example_pairs", "")
    assert "blank line ends the list" in shown
    assert "at least 3 pairs are required" in again(child, "refund me -> billing")
    for pair in ("app crashes on save -> bug", "change my email -> account"):
        again(child, pair)
    again(child, "")  # a blank line ends the pairs
    answer(child, "success_criteria", TEXT["success_criteria"])
    answer(child, "facts.task_type", "classification")
    finish(child)
    assert child.exitstatus == 0, child.before
    loaded = load_answers(out)
    assert loaded.answers.infrastructure == "local" and loaded.answers.facts.gpu == "RTX-4090"
    assert len(loaded.answers.example_pairs) == 3
    assert not (tmp_path / "answers.partial.yaml").exists()
    text = out.read_text()
    assert text.count("gpu:") == 1


@pytest.mark.parametrize("stop", ["ctrl-c", "ctrl-d"])
def test_an_interrupted_session_leaves_its_answers(tmp_path: Path, stop: str) -> None:
    out = tmp_path / "answers.yaml"
    child = spawn("-o", str(out), tmp=tmp_path)
    answer(child, "project_name", "demo")
    answer(child, "provider", "open_source")
    answer(child, "budget", "minimal")
    answer(child, "infrastructure", "local")
    child.expect(r"\r\nfacts\.gpu: ")
    child.expect(PROMPT)
    if stop == "ctrl-c":
        child.sendintr()
    else:
        child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    partial = tmp_path / "answers.partial.yaml"
    assert f"your answers so far are in {partial}" in child.before.replace("\r\n", " ").replace("  ", " ")
    assert child.exitstatus == 130 and not out.exists()
    assert yaml.safe_load(partial.read_text()) == {"project_name": "demo", "provider": "open_source",
                                                    "budget": "minimal", "infrastructure": "local"}
    # --resume offers them back as defaults: Enter keeps each
    child = spawn("-o", str(out), "--resume", str(partial), tmp=tmp_path)
    for field in ("project_name", "provider"):
        answer(child, field, "")
    answer(child, "budget", "")
    child.expect(r"\r\ninfrastructure: ")
    child.expect(PROMPT)
    assert "[local]" in child.after
    child.sendintr()
    child.expect(pexpect.EOF)
    assert yaml.safe_load(partial.read_text())["budget"] == "minimal"


def test_cross_field_rules_on_partial_answers() -> None:
    assert [p.field for p in cross_field_problems({"infrastructure": "local"})] == ["facts.gpu"]
    assert cross_field_problems({"infrastructure": "local", "facts": {"gpu": "A10"}}) == []
    assert cross_field_problems({"infrastructure": "cloud_gpu"}) == []
    problems = cross_field_problems({"facts": {"baseline_score": 0.9, "target_score": 0.8}})
    assert [p.field for p in problems] == ["facts.target_score"]


def test_interview_re_asks_an_answer_a_rule_refuses() -> None:
    """target_score below baseline_score: said once, and target_score asked again (no pseudo-terminal)."""
    replies = {"facts.baseline_score": ["0.9"], "facts.target_score": ["0.8", "0.95"], "infrastructure": [""]}
    pairs = iter(["a -> b", "c -> d", "e -> f", ""])
    shown: list[str] = []
    asked: list[str] = []
    current = {"field": ""}

    def say(text: str) -> None:
        shown.append(text)
        if m := re.match(r"([a-z_]+(?:\.[a-z_]+)?): ", text):
            current["field"] = m.group(1)

    def ask(label: str, default: str | None) -> str:
        field = current["field"]
        asked.append(field)
        if field == "example_pairs":
            return next(pairs)
        if field in replies and replies[field]:
            return replies[field].pop(0)
        return default or TEXT.get(field, "")

    data = interview(ask, say, {})
    assert data["facts"]["target_score"] == 0.95
    assert asked.count("facts.target_score") == 2
    assert sum("must be above facts.baseline_score" in line for line in shown) == 1
