"""`make data` then `make rehearse` from realistic raw files the generated repo does not ship, one per task family
(issue 11): the real configs run on the user's data with a tiny model, and the plan's metrics reach
rehearse/reports/eval_report.json. Slow: each family bakes a repo and trains a few CPU steps (~1 min).
"""

from __future__ import annotations

import copy
import csv
import http.server
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from generator.answers import parse_answers  # noqa: E402
from generator.catalog import load_catalog  # noqa: E402
from generator.plan import build_plan  # noqa: E402
from generator.plan.settings import load_settings  # noqa: E402
from generator.render.scaffold import write_scaffold  # noqa: E402
from tests.conftest import EXAMPLES  # noqa: E402

pytestmark = pytest.mark.slow
TODAY = date(2026, 11, 25)
QUEUES = ["billing", "bug", "account", "feature_request", "refund", "shipping", "login", "security", "api",
          "integrations", "performance", "data_export", "notifications", "cancellation"]
FILLER = "please help me with my problem today thanks the this it is not working again since yesterday".split()


def bake(tmp: Path, task_type: str, metric: str, pairs: list[dict]) -> Path:
    """A repo planned from an answers file with this task type and metric (the support example otherwise)."""
    data = copy.deepcopy(yaml.safe_load((EXAMPLES / "support_triage.yaml").read_text(encoding="utf-8")))
    data["project_name"] = f"rehearse-{task_type}"
    data["facts"].update(task_type=task_type, metric=metric, target_score=0.8)
    data["facts"].pop("baseline_score", None)
    data["example_pairs"] = pairs
    loaded = parse_answers(data, "answers.yaml")
    plan = build_plan(loaded, load_catalog(), load_settings(), TODAY)
    assert plan.evaluation.primary_metric == metric
    repo = tmp / plan.meta.slug
    write_scaffold(loaded, plan, repo)
    return repo


def make(repo: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OPENAI_API_KEY": "sk-rehearse-test"}
    proc = subprocess.run(["make", target, f"PYTHON={sys.executable}", *extra], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"make {target} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def rehearse(repo: Path, raw: Path, *data_args: str, heldout: Path | None = None) -> dict:
    """make data RAW=raw, make rehearse; the rehearsal's report, checked for what every family shares. Without a
    held-out file, configs/data.yaml holds out 20% (the plan's share of 40,000 rows would be one of these)."""
    if heldout is None:
        path = repo / "configs/data.yaml"
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        if cfg["labels"] is None:
            cfg["split"] = {"train": 0.7, "validation": 0.1, "heldout": 0.2}
            path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    make(repo, "data", f"RAW={raw}", f"DATA_ARGS={' '.join(data_args)}", *([f"HELDOUT={heldout}"] if heldout else []))
    held = (repo / "data/heldout.jsonl").read_bytes()
    proc = make(repo, "rehearse")
    assert "rehearsal passed" in proc.stdout
    report = json.loads((repo / "rehearse/reports/eval_report.json").read_text(encoding="utf-8"))
    assert report["primary_metric"] in report["metrics"] and report["n_examples"] >= 5
    assert not (repo / "reports/eval_report.json").exists()  # the real reports are untouched
    assert (repo / "data/heldout.jsonl").read_bytes() == held
    return report


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_support_tickets_csv_with_14_queues(tmp_path: Path) -> None:
    rng = random.Random(0)
    raw = tmp_path / "tickets.csv"
    with raw.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "created_at", "subject", "body", "queue"])
        for i in range(98):
            q = QUEUES[i % 14]
            body = " ".join([*rng.sample(FILLER, 6), q.replace("_", " "), *rng.sample(FILLER, 3)]) + f" (ref {i})"
            out.writerow([i, f"2026-0{1 + i % 9}-1{i % 10}", f"Ticket {i}", body, q])
    pairs = [{"input": f"ticket {i} about {q}", "output": q} for i, q in enumerate(QUEUES[:4])]
    repo = bake(tmp_path, "classification", "macro_f1", pairs)
    report = rehearse(repo, raw, "--input-field", "body", "--output-field", "queue")
    assert sorted(report["labels"]) == sorted(QUEUES) and report["labels_source"] == "data/manifest.json"
    assert {"accuracy", "macro_f1"} <= set(report["metrics"])


