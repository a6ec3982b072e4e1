"""`ftplan scaffold`: a pruned matrix of bakes, user text as data, safe slugs, and the CLI contract.

Fast: nothing here trains. Every bake is rendered once per session (see `bake_case`) and checked for leaked
template syntax, Python that compiles and lints, parseable YAML/JSON, TRL-only config keys, and configs that
carry the plan's numbers. The end-to-end `make smoke` runs live elsewhere.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from generator.answers import SLUG_MAX_LENGTH, LoadedAnswers, make_slug, parse_answers
from generator.catalog import load_catalog
from generator.cli import app
from generator.errors import UserError
from generator.plan import build_plan
from generator.plan.records import Plan
from generator.plan.settings import load_settings
from generator.render.bake import COPY_WITHOUT_RENDER, bake
from generator.render.scaffold import write_scaffold
from tests.conftest import EXAMPLES, ROOT, TODAY

TEMPLATE = ROOT / "scaffolds" / "open_weights" / "{{cookiecutter.slug}}"
HOSTED_TEMPLATE = ROOT / "scaffolds" / "hosted"
TRL_KEYS = frozenset(yaml.safe_load((ROOT / "configs" / "trl_keys.yaml").read_text(encoding="utf-8"))["keys"])
BASE_EXAMPLE = "support_triage.yaml"
# Text that no template and no plan ever writes: a line holding it carries user text, not template output.
MARKER = "ZQXMARKER"
TEMPLATE_SYNTAX = ("{{", "{%", "{#")
# Files the scaffold writes from the user's answers (not from the template); they carry user text.
LEAD_WRITTEN = {"STRATEGY.md", "plan.json", ".ftplan-answers.yml", "data/examples.jsonl", "configs/hosted.yaml"}
# Written by a tool run inside the template, never part of a generated repository.
JUNK = (".ruff_cache", "__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis", "smoke", "outputs")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
CLI_TODAY = ["--today", TODAY.isoformat()]
# OpenAI still accepted tuning jobs for gpt-4o-mini on this date (configs/catalog/providers.yaml windows);
# on TODAY its tuned models retire within months, so the plan moves to open weights.
OPENAI_HOSTED_DAY = date(2025, 11, 25)

runner = CliRunner()


# ---------------------------------------------------------------------------------------------------------
# The matrix: every provider x infrastructure x method that the answers can reach, driven by facts


PROVIDERS = ("openai", "anthropic", "open_source", "google")
INFRASTRUCTURES = ("cloud_gpu", "api_fine_tune", "local")
METHODS = ("lora", "qlora", "full", "hosted")
# Validation errors the matrix is expected to hit (the combination is impossible), with the field named.
EXPECTED_REJECTIONS = {("open_source", "api_fine_tune"): "infrastructure"}


@cache
def _base() -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / BASE_EXAMPLE).read_text(encoding="utf-8"))


def matrix_answers(provider: str, infra: str, method: str) -> tuple[dict[str, Any], date] | None:
    """Answers that should lead the planner to `method`; None where no answers can reach it."""
    d = copy.deepcopy(_base())
    d.update(provider=provider, infrastructure=infra, project_name=f"matrix {provider} {infra} {method}")
    d["use_case"] = f"{d['use_case']} {MARKER}"
    facts = d["facts"]
    if infra == "api_fine_tune":
        # The provider picks the hardware (GPU facts are dropped), so only hosted or plain LoRA are reachable.
        if method in ("qlora", "full"):
            return None
        hosted_day = {"google": TODAY, "openai": OPENAI_HOSTED_DAY}.get(provider)
        if method == "hosted":
            return (d, hosted_day) if hosted_day else None
        return None if provider == "google" else (d, TODAY)  # google's tuning is open on TODAY: hosted wins
    if method == "hosted":
        return None
    if method == "lora":
        if infra == "local":
            facts["gpu"] = "RTX-4090"
    elif method == "qlora":
        # An 8B-class task (code) on a 16 GB card: bf16 LoRA of an 8B model does not fit, 4-bit does.
        facts.update(gpu="T4", gpu_count=1, task_type="code")
    elif method == "full":
        # Full fine-tuning only for a small model, >= 50k examples, an unlimited budget and a fixed big GPU.
        d["budget"] = "unlimited"
        facts.update(gpu="A100-80GB", gpu_count=1, examples_available=60_000)
    return d, TODAY


MATRIX = [(p, i, m) for p in PROVIDERS for i in INFRASTRUCTURES for m in METHODS
          if matrix_answers(p, i, m) is not None]
ACCEPTED = [c for c in MATRIX if c[:2] not in EXPECTED_REJECTIONS]
REJECTED = [c for c in MATRIX if c[:2] in EXPECTED_REJECTIONS]


def _id(case: tuple[str, str, str]) -> str:
    return "-".join(case)


ACCEPTED_PARAMS = [pytest.param(c, id=_id(c)) for c in ACCEPTED]


@dataclass
class Baked:
    loaded: LoadedAnswers
    plan: Plan
    repo: Path
    files: list[str]
    sources: dict[str, bytes]


def plan_answers(data: dict[str, Any], today: date = TODAY) -> tuple[LoadedAnswers, Plan]:
    loaded = parse_answers(data, "test")
    return loaded, build_plan(loaded, load_catalog(), load_settings(), today)


@pytest.fixture(scope="session")
def bake_case(tmp_path_factory):
    """Bake one matrix case, once per session."""
    cache: dict[tuple[str, str, str], Baked] = {}

    def get(case: tuple[str, str, str]) -> Baked:
        if case not in cache:
            built = matrix_answers(*case)
            assert built is not None
            loaded, plan = plan_answers(*built)
            target = tmp_path_factory.mktemp("matrix") / _id(case)
            files = write_scaffold(loaded, plan, target)
            # The template's copied files as they were at bake time (templates may be edited mid-session).
            sources = {rel: src.read_bytes() for rel in files
                       if _is_copied(rel) and rel not in LEAD_WRITTEN and (src := _source_of(rel)) is not None}
            cache[case] = Baked(loaded, plan, target, files, sources)
        return cache[case]

    return get


def _is_copied(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, pat) for pat in COPY_WITHOUT_RENDER)


def _text_files(repo: Path) -> list[tuple[str, str]]:
    """Every file of a bake but ftplan's record (.ftplan/base/ holds copies of the same files)."""
    out = []
    for path in sorted(p for p in repo.rglob("*") if p.is_file()):
        rel = path.relative_to(repo).as_posix()
        if rel.startswith(".ftplan/"):
            continue
        out.append((rel, path.read_text(encoding="utf-8")))
    return out


