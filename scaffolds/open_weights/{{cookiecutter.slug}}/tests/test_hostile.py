"""Hostile or broken input to the scripts: never an overwritten input, never a traceback, bounded memory.

pytest tests/test_hostile.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

ROLLOUT = {
    "sample_size_per_arm": 20,
    "split": {"control": 0.5, "treatment": 0.5},
    "srm_alpha": 0.001,
    "min_lift": 0.0,
    "guardrails": {"p95_latency_ms": 300},
}
MAX_RSS_MB = 250  # the validator on a 50 MB single line stays under this (~80 MB measured; 4.3 GB before the cap)


def script(name: str, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "FTPLAN_DEBUG": "", **(env or {})},
        cwd=cwd,
        timeout=600,
    )


def one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def outcomes(path: Path, rows: list[str] | None = None) -> Path:
    body = rows or [f"{v},{i % 2},{100 + i},0.0001" for v in ("control", "treatment") for i in range(30)]
    path.write_text("variant,success,latency_ms,cost\n" + "\n".join(body) + "\n")
    return path


@pytest.fixture()
def rollout(tmp_path: Path) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(json.dumps(ROLLOUT))
    return path


# ---------------------------------------------------------------- 1. an output is never an input
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_ab_report_never_overwrites_the_outcomes(tmp_path: Path, rollout: Path, how: str) -> None:
    log = outcomes(tmp_path / "outcomes.csv")
    before = log.read_bytes()
    report = log
    if how != "same":
        report = tmp_path / "report.json"
        (report.symlink_to if how == "symlink" else report.hardlink_to)(log)
    proc = script("ab_analysis.py", str(log), "--config", str(rollout), "--report", str(report))
    one_error_line(proc, "--report", "never overwrite")
    assert log.read_bytes() == before


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink"])
def test_validator_report_never_overwrites_the_data(tmp_path: Path, how: str) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "yes"}]}) + "\n")
    before = data.read_bytes()
    report = data
    if how != "same":
        report = tmp_path / "report.json"
        (report.symlink_to if how == "symlink" else report.hardlink_to)(data)
    proc = script("validate_data.py", str(data), "--report", str(report), cwd=tmp_path)
    one_error_line(proc, "--report", "never overwrite")
    assert data.read_bytes() == before


def test_refuse_overwrite_compares_inodes(tmp_path: Path) -> None:
    from common import UserError, refuse_overwrite

    src = tmp_path / "a.jsonl"
    src.write_text("x\n")
    (tmp_path / "b.json").hardlink_to(src)
    refuse_overwrite(tmp_path / "new.json", [src, None], "--out")  # a fresh path is fine
    with pytest.raises(UserError, match="--out"):
        refuse_overwrite(tmp_path / "b.json", [src], "--out")
    with pytest.raises(UserError):
        refuse_overwrite(tmp_path / "sub/../a.jsonl", [src], "--out")


# ---------------------------------------------------------------- 2. NaN, inf, negative, huge outcomes
@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("control,1,nan,0.0001", "latency_ms"),
        ("control,1,inf,0.0001", "latency_ms"),
        ("control,1,-5,0.0001", "latency_ms"),
        ("control,1,100,-0.1", "cost"),
        ("control,1,100," + "9" * 400, "cost"),
        ("control,2,100,0.0001", "success"),
        ("control,nan,100,0.0001", "success"),
    ],
)
def test_bad_outcome_values_are_rejected_by_row(tmp_path: Path, rollout: Path, row: str, needle: str) -> None:
    rows = [f"{v},{i % 2},{100 + i},0.0001" for v in ("control", "treatment") for i in range(30)] + [row]
    log = outcomes(tmp_path / "outcomes.csv", rows)
    report = tmp_path / "ab.json"
    proc = script("ab_analysis.py", str(log), "--config", str(rollout), "--report", str(report))
    one_error_line(proc, "row 61", needle)
    assert not report.exists()  # so NaN never reaches a report


def test_nan_in_jsonl_outcomes_never_reaches_the_report(tmp_path: Path, rollout: Path) -> None:
    rows = [{"variant": v, "success": i % 2, "latency_ms": 100.0, "cost": 0.0001}
            for v in ("control", "treatment") for i in range(30)]
    log = tmp_path / "outcomes.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"variant": "control", "success": 1, '
                   '"latency_ms": NaN, "cost": 0}\n')
    report = tmp_path / "ab.json"
    proc = script("ab_analysis.py", str(log), "--config", str(rollout), "--report", str(report))
    one_error_line(proc, "latency_ms", "finite")
    assert not report.exists()


def test_deeply_nested_jsonl_outcomes(tmp_path: Path, rollout: Path) -> None:
    log = tmp_path / "outcomes.jsonl"
    log.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    one_error_line(script("ab_analysis.py", str(log), "--config", str(rollout)), "line 1")


# ---------------------------------------------------------------- 3. --device cuda without CUDA
def test_device_cuda_without_cuda_is_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from common import UserError, check_device

    with pytest.raises(UserError, match="CUDA is not available.*--device cpu"):
        check_device("cuda")
    check_device("cpu")
    check_device("auto")
    cfg = tmp_path / "eval.yaml"
    cfg.write_text((ROOT / "configs/eval.yaml").read_text())
    proc = script("evaluate.py", "--config", str(cfg), "--device", "cuda", cwd=ROOT)
    one_error_line(proc, "CUDA is not available", "--device cpu")
    proc = script("serve.py", "--config", str(cfg), "--device", "cuda", "--backend", "local", cwd=ROOT)
    one_error_line(proc, "CUDA is not available", "--device cpu")


# ---------------------------------------------------------------- 4. a corrupt adapter folder
@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model and an untrained LoRA adapter of it (loading is what is tested, not quality)."""
    import make_tiny_model
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tiny")
    make_tiny_model.main(out, "lora", 0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(out / "model"),
                           LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    model.save_pretrained(out / "adapter")
    # the same LoRA on a model of another width: tensors of the same names and the wrong shapes
    other = LlamaForCausalLM(LlamaConfig(vocab_size=model.config.vocab_size, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2))
    get_peft_model(other, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM")).save_pretrained(
        out / "other_adapter")
    lines = (out / "heldout.jsonl").read_text().splitlines()[:2]
    (out / "heldout.jsonl").write_text("\n".join(lines) + "\n")
    return out


def corrupt(folder: Path, how: str, other: Path | None = None) -> None:
    """Break the adapter in `folder` in one way; `other`: an adapter of a model of another width."""
    from safetensors.torch import load_file, save_file

    weights = folder / "adapter_model.safetensors"
    config = folder / "adapter_config.json"
    if how == "r_mismatch":  # the config says r=8, the tensors were trained with r=4
        config.write_text(json.dumps({**json.loads(config.read_text()), "r": 8}))
    elif how == "another_base":
        shutil.copyfile(other / "adapter_model.safetensors", weights)
    elif how == "transposed":
        tensors = load_file(weights)
        first = sorted(tensors)[0]
        save_file({**tensors, first: tensors[first].T.contiguous()}, weights)
    elif how == "foreign_keys":  # readable weights of modules this base does not have: PEFT would only warn
        save_file({k.replace(".layers.", ".blocks."): v for k, v in load_file(weights).items()}, weights)
    elif how == "no_tensors":
        save_file({}, weights)
    elif how == "unknown_modules":
        config.write_text(json.dumps({**json.loads(config.read_text()), "target_modules": ["c_attn"]}))
    elif how == "config_not_json":
        (folder / "adapter_config.json").write_text("{not json")
    elif how == "truncated_weights":
        weights = folder / "adapter_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "missing_weights":
        (folder / "adapter_model.safetensors").unlink()
    elif how == "config_a_list":
        (folder / "adapter_config.json").write_text("[]")


CORRUPT = ["config_not_json", "truncated_weights", "missing_weights", "config_a_list"]
MISFITS = ["r_mismatch", "another_base", "transposed", "foreign_keys", "no_tensors", "unknown_modules"]


def broken_adapter(tiny_adapter: Path, tmp_path: Path, how: str) -> Path:
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter / "adapter", adapter)
    corrupt(adapter, how, tiny_adapter / "other_adapter")
    return adapter


