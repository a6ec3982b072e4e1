"""scripts/serve.py and scripts/merge.py without a model: the vLLM command from the adapter, the local
server's OpenAI-compatible replies and errors (a stand-in for the models), merge's checks."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import merge  # noqa: E402
import serve  # noqa: E402


def _adapter(tmp_path: Path, r: int) -> Path:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": r, "lora_alpha": 2 * r}), encoding="utf-8")
    return adapter


@pytest.mark.parametrize(("r", "max_rank"), [(4, 8), (16, 16), (24, 32), (64, 64)])
def test_vllm_command_carries_the_lora_flags(tmp_path, r, max_rank):
    adapter = _adapter(tmp_path, r)
    cmd = serve.vllm_command({"adapter": str(adapter), "name": "tuned", "base_model": "org/base",
                              "host": "127.0.0.1", "port": 8000, "seed": 42})
    assert cmd[:3] == ["vllm", "serve", "org/base"] and "--enable-lora" in cmd
    assert cmd[cmd.index("--lora-modules") + 1] == f"tuned={adapter}"
    assert cmd[cmd.index("--max-lora-rank") + 1] == str(max_rank)


def test_a_full_fine_tune_is_served_as_its_own_model(tmp_path):
    folder = tmp_path / "full"
    folder.mkdir()
    cmd = serve.vllm_command({"adapter": str(folder), "name": "tuned", "base_model": "org/base",
                              "host": "127.0.0.1", "port": 8000, "seed": 0})
    assert cmd[:3] == ["vllm", "serve", str(folder)] and "--enable-lora" not in cmd


class FakeModels:
    names = {"org/base": "base", "tuned": "tuned"}

    def complete(self, model, messages, max_tokens):
        return f"{self.names[model]}:{messages[-1]['content']}", 3, 1


@pytest.fixture
def url():
    httpd = serve.ThreadingHTTPServer(("127.0.0.1", 0), serve.make_handler(FakeModels(), 8))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_local_server_answers_like_openai(url):
    hi = [{"role": "user", "content": "hi"}]
    status, body = _post(url, {"model": "tuned", "messages": hi, "max_tokens": 4})
    assert status == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "tuned:hi"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    with urllib.request.urlopen(url + "/v1/models", timeout=10) as resp:
        assert {m["id"] for m in json.loads(resp.read())["data"]} == {"org/base", "tuned"}


def test_the_local_server_rejects_unknown_models_and_bad_bodies(url):
    status, body = _post(url, {"model": "other", "messages": []})
    assert status == 404 and body["error"]["code"] == "model_not_found"
    status, body = _post(url, {"messages": []})
    assert status == 400 and "not a chat completion request" in body["error"]["message"]


def test_merge_refuses_a_missing_adapter_and_an_output_inside_an_input(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    out = str(adapter / "merged")
    problems = merge.check({"adapter": str(adapter), "base_model": "org/base", "out": out})
    assert any("no adapter_config.json" in p for p in problems)
    assert any("lies inside the adapter" in p for p in problems)