def template_leaks(repo: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Template syntax in rendered or lead-written files, outside lines carrying the user-text MARKER.

    `skip`: files whose user text may wrap over lines without the marker; check those by parsing instead.
    """
    leaks = []
    for rel, text in _text_files(repo):
        if rel in skip or (_is_copied(rel) and rel not in LEAD_WRITTEN):
            continue  # copied byte for byte (checked by test_copied_files_are_byte_identical)
        for n, line in enumerate(text.splitlines(), start=1):
            if MARKER in line:
                continue
            if any(tok in line for tok in TEMPLATE_SYNTAX):
                leaks.append(f"{rel}:{n}: {line.strip()[:120]}")
    return leaks


def _source_of(rel: str) -> Path | None:
    for root in (TEMPLATE, HOSTED_TEMPLATE):
        if (root / rel).is_file():
            return root / rel
    return None


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_matrix_reaches_the_intended_method(bake_case, case):
    provider, infra, method = case
    b = bake_case(case)
    assert b.plan.training.method == method, b.plan.training.why
    assert b.plan.provider.id == provider
    assert b.plan.meta.slug == f"matrix-{provider.replace('_', '-')}-{infra.replace('_', '-')}-{method}"
    assert b.repo.is_dir() and b.repo.name == _id(case)


@pytest.mark.parametrize("case", REJECTED, ids=_id)
def test_matrix_rejections_name_the_field(case):
    data, today = matrix_answers(*case)  # type: ignore[misc]
    with pytest.raises(UserError) as err:
        plan_answers(data, today)
    fields = [p.field for p in err.value.problems]
    assert EXPECTED_REJECTIONS[case[:2]] in fields
    assert all(p.field and p.message and p.fix for p in err.value.problems)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_local_without_a_gpu_is_rejected_with_the_field(provider):
    data = copy.deepcopy(_base())
    data.update(provider=provider, infrastructure="local")
    with pytest.raises(UserError) as err:
        plan_answers(data)
    assert [p.field for p in err.value.problems] == ["facts.gpu"]


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_no_template_syntax_leaks(bake_case, case):
    b = bake_case(case)
    assert template_leaks(b.repo) == []
    assert MARKER in (b.repo / "README.md").read_text(encoding="utf-8"), "use_case is not in README.md"


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_copied_files_are_byte_identical(bake_case, case):
    b = bake_case(case)
    for rel in b.files:
        if rel in LEAD_WRITTEN or not _is_copied(rel):
            continue
        assert rel in b.sources, f"{rel}: not in the template"
        assert (b.repo / rel).read_bytes() == b.sources[rel], rel


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_python_compiles(bake_case, case):
    b = bake_case(case)
    pys = [p for p in b.repo.rglob("*.py")]
    assert any(p.name == "train.py" for p in pys)
    for path in pys:
        compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)


@cache
def _ruff_available() -> bool:
    res = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True)
    return res.returncode == 0


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_python_passes_ruff(bake_case, case):
    if not _ruff_available():
        pytest.skip("ruff is not installed in this interpreter")
    b = bake_case(case)
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "E,F",
                          "--ignore", "E501", str(b.repo)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_yaml_and_json_parse(bake_case, case):
    b = bake_case(case)
    seen = 0
    for rel, text in _text_files(b.repo):
        if rel.endswith((".yaml", ".yml")):
            yaml.safe_load(text)
        elif rel.endswith(".json"):
            json.loads(text)
        elif rel.endswith(".jsonl"):
            for line in text.splitlines():
                if line.strip():
                    json.loads(line)
        else:
            continue
        seen += 1
    assert seen >= 6


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_train_and_smoke_hold_only_trl_keys(bake_case, case):
    b = bake_case(case)
    for name in ("train.yaml", "smoke.yaml"):
        cfg = yaml.safe_load((b.repo / "configs" / name).read_text(encoding="utf-8"))
        assert isinstance(cfg, dict)
        assert sorted(set(cfg) - TRL_KEYS) == [], name


@pytest.mark.parametrize("case", ACCEPTED_PARAMS)
def test_train_yaml_carries_the_plans_numbers(bake_case, case):
    b = bake_case(case)
    cfg = yaml.safe_load((b.repo / "configs" / "train.yaml").read_text(encoding="utf-8"))
    t = b.plan.training
    hp, hw = t.hyperparameters, t.hardware
    assert hp is not None and hw is not None and b.plan.base_model is not None
    assert cfg["model_name_or_path"] == b.plan.base_model.hf_id
    assert cfg["learning_rate"] == pytest.approx(hp.learning_rate)
    assert cfg["num_train_epochs"] == hp.epochs
    assert cfg["per_device_train_batch_size"] == hp.per_device_train_batch_size
    assert cfg["gradient_accumulation_steps"] == hp.gradient_accumulation_steps
    assert hp.per_device_train_batch_size * hp.gradient_accumulation_steps * hw.gpu_count \
        == hp.effective_batch_size
    assert cfg["max_length"] == hp.max_seq_length
    assert cfg["lr_scheduler_type"] == hp.scheduler
    assert cfg["seed"] == hp.seed
    assert bool(cfg.get("load_in_4bit", False)) == (t.open_weights_method == "qlora")
    if t.open_weights_method == "full":
        assert cfg.get("use_peft", False) is False
    else:
        assert cfg["use_peft"] is True
        assert cfg["lora_r"] == hp.lora_r
        assert cfg["lora_alpha"] == hp.lora_alpha
        assert cfg["lora_dropout"] == pytest.approx(hp.lora_dropout)
        assert cfg["lora_target_modules"] == hp.target_modules
    if t.open_weights_method == "qlora":
        assert cfg["bnb_4bit_quant_type"] == "nf4" and cfg["use_bnb_nested_quant"] is True
    smoke = yaml.safe_load((b.repo / "configs" / "smoke.yaml").read_text(encoding="utf-8"))
    assert bool(smoke.get("load_in_4bit", False)) == (t.open_weights_method == "qlora")
    assert bool(smoke.get("use_peft", False)) == (t.open_weights_method != "full")


@pytest.mark.parametrize("case", ACCEPTED_PARAMS)
def test_check_is_clean_on_every_fresh_bake(bake_case, case, tmp_path):
    """An unedited bake with data in place: no error, no warning (no drift from its own plan)."""
    b = bake_case(case)
    repo = tmp_path / "repo"
    shutil.copytree(b.repo, repo)
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        shutil.copy(repo / "data" / "examples.jsonl", repo / "data" / name)
    res = runner.invoke(app, ["check", str(repo)])
    assert res.exit_code == 0, res.output
    assert not [line for line in res.output.splitlines() if line.startswith(("error", "warning"))], res.output


NUMBER_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _numbers_as_text(node: Any, where: str) -> list[str]:
    if isinstance(node, dict):
        return [hit for k, v in node.items() for hit in _numbers_as_text(v, f"{where}.{k}")]
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _numbers_as_text(v, f"{where}[{i}]")]
    return [f"{where} = {node!r}"] if isinstance(node, str) and NUMBER_TEXT.match(node.strip()) else []


@pytest.mark.parametrize("case", ACCEPTED_PARAMS)
def test_no_yaml_number_reads_as_text(bake_case, case):
    """A number the plan chose must load as a number: PyYAML reads `2e-05` (no dot) as a string."""
    b = bake_case(case)
    hits = []
    for rel, text in _text_files(b.repo):
        if rel.endswith((".yaml", ".yml")) and rel != ".ftplan-answers.yml":
            hits += _numbers_as_text(yaml.safe_load(text), rel)
    assert hits == []


TRL_PARSE = """
import json, sys
from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser
out = {}
for path in json.loads(sys.argv[1]):
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))  # trl/scripts/sft.py's
    # Only the device is overridden: this machine has no GPU (and so no bf16).
    _, t, m, _ = parser.parse_args_and_config(args=["--config", path, "--use_cpu", "true", "--bf16", "false"])
    out[path] = {"learning_rate": t.learning_rate, "num_train_epochs": t.num_train_epochs,
                 "max_length": t.max_length, "lora_r": m.lora_r, "use_peft": m.use_peft,
                 "load_in_4bit": m.load_in_4bit, "model_name_or_path": m.model_name_or_path}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_stock_trl_parser_accepts_every_bakes_configs(bake_case):
    """`trl sft --config` parses train.yaml and smoke.yaml of every bake (parsing only: nothing loads)."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("TRL is not installed")
    bakes = {_id(c): bake_case(c) for c in ACCEPTED}
    paths = [str(b.repo / "configs" / name) for b in bakes.values() for name in ("train.yaml", "smoke.yaml")]
    res = subprocess.run([sys.executable, "-c", TRL_PARSE, json.dumps(paths)], capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    parsed = json.loads(res.stdout.strip().splitlines()[-1])
    for b in bakes.values():
        hp, t = b.plan.training.hyperparameters, b.plan.training
        assert hp is not None and b.plan.base_model is not None
        got = parsed[str(b.repo / "configs" / "train.yaml")]
        assert got["learning_rate"] == pytest.approx(hp.learning_rate)
        assert got["num_train_epochs"] == hp.epochs and got["max_length"] == hp.max_seq_length
        assert got["model_name_or_path"] == b.plan.base_model.hf_id
        assert got["use_peft"] == (t.open_weights_method != "full")
        assert got["load_in_4bit"] == (t.open_weights_method == "qlora")
        smoke = parsed[str(b.repo / "configs" / "smoke.yaml")]
        assert smoke["load_in_4bit"] == (t.open_weights_method == "qlora")


@pytest.mark.parametrize("case", ACCEPTED, ids=_id)
def test_hosted_files_only_for_hosted_plans(bake_case, case):
    b = bake_case(case)
    hosted_files = {"scripts/prepare_hosted.py", "configs/hosted.yaml"}
    if b.plan.training.method == "hosted":
        assert hosted_files <= set(b.files)
        cfg = yaml.safe_load((b.repo / "configs" / "hosted.yaml").read_text(encoding="utf-8"))
        assert cfg["model"] == b.plan.provider.hosted_model
        assert cfg["provider"] == {"google": "vertex", "openai": "openai"}[b.plan.provider.id]
    else:
        assert hosted_files.isdisjoint(b.files)


def test_matrix_covers_every_provider_infrastructure_and_method():
    assert {c[0] for c in ACCEPTED} == set(PROVIDERS)
    assert {c[1] for c in ACCEPTED} == set(INFRASTRUCTURES)
    assert {c[2] for c in ACCEPTED} == set(METHODS)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_bundled_example_bakes_cleanly(tmp_path, name):
    res = runner.invoke(app, ["scaffold", str(EXAMPLES / name), "-o", str(tmp_path / "repo"), *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert template_leaks(tmp_path / "repo") == []
    for rel in ("STRATEGY.md", "plan.json", ".ftplan-answers.yml", "configs/train.yaml", "Makefile"):
        assert (tmp_path / "repo" / rel).is_file(), rel


def test_tool_caches_in_the_template_are_not_baked(tmp_path):
    template = tmp_path / "template"
    shutil.copytree(ROOT / "scaffolds" / "open_weights", template,
                    ignore=shutil.ignore_patterns(*JUNK))
    inner = template / "{{cookiecutter.slug}}"
    for junk in JUNK:
        (inner / junk).mkdir()
        (inner / junk / "entry").write_text("cache\n", encoding="utf-8")
    loaded, plan = plan_answers(_base())
    from generator.render.scaffold import scaffold_context

    out = tmp_path / "out"
    out.mkdir()
    repo = bake(template, plan.meta.slug, scaffold_context(plan, loaded.answers), out)
    found = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.name in JUNK)
    assert found == []


# ---------------------------------------------------------------------------------------------------------
# User text is data: template syntax and shell syntax come out verbatim and unexecuted

CANARY = "ftplan-canary"
PAYLOAD = ("{{ 7*7 }} {% raw %} {{ cookiecutter.slug }} ${HOME} $(id) {# note #} `id` "
           f"$(touch {CANARY}) `touch {CANARY}` {{{{ cycler.__init__.__globals__.os.system('touch {CANARY}') }}}}")
FREE_TEXT = ("use_case", "current_approach", "current_limitations", "training_data", "success_criteria")


def _hostile_answers() -> dict[str, Any]:
    d = copy.deepcopy(_base())
    d["project_name"] = f"{MARKER} {PAYLOAD}"
    for i, key in enumerate(FREE_TEXT):
        d[key] = f"{MARKER}{i} {PAYLOAD} {d[key]}"
    for i, pair in enumerate(d["example_pairs"]):
        pair["input"] = f"{MARKER}in{i} {PAYLOAD} {pair['input']}"
        pair["output"] = f"{MARKER}out{i} {PAYLOAD}"
    return d


def test_template_syntax_in_answers_comes_out_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _hostile_answers()
    src = tmp_path / "hostile.yaml"
    src.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    canary = tmp_path / CANARY
    env_home = os.environ.get("HOME", "")
    repo = tmp_path / "repo"
    res = runner.invoke(app, ["scaffold", str(src), "-o", str(repo), *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert not canary.exists()
    assert SLUG_RE.match(json.loads((repo / "plan.json").read_text(encoding="utf-8"))["meta"]["slug"])

    strategy = (repo / "STRATEGY.md").read_text(encoding="utf-8")
    readme = (repo / "README.md").read_text(encoding="utf-8")
    for i, key in enumerate(FREE_TEXT):
        assert f"{MARKER}{i} {PAYLOAD}" in strategy, key
    assert data["project_name"] in strategy
    assert f"{MARKER}0 {PAYLOAD}" in readme  # use_case
    assert f"{MARKER}4 {PAYLOAD}" in readme  # success_criteria
    assert f"{MARKER}in0 {PAYLOAD}" in strategy

    rows = [json.loads(line) for line in (repo / "data" / "examples.jsonl").read_text(encoding="utf-8")
            .splitlines()]
    assert [[m["content"] for m in r["messages"]] for r in rows] == \
        [[p["input"], p["output"]] for p in data["example_pairs"]]

    saved = yaml.safe_load((repo / ".ftplan-answers.yml").read_text(encoding="utf-8"))
    for key in (*FREE_TEXT, "project_name", "example_pairs"):
        assert saved[key] == data[key], key

    # Nothing rendered or executed: no 49, no expanded $HOME, no `id` output, anywhere near user text.
    for rel, text in _text_files(repo):
        for line in text.splitlines():
            if MARKER not in line:
                continue
            assert "49" not in line.replace(MARKER, ""), (rel, line)
            assert "uid=" not in line, (rel, line)
            if env_home:
                assert env_home not in line, (rel, line)
    assert template_leaks(repo, skip=(".ftplan-answers.yml",)) == []  # YAML wraps long text; parsed above


def test_labels_with_yaml_and_jinja_syntax_round_trip(tmp_path):
    """Classification labels come from the example outputs (user text) into the plan; every YAML file stays valid,
    and configs/eval.yaml takes the real run's label set from the data (`labels: auto`), not from the pairs."""
    data = copy.deepcopy(_base())
    outputs = ["{{x}}", "a: b", "#tag", "'q\"", "- item"]
    data["example_pairs"] = [{"input": f"ticket number {i} about an invoice", "output": o}
                             for i, o in enumerate(outputs)]
    loaded, plan = plan_answers(data)
    assert plan.meta.labels == outputs
    write_scaffold(loaded, plan, tmp_path / "repo")
    for rel, text in _text_files(tmp_path / "repo"):
        if rel.endswith((".yaml", ".yml")):
            yaml.safe_load(text)
    cfg = yaml.safe_load((tmp_path / "repo" / "configs" / "eval.yaml").read_text(encoding="utf-8"))
    assert cfg["labels"] == "auto"