def eval_config(tiny_adapter: Path, adapter: Path, tmp_path: Path) -> Path:
    config = {
        "base_model": str(tiny_adapter / "model"),
        "adapter": str(adapter),
        "task_type": "classification",
        "labels": ["food", "music", "sports", "travel"],
        "heldout": str(tiny_adapter / "heldout.jsonl"),
        "generation": {"max_new_tokens": 2, "batch_size": 2},
        "statistics": {"bootstrap_resamples": 20, "permutation_resamples": 20, "seed": 0},
        "metrics": ["accuracy"],
        "primary_metric": "accuracy",
        "gates": [{"metric": "accuracy", "op": "delta_ci_low>", "threshold": 0.0}],
        "output_dir": str(tmp_path / "reports"),
        "device": "cpu",
    }
    (tmp_path / "eval.yaml").write_text(json.dumps(config))
    return tmp_path / "eval.yaml"


@pytest.mark.parametrize("how", [*CORRUPT, "foreign_keys"])
def test_corrupt_adapter_is_one_line_naming_the_folder(tiny_adapter: Path, tmp_path: Path, how: str) -> None:
    adapter = broken_adapter(tiny_adapter, tmp_path, how)
    proc = script("evaluate.py", "--config", str(eval_config(tiny_adapter, adapter, tmp_path)))
    one_error_line(proc, "adapter", str(adapter), "--adapter")


