"""Hostile file names on every script's file flags (issue 9): whatever the name, and whatever sits behind it (a
file, a folder, a FIFO, a dangling symlink, nothing, a name too long for the file system), the exit code is 0, 1
or 2, an error is one `error:` line (never `error: internal`), nothing prints a traceback and every input file is
byte-identical after the run.

    pytest tests/test_hostile_names.py -q
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "FTPLAN_DEBUG": "", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}
KEEP = {"scripts", "configs", "data", "docs", "outcomes.csv", "raw.csv", "adapter", "out", "rehearse"}
# Names people and tools produce: spaces, a leading dash, a line break, bytes that are not UTF-8, terminal escapes,
# a right-to-left override, a name near the file system's 255-byte limit, matplotlib's mathematics markers.
SPECIAL = ["with space", "-dash", "--", "new\nline", os.fsdecode(b"bad-\xff\xfe"), "tab\there", "\x1b[31mred",
           "\u202eevil", "caf\u00e9", " ", "x" * 240, "\u2028sep", "'quote\"", "*?[", "~", "$\\frac$"]
KINDS = ("valid", "dir", "garbage", "fifo", "dangling", "missing", "toolong")
TRAIN_ROW = json.dumps({"messages": [{"role": "user", "content": "my card was charged twice"},
                                     {"role": "assistant", "content": "billing"}]})
HELDOUT_ROW = json.dumps({"messages": [{"role": "user", "content": "the app crashes on start"},
                                       {"role": "assistant", "content": "bug"}]})
RAW_CSV = "input,output\n" + "".join(f"ticket {i} about {w},{w}\n" for i in range(12) for w in ("billing", "bug"))


def raw_name(data: bytes) -> str:
    name = os.fsdecode(data.replace(b"/", b"_").replace(b"\x00", b"_"))
    return name if name not in (".", "..") and name not in KEEP else f"{name}_"


names = st.tuples(st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=24).map(raw_name)),
                  st.sampled_from(["", ".csv", ".jsonl"])).map("".join)


def _jsonl(path: Path) -> None:
    path.write_text(HELDOUT_ROW + "\n", encoding="utf-8")


def _csv(path: Path) -> None:
    path.write_text(RAW_CSV, encoding="utf-8")


def _outcomes(path: Path) -> None:
    path.write_text("variant,success,latency_ms,cost\n"
                    + "".join(f"{v},{i % 2},{100 + i},0.0001\n" for v in ("control", "treatment") for i in range(30)))


def _copy(rel: str) -> Callable[[Path], None]:
    return lambda path: shutil.copyfile(ROOT / rel, path)


def _docs(path: Path) -> None:
    path.mkdir()
    (path / "faq.md").write_text("To reset your password open settings and choose reset password.\n")


def _adapter(path: Path) -> None:
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"r": 8, "peft_type": "LORA"}))


def _report(path: Path) -> None:
    path.write_text(json.dumps({"metrics": {}, "primary_metric": "accuracy"}))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_work(tmp_path_factory.mktemp("names"))


def build_work(work: Path) -> Path:
    """A copy of this repository's scripts and configs, the data the other flags need, and room for outputs."""
    shutil.copytree(ROOT / "scripts", work / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", work / "configs")
    (work / "data").mkdir()
    for name in ("train.jsonl", "validation.jsonl"):
        _jsonl(work / "data" / name)
    (work / "data" / "heldout.jsonl").write_text(HELDOUT_ROW + "\n", encoding="utf-8")
    _docs(work / "docs")
    _outcomes(work / "outcomes.csv")
    _csv(work / "raw.csv")
    _adapter(work / "adapter")
    return work


NO_TOKENIZER = ["--tokenizer", "none", "--workers", "1"]  # whitespace counts: no transformers import per run
# (script, its arguments with P where the hostile name goes, what a valid object there is, output: may be written)
TARGETS: dict[str, tuple[str, list[str], Callable[[Path], None], bool]] = {
    "validate_data train": ("validate_data.py", ["P", "--config", "configs/train.yaml", *NO_TOKENIZER], _jsonl,
                            False),
    "validate_data --heldout": ("validate_data.py", ["data/train.jsonl", "--heldout", "P", *NO_TOKENIZER], _jsonl,
                                False),
    "validate_data --report": ("validate_data.py", ["data/train.jsonl", "--report", "P", *NO_TOKENIZER],
                               lambda p: None, True),
    "validate_data --config": ("validate_data.py", ["data/train.jsonl", "--config", "P", "--dry-run"],
                               _copy("configs/train.yaml"), False),
    "prepare_data raw": ("prepare_data.py", ["P", "--out", "out/data", "--dry-run"], _csv, False),
    "prepare_data --heldout": ("prepare_data.py", ["raw.csv", "--heldout", "P", "--out", "out/data"], _csv, False),
    "prepare_data --out": ("prepare_data.py", ["raw.csv", "--out", "P"], lambda p: None, True),
    "prepare_data --config": ("prepare_data.py", ["raw.csv", "--config", "P", "--dry-run"],
                              _copy("configs/data.yaml"), False),
    "evaluate --adapter": ("evaluate.py", ["--dry-run", "--adapter", "P"], _adapter, False),
    "evaluate --heldout": ("evaluate.py", ["--dry-run", "--heldout", "P"], _jsonl, False),
    "evaluate --output-dir": ("evaluate.py", ["--dry-run", "--output-dir", "P"], lambda p: None, True),
    "evaluate --config": ("evaluate.py", ["--config", "P", "--dry-run"], _copy("configs/eval.yaml"), False),
    "ab_analysis outcomes": ("ab_analysis.py", ["P", "--report", "out/ab.json"], _outcomes, False),
    "ab_analysis --report": ("ab_analysis.py", ["outcomes.csv", "--report", "P"], lambda p: None, True),
    "ab_analysis --config": ("ab_analysis.py", ["outcomes.csv", "--config", "P", "--dry-run"],
                             _copy("configs/rollout.yaml"), False),
    "rag --documents": ("rag.py", ["reset password", "--documents", "P"], _docs, False),
    "rag --config": ("rag.py", ["reset password", "--documents", "docs", "--config", "P"],
                     _copy("configs/rag.yaml"), False),
    "merge --adapter": ("merge.py", ["--dry-run", "--adapter", "P", "--out", "out/merged"], _adapter, False),
    "merge --out": ("merge.py", ["--dry-run", "--adapter", "adapter", "--out", "P"], lambda p: None, True),
    "merge real --adapter": ("merge.py", ["--adapter", "P", "--out", "out/merged"], lambda p: p.mkdir(), False),
    "manifest heldout": ("manifest.py", ["P"], _jsonl, False),
    "manifest report": ("manifest.py", ["data/heldout.jsonl", "P"], _report, False),
    "schemas eval": ("schemas.py", ["eval", "P"], _copy("configs/eval.yaml"), False),
    "charts report": ("charts.py", ["P"], _report, False),
}
SLOW_TARGETS: dict[str, tuple[str, list[str], Callable[[Path], None], bool]] = {  # torch or TRL at start-up
    "serve --adapter": ("serve.py", ["--dry-run", "--adapter", "P"], _adapter, False),
    "serve --config": ("serve.py", ["--dry-run", "--config", "P"], _copy("configs/eval.yaml"), False),
    "rehearse --raw": ("rehearse.py", ["--dry-run", "--raw", "P"], lambda p: p.write_text("no,rows\n"), False),
    "rehearse --train-config": ("rehearse.py", ["--dry-run", "--train-config", "P"],
                                lambda p: p.write_text("[]\n"), False),
    "rehearse --eval-config": ("rehearse.py", ["--dry-run", "--eval-config", "P"],
                               lambda p: p.write_text("heldout: 5\n"), False),
}


DECISIONS = {"ab_analysis.py": (0, 1, 2, 3, 4)}  # 3 keep running, 4 roll back: the A/B decision
FINDINGS_ON_STDOUT = ("validate_data.py", "schemas.py")  # exit 1 with the data's findings printed on stdout
ROW_ERRORS = ("prepare_data.py",)  # one line per malformed row (valid content under another suffix has many)


def digest(work: Path) -> dict[str, str]:
    """sha256 of every input file under `work` (not the outputs, not the interpreter's caches)."""
    out = {}
    for path in sorted(work.rglob("*")):
        rel = path.relative_to(work)
        if rel.parts[0] in ("out", "rehearse") or "__pycache__" in rel.parts or path.is_symlink() \
                or not path.is_file():
            continue
        out[os.fsencode(rel).hex()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def place(path: Path, kind: str, valid: Callable[[Path], None]) -> None:
    if kind == "valid":
        valid(path)
    elif kind == "dir":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"\xff\x00{[not: valid\n")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere-at-all")


def remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:  # ENAMETOOLONG: it was never created
        assert exc.errno == 36, exc


def check_run(work: Path, script: str, args: list[str], name: str, kind: str, valid: Callable, output: bool) -> None:
    if kind == "toolong":
        name = (name * 300)[:300]
    path = work / name
    entries = set(os.listdir(work))
    place(path, kind, valid)
    before = digest(work)
    if output:
        before = {k: v for k, v in before.items() if k != os.fsencode(name).hex()}
    try:
        proc = subprocess.run([sys.executable, f"scripts/{script}", *[name if a == "P" else a for a in args]],
                              cwd=work, capture_output=True, env=ENV, timeout=120)
        out, err = (proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))
        shown = f"{script} {args} name={name!r} kind={kind}\nstdout: {out[-2000:]}\nstderr: {err[-3000:]}"
        assert proc.returncode in DECISIONS.get(script, (0, 1, 2)), shown
        assert "Traceback" not in out + err, shown
        assert "error: internal" not in err, shown
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        if proc.returncode == 1 and script not in FINDINGS_ON_STDOUT:
            assert errors, shown
        if errors and script != "rehearse.py":  # rehearse adds its own line after the failed step's
            assert err.strip().split("\n") == errors, shown  # no fragment of a name split off
            assert len(errors) == 1 or script in ROW_ERRORS, shown
        after = digest(work)
        assert {k: after.get(k) for k in before} == before, "an input changed\n" + shown
    finally:
        remove(path)
        for left in set(os.listdir(work)) - entries:  # what the run wrote (a report's chart beside it)
            remove(work / left)
        shutil.rmtree(work / "out", ignore_errors=True)
        shutil.rmtree(work / "rehearse", ignore_errors=True)