# ---------------------------------------------------------------------------------------------------------
# Hostile project names: a safe slug, and nothing written outside the target

HOSTILE_NAMES = ["../../etc/passwd", "/abs/path", "..", "a/b\\c", "名前", "", "x" * 200, ".", "-", "~root",
                 "CON", "a\x00b", "../" * 30 + "evil"]


def _listing(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _answers_file(tmp_path: Path, name: str) -> Path:
    data = copy.deepcopy(_base())
    data["project_name"] = name
    path = tmp_path / "in" / "answers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_project_name_gives_a_safe_slug(name):
    slug = make_slug(name)
    assert SLUG_RE.match(slug) and len(slug) <= SLUG_MAX_LENGTH and not slug.endswith("-")
    assert Path(slug).name == slug and slug not in (".", "..")


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_project_name_with_output_dir(tmp_path, name):
    src = _answers_file(tmp_path, name)
    root = tmp_path / "root"
    root.mkdir()
    before = _listing(tmp_path)
    res = runner.invoke(app, ["scaffold", str(src), "-o", str(root / "out"), *CLI_TODAY])
    if res.exit_code == 1:  # a name validation refuses must say which field
        assert "project_name" in res.output and "Traceback" not in res.output
        assert _listing(tmp_path) == before
        return
    assert res.exit_code == 0, res.output
    after = _listing(tmp_path)
    new = after - before
    assert new and all(p == "root/out" or p.startswith("root/out/") for p in new), sorted(new)[:5]
    slug = json.loads((root / "out" / "plan.json").read_text(encoding="utf-8"))["meta"]["slug"]
    assert SLUG_RE.match(slug) and len(slug) <= SLUG_MAX_LENGTH


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:24])
def test_hostile_project_name_in_cwd(tmp_path, monkeypatch, name):
    src = _answers_file(tmp_path, name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = _listing(tmp_path)
    res = runner.invoke(app, ["scaffold", str(src), *CLI_TODAY])
    if res.exit_code == 1:
        assert "project_name" in res.output and "Traceback" not in res.output
        assert _listing(tmp_path) == before
        return
    assert res.exit_code == 0, res.output
    new = _listing(tmp_path) - before
    tops = {p.split("/")[1] for p in new if p.startswith("cwd/")}
    assert len(tops) == 1 and all(p.startswith("cwd/") for p in new), sorted(new)[:5]
    slug = tops.pop()
    assert SLUG_RE.match(slug) and len(slug) <= SLUG_MAX_LENGTH
    assert json.loads((cwd / slug / "plan.json").read_text(encoding="utf-8"))["meta"]["slug"] == slug


# ---------------------------------------------------------------------------------------------------------
# The CLI


def test_scaffold_without_answers_uses_the_bundled_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["scaffold", *CLI_TODAY])
    assert res.exit_code == 0, res.output
    repo = tmp_path / "support-triage"
    plan = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    assert plan["meta"]["answers_source"].endswith(BASE_EXAMPLE)
    assert (repo / "STRATEGY.md").read_text(encoding="utf-8").strip()
    assert yaml.safe_load((repo / ".ftplan-answers.yml").read_text(encoding="utf-8"))["use_case"] == \
        _base()["use_case"]
    assert "wrote" in res.output and "make smoke" in res.output


