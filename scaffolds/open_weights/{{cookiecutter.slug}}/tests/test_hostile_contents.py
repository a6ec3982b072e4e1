"""Hostile file contents for the entry points tests/test_hostile.py does not fuzz (issue 9): prepare_data in each
raw format, the RAG documents folder, the adapter_config.json that serve --dry-run reads (tests/test_hostile.py
fuzzes the one the loaders of evaluate, serve and merge read). Whatever the bytes,
the exit code is 0 or 1, an error is `error:` lines only (never `error: internal`), nothing prints a traceback and
the inputs are byte-identical after the run.

    pytest tests/test_hostile_contents.py -q
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "FTPLAN_DEBUG": "", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
FUZZ = {"deadline": None, "derandomize": True, "database": None,
        "suppress_health_check": list(hypothesis.HealthCheck)}
ROWS = [{"input": f"ticket {i}: my card was charged twice, {w}", "output": w}
        for i in range(10) for w in ("billing", "bug")]
HOSTILE = [b"\xe2\x80\xa8", b"9" * 400, b"NaN", b"-Infinity", b"[" * 3000, b"{" * 3000, b"\x00", b"\xff\xfe",
           b'"\\ud800"', b"\r", b'"', b"\\", b",,,,", b"\t\t", b"1e400", b"null", b"[]", b"{}", b"\xef\xbb\xbf"]


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True, cwd=cwd,
                          env=ENV, timeout=300)


def clean_exit(proc: subprocess.CompletedProcess, codes: tuple[int, ...] = (0, 1)) -> str:
    """The run's stderr, after checking: an allowed exit code, no traceback, errors as whole `error:` lines."""
    out, err = proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    shown = f"exit {proc.returncode}\nstdout: {out[-1500:]}\nstderr: {err[-3000:]}"
    assert proc.returncode in codes, shown
    assert "Traceback" not in out + err and "error: internal" not in err, shown
    if proc.returncode == 1:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and all(line.startswith("error: ") for line in lines), shown
    return err


def raw_bytes(kind: str) -> bytes:
    """ROWS in one raw format prepare_data reads."""
    if kind in ("csv", "tsv"):
        buf = io.StringIO()
        writer = csv.DictWriter(buf, ["input", "output"], delimiter="," if kind == "csv" else "\t")
        writer.writeheader()
        writer.writerows(ROWS)
        return buf.getvalue().encode()
    if kind == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    if kind == "json":
        return json.dumps({"data": ROWS}, indent=1).encode()
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), buf)
    return buf.getvalue()


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """A valid file with a slice replaced by hostile bytes: near-valid input reaches the deeper code."""
    start = draw(st.integers(0, len(valid)))
    end = draw(st.integers(start, min(len(valid), start + 60)))
    piece = draw(st.one_of(st.binary(max_size=30), st.sampled_from(HOSTILE),
                           st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))))
    return valid[:start] + piece + valid[end:]