def test_extraction_jsonl_scored_by_field_accuracy_and_schema_validity(tmp_path: Path) -> None:
    vendors = ["ACME", "Globex", "Initech", "Umbrella", "Hooli"]
    rows = [{"input": f"Invoice {1000 + i} from {vendors[i % 5]} dated 2026-03-{1 + i % 28:02d}, total {7 * i} EUR.",
             "output": json.dumps({"vendor": vendors[i % 5], "invoice": 1000 + i, "total": 7 * i, "currency": "EUR"})}
            for i in range(70)]
    raw = jsonl(tmp_path / "invoices.jsonl", rows)
    repo = bake(tmp_path, "extraction", "json_schema_validity", rows[:3])
    schema = {"type": "object", "required": ["vendor", "invoice", "total"],
              "properties": {"vendor": {"type": "string"}, "invoice": {"type": "integer"},
                             "total": {"type": "number"}, "currency": {"enum": ["EUR", "USD"]}}}
    (repo / "data/schema.json").write_text(json.dumps(schema), encoding="utf-8")
    report = rehearse(repo, raw)
    assert {"field_accuracy", "json_schema_validity", "json_validity"} <= set(report["metrics"])
    assert report["metrics"]["json_schema_validity"]["test"] == "mcnemar"


def test_question_sql_pairs_on_a_sqlite_database_scored_by_execution(tmp_path: Path) -> None:
    rows = []
    for i in range(60):
        city = ["Oslo", "Rome", "Lima", "Pune"][i % 4]
        rows.append({"question": f"How many customers live in {city}? (request {i})",
                     "sql": f"SELECT COUNT(*) FROM customers WHERE city = '{city}'"} if i % 2 else
                    {"question": f"List the names of customers older than {20 + i} (request {i})",
                     "sql": f"SELECT name FROM customers WHERE age > {20 + i} ORDER BY name"})
    raw, held = jsonl(tmp_path / "questions.jsonl", rows[:48]), jsonl(tmp_path / "my_eval.jsonl", rows[48:])
    pairs = [{"input": r["question"], "output": r["sql"]} for r in rows[:3]]
    repo = bake(tmp_path, "generation", "execution_accuracy", pairs)
    con = sqlite3.connect(repo / "data/database.sqlite")
    con.execute("CREATE TABLE customers (name TEXT, city TEXT, age INTEGER)")
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                    [(f"c{i}", ["Oslo", "Rome", "Lima", "Pune"][i % 4], 18 + i) for i in range(80)])
    con.commit()
    con.close()
    report = rehearse(repo, raw, "--input-field", "question", "--output-field", "sql", heldout=held)
    assert report["metrics"]["execution_accuracy"]["test"] == "mcnemar" and report["n_examples"] == 12


def test_summaries_scored_by_rouge_l_and_chrf(tmp_path: Path) -> None:
    rng = random.Random(1)
    topics = ["the river flooded the old town", "the council approved a new library", "a storm closed the port"]
    raw = tmp_path / "articles.csv"
    with raw.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["article", "summary"])
        for i in range(64):
            t = topics[i % 3]
            out.writerow([f"Report {i}. Yesterday {t}. " + " ".join(rng.sample(FILLER, 12)) + ".", f"{t} ({i})"])
    pairs = [{"input": f"Report {i}. Yesterday {t}.", "output": t} for i, t in enumerate(topics)]
    repo = bake(tmp_path, "summarization", "rouge_l", pairs)
    report = rehearse(repo, raw, "--input-field", "article", "--output-field", "summary")
    assert {"rouge_l", "chrf"} <= set(report["metrics"])


class _Judge(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible judge on loopback: prefers the longer answer, ties on equal length."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Judge.seen.append(self.headers.get("Authorization", ""))
        text = body["messages"][-1]["content"]
        a = text.split("Answer A:\n", 1)[1].split("\n\nAnswer B:\n", 1)
        b = a[1].split("\n\nReply with", 1)[0]
        verdict = "A" if len(a[0]) > len(b) else "B" if len(b) > len(a[0]) else "TIE"
        payload = json.dumps({"id": "j", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": verdict}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def judge() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_chat_sharegpt_scored_by_win_rate_with_a_judge_on_loopback(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "system", "value": "You are the shop's support assistant."},
                               {"from": "human", "value": f"Where is my order {4000 + i}? It was due on day {i}."},
                               {"from": "gpt", "value": f"Order {4000 + i} left the warehouse; it arrives in "
                                                        f"{1 + i % 5} days."}]} for i in range(64)]
    raw = jsonl(tmp_path / "chats.jsonl", rows)
    pairs = [{"input": f"Where is my order {i}?", "output": "It left the warehouse."} for i in range(3)]
    repo = bake(tmp_path, "chat", "win_rate", pairs)
    _Judge.seen = []
    with judge() as url:
        path = repo / "configs/eval.yaml"
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        cfg["judge"].update(endpoint=url, model="judge-model")
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        report = rehearse(repo, raw)
    assert report["metrics"]["win_rate"]["base"] == 0.5  # the base against itself, by construction
    assert _Judge.seen and set(_Judge.seen) == {"Bearer sk-rehearse-test"}
    written = "".join(p.read_text(errors="replace") for p in (repo / "rehearse").rglob("*.json*"))
    assert "sk-rehearse-test" not in written