def test_non_empty_target_is_refused_without_force(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    (target / "mine.txt").write_text("keep me\n", encoding="utf-8")
    stat = (target / "mine.txt").stat()
    res = runner.invoke(app, ["scaffold", "-o", str(target), *CLI_TODAY])
    assert res.exit_code == 1
    assert "--force" in res.output and "Traceback" not in res.output
    assert _listing(target) == {"mine.txt"}
    assert (target / "mine.txt").read_text(encoding="utf-8") == "keep me\n"
    assert (target / "mine.txt").stat().st_mtime_ns == stat.st_mtime_ns
    assert _listing(tmp_path) == {"repo", "repo/mine.txt"}  # no staging folder left behind


def test_force_never_deletes_a_file_ftplan_did_not_generate(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    (target / "mine.txt").write_text("old\n", encoding="utf-8")
    res = runner.invoke(app, ["scaffold", "-o", str(target), "--force", *CLI_TODAY])
    assert res.exit_code == 1 and "mine.txt (not generated by ftplan)" in res.output and "ftplan update" in res.output
    assert _listing(target) == {"mine.txt"} and (target / "mine.txt").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_force_replaces_unedited_ftplan_output(tmp_path):
    target = tmp_path / "repo"
    assert runner.invoke(app, ["scaffold", "-o", str(target), *CLI_TODAY]).exit_code == 0
    res = runner.invoke(app, ["scaffold", "-o", str(target), "--force", *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert (target / "STRATEGY.md").is_file() and (target / "plan.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]


def test_empty_existing_target_is_used_without_force(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    res = runner.invoke(app, ["scaffold", "-o", str(target), *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert (target / "STRATEGY.md").is_file()


def test_target_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "repo"
    target.write_text("a file\n", encoding="utf-8")
    res = runner.invoke(app, ["scaffold", "-o", str(target), "--force", *CLI_TODAY])
    assert res.exit_code == 1 and "-o" in res.output
    assert target.read_text(encoding="utf-8") == "a file\n"


def test_dry_run_lists_the_files_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "repo"
    res = runner.invoke(app, ["scaffold", "-o", str(target), "--dry-run", *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    listed = {line.strip() for line in res.output.splitlines() if line.startswith("  ")}
    real = tmp_path / "real"
    assert runner.invoke(app, ["scaffold", "-o", str(real), *CLI_TODAY]).exit_code == 0
    assert listed == _files(real)
    assert {"STRATEGY.md", "plan.json", "configs/train.yaml", ".ftplan-answers.yml"} <= listed


def test_dry_run_leaves_no_staging_folder_in_the_temp_dir(tmp_path, monkeypatch):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    res = runner.invoke(app, ["scaffold", "-o", str(tmp_path / "repo"), "--dry-run", *CLI_TODAY])
    assert res.exit_code == 0, res.output
    assert list(tmpdir.iterdir()) == []


def _files(repo: Path) -> set[str]:
    """The generated files (ftplan's record under .ftplan/ is not listed by --dry-run)."""
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()
            and not p.relative_to(repo).as_posix().startswith(".ftplan/")}


@pytest.fixture
def fresh_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    res = runner.invoke(app, ["scaffold", "-o", str(repo), *CLI_TODAY])
    assert res.exit_code == 0, res.output
    for name in ("train.jsonl", "validation.jsonl", "heldout.jsonl"):
        shutil.copy(repo / "data" / "examples.jsonl", repo / "data" / name)
    return repo


def _edit_train(repo: Path, key: str, line: str) -> None:
    path = repo / "configs" / "train.yaml"
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(rf"^{re.escape(key)}:.*$", line, text, count=1, flags=re.MULTILINE)
    assert n == 1, key
    path.write_text(new, encoding="utf-8")


def test_check_passes_on_a_fresh_bake(fresh_repo):
    res = runner.invoke(app, ["check", str(fresh_repo)])
    assert res.exit_code == 0, res.output
    assert "OK" in res.output and "error" not in res.output


def test_check_names_a_misspelled_key_and_suggests_the_right_one(fresh_repo):
    _edit_train(fresh_repo, "learning_rate", "learning_rat: 0.0002")
    res = runner.invoke(app, ["check", str(fresh_repo)])
    assert res.exit_code == 1
    assert "learning_rat" in res.output and "'learning_rate'" in res.output
    assert "Traceback" not in res.output


def test_check_names_an_out_of_range_value(fresh_repo):
    _edit_train(fresh_repo, "lora_r", "lora_r: -1")
    res = runner.invoke(app, ["check", str(fresh_repo)])
    assert res.exit_code == 1
    assert re.search(r"lora_r\b.*-1", res.output), res.output


def test_check_names_a_config_that_is_not_utf8(fresh_repo):
    path = fresh_repo / "configs" / "train.yaml"
    path.write_bytes(path.read_bytes() + "# caf\u00e9\n".encode("latin-1"))
    res = runner.invoke(app, ["check", str(fresh_repo)])
    assert res.exit_code == 1 and isinstance(res.exception, (SystemExit, type(None))), res.output
    assert "train.yaml" in res.output and "is not UTF-8 text" in res.output, res.output


def test_check_catches_a_batch_that_no_longer_fits_the_gpu(fresh_repo):
    plan = json.loads((fresh_repo / "plan.json").read_text(encoding="utf-8"))
    assert plan["training"]["hardware"]["gpu_memory_gb"] <= 24  # a small GPU
    _edit_train(fresh_repo, "per_device_train_batch_size", "per_device_train_batch_size: 512")
    res = runner.invoke(app, ["check", str(fresh_repo)])
    assert res.exit_code == 1
    assert "per_device_train_batch_size" in res.output and plan["training"]["hardware"]["gpu"] in res.output


def test_check_on_a_folder_that_is_not_a_bake(tmp_path):
    res = runner.invoke(app, ["check", str(tmp_path)])
    assert res.exit_code == 1 and "plan.json" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------------------------------------------------
# ftplan check on fresh bakes: no drift, the planned numbers exactly, every config in agreement with the plan

DATA_MISSING = re.compile(r"^data/\w+\.jsonl$")


def _check_clean(repo: Path, plan: Plan) -> None:
    from generator.check import check_repo

    findings = check_repo(repo)
    bad = [f for f in findings if f.severity != "info" and not DATA_MISSING.match(f.problem.field)]
    assert bad == [], [str(f.problem) for f in bad]
    text = {f.problem.field: f.problem.message for f in findings}
    hw = plan.training.hardware
    assert hw is not None
    assert "as planned" in text["cost"], text["cost"]
    assert f"(plan: {hw.peak_memory_gb:.2f} GB)" in text["memory"]
    assert text["memory"].startswith(f"~{hw.peak_memory_gb:.2f} GB")


def _numbers_agree(repo: Path, plan: Plan) -> None:
    """STRATEGY.md, plan.json and configs/train.yaml + accelerate carry the same numbers."""
    hp, hw = plan.training.hyperparameters, plan.training.hardware
    assert hp is not None and hw is not None
    saved = json.loads((repo / "plan.json").read_text(encoding="utf-8"))
    assert saved == json.loads(plan.to_json())
    cfg = yaml.safe_load((repo / "configs" / "train.yaml").read_text(encoding="utf-8"))
    assert cfg["learning_rate"] == hp.learning_rate and isinstance(cfg["learning_rate"], float)
    assert cfg["max_length"] == hp.max_seq_length == hw.fit_inputs.seq_len
    assert cfg["per_device_train_batch_size"] == hp.per_device_train_batch_size == hw.fit_inputs.micro_batch
    assert cfg["gradient_accumulation_steps"] == hp.gradient_accumulation_steps
    assert cfg["num_train_epochs"] == hp.epochs == hw.fit_inputs.epochs
    assert cfg["model_name_or_path"] == saved["base_model"]["hf_id"]
    for name in ("multi_gpu.yaml", "fsdp.yaml", "deepspeed_zero3.yaml"):
        acc = yaml.safe_load((repo / "configs" / "accelerate" / name).read_text(encoding="utf-8"))
        assert acc["num_processes"] == hw.gpu_count
    strategy = (repo / "STRATEGY.md").read_text(encoding="utf-8")
    for shown in (hw.gpu, f"{hp.max_seq_length}", str(hp.per_device_train_batch_size)):
        assert shown in strategy, shown
    assert f"{plan.cost.training_usd:,.2f}" in strategy or plan.training.method in ("hosted", "none")
    _statistics_agree(repo, plan, strategy)


# What the generated evaluation runs, as its own modules compute it from configs/eval.yaml: the statistics
# settings and the paired test of each metric. A user metric gets a stand-in score(), as the user would write.
SCRIPTS_STATISTICS = """
import json, sys
sys.path.insert(0, "scripts")
import yaml
import stats, user_metrics
from evaluate import metric_specs, resolve_metrics
from report import test_of
cfg = yaml.safe_load(open("configs/eval.yaml", encoding="utf-8"))
for name, spec in metric_specs(cfg).items():
    if spec.get("builtin") is False:
        user_metrics.METRICS.setdefault(name, lambda prediction, reference, example: 0.0)
metrics = resolve_metrics(cfg, "configs/eval.yaml")
print(json.dumps({"statistics": stats.settings(cfg), "tests": {n: test_of(cfg, n, m) for n, m in metrics.items()}}))
"""
COMPARISON = re.compile(r"^- Comparison: (.*)$", re.MULTILINE)


def _statistics_agree(repo: Path, plan: Plan, strategy: str, run_scripts: bool = False) -> None:
    """STRATEGY.md states, eval.yaml carries and (run_scripts) the generated evaluation runs the same
    statistics: confidence, bootstrap resamples, permutations, the McNemar exact threshold, the seed, and the
    paired test of every metric."""
    ev = plan.evaluation
    st = ev.statistics
    stats = {"confidence": st.confidence, "bootstrap_resamples": st.bootstrap_resamples,
             "permutation_resamples": st.permutation_resamples, "mcnemar_exact_below": st.mcnemar_exact_below,
             "seed": st.seed}
    tests = {d.name: d.test for d in ev.metric_definitions}
    assert list(tests) == ev.metrics
    cfg = yaml.safe_load((repo / "configs" / "eval.yaml").read_text(encoding="utf-8"))
    assert cfg["statistics"] == stats
    assert cfg["primary_metric"] == ev.primary_metric
    assert cfg["metrics"] == {d.name: {"test": d.test, "builtin": d.builtin} for d in ev.metric_definitions}

    found = COMPARISON.search(strategy)
    assert found, "STRATEGY.md has no Comparison line"
    line = found.group(1)
    assert f"{st.confidence:.0%} CI by paired bootstrap ({st.bootstrap_resamples:,} resamples, seed {st.seed})" \
        in line, line
    named: dict[str, str] = {}
    for part in line.split("p-value ", 1)[1].split(". ")[0].rstrip(".").split("; "):
        head, _, names = part.partition(" for ")
        if "McNemar" in head:
            assert f"exact binomial below {st.mcnemar_exact_below} discordant pairs" in head, head
            test = "mcnemar"
        else:
            assert f"sign-flip permutation test ({st.permutation_resamples:,} permutations)" in head, head
            test = "sign_flip"
        named.update({n: test for n in names.split(", ")})
    assert named == tests, line

    if run_scripts:
        proc = subprocess.run([sys.executable, "-c", SCRIPTS_STATISTICS], cwd=repo, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        ran = json.loads(proc.stdout)
        assert ran == {"statistics": stats, "tests": tests}


@pytest.mark.parametrize("case", ACCEPTED_PARAMS)
def test_a_fresh_bake_checks_clean_with_the_planned_numbers(bake_case, case):
    b = bake_case(case)
    _check_clean(b.repo, b.plan)
    _numbers_agree(b.repo, b.plan)


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_bundled_example_bakes_and_checks_clean(example, tmp_path):
    from generator.answers import load_answers

    loaded = load_answers(EXAMPLES / example)
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    write_scaffold(loaded, plan, tmp_path / "repo")
    _check_clean(tmp_path / "repo", plan)
    _numbers_agree(tmp_path / "repo", plan)
    _statistics_agree(tmp_path / "repo", plan, (tmp_path / "repo" / "STRATEGY.md").read_text(encoding="utf-8"),
                      run_scripts=True)


def test_a_user_metric_is_stated_configured_and_run_with_the_same_statistics(tmp_path):
    data = copy.deepcopy(_base())
    data["facts"]["metric"] = "acceptance_rate"
    loaded, plan = plan_answers(data)
    assert plan.evaluation.primary_metric == "acceptance_rate"
    write_scaffold(loaded, plan, tmp_path / "repo")
    strategy = (tmp_path / "repo" / "STRATEGY.md").read_text(encoding="utf-8")
    assert "acceptance_rate has no built-in implementation" in strategy
    _statistics_agree(tmp_path / "repo", plan, strategy, run_scripts=True)


def test_check_reports_drift_only_for_an_edited_value(bake_case):
    from generator.check import check_repo

    b = bake_case(ACCEPTED[0])
    path = b.repo / "configs" / "train.yaml"
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original.replace("\nlogging_steps: 10", "\nlogging_steps: 50"), encoding="utf-8")
        cost = next(f for f in check_repo(b.repo) if f.problem.field == "cost")
        assert "as planned" in cost.problem.message  # a value that enters no number: no drift
        epochs = yaml.safe_load(original)["num_train_epochs"]
        path.write_text(original.replace(f"\nnum_train_epochs: {epochs}", f"\nnum_train_epochs: {epochs * 3}"),
                        encoding="utf-8")
        cost = next(f for f in check_repo(b.repo) if f.problem.field == "cost")
        assert cost.severity == "warning" and "num_train_epochs" in cost.problem.message
    finally:
        path.write_text(original, encoding="utf-8")


def test_check_of_a_missing_folder_says_so(tmp_path):
    result = runner.invoke(app, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such folder" in result.output
