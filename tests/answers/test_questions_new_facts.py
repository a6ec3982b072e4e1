"""The second wave's facts in `ftplan init` and in the seed template: each asked with its schema description,
validated as typed, owned_gpus offered as true for infrastructure: local, and a `<facts>` section read back."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from generator.answers import Facts, load_answers, seed
from generator.answers import questions as Q
from tests.answers.helpers import answers, fields, problems_of, write
from tests.conftest import ROOT

NEW_FACTS = ("heldout_available", "validation_available", "current_model", "p95_input_tokens", "max_input_tokens",
             "monthly_active_users", "preference_pairs_available", "ab_min_days", "owned_gpus", "engineering_weeks")
TEXT = {"use_case": "Classify support tickets into billing, bug or account",
        "current_approach": "An agent reads each ticket", "current_limitations": "Slow and inconsistent",
        "training_data": "5000 labelled tickets", "success_criteria": "macro F1 above 0.9"}


def question(name: str) -> Q.Question:
    return next(q for q in Q.QUESTIONS if q.field == name)


@pytest.mark.parametrize("name", NEW_FACTS)
def test_each_new_fact_is_asked_with_its_description(name):
    q = question(f"facts.{name}")
    assert q.prompt.startswith(Facts.model_fields[name].description or "")
    assert q.validate("") is None and q.convert("") is None  # optional: Enter infers it


@pytest.mark.parametrize(("name", "good", "value", "bad", "says"), [
    ("heldout_available", "2000", 2000, "-1", ">= 0"),
    ("validation_available", "500", 500, "many", "whole number"),
    ("p95_input_tokens", "900", 900, "0", "> 0"),
    ("max_input_tokens", "4000", 4000, "4k", "whole number"),
    ("monthly_active_users", "2000000", 2_000_000, "-3", ">= 0"),
    ("preference_pairs_available", "12000", 12_000, "1.5", "whole number"),
    ("ab_min_days", "14", 14, "0", ">= 1"),
    ("owned_gpus", "yes", True, "perhaps", "true or false"),
    ("engineering_weeks", "3.5", 3.5, "0", "> 0"),
    ("current_model", "gpt-4o-mini", "gpt-4o-mini", " ", None),
])
def test_new_facts_are_validated_as_typed(name, good, value, bad, says):
    q = question(f"facts.{name}")
    assert q.validate(good) is None and q.convert(good) == value
    error = q.validate(bad)
    if says is None:
        assert error is None and q.convert(bad) is None  # blank: left to inference
    else:
        assert error is not None and says in error


def run(replies: dict[str, str]) -> tuple[dict, dict[str, str | None]]:
    """The interview without a terminal: `replies` by field, Enter (the default) elsewhere; returns the answers
    and the default each question offered."""
    pairs = iter(["a -> b", "c -> d", "e -> f", ""])
    offered: dict[str, str | None] = {}
    current = {"field": ""}

    def say(text: str) -> None:
        if m := re.match(r"([a-z_]+(?:\.[a-z_]+)?): ", text):
            current["field"] = m.group(1)

    def ask(label: str, default: str | None) -> str:
        field = current["field"]
        if field == "example_pairs":
            return next(pairs)
        offered[field] = default
        return replies.get(field, default or TEXT.get(field, ""))

    return Q.interview(ask, say, {}), offered


def test_owned_gpus_defaults_to_true_for_local_infrastructure():
    data, offered = run({"infrastructure": "local", "facts.gpu": "RTX-4090"})
    assert offered["facts.owned_gpus"] == "true"
    assert data["facts"]["owned_gpus"] is True
    data, offered = run({"infrastructure": "cloud_gpu"})
    assert offered["facts.owned_gpus"] is None and "owned_gpus" not in data.get("facts", {})
    # the default is only offered: an explicit answer wins
    data, _ = run({"infrastructure": "local", "facts.gpu": "RTX-4090", "facts.owned_gpus": "false"})
    assert data["facts"]["owned_gpus"] is False


def test_new_facts_typed_in_the_interview_reach_the_answers_file():
    typed = {"facts.heldout_available": "2000", "facts.current_model": "gpt-4o-mini",
             "facts.engineering_weeks": "4", "facts.ab_min_days": "14"}
    data, _ = run(typed)
    assert data["facts"] == {"heldout_available": 2000, "current_model": "gpt-4o-mini", "engineering_weeks": 4.0,
                             "ab_min_days": 14}


def test_init_through_a_terminal_offers_owned_gpus_true_for_local(tmp_path: Path):
    pexpect = pytest.importorskip("pexpect", reason="pexpect drives ftplan init through a pseudo-terminal")
    out = tmp_path / "answers.yaml"
    child = pexpect.spawn(sys.executable, ["-m", "generator.cli", "init", "-o", str(out)], cwd=str(ROOT),
                          encoding="utf-8", timeout=30, dimensions=(50, 200),
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    prompt = r"\r\n  [a-z0-9_ ()]+(?: \[[^\]\r\n]*\])?: $"
    replies = {"infrastructure": "local", "facts.gpu": "RTX-4090", **TEXT}
    pairs = iter(["a -> b", "c -> d", "e -> f", ""])
    seen_default = None
    while True:
        i = child.expect([r"\r\n(?P<field>[a-z0-9_]+(?:\.[a-z0-9_]+)?): ", r"wrote \S+", pexpect.EOF])
        if i:
            break
        field = child.match.group("field")
        if field == "example_pairs":
            for pair in pairs:
                child.expect(r"\r\n  pair \d[^\r\n]*: $")
                child.sendline(pair)
            continue
        child.expect(prompt)
        if field == "facts.owned_gpus":
            seen_default = child.after
        child.sendline(replies.get(field, ""))
    child.expect(pexpect.EOF)
    child.close()
    assert seen_default is not None and "[true]" in seen_default
    assert load_answers(out).answers.facts.owned_gpus is True


# --- the seed template's optional <facts> section ------------------------------------------------------------


def with_facts(body: str) -> str:
    return seed.fill(answers()).replace("</context>", f"</context>\n<facts>\n{body}\n</facts>")


def test_seed_template_facts_section_is_read_and_validated(tmp_path: Path):
    text = with_facts("<heldout_available>2000</heldout_available>\n<current_model>gpt-4o-mini</current_model>\n"
                      "<owned_gpus>true</owned_gpus>\n<languages>en, de</languages>\n"
                      "<engineering_weeks>3.5</engineering_weeks>")
    facts = load_answers(write(tmp_path, "prompt.md", text)).answers.facts
    assert (facts.heldout_available, facts.current_model, facts.owned_gpus, facts.languages,
            facts.engineering_weeks) == (2000, "gpt-4o-mini", True, ["en", "de"], 3.5)
    assert facts.examples_available is None  # only the section's facts: the template has no others


def test_seed_template_facts_problems_name_the_fact(tmp_path: Path):
    found = problems_of(load_answers, write(tmp_path, "p.md", with_facts(
        "<heldout_availble>2000</heldout_availble>\n<ab_min_days>0</ab_min_days>\n<p95_input_tokens>{{p95}}"
        "</p95_input_tokens>")))
    assert fields(found) == ["facts.heldout_availble", "facts.p95_input_tokens", "facts.ab_min_days"]
    assert "heldout_available" in found[0].fix and "placeholder" in found[1].message
    unclosed = problems_of(seed.parse, seed.fill(answers()) + "<facts><ab_min_days>3</ab_min_days>")
    assert fields(unclosed) == ["<facts>"]
