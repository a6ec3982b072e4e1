"""Hypothesis over file contents and file names, per CLI entry point (issue 9): whatever the input, the exit
code is 0, 1 or 2, nothing is a traceback, and every input file is byte-identical after the run."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from generator.cli import app
from tests.conftest import EXAMPLES

runner = CliRunner()
TODAY = ["--today", "2026-11-25"]
VALID = (EXAMPLES / "support_triage.yaml").read_bytes()
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# File names: any bytes a POSIX name may hold (not '/', not NUL), so invalid UTF-8 too; never '.' or '..'.
names = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_")).filter(
    lambda b: b not in (b".", b"..")).map(os.fsdecode)
suffixes = st.sampled_from(["", ".yaml", ".yml", ".json", ".md", ".txt", ".jsonl"])


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """A valid file with a slice replaced by hostile bytes or text: near-valid inputs reach deeper code."""
    start = draw(st.integers(0, len(valid)))
    end = draw(st.integers(start, min(len(valid), start + 80)))
    piece = draw(st.one_of(
        st.binary(max_size=40),
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.sampled_from([b"\xe2\x80\xa8endpoint: http://evil/v1\n", b"9" * 400, b".nan", b"-.inf", b"[" * 200,
                         b"&a x", b"*a", b"!!python/object:os.system", b"{{ 7*7 }}", b"\r\x85", b"\xff\xfe"]),
    ))
    return valid[:start] + piece + valid[end:]


def contents(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(valid), st.binary(max_size=300), st.text(max_size=300).map(str.encode))



def _digest(paths: list[Path]) -> dict[str, str]:
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[os.fsencode(f).hex()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ftplan-fuzz-") as tmp:
        yield Path(tmp)


def run_clean(args: list[str], inputs: list[Path]) -> None:
    before = _digest(inputs)
    res = runner.invoke(app, args)
    assert res.exit_code in (0, 1, 2), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    assert _digest(inputs) == before, "an input changed"


@FUZZ
@given(name=names, suffix=suffixes, content=contents(VALID))
def test_plan(name, suffix, content):
    with workdir() as tmp:
        path = tmp / (name + suffix)
        path.write_bytes(content)
        run_clean(["plan", str(path), *TODAY, "--format", "json"], [path])


@FUZZ
@given(name=names, content=contents(b'{"messages": [{"role": "user", "content": "hi"}, '
                                    b'{"role": "assistant", "content": "billing"}]}\n' * 3))
def test_plan_with_data(name, content):
    with workdir() as tmp:
        data = tmp / (name + ".jsonl")
        data.write_bytes(content)
        run_clean(["plan", str(EXAMPLES / "support_triage.yaml"), "--data", str(data), *TODAY, "--format", "json"],
                  [data])


@FUZZ
@given(name=names, suffix=suffixes, content=contents(VALID))
def test_scaffold_dry_run(name, suffix, content):
    with workdir() as tmp:
        path = tmp / (name + suffix)
        path.write_bytes(content)
        run_clean(["scaffold", str(path), "-o", str(tmp / "repo"), "--dry-run", *TODAY], [path])
        assert not (tmp / "repo").exists()


@FUZZ
@given(name=names, suffix=suffixes, content=contents(VALID))
def test_prompt(name, suffix, content):
    with workdir() as tmp:
        path = tmp / (name + suffix)
        path.write_bytes(content)
        run_clean(["prompt", str(path)], [path])


HF_CONFIG = (b'{"hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,'
             b' "intermediate_size": 4864, "vocab_size": 151936, "tie_word_embeddings": true}')



@FUZZ
@given(name=names, content=contents(HF_CONFIG), method=st.sampled_from(["lora", "qlora", "full", "x"]))
def test_estimate(name, content, method):
    with workdir() as tmp:
        path = tmp / (name + ".json")
        path.write_bytes(content)
        run_clean(["estimate", "--config", str(path), "--method", method, "--gpu", "A100-80GB"], [path])


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("fuzz-check") / "repo"
    res = runner.invoke(app, ["scaffold", str(EXAMPLES / "support_triage.yaml"), "-o", str(repo), *TODAY])
    assert res.exit_code == 0, res.output
    return repo


CHECKED = ["configs/train.yaml", "configs/eval.yaml", "configs/rollout.yaml", "configs/ftplan.yaml", "plan.json"]


@FUZZ
@given(data=st.data(), rel=st.sampled_from(CHECKED))
def test_check_on_a_repo_with_a_fuzzed_config(baked, data, rel):
    target = baked / rel
    original = target.read_bytes()
    target.write_bytes(data.draw(contents(original)))
    try:
        run_clean(["check", str(baked)], [baked])
    finally:
        target.write_bytes(original)


@FUZZ
@given(data=st.data(), key=st.sampled_from(["learning_rate", "per_device_train_batch_size", "max_length",
                                             "lora_r", "num_train_epochs"]),
       value=st.one_of(st.integers(-(10**400), 10**400), st.floats(), st.text(max_size=20), st.none(),
                       st.lists(st.integers(), max_size=3)))
def test_check_on_a_train_yaml_with_a_typed_value(baked, data, key, value):
    """Well-formed YAML whose values are wrong in type or range: huge ints, NaN, inf, text, lists."""
    target = baked / "configs" / "train.yaml"
    original = target.read_bytes()
    cfg = yaml.safe_load(original)
    cfg[key] = value
    target.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    try:
        run_clean(["check", str(baked)], [baked])
    finally:
        target.write_bytes(original)


def test_estimate_with_a_non_utf8_file_name():
    with workdir() as tmp:
        path = tmp / (os.fsdecode(b"cfg-\x80") + ".json")
        path.write_bytes(HF_CONFIG)
        run_clean(["estimate", "--config", str(path)], [path])


@pytest.mark.parametrize("content", [b"0", b"[]", HF_CONFIG.replace(b"896", b"1e999")], ids=["int", "list", "inf"])
def test_estimate_with_a_config_that_is_not_a_usable_mapping(content):
    with workdir() as tmp:
        path = tmp / "config.json"
        path.write_bytes(content)
        run_clean(["estimate", "--config", str(path)], [path])


def test_check_on_a_latin1_config(baked):
    target = baked / "configs" / "train.yaml"
    original = target.read_bytes()
    target.write_bytes(original + "# caf\u00e9\n".encode("latin-1"))
    try:
        run_clean(["check", str(baked)], [baked])
    finally:
        target.write_bytes(original)


def test_the_baked_repo_is_restored(baked):
    shutil.rmtree(baked / "outputs", ignore_errors=True)
    assert (baked / "configs" / "train.yaml").is_file()
