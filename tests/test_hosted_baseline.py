"""Issue 5: a provider that no longer tunes still gets a baseline harness for today's hosted model.

The generated `make baseline-hosted` scores the hosted model through its OpenAI-compatible endpoint with the
same harness and statistics as the local models. Here the endpoint is a real HTTP server on loopback that
answers with the tiny local model; the key comes from the environment and must never reach a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.test_e2e import bake, make

pytestmark = pytest.mark.slow
SECRET = "sk-ant-test-0123456789abcdef"


def serve_tiny_model(model_dir: Path, seen_keys: list[str]) -> ThreadingHTTPServer:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            seen_keys.append(self.headers.get("Authorization", ""))
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ids = tok.apply_chat_template(body["messages"], add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            with lock:
                out = model.generate(**ids, max_new_tokens=min(int(body.get("max_tokens", 8)), 8), do_sample=False)
            text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_anthropic_plan_gets_a_hosted_baseline_harness(tmp_path):
    pytest.importorskip("transformers")
    repo, plan = bake(tmp_path, "anthropic_tuning_ended.yaml")
    assert not plan.provider.fine_tuning_available and plan.training.method in ("lora", "qlora")
    # 12,000 gold labels: train on them; distillation only for unlabelled volume, with the terms-of-service caveat
    assert "distillation" in plan.provider.migration and "terms of service" in plan.provider.migration
    assert plan.provider.distillation_usd == 0
    assert "Migration to open weights" in (repo / "STRATEGY.md").read_text()
    hosted = yaml.safe_load((repo / "configs" / "eval.yaml").read_text())["hosted"]
    assert hosted["api_key_env"] == "ANTHROPIC_API_KEY" and hosted["endpoint"].startswith("https://api.anthropic")

    make(repo, "smoke-data")
    keys: list[str] = []
    server = serve_tiny_model(repo / "smoke" / "model", keys)
    try:
        env = {**os.environ, "ANTHROPIC_API_KEY": SECRET, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(
            [sys.executable, "scripts/evaluate.py", "--config", "configs/eval.yaml", "--profile", "hosted",
             "--baseline-only", "--endpoint", f"http://127.0.0.1:{server.server_port}/v1",
             "--heldout", "smoke/heldout.jsonl", "--probe", "smoke/probe.jsonl", "--limit", "12"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    finally:
        server.shutdown()
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1 = a gate failed, which a baseline may do
    report = json.loads((repo / "reports" / "hosted" / "baseline_report.json").read_text())
    assert report["primary_metric"] in report["metrics"]
    assert keys and all(k == f"Bearer {SECRET}" for k in keys)
    leaked = [p for p in repo.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == [] and SECRET not in proc.stdout + proc.stderr