@pytest.mark.parametrize("how", MISFITS + CORRUPT)
def test_every_adapter_loader_names_the_folder_and_the_fix(tiny_adapter: Path, tmp_path: Path, how: str) -> None:
    """evaluate and serve (LocalBackend) and merge load through generation.load_adapter: tensors of the wrong shape
    (another r, another base, transposed), weights of other modules (PEFT alone would only warn and score the base)
    and a corrupt folder are each one UserError line naming the folder; merge writes nothing."""
    import merge
    from common import UserError
    from generation import LocalBackend

    adapter = broken_adapter(tiny_adapter, tmp_path, how)
    cfg = {"base_model": str(tiny_adapter / "model"), "adapter": str(adapter), "device": "cpu",
           "max_new_tokens": 2, "statistics": {"seed": 0}}
    errors = []
    for load in (lambda: LocalBackend(cfg).load("tuned"),
                 lambda: merge.main({**cfg, "out": str(tmp_path / "merged"), "dtype": "auto", "dry_run": False,
                                     "force": False})):
        with pytest.raises(UserError) as err:
            load()
        errors.append(str(err.value))
    for line in errors:
        assert "\n" not in line and f"adapter: {adapter}" in line and "--adapter" in line, line
        if how in MISFITS:
            assert "does not fit base_model" in line and "--base-model" in line, line
        if how == "r_mismatch":
            assert "lora_A.default.weight is [4, 64] in the adapter but [8, 64] in the model" in line, line
    assert not (tmp_path / "merged").exists() and not (tmp_path / "merged.partial").exists()


def test_the_untouched_adapter_loads(tiny_adapter: Path) -> None:
    """The checks of load_adapter pass a sound adapter (its LoRA weights are all in the file)."""
    from generation import LocalBackend

    backend = LocalBackend({"base_model": str(tiny_adapter / "model"), "adapter": str(tiny_adapter / "adapter"),
                            "device": "cpu", "max_new_tokens": 2, "statistics": {"seed": 0}})
    backend.load("tuned")
    assert backend.peft


