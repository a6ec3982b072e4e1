"""The endpoint backend and the LLM judge against real HTTP servers on loopback (http.server in a thread):
retries on 429, one clear error line for a dropped connection or a body that is not a chat completion, and a
position-swapped win rate end to end.

pytest tests/test_endpoint.py
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import generation  # noqa: E402
from common import UserError  # noqa: E402

CLIENTS = [pytest.param(False, id="urllib"), pytest.param(True, id="openai")]


@contextmanager
def server(respond: Callable[[http.server.BaseHTTPRequestHandler, dict], None]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            respond(self, body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def reply(handler: http.server.BaseHTTPRequestHandler, status: int, payload: bytes,
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(payload)), **(headers or {})}.items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(payload)


def completion(text: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]}).encode()


def needs(use_openai: bool) -> None:
    if use_openai:
        pytest.importorskip("openai")


@pytest.mark.parametrize("use_openai", CLIENTS)
def test_429_twice_then_200_completes(use_openai: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    needs(use_openai)
    monkeypatch.setattr(generation, "BACKOFF_S", 0.01)
    calls: list[int] = []

    def respond(h: http.server.BaseHTTPRequestHandler, body: dict) -> None:
        calls.append(1)
        if len(calls) <= 2:
            reply(h, 429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
        else:
            reply(h, 200, completion("billing"))

    with server(respond) as url:
        cfg = {"endpoint": url, "base_model": "m", "max_new_tokens": 4, "endpoint_concurrency": 1}
        backend = generation.EndpointBackend(cfg, use_openai=use_openai)
        assert backend.generate("base", [[{"role": "user", "content": "hi"}]]) == ["billing"]
    assert len(calls) == 3


@pytest.mark.parametrize("use_openai", CLIENTS)
@pytest.mark.parametrize("failure", ["garbage", "closed", "401"])
def test_a_broken_server_is_one_clear_error(use_openai: bool, failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needs(use_openai)
    monkeypatch.setattr(generation, "BACKOFF_S", 0.01)

    def respond(h: http.server.BaseHTTPRequestHandler, body: dict) -> None:
        if failure == "garbage":
            reply(h, 200, b"<html>not json</html>", {"Content-Type": "text/html"})
        elif failure == "closed":
            h.close_connection = True
            h.wfile.write(b"")
            h.connection.shutdown(2)
        else:
            reply(h, 401, b'{"error": {"message": "bad key"}}')

    with server(respond) as url:
        cfg = {"endpoint": url, "base_model": "m", "max_new_tokens": 4, "endpoint_retries": 1,
               "endpoint_timeout_s": 5}
        backend = generation.EndpointBackend(cfg, use_openai=use_openai)
        with pytest.raises(UserError) as err:
            backend.generate("base", [[{"role": "user", "content": "hi"}]])
    message = str(err.value)
    assert "\n" not in message and url in message and "$OPENAI_API_KEY" in message


def test_progress_without_tqdm_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    bar = generation.Progress(3, "base")
    bar.update(2)
    bar.update(1)
    err = capsys.readouterr().err
    assert err.endswith("\rbase: 3/3\n") and err.count("\n") == 1


def judge_server(h: http.server.BaseHTTPRequestHandler, body: dict) -> None:
    """A judge that prefers the answer equal to the reference (the prompt below lays the fields out)."""
    text = body["messages"][-1]["content"]
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    verdict = "A" if fields["a"] == fields["ref"] else "B" if fields["b"] == fields["ref"] else "TIE"
    reply(h, 200, completion(verdict))


def test_win_rate_end_to_end_with_a_judge_on_loopback(tmp_path: Path) -> None:
    import report as rp
    from evaluate import resolve_metrics

    refs = ["paris", "rome", "oslo", "bern"]
    base = ["lyon", "rome", "oslo", "x"]
    tuned = ["paris", "rome", "bergen", "bern"]  # wins 2, ties 1 (same answer), loses 1
    examples = [{"prompt": [{"role": "user", "content": f"capital {i}"}], "reference": r} for i, r in enumerate(refs)]
    with server(judge_server) as url:
        cfg = {"task_type": "chat", "metrics": {"win_rate": {}}, "primary_metric": "win_rate",
               "output_dir": str(tmp_path), "statistics": {"bootstrap_resamples": 200, "permutation_resamples": 200},
               "judge": {"endpoint": url, "model": "judge", "rubric": "r",
                         "prompt": "{rubric}\nq={question}\nref={reference}\na={answer_a}\nb={answer_b}"}}
        metrics = resolve_metrics(cfg, "eval.yaml")
        base_v = rp.vectors(metrics, base, examples, cfg, against=base)
        tuned_v = rp.vectors(metrics, tuned, examples, cfg, against=base)
    assert base_v["win_rate"][:, 0].tolist() == [0.5] * 4
    assert tuned_v["win_rate"][:, 0].tolist() == [1.0, 0.5, 0.0, 1.0]
    result = rp.compare(cfg, metrics, base_v, tuned_v)["win_rate"]
    assert result["base"] == 0.5 and result["tuned"] == pytest.approx(0.625) and result["test"] == "sign_flip"
    text = rp.markdown({"baseline_only": False, "n_examples": 4, "task_type": "chat", "primary_metric": "win_rate",
                        "metrics": {"win_rate": result}}, "base", "tuned")
    assert "0.5 by construction" in text
    assert len((tmp_path / "judgments.jsonl").read_text().splitlines()) == 6  # 3 differing pairs x 2 orders


def test_dry_run_names_what_a_new_metric_needs(tmp_path: Path) -> None:
    cfg = tmp_path / "eval.yaml"
    base = "task_type: code\nbase_model: m\nheldout: h.jsonl\noutput_dir: r\n"
    for metrics, needed in (("[pass_at_1]", "allow_code_execution"), ("[win_rate]", "judge.endpoint")):
        cfg.write_text(f"{base}metrics: {metrics}\nprimary_metric: {metrics[1:-1]}\n", encoding="utf-8")
        run = subprocess.run([sys.executable, str(ROOT / "scripts/evaluate.py"), "--config", str(cfg), "--dry-run"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 1 and f"error: {needed}:" in run.stderr and "Traceback" not in run.stderr
    cfg.write_text(f"{base}metrics: [pass_at_1]\nprimary_metric: pass_at_1\nallow_code_execution: true\n")
    run = subprocess.run([sys.executable, str(ROOT / "scripts/evaluate.py"), "--config", str(cfg), "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "WARNING: allow_code_execution is true" in run.stderr
    cfg.write_text(f"{base}metrics: [accuracy]\nprimary_metric: accuracy\nforgetting: {{lm_eval_tasks: [arc_easy]}}\n")
    run = subprocess.run([sys.executable, str(ROOT / "scripts/evaluate.py"), "--config", str(cfg), "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        assert run.returncode == 1 and "pip install lm-eval" in run.stderr
