"""End to end, after training: `make serve` + `make eval-endpoint` give the local evaluation's scores, and
`make merge` gives a standalone model that generates the same tokens as base + adapter.

Slow (minutes): one `make smoke` on the CPU makes the tiny model and its LoRA adapter.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from tests.test_e2e import STEP_TIMEOUT, bake, make  # noqa: E402

pytestmark = pytest.mark.slow
LIMIT = 40  # held-out examples scored each way (through the server one request at a time)
SERVE_START_S = 300


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    repo, plan = bake(tmp_path_factory.mktemp("lifecycle"), "support_triage.yaml")
    assert plan.training.method == "lora"
    make(repo, "smoke")
    return repo


def _serve(repo: Path) -> tuple[subprocess.Popen, str]:
    """`make serve PROFILE=smoke PORT=0` in the background; returns the process and its /v1 URL."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PATH": path}
    proc = subprocess.Popen(["make", "serve", f"PYTHON={sys.executable}", "PROFILE=smoke", "PORT=0"], cwd=repo,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    deadline, seen = time.monotonic() + SERVE_START_S, []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("serving on "):
            return proc, line.split()[2]
    proc.kill()
    pytest.fail("make serve did not start:\n" + "".join(seen[-40:]))


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


def test_serve_and_eval_endpoint_give_the_local_scores(trained):
    proc, url = _serve(trained)
    try:
        port = url.rsplit(":", 1)[1].split("/")[0]
        make(trained, "eval-endpoint", "PROFILE=smoke", f"PORT={port}", "ENDPOINT_REPORTS=smoke/reports/endpoint",
             f"EVAL_ARGS=--limit {LIMIT}")
    finally:
        _stop(proc)
    local = subprocess.run([sys.executable, "scripts/evaluate.py", "--config", "configs/eval.yaml", "--profile",
                            "smoke", "--limit", str(LIMIT), "--output-dir", "smoke/reports/local"], cwd=trained,
                           capture_output=True, text=True, timeout=STEP_TIMEOUT)
    assert local.returncode == 0, local.stderr[-3000:]
    served = json.loads((trained / "smoke/reports/endpoint/eval_report.json").read_text(encoding="utf-8"))
    here = json.loads((trained / "smoke/reports/local/eval_report.json").read_text(encoding="utf-8"))
    assert served["n_examples"] == here["n_examples"] == LIMIT
    for key in ("metrics", "baselines", "probe", "gates", "passed"):
        assert served[key] == here[key], key
    assert served["metrics"]["accuracy"]["tuned"] > served["metrics"]["accuracy"]["base"]


def test_merged_model_generates_the_same_tokens_as_base_plus_adapter(trained):
    make(trained, "merge", "PROFILE=smoke", "MERGED=smoke/merged")
    merged_dir = trained / "smoke/merged"
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "chat_template.jinja"} <= \
        {p.name for p in merged_dir.iterdir()}
    assert not (merged_dir / "adapter_config.json").exists()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(merged_dir)
    assert tok.chat_template
    base = AutoModelForCausalLM.from_pretrained(trained / "smoke/model", dtype=torch.float32)
    tuned = PeftModel.from_pretrained(base, str(trained / "smoke/outputs")).eval()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    rows = [json.loads(line) for line in (trained / "smoke/heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    for row in rows[:20]:
        prompt = [m for m in row["messages"] if m["role"] != "assistant"]
        ids = tok.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.no_grad():
            want = tuned.generate(**ids, do_sample=False, max_new_tokens=8)
            got = merged.generate(**ids, do_sample=False, max_new_tokens=8)
        assert got.tolist() == want.tolist(), row
