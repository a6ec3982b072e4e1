"""scripts/evaluate.py: hand-checked metric and statistics values, then end-to-end runs on a tiny model.

pytest tests/test_evaluate.py
"""

from __future__ import annotations

import http.server
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import evaluate as ev  # noqa: E402
import report as rp  # noqa: E402

TRAIN_STEPS, TRAIN_LR, TRAIN_BATCH = 500, 2e-3, 16  # enough for LoRA to learn the tiny topic task
N_HELDOUT, N_PROBE = 24, 8  # small, to keep the test fast on two CPU cores


@pytest.mark.parametrize(
    ("task", "metrics", "refs", "base", "tuned"),
    [
        (
            "extraction",
            ["json_validity", "field_f1", "exact_match"],
            ['{"a": 1, "b": "x"}'] * 4,
            ["no json", '{"a": 1}', "{", '{"a": 2, "b": "x"}'],
            ['{"a": 1, "b": "x"}', '{"a": 1, "b": "x"}', '{"a": 1}', '{"a": 1, "b": "x"}'],
        ),
        (
            "summarization",
            ["rouge_l", "chrf"],
            ["the cat sat on the mat", "a dog ran home", "rain is coming", "sun today"],
            ["dogs", "cats", "snow", "moon"],
            ["the cat sat on the mat", "a dog ran home", "rain coming", "sun"],
        ),
    ],
)
def test_other_task_types_compare_and_explain(
    task: str, metrics: list[str], refs: list[str], base: list[str], tuned: list[str]
) -> None:
    cfg = {
        "task_type": task,
        "metrics": metrics,
        "primary_metric": metrics[-1],
        "statistics": {"bootstrap_resamples": 200, "permutation_resamples": 200, "seed": 0},
    }
    resolved = ev.resolve_metrics(cfg, "eval.yaml")
    examples = [
        {"prompt": [{"role": "user", "content": f"q{i}"}], "reference": r, "slice": "s" + str(i % 2)}
        for i, r in enumerate(refs)
    ]
    base_v, tuned_v = rp.vectors(resolved, base, examples, cfg), rp.vectors(resolved, tuned, examples, cfg)
    result = rp.compare(cfg, resolved, base_v, tuned_v)
    assert all(result[m]["delta"] > 0 for m in metrics)
    assert {result[m]["test"] for m in metrics} <= {"mcnemar", "sign_flip"}
    analysis = rp.error_analysis(cfg, resolved, examples, base, tuned, base_v, tuned_v)
    assert analysis["n_wrong"] == sum(w["score"] < 1 for w in analysis["wrong_examples"]) >= 1
    assert set(analysis["slices"]) == {"s0", "s1"} and analysis["advice"]
    if task == "extraction":
        assert analysis["missed_fields"] == {"b": 1}
    report = {
        "baseline_only": False,
        "n_examples": 4,
        "task_type": task,
        "primary_metric": metrics[-1],
        "metrics": result,
        "error_analysis": analysis,
    }
    text = rp.markdown(report, "base", "tuned")
    assert "## What data to add next" in text and ("sign-flip permutation" in text)