@pytest.mark.parametrize(("name", "how"), [("merge.py", "another_base"), ("serve.py", "r_mismatch")])
def test_merge_and_serve_exit_with_one_line_on_a_misfit_adapter(tiny_adapter: Path, tmp_path: Path, name: str,
                                                                how: str) -> None:
    adapter = broken_adapter(tiny_adapter, tmp_path, how)
    cfg = eval_config(tiny_adapter, adapter, tmp_path)
    extra = ["--out", str(tmp_path / "merged")] if name == "merge.py" else ["--port", "0", "--backend", "local"]
    one_error_line(script(name, "--config", str(cfg), *extra), f"adapter: {adapter}", "does not fit base_model",
                   "--base-model")


def test_adapter_loaders_on_fuzzed_adapter_configs(tiny_adapter: Path, tmp_path: Path) -> None:
    """A hand-edited adapter_config.json with any value at any key (NaN, 10**30, text, a list): the loader that
    evaluate, serve and merge share either loads it or raises one UserError line naming the folder."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from adapters import load_adapter
    from common import UserError
    from transformers import AutoModelForCausalLM

    values = st.one_of(st.integers(-(10**30), 10**30), st.floats(), st.text(max_size=12), st.none(), st.booleans(),
                       st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                            max_size=2))

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_adapter / "adapter", adapter)
    valid = json.loads((adapter / "adapter_config.json").read_text())
    weights = (adapter / "adapter_model.safetensors").read_bytes()

    @hypothesis.settings(max_examples=25, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(key=st.sampled_from(sorted(valid) + ["r", "lora_alpha", "target_modules", "rank_pattern"]),
                      value=values)
    def check(key: str, value: object) -> None:
        (adapter / "adapter_config.json").write_text(json.dumps({**valid, key: value}))
        base = AutoModelForCausalLM.from_pretrained(tiny_adapter / "model")
        try:
            load_adapter(base, adapter, str(tiny_adapter / "model"))
        except UserError as err:
            assert "\n" not in str(err) and f"adapter: {adapter}" in str(err), str(err)
        assert (adapter / "adapter_model.safetensors").read_bytes() == weights

    check()


# ---------------------------------------------------------------- 5. a 50 MB single line
def test_validator_memory_is_bounded_on_a_50mb_line(tmp_path: Path) -> None:
    from data_format import MAX_LINE_BYTES

    data = tmp_path / "train.jsonl"
    ok = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}]})
    with open(data, "w") as fh:
        fh.write(ok + "\n")
        fh.write('{"messages": [{"role": "user", "content": "' + "a" * (50 << 20) + '"}]}\n')
        fh.write(ok + "\n")
    assert data.stat().st_size > MAX_LINE_BYTES
    report = tmp_path / "report.json"
    # a fresh parent process, so RUSAGE_CHILDREN's peak is the validator's alone
    measure = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stdout + p.stderr)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, str(ROOT / "scripts/validate_data.py"), str(data),
         "--workers", "1", "--report", str(report)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path,
    )
    code, rss_kib = (int(x) for x in proc.stdout.split())
    peak_mb = rss_kib / 1024  # ru_maxrss is in KiB on Linux
    assert code == 1 and "Traceback" not in proc.stderr, proc.stderr
    found = json.loads(report.read_text())["findings"]
    assert [f["line"] for f in found if f["code"] == "line_too_long"] == [2], found
    assert peak_mb < MAX_RSS_MB, f"validator peak RSS {peak_mb:.0f} MB"


# ---------------------------------------------------------------- 6. anything unexpected: one line
def test_unexpected_exception_is_one_internal_line(tmp_path: Path) -> None:
    probe = tmp_path / "boom.py"
    probe.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'scripts')!r})\nfrom common import run\n"
        "def main():\n    raise ZeroDivisionError('x' * 10)\nrun(main)\n"
    )
    proc = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                          env={**os.environ, "FTPLAN_DEBUG": ""})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith("error: internal: ZeroDivisionError")
    debug = subprocess.run([sys.executable, str(probe), "--debug"], capture_output=True, text=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    env = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                         env={**os.environ, "FTPLAN_DEBUG": "1"})
    assert "Traceback" in env.stderr


def test_every_script_entry_point_uses_run() -> None:
    for path in sorted((ROOT / "scripts").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if 'if __name__ == "__main__":' not in text or "argparse" not in text:
            continue
        tail = text.split('if __name__ == "__main__":', 1)[1]
        assert "run(" in tail, f"{path.name}: its entry point must go through common.run"


# ---------------------------------------------------------------- 7. fuzzed config contents
def _fuzz(name: str, args: list[str], tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text, encoding="utf-8", errors="surrogateescape")
    inputs = sorted(p for p in tmp_path.iterdir() if p.is_file())
    before = {p: p.read_bytes() for p in inputs}
    proc = script(name, *[a.replace("CFG", str(cfg)) for a in args], cwd=tmp_path)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert {p: p.read_bytes() for p in inputs} == before


CONFIG_TEXT = [
    "", "[]", "- 1\n- 2", "{", "a: b", "sample_size_per_arm: nan", "sample_size_per_arm: 1e400",
    "sample_size_per_arm: -1", "heldout: 5", "base_model: [1, 2]", "split: {treatment: 2}",
    "metrics: {a: b}", "max_length: .inf", "\u2028endpoint: http://x/v1", "!!python/object:os.system {}",
]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("ab_analysis.py", ["outcomes.csv", "--config", "CFG", "--dry-run"]),
        ("evaluate.py", ["--config", "CFG", "--dry-run"]),
        ("validate_data.py", ["train.jsonl", "--config", "CFG", "--dry-run"]),
    ],
)
def test_fuzzed_config_contents(tmp_path: Path, name: str, args: list[str]) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    outcomes(tmp_path / "outcomes.csv")
    (tmp_path / "train.jsonl").write_text('{"messages": []}\n')

    @hypothesis.settings(max_examples=20, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.one_of(st.sampled_from(CONFIG_TEXT), st.text(max_size=60)))
    def check(text: str) -> None:
        _fuzz(name, args, tmp_path, text)

    check()


def test_fuzzed_outcomes_contents(tmp_path: Path, rollout: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    header = "variant,success,latency_ms,cost\n"
    cell = st.one_of(st.sampled_from(["control", "treatment", "1", "0", "nan", "-1", "1e400", "", '"']),
                     st.text(max_size=8))
    row = st.lists(cell, min_size=1, max_size=5).map(",".join)

    @hypothesis.settings(max_examples=20, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(st.lists(row, max_size=6))
    def check(rows: list[str]) -> None:
        log = tmp_path / "outcomes.csv"
        log.write_text(header + "\n".join(rows) + "\n", encoding="utf-8", errors="surrogateescape")
        before = log.read_bytes()
        report = tmp_path / "ab.json"
        proc = script("ab_analysis.py", str(log), "--config", str(rollout), "--report", str(report))
        assert proc.returncode in (0, 1, 3, 4), proc.stderr  # 3/4: the decision (keep running, roll back)
        assert "Traceback" not in proc.stdout + proc.stderr and "internal" not in proc.stderr, proc.stderr
        assert log.read_bytes() == before
        if report.exists():
            assert "NaN" not in report.read_text() and "Infinity" not in report.read_text()

    check()


def test_a_latin1_config_is_one_line_naming_the_file(tmp_path):
    config = tmp_path / "eval.yaml"
    config.write_bytes((ROOT / "configs" / "eval.yaml").read_bytes() + "# caf\u00e9\n".encode("latin-1"))
    one_error_line(script("evaluate.py", "--config", str(config), "--dry-run"), str(config), "UTF-8")


def test_a_latin1_raw_csv_is_one_line_naming_the_file(tmp_path):
    raw = tmp_path / "tickets.csv"
    raw.write_bytes("input,output\ncaf\u00e9 is down,bug\nok,billing\n".encode("latin-1"))
    before = raw.read_bytes()
    proc = script("prepare_data.py", str(raw), "--config", str(ROOT / "configs" / "data.yaml"),
                  "--out", str(tmp_path / "out"), "--dry-run")
    one_error_line(proc, str(raw), "UTF-8")
    assert raw.read_bytes() == before
