"""Hostile text in the answers and in a user catalog never changes what a generated config does (issue 9).

Every free-text answer field, every example pair and every string of a user catalog carries one payload that
holds each line break Unicode, Python and YAML know, quotes, Jinja syntax and YAML indicators. The
provider x infrastructure x method matrix of tests/test_scaffold.py is baked twice per case: once with the
payload, once with a harmless text of the same role. Every generated YAML/JSON file must parse to exactly the
keys of the clean bake and to the same non-text values; the text is carried verbatim where it is data.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.answers import LoadedAnswers, load_answers, parse_answers
from generator.catalog import load_catalog
from generator.plan import build_plan
from generator.plan.records import Plan
from generator.plan.settings import load_settings
from generator.render.scaffold import write_scaffold
from tests.conftest import ROOT
from tests.test_scaffold import ACCEPTED, _id, matrix_answers

# Every character some layer treats as a line break: YAML 1.1 (\n \r \x85 \u2028 \u2029), Python's
# str.splitlines (also \v \f \x1c \x1d \x1e), and the Unicode line/paragraph separators.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# One string per field: each break followed by a key a config reader would act on, then Jinja and YAML syntax.
PAYLOAD = (
    " hostile\u2028endpoint: http://evil.example/v1\u2029push_to_hub: true\nhub_model_id: evil/x"
    "\rendpoint: http://evil2/\x0bpush_to_hub: yes\x0chub_model_id: e\x1cendpoint: a\x1dendpoint: b"
    "\x1eendpoint: c\x85push_to_hub: true\n"
    "#x Q{{ 7*7 }}Q {% raw %} {%- if true %}x{% endif %} {# c #} '\"`  key: value - item &a *a "
    "!!python/object:os.system | > % @ ` \\ \t tab end"
)
# The clean twin: the same role (appended to the same fields), none of the hostile characters.
CLEAN = " harmless plain words"
RENDERED_JINJA = "Q49Q"
DANGEROUS_KEYS = frozenset({"endpoint", "push_to_hub", "hub_model_id", "hub_token", "api_base", "base_url"})
TEXT_FIELDS = ("use_case", "current_approach", "current_limitations", "training_data", "success_criteria",
               "project_name")
# Catalog strings that reach the plan: license text, notes, sources.
CATALOG_TEXT_KEYS = ("license", "license_notes", "source", "notes", "name")

assert all(ch in PAYLOAD for ch in LINE_BREAKS)


def _with_text(data: dict[str, Any], text: str) -> dict[str, Any]:
    d = copy.deepcopy(data)
    for name in TEXT_FIELDS:
        d[name] = f"{d.get(name) or 'project'}{text}"
    for pair in d["example_pairs"]:
        pair["input"] += text
        pair["output"] += text
    return d


def _catalog_dir(folder: Path, text: str) -> Path:
    """A user catalog replacing every bundled model and GPU with a copy whose text fields end in `text`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("models.yaml", "gpus.yaml"):
        entries = yaml.safe_load((ROOT / "configs" / "catalog" / name).read_text(encoding="utf-8"))["entries"]
        for entry in entries:
            for key in CATALOG_TEXT_KEYS:
                if isinstance(entry.get(key), str):
                    entry[key] += text
        body = yaml.safe_dump({"entries": entries}, allow_unicode=True, sort_keys=False)
        (folder / name).write_text(body, encoding="utf-8")
    return folder


@dataclass
class Bake:
    answers: dict[str, Any]
    loaded: LoadedAnswers
    plan: Plan
    repo: Path
    catalog: Path


@pytest.fixture(scope="module")
def bake_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("injection")
    catalogs = {kind: _catalog_dir(root / f"catalog-{kind}", text)
                for kind, text in (("clean", CLEAN), ("hostile", PAYLOAD))}
    cache: dict[tuple[str, str, str], tuple[Bake, Bake]] = {}

    def bake(case: tuple[str, str, str], kind: str, text: str) -> Bake:
        built = matrix_answers(*case)
        assert built is not None
        data, today = built
        answers = _with_text(data, text)
        loaded = parse_answers(answers, "test")
        extra = (catalogs[kind],)
        plan = build_plan(loaded, load_catalog(extra), load_settings(extra), today,
                          catalog_dirs=[str(d) for d in extra])
        repo = root / kind / _id(case)
        repo.parent.mkdir(exist_ok=True)
        write_scaffold(loaded, plan, repo)
        return Bake(answers, loaded, plan, repo, catalogs[kind])

    def get(case: tuple[str, str, str]) -> tuple[Bake, Bake]:
        if case not in cache:
            cache[case] = (bake(case, "clean", CLEAN), bake(case, "hostile", PAYLOAD))
        return cache[case]

    return get