def test_few_shot_never_uses_heldout_and_covers_answers() -> None:
    held = [
        {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "q1"}], "reference": "x"}
    ]
    pool = [
        {"prompt": [{"role": "user", "content": "q1"}], "reference": "x"},
        {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "q1"}], "reference": "x"},
        {"prompt": [{"role": "user", "content": "p1"}], "reference": "a"},
        {"prompt": [{"role": "user", "content": "p2"}], "reference": "a"},
        {"prompt": [{"role": "user", "content": "p3"}], "reference": "b"},
    ]
    (msgs,) = ev.few_shot_prompts(held, pool, 3)
    users = [m["content"] for m in msgs if m["role"] == "user"]
    assert msgs[0] == {"role": "system", "content": "S"} and users[-1] == "q1"
    assert users[:-1] == ["q1", "p1", "p3"]  # the identical held-out prompt (with system turn) was dropped
    assert [m["content"] for m in msgs if m["role"] == "assistant"] == ["x", "a", "b"]


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    held = tmp_path / "h.jsonl"
    held.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    )
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        f"task_type: classification\nbase_model: m\nheldout: {held}\noutput_dir: {tmp_path / 'r'}\n"
        "metrics: [accuracy]\nprimary_metric: accuracy\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts/evaluate.py"),
            "--config",
            str(cfg),
            "--baseline-only",
            "--endpoint",
            "http://127.0.0.1:9/v1",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OPENAI_API_KEY": "sk-do-not-print"},
    )
    assert proc.returncode == 1 and "--endpoint: http://127.0.0.1:9/v1/chat/completions" in proc.stderr
    assert "Traceback" not in proc.stderr and "sk-do-not-print" not in proc.stderr + proc.stdout


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "task_type: classification\nbase_model: m\nheldout: h.jsonl\noutput_dir: r\nmetrics: [meteor]\n"
        "primary_metric: meteor\n"
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/evaluate.py"), "--config", str(cfg)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "metrics.meteor: user metric 'meteor' is not implemented" in proc.stderr
    assert "scripts/user_metrics.py" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- end to end on a tiny model
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny model, its synthetic task and a LoRA adapter trained for a few steps (the 'tuned' model)."""
    import make_tiny_model
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tiny")
    make_tiny_model.main(out, "lora", 0)
    for name, n in (("heldout.jsonl", N_HELDOUT), ("probe.jsonl", N_PROBE)):
        lines = (out / name).read_text().splitlines()[:n]
        (out / name).write_text("\n".join(lines) + "\n")
    tok = AutoTokenizer.from_pretrained(out / "model")
    model = AutoModelForCausalLM.from_pretrained(out / "model")
    model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    )
    rows = [json.loads(x) for x in (out / "data/train.jsonl").read_text().splitlines()]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=TRAIN_LR)
    torch.manual_seed(0)
    for step in range(TRAIN_STEPS):
        batch = rows[(step * TRAIN_BATCH) % len(rows) :][:TRAIN_BATCH]
        full = [tok.apply_chat_template(r["messages"], tokenize=False) for r in batch]
        prompt_len = [
            len(
                tok(
                    tok.apply_chat_template(r["messages"][:-1], tokenize=False, add_generation_prompt=True),
                    add_special_tokens=False,
                )["input_ids"]
            )
            for r in batch
        ]
        enc = tok(full, return_tensors="pt", padding=True, add_special_tokens=False)
        labels = enc["input_ids"].clone()
        for i, n in enumerate(prompt_len):  # loss on the answer only (right padding in training)
            labels[i, :n] = -100
        labels[enc["attention_mask"] == 0] = -100
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out / "adapter")
    tok.save_pretrained(out / "adapter")
    (out / "adapter/run_metadata.json").write_text(json.dumps({"method": "lora"}))
    config = {
        "base_model": str(out / "model"),
        "adapter": str(out / "adapter"),
        "task_type": "classification",
        "labels": ["food", "music", "sports", "travel"],
        "heldout": str(out / "heldout.jsonl"),
        "probe": str(out / "probe.jsonl"),
        "few_shot_examples": str(out / "data/train.jsonl"),
        "few_shot_k": 4,
        "generation": {"max_new_tokens": 4, "batch_size": 8},
        "statistics": {"bootstrap_resamples": 300, "permutation_resamples": 300, "seed": 0},
        "metrics": ["accuracy", "macro_f1"],
        "primary_metric": "accuracy",
        "gates": [
            {"metric": "accuracy", "op": "delta_ci_low>", "threshold": 0.0},
            {"metric": "forgetting_probe", "op": "drop<=", "threshold": 1.0},
        ],
        "output_dir": str(out / "reports"),
        "device": "cpu",
        "smoke": {"output_dir": str(out / "smoke_reports")},
    }
    (out / "eval.yaml").write_text(json.dumps(config))
    return {"dir": out, "config": out / "eval.yaml"}


def run_eval(config: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts/evaluate.py"), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def stable(report: dict) -> dict:
    """The report without wall-clock figures."""
    return {k: v for k, v in report.items() if k not in ("timings", "config")}


def test_baseline_only(tiny: dict) -> None:
    out = tiny["dir"] / "baseline"
    proc = run_eval(tiny["config"], "--baseline-only", "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "baseline_report.json").read_text())
    assert set(report["baselines"]) == {"zero_shot", "few_shot"}
    assert report["prompting_meets_target"] is None  # no ">=" gate: no target to meet
    assert (out / "baseline_report.md").read_text().startswith("# Baseline report")


def test_tuned_beats_base_and_resume_gives_the_same_report(tiny: dict) -> None:
    full, resumed = tiny["dir"] / "full", tiny["dir"] / "resumed"
    proc = run_eval(tiny["config"], "--output-dir", str(full))
    report = json.loads((full / "eval_report.json").read_text())
    acc = report["metrics"]["accuracy"]
    assert acc["tuned"] - acc["base"] >= 0.5 and acc["ci"][0] > 0 and acc["p_value"] < 0.01, acc
    assert acc["test"] == "mcnemar" and report["metrics"]["macro_f1"]["test"] == "sign_flip"
    assert report["passed"] is True and proc.returncode == 0, proc.stderr
    assert report["gates"][0]["value"] == acc["ci"][0]
    assert set(report["error_analysis"]["confusion_matrix"]) == {"food", "music", "sports", "travel"}
    assert set(report["error_analysis"]["slices"]) == {"short", "long"}
    assert report["probe"]["n"] == N_PROBE and "few_shot" in report["baselines"]
    assert report["timings"]["tuned"]["examples_per_s"] > 0
    # interrupted run: only the first 5 examples, then the full run continues from the cache
    assert run_eval(tiny["config"], "--output-dir", str(resumed), "--limit", "5").returncode in (0, 1)
    with (resumed / "generations.jsonl").open("a") as fh:
        fh.write(
            '{"key": "cut by a kill in the middle of a wr'
        )  # a half-written line must not break the rerun
    proc = run_eval(tiny["config"], "--output-dir", str(resumed))
    again = json.loads((resumed / "eval_report.json").read_text())
    assert again["timings"]["zero_shot"]["cached"] == 5
    assert stable(again) == stable(report)
    # a fully cached rerun loads no model and gives the same report
    proc = run_eval(tiny["config"], "--output-dir", str(resumed))
    assert json.loads((resumed / "eval_report.json").read_text())["timings"]["tuned"]["generated"] == 0


def test_failing_gate_exits_1(tiny: dict) -> None:
    cfg = json.loads(tiny["config"].read_text())
    cfg["gates"] = [{"metric": "accuracy", "op": ">=", "threshold": 1.01}]
    path = tiny["dir"] / "strict.yaml"
    path.write_text(json.dumps(cfg))
    proc = run_eval(path, "--output-dir", str(tiny["dir"] / "full"))  # reuses the cached generations
    assert proc.returncode == 1
    report = json.loads((tiny["dir"] / "full/eval_report.json").read_text())
    assert report["passed"] is False and report["gates"][0]["passed"] is False


class _ChatHandler(http.server.BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible /v1/chat/completions server backed by the tiny model."""

    generate = None
    seen_keys: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen_keys.append(self.headers.get("Authorization", ""))
        which = "tuned" if body["model"] == "tiny-tuned" else "base"
        text = type(self).generate(which, [body["messages"]])[0]
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        return