def fuzz(work: Path, target: tuple, examples: int) -> None:
    script, args, valid, output = target

    @hypothesis.settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(name=names, kind=st.sampled_from(KINDS))
    def check(name: str, kind: str) -> None:
        check_run(work, script, args, name, kind, valid, output)

    check()


@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_names(work: Path, target: str) -> None:
    fuzz(work, TARGETS[target], 10)


@pytest.mark.parametrize("target", list(SLOW_TARGETS))
def test_hostile_names_slow_start(work: Path, target: str) -> None:
    fuzz(work, SLOW_TARGETS[target], 3)


@pytest.mark.parametrize("name", ["new\nline", os.fsdecode(b"bad-\xff")])
@pytest.mark.parametrize("target", ["validate_data --heldout", "prepare_data raw", "ab_analysis outcomes",
                                    "rag --documents", "manifest heldout"])
def test_every_kind_behind_a_name_that_broke_a_script(work: Path, target: str, name: str) -> None:
    """Each kind on its own for the names that split error lines (a line break) or crashed a write (bytes that are
    not UTF-8), and the FIFOs that made prepare_data, manifest and the validator's --report wait forever."""
    for kind in KINDS:
        check_run(work, TARGETS[target][0], TARGETS[target][1], name, kind, *TARGETS[target][2:])