def _parsed(repo: Path) -> dict[str, Any]:
    """Every YAML / JSON / JSONL file of a bake, parsed (a parse error fails the test naming the file)."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in repo.rglob("*") if p.is_file()):
        rel = path.relative_to(repo).as_posix()
        text = path.read_text(encoding="utf-8")
        try:
            if rel.endswith((".yaml", ".yml")):
                out[rel] = yaml.safe_load(text)
            elif rel.endswith(".json"):
                out[rel] = json.loads(text)
            elif rel.endswith(".jsonl"):
                out[rel] = [json.loads(line) for line in text.split("\n") if line.strip()]
        except (yaml.YAMLError, ValueError) as exc:
            pytest.fail(f"{rel} does not parse: {exc}")
    return out


def _leaves(node: Any, where: str = "") -> dict[str, Any]:
    """path -> leaf value; a dict or list contributes its shape (keys, length) so structure is compared too."""
    if isinstance(node, dict):
        out: dict[str, Any] = {where + "{}": sorted(map(str, node))}
        for key, value in node.items():
            out.update(_leaves(value, f"{where}.{key}"))
        return out
    if isinstance(node, list):
        out = {where + "[]": len(node)}
        for index, value in enumerate(node):
            out.update(_leaves(value, f"{where}[{index}]"))
        return out
    return {where: node}


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {str(k) for k in node} | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def _carries_text(value: Any, clean: Bake) -> bool:
    """A clean leaf that holds the user's (or the catalog's) text, the slug made from it, or a catalog path."""
    return isinstance(value, str) and any(
        part in value for part in (CLEAN.strip(), clean.plan.meta.slug, "harmless-plain-words", str(clean.catalog)))


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_hostile_text_changes_no_key_and_no_setting(bake_pair, case):
    clean, hostile = bake_pair(case)
    got_clean, got_hostile = _parsed(clean.repo), _parsed(hostile.repo)
    assert sorted(got_hostile) == sorted(got_clean), "the hostile bake wrote other config files"
    problems = []
    for rel, cleaned in got_clean.items():
        leaves_clean, leaves_hostile = _leaves(cleaned), _leaves(got_hostile[rel])
        structure = {k for k in leaves_clean if k.endswith(("{}", "[]"))}
        for path in sorted(structure | {k for k in leaves_hostile if k.endswith(("{}", "[]"))}):
            if leaves_clean.get(path) != leaves_hostile.get(path):
                problems.append(f"{rel}: {path or '(top)'}: {leaves_clean.get(path)} -> {leaves_hostile.get(path)}")
        for path, value in leaves_clean.items():
            if path in structure or _carries_text(value, clean):
                continue
            if leaves_hostile.get(path) != value:
                problems.append(f"{rel}: {path}: {value!r} -> {leaves_hostile.get(path)!r}")
        injected = (_keys(got_hostile[rel]) - _keys(cleaned)) & DANGEROUS_KEYS
        if injected:
            problems.append(f"{rel}: gained {sorted(injected)}")
    assert problems == []


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_hostile_text_is_carried_verbatim_where_it_is_data(bake_pair, case):
    _, hostile = bake_pair(case)
    repo, answers = hostile.repo, hostile.answers
    plan = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    assert plan["meta"]["project_name"] == answers["project_name"]
    assert plan["base_model"]["license"].endswith(PAYLOAD)
    # The answers file the repo keeps reads back to the very same answers.
    again = load_answers(repo / ".ftplan-answers.yml").answers
    for name in TEXT_FIELDS:
        assert getattr(again, name) == answers[name], name
    assert [(p.input, p.output) for p in again.example_pairs] == \
        [(p["input"], p["output"]) for p in answers["example_pairs"]]
    rows = [json.loads(line) for line in (repo / "data" / "examples.jsonl").read_text(encoding="utf-8")
            .split("\n") if line.strip()]
    assert [[m["content"] for m in r["messages"]] for r in rows] == \
        [[p["input"], p["output"]] for p in answers["example_pairs"]]


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_jinja_in_text_is_never_rendered(bake_pair, case):
    _, hostile = bake_pair(case)
    rendered = [p.relative_to(hostile.repo).as_posix() for p in hostile.repo.rglob("*")
                if p.is_file() and RENDERED_JINJA in p.read_text(encoding="utf-8", errors="replace")]
    assert rendered == []
    strategy = (hostile.repo / "STRATEGY.md").read_text(encoding="utf-8")
    assert "Q{{ 7*7 }}Q" in strategy


def test_payload_holds_every_piece():
    """The payload is what the issue lists: a regression guard on the test itself."""
    for piece in ("{{", "}}", "{%", "%}", "#", ": ", "- ", "&a", "*a", "!!python/object", "|", ">", "'", '"'):
        assert piece in PAYLOAD, piece