def test_endpoint_backend_matches_local(tiny: dict) -> None:
    from generation import LocalBackend

    cfg = ev.load_config("eval", tiny["config"])
    cfg.update(max_new_tokens=4, batch_size=8)
    local = LocalBackend(cfg)
    lock = threading.Lock()

    def serve(which: str, prompts: list) -> list[str]:
        with lock:
            return local.generate(which, prompts)

    _ChatHandler.generate = staticmethod(serve)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tiny["dir"] / "endpoint"
        url = f"http://127.0.0.1:{server.server_port}/v1"
        proc = run_eval(
            tiny["config"],
            "--endpoint",
            url,
            "--endpoint-model",
            "tiny-tuned",
            "--output-dir",
            str(out),
            "--batch-size",
            "1",
            env={"OPENAI_API_KEY": "sk-test-secret"},
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "eval_report.json").read_text())
    reference = json.loads((tiny["dir"] / "full/eval_report.json").read_text())
    for name in ("accuracy", "macro_f1"):
        assert math.isclose(report["metrics"][name]["tuned"], reference["metrics"][name]["tuned"])
        assert math.isclose(report["metrics"][name]["base"], reference["metrics"][name]["base"])
    assert set(_ChatHandler.seen_keys) == {"Bearer sk-test-secret"}
    written = "".join(p.read_text() for p in out.iterdir())
    assert "sk-test-secret" not in written


@pytest.mark.parametrize("profile", [None, "smoke"])
def test_shipped_eval_config_is_valid(profile: str | None) -> None:
    cfg = ev.load_config("eval", ROOT / "configs/eval.yaml", profile)
    assert ev.resolve_metrics(cfg, "configs/eval.yaml")
    assert cfg["primary_metric"] in cfg["metrics"] and cfg["gates"]
    assert any(g["op"] == "delta_ci_low>" for g in cfg["gates"])
    if profile:
        assert cfg["base_model"] == "smoke/model" and cfg["output_dir"] == "smoke/reports"