def contents(valid: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(valid), st.binary(max_size=200), st.sampled_from([b"", valid[: len(valid) // 2]]))


# ---------------------------------------------------------------- prepare_data, each raw format
@pytest.mark.parametrize("kind", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_prepare_data_on_fuzzed_raw_files(tmp_path: Path, kind: str) -> None:
    valid = raw_bytes(kind)
    raw = tmp_path / f"raw.{kind}"

    @hypothesis.settings(max_examples=12, **FUZZ)
    @hypothesis.given(content=contents(valid), write=st.booleans())
    def check(content: bytes, write: bool) -> None:
        raw.write_bytes(content)
        out = tmp_path / "out"
        shutil.rmtree(out, ignore_errors=True)
        flags = ["--skip-invalid"] if write else ["--dry-run"]
        proc = script("prepare_data.py", str(raw), "--config", str(ROOT / "configs/data.yaml"), "--out", str(out),
                      *flags, cwd=tmp_path)
        clean_exit(proc)
        assert raw.read_bytes() == content
        if not write:
            assert not out.exists()

    check()


@pytest.mark.parametrize(("kind", "content", "needle"), [
    ("csv", b'input,output\n"hello,bug\nok,billing\n', "line 2"),
    ("jsonl", b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b', "output": "x"}\n', "nested too deeply"),
    ("jsonl", b'{"input": "x", "output": ' + b"9" * 5000 + b"}\n", "line 1"),
    ("jsonl", b'{"input": "a \\ud800 b", "output": "bug"}\n', "\\uD800"),
    ("json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("parquet", b"PAR1 not really a parquet file PAR1", "not a readable Parquet file"),
])
def test_prepare_data_broken_raw_file_is_named(tmp_path: Path, kind: str, content: bytes, needle: str) -> None:
    """A quote left open in a CSV, JSON nested 100,000 deep, a 5,000-digit number, a lone surrogate escape, a corrupt
    Parquet file: each one `error:` line naming the file (they were tracebacks or `error: internal` lines)."""
    raw = tmp_path / f"raw.{kind}"
    raw.write_bytes(content)
    proc = script("prepare_data.py", str(raw), "--config", str(ROOT / "configs/data.yaml"), "--out",
                  str(tmp_path / "out"), "--dry-run", cwd=tmp_path)
    err = clean_exit(proc, (1,))
    assert str(raw) in err and needle in err, err


def test_prepare_data_time_field_that_is_no_finite_time(tmp_path: Path) -> None:
    config = tmp_path / "data.yaml"
    config.write_text((ROOT / "configs/data.yaml").read_text(encoding="utf-8") + "\ntime_field: at\n")
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps({**r, "at": i}) + "\n" for i, r in enumerate(ROWS))
                   + json.dumps({"input": "late", "output": "bug", "at": 10**400}) + "\n"
                   + '{"input": "later", "output": "bug", "at": NaN}\n')
    err = clean_exit(script("prepare_data.py", str(raw), "--config", str(config), "--out", str(tmp_path / "out"),
                            "--dry-run", cwd=tmp_path), (1,))
    assert "line 21" in err and "line 22" in err and "not a finite time" in err, err


# ---------------------------------------------------------------- the RAG documents folder
names = st.binary(min_size=1, max_size=20).map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_")).filter(
    lambda b: b not in (b".", b"..")).map(os.fsdecode)


@pytest.mark.parametrize("retriever", ["builtin", "auto"])  # auto: bm25s where it is installed
def test_rag_on_a_fuzzed_documents_folder(tmp_path: Path, retriever: str) -> None:
    docs = tmp_path / "docs"
    (tmp_path / "rag.yaml").write_text(f"retriever: {retriever}\n")

    @hypothesis.settings(max_examples=8, **FUZZ)
    @hypothesis.given(files=st.lists(st.tuples(names, st.sampled_from([".txt", ".md", ".rst", ".bin"]),
                                               st.one_of(st.binary(max_size=300), st.text(max_size=300).map(
                                                   lambda t: t.encode("utf-8", "surrogatepass")))),
                                     max_size=4))
    def check(files: list[tuple[str, str, bytes]]) -> None:
        shutil.rmtree(docs, ignore_errors=True)
        docs.mkdir()
        for name, suffix, content in files:
            (docs / (name + suffix)).write_bytes(content)
        before = {p.name: p.read_bytes() for p in docs.iterdir()}
        proc = script("rag.py", "reset my password", "--documents", str(docs), "--config", "rag.yaml", cwd=tmp_path)
        clean_exit(proc)
        assert {p.name: p.read_bytes() for p in docs.iterdir()} == before

    check()


def test_rag_huge_empty_and_binary_documents(tmp_path: Path) -> None:
    from rag import MAX_DOCUMENT_BYTES

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.md").write_bytes(b"")
    (docs / "blank.txt").write_text("\n\n   \n")
    (docs / "no-words.txt").write_bytes(b"\x00 a ! ?")  # no word of two letters: bm25s divided by zero
    args = ["reset password", "--documents", str(docs), "--config", str(ROOT / "configs/rag.yaml")]
    err = clean_exit(script("rag.py", *args, cwd=tmp_path), (1,))
    assert "has no .txt/.md" in err, err
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 4 + b" reset password")  # not UTF-8: read with U+FFFD
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("to reset your password open settings")
    proc = script("rag.py", *args, cwd=tmp_path)
    clean_exit(proc, (0,))
    assert b"caf\\xe9.md" in proc.stdout, proc.stdout  # a name that is not UTF-8, shown escaped
    with (docs / "export.txt").open("wb") as fh:
        fh.truncate(MAX_DOCUMENT_BYTES + 1)  # sparse: no disk used
    err = clean_exit(script("rag.py", *args, cwd=tmp_path), (1,))
    assert "export.txt" in err and "over 64 MB" in err, err


@pytest.mark.parametrize("text", ["k1: .nan", "b: 2", "top_k: 0", "chunk_words: 1e400", "[" * 10000,
                                  "retriever: [1]", "prompt: 5", "k1: -1"])
def test_rag_config_out_of_range(tmp_path: Path, text: str) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "faq.md").write_text("reset your password in settings")
    (tmp_path / "rag.yaml").write_text(text)
    err = clean_exit(script("rag.py", "password", "--documents", "docs", "--config", "rag.yaml", cwd=tmp_path), (1,))
    assert "rag.yaml" in err, err


# ---------------------------------------------------------------- the adapter folder: serve --dry-run, real loads
def test_serve_dry_run_on_fuzzed_adapter_configs(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    valid = json.dumps({"r": 8, "lora_alpha": 16, "peft_type": "LORA", "rank_pattern": {"q_proj": 16}}).encode()

    @hypothesis.settings(max_examples=5, **FUZZ)
    @hypothesis.given(content=st.one_of(mutated(valid), st.sampled_from(
        [b'{"r": 1e400}', b'{"r": "8"}', b'{"r": 10000000000}', b'{"rank_pattern": [1]}', b"[]", b"\xff"])))
    def check(content: bytes) -> None:
        (adapter / "adapter_config.json").write_bytes(content)
        proc = script("serve.py", "--config", str(ROOT / "configs/eval.yaml"), "--adapter", str(adapter),
                      "--dry-run", cwd=ROOT)
        err = clean_exit(proc)
        if proc.returncode:
            assert str(adapter) in err, err
        assert (adapter / "adapter_config.json").read_bytes() == content

    check()


# ---------------------------------------------------------------- serve.py: hostile requests
class StrictModels:
    """serve.Models' interface; like a real chat template it rejects a conversation that does not end on a user."""

    names = {"org/base": "base", "tuned": "tuned"}

    def complete(self, model: str, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        if messages[-1]["role"] != "user":
            raise ValueError("Conversation roles must alternate user/assistant/user/assistant/...")
        return "ok", 1, 1


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def test_serve_answers_hostile_requests_with_json_errors(capsys: pytest.CaptureFixture) -> None:
    """Whatever a client posts (any JSON, a body nested 100,000 deep, max_tokens of 1e400 or -1, a model name that
    is a list, a conversation the template rejects), the local server answers with a status and a JSON body, keeps
    serving, and prints no traceback."""
    import threading
    import urllib.error
    import urllib.request

    import serve

    httpd = serve.ThreadingHTTPServer(("127.0.0.1", 0), serve.make_handler(StrictModels(), 8))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/chat/completions"
    good = {"model": "tuned", "messages": [{"role": "user", "content": "hi"}]}

    def post(data: bytes) -> int:
        req = urllib.request.Request(url, data, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                json.loads(resp.read())
                return resp.status
        except urllib.error.HTTPError as exc:
            assert "error" in json.loads(exc.read())
            return exc.code

    hostile = [b"[" * 100_000 + b"]" * 100_000, b"\xff", b"", json.dumps({**good, "max_tokens": 1e400}).encode(),
               b'{"model": "tuned", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}',
               json.dumps({**good, "max_tokens": -1}).encode(), json.dumps({**good, "model": ["tuned"]}).encode(),
               json.dumps({**good, "messages": [{"role": "assistant", "content": "hi"}]}).encode(),
               json.dumps({**good, "messages": [{"role": "user", "content": 5}]}).encode()]

    @hypothesis.settings(max_examples=40, **FUZZ)
    @hypothesis.given(body=st.one_of(st.sampled_from(hostile), JSON.map(lambda v: json.dumps(v).encode()),
                                     st.dictionaries(st.sampled_from(["model", "messages", "max_tokens"]), JSON)
                                     .map(lambda d: json.dumps({**good, **d}).encode())))
    def check(body: bytes) -> None:
        assert post(body) in (200, 400, 404, 413, 500)

    try:
        check()
        assert post(json.dumps(good).encode()) == 200  # still serving
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "Traceback" not in capsys.readouterr().err
