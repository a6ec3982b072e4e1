"""submit_hosted.py: date refusal, dry run, idempotent resume, redaction of keys.

The only fake here is the provider SDK client (there is no network), injected through main's
`client_factory`; the data conversion and validation are the real prepare_hosted code.

    pytest tests/test_submit_hosted.py
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "configs" / "hosted.example.yaml"
sys.path.insert(0, str(ROOT / "scripts"))
sh = importlib.import_module("submit_hosted")

FAKE_KEY = "sk-test-ftplan-0123456789abcdefSECRET"
LABELS = ("billing", "bug", "account", "feature_request")


def records(n: int, tag: str = "") -> list[dict]:
    return [
        {
            "messages": [
                {"role": "system", "content": "Route the ticket."},
                {"role": "user", "content": f"Ticket {i}{tag}: something about {LABELS[i % 4]}"},
                {"role": "assistant", "content": LABELS[i % 4]},
            ]
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A generated-repo layout in tmp: configs/hosted.yaml and data/ (paths in the config are relative)."""
    monkeypatch.chdir(tmp_path)
    for var in ("OPENAI_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION"):
        monkeypatch.delenv(var, raising=False)
    write_jsonl(tmp_path / "data" / "train.jsonl", records(12))
    write_jsonl(tmp_path / "data" / "validation.jsonl", records(3, " (val)"))
    set_config(tmp_path)
    return tmp_path


def set_config(root: Path, **overrides) -> Path:
    cfg = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    cfg.update(overrides)
    path = root / "configs" / "hosted.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def set_vertex(root: Path, **overrides) -> Path:
    return set_config(
        root,
        **{
            "provider": "vertex",
            "model": "gemini-2.5-flash",
            "adapter_size": 4,
            "training_usd_per_1m_tokens": 5.0,
            "suffix": "support-triage",
            "tuning_window": {"closes": None, "notice": None, "source": None},
            "model_retirement": None,
            "vertex": {"gcs_uri_prefix": "gs://bucket/ftplan"},
            **overrides,
        },
    )


def refuse_calls(kind: str):
    raise AssertionError(f"no SDK client may be created here (asked for {kind!r})")


class FakeOpenAIServer:
    """Records what the SDK would send; jobs advance one status per retrieve."""

    def __init__(self, statuses=("validating_files", "running", "succeeded"), error=None, upload_error=None):
        self.uploads: list[dict] = []
        self.created: list[dict] = []
        self.jobs: dict[str, SimpleNamespace] = {}
        self.statuses, self.error, self.upload_error = list(statuses), error, upload_error
        self.retrieves = 0
        self.lists = 0

    def client(self) -> SimpleNamespace:
        return SimpleNamespace(
            files=SimpleNamespace(create=self._upload),
            fine_tuning=SimpleNamespace(
                jobs=SimpleNamespace(create=self._create, retrieve=self._retrieve, list=self._list)
            ),
        )

    def _upload(self, *, file, purpose):
        if self.upload_error:
            raise RuntimeError(self.upload_error)
        self.uploads.append({"purpose": purpose, "lines": file.read().decode().splitlines()})
        return SimpleNamespace(id=f"file-{len(self.uploads)}")

    def _create(self, **kwargs):
        self.created.append(kwargs)
        job = SimpleNamespace(
            id=f"ftjob-{len(self.created)}",
            status=self.statuses[0],
            step=0,
            metadata=kwargs.get("metadata"),
            fine_tuned_model=None,
            error=None,
        )
        self.jobs[job.id] = job
        return job

    def _retrieve(self, job_id):
        self.retrieves += 1
        job = self.jobs[job_id]
        job.step = min(job.step + 1, len(self.statuses) - 1)
        job.status = self.statuses[job.step]
        if job.status == "succeeded":
            job.fine_tuned_model = "ft:gpt-4o-mini-2024-07-18:org:support-triage:abc123"
        if job.status == "failed":
            job.error = SimpleNamespace(message=self.error)
        return job

    def _list(self, *, limit, metadata=None):
        self.lists += 1
        return [
            j
            for j in reversed(list(self.jobs.values()))
            if metadata is None or all((j.metadata or {}).get(k) == v for k, v in metadata.items())
        ][:limit]


class FakeVertexServer:
    def __init__(self, states=("JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED")):
        self.uploads: list[tuple[str, str, list[str]]] = []
        self.created: list[dict] = []
        self.jobs: dict[str, SimpleNamespace] = {}
        self.states = list(states)

    def factory(self, kind: str):
        if kind == "gcs":
            return SimpleNamespace(
                bucket=lambda b: SimpleNamespace(
                    blob=lambda name: SimpleNamespace(
                        upload_from_filename=lambda path: self.uploads.append(
                            (b, name, Path(path).read_text().splitlines())
                        )
                    )
                )
            )
        assert kind == "vertex"
        return SimpleNamespace(
            tunings=SimpleNamespace(tune=self._tune, get=self._get, list=lambda: list(self.jobs.values()))
        )

    def _tune(self, *, base_model, training_dataset, config):
        self.created.append(
            {"base_model": base_model, "training_dataset": training_dataset, "config": config}
        )
        name = f"projects/p/locations/us-central1/tuningJobs/{len(self.created)}"
        self.jobs[name] = SimpleNamespace(
            name=name, state=self.states[0], step=0, labels=config.get("labels"), tuned_model=None, error=None
        )
        return self.jobs[name]

    def _get(self, *, name):
        job = self.jobs[name]
        job.step = min(job.step + 1, len(self.states) - 1)
        job.state = self.states[job.step]
        if job.state == "JOB_STATE_SUCCEEDED":
            job.tuned_model = SimpleNamespace(
                endpoint="projects/p/locations/us-central1/endpoints/42", model="m"
            )
        return job


def run(*args: str, factory=refuse_calls, sleep=lambda s: None) -> int:
    return sh.main(["--provider", *args], client_factory=factory, sleep=sleep)


def state(root: Path) -> dict:
    return json.loads((root / "hosted" / "job.json").read_text())


# --- refusal by date ------------------------------------------------------------------------------
def test_refuses_on_and_after_the_openai_cutoff(repo, capsys):
    assert run("openai", "--today", "2027-01-06", "--dry-run") == 1
    err = capsys.readouterr().err
    assert (
        "OpenAI stopped accepting fine-tuning jobs on 2027-01-06 (notice of 2026-05-07): "
        "use the open-weights "
        "path in this repo (make train)"
    ) in err
    assert not (repo / "hosted").exists()


def test_day_before_the_cutoff_is_accepted_with_a_retirement_warning(repo, capsys):
    assert run("openai", "--today", "2027-01-05", "--dry-run") == 0
    err = capsys.readouterr().err
    assert "retires on 2027-01-14, 9 days from 2027-01-05" in err


def test_refuses_when_the_model_is_retired(repo, capsys):
    set_config(
        repo,
        model="gpt-4.1-nano-2025-04-14",
        model_retirement="2026-10-23",
        tuning_window={"closes": None, "notice": None, "source": None},
    )
    assert run("openai", "--today", "2026-11-25", "--dry-run") == 1
    assert "gpt-4.1-nano-2025-04-14 was retired on 2026-10-23" in capsys.readouterr().err


# --- dry run --------------------------------------------------------------------------------------
def test_dry_run_calls_nothing_and_prints_the_cost(repo, capsys):
    assert run("openai", "--today", "2026-11-25", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "nothing uploaded" in out and "would start a new job" in out
    assert "billed tokens" in out and "training cost ~ $" in out
    assert "data/train.jsonl -> hosted/openai/train.jsonl (12 examples)" in out
    assert not (repo / "hosted").exists()


def test_bad_data_submits_nothing(repo, capsys):
    write_jsonl(
        repo / "data" / "train.jsonl", records(12)[:11] + [{"messages": [{"role": "user", "content": "x"}]}]
    )
    assert run("openai", "--today", "2026-11-25", factory=refuse_calls) == 1
    captured = capsys.readouterr()
    assert "data/train.jsonl:12: error [last_not_assistant]" in captured.err
    assert "nothing submitted" in captured.err


# --- OpenAI: submit, resume, find by metadata -----------------------------------------------------
def test_openai_submits_once_and_resumes(repo, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    server = FakeOpenAIServer()
    factory = lambda kind: server.client()  # noqa: E731

    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    assert len(server.uploads) == 2 and {u["purpose"] for u in server.uploads} == {"fine-tune"}
    assert [json.loads(x) for x in server.uploads[0]["lines"]] == [
        {"messages": r["messages"]} for r in records(12)
    ]
    (created,) = server.created
    assert created["model"] == "gpt-4o-mini-2024-07-18" and created["suffix"] == "support-triage"
    assert created["training_file"] == "file-1" and created["validation_file"] == "file-2"
    assert created["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    first = state(repo)
    assert first["job_id"] == "ftjob-1" and first["status"] == "running"
    assert (repo / "hosted" / "openai" / "train.jsonl").is_file()

    # Same data, same config: resume from hosted/job.json (no list call), upload nothing, poll to the end.
    lists_before = server.lists
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "5", factory=factory) == 0
    assert len(server.uploads) == 2 and len(server.created) == 1 and server.lists == lists_before
    assert "resuming job ftjob-1" in capsys.readouterr().out
    final = state(repo)
    assert final["status"] == "succeeded" and final["tuned_model"].startswith("ft:gpt-4o-mini")
    assert final["data_sha256"] == first["data_sha256"]


def test_openai_lost_state_file_is_found_by_metadata(repo, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    server = FakeOpenAIServer()
    factory = lambda kind: server.client()  # noqa: E731
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    (repo / "hosted" / "job.json").unlink()
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    assert len(server.created) == 1 and len(server.uploads) == 2
    assert state(repo)["job_id"] == "ftjob-1"


def test_openai_new_data_or_config_starts_a_new_job(repo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    server = FakeOpenAIServer()
    factory = lambda kind: server.client()  # noqa: E731
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    write_jsonl(repo / "data" / "train.jsonl", records(13))
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    set_config(repo, epochs=2)
    assert run("openai", "--today", "2026-11-25", "--poll-seconds", "0", factory=factory) == 0
    assert [c["method"]["supervised"]["hyperparameters"]["n_epochs"] for c in server.created] == [3, 3, 2]
    assert state(repo)["job_id"] == "ftjob-3"


def test_openai_failed_job_exits_1_with_the_reason(repo, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    server = FakeOpenAIServer(statuses=("validating_files", "failed"), error="training file has 2 bad lines")
    assert (
        run("openai", "--today", "2026-11-25", "--poll-seconds", "1", factory=lambda k: server.client()) == 1
    )
    err = capsys.readouterr().err
    assert "ended as failed: training file has 2 bad lines" in err and "delete hosted/job.json" in err


# --- credentials ----------------------------------------------------------------------------------
def test_missing_key_is_reported_before_any_client(repo, capsys):
    assert run("openai", "--today", "2026-11-25") == 1
    assert "OPENAI_API_KEY: not set" in capsys.readouterr().err


def test_key_never_reaches_output_or_files(repo, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    server = FakeOpenAIServer(
        upload_error=f"Incorrect API key provided: {FAKE_KEY}. Authorization: Bearer {FAKE_KEY}"
    )
    assert run("openai", "--today", "2026-11-25", factory=lambda k: server.client()) == 1
    failed = FakeOpenAIServer(statuses=("running", "failed"), error=f"key {FAKE_KEY} was revoked")
    assert (
        run("openai", "--today", "2026-11-25", "--poll-seconds", "1", factory=lambda k: failed.client()) == 1
    )
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert FAKE_KEY not in text and FAKE_KEY[:12] not in text
    assert text.count(sh.REDACTED) >= 3
    for path in repo.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(encoding="utf-8", errors="replace"), path


def test_redact_hides_key_shapes_not_in_the_environment():
    assert sh.redact("token sk-proj-abcdefghijklmnop and AIzaSyA1234567890abcdefghijkl") == (
        f"token {sh.REDACTED} and {sh.REDACTED}"
    )


def test_missing_sdk_says_what_to_install(repo, monkeypatch, capsys):
    if importlib.util.find_spec("openai") is not None:
        pytest.skip("openai is installed here; the real client would try the network")
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    assert sh.main(["--provider", "openai", "--today", "2026-11-25"]) == 1
    assert "pip install openai" in capsys.readouterr().err


# --- Vertex AI ------------------------------------------------------------------------------------
def test_vertex_uploads_to_gcs_tunes_and_resumes(repo, monkeypatch, capsys):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    set_vertex(repo)
    server = FakeVertexServer()
    assert run("vertex", "--today", "2026-11-25", "--poll-seconds", "0", factory=server.factory) == 0
    assert [(b, Path(name).name) for b, name, _ in server.uploads] == [
        ("bucket", "train.jsonl"),
        ("bucket", "validation.jsonl"),
    ]
    first_line = json.loads(server.uploads[0][2][0])
    assert first_line["systemInstruction"]["parts"] == [{"text": "Route the ticket."}]
    assert [c["role"] for c in first_line["contents"]] == ["user", "model"]
    (created,) = server.created
    sha16 = state(repo)["data_sha256"][:16]
    assert created["training_dataset"] == {"gcs_uri": f"gs://bucket/ftplan/{sha16}/train.jsonl"}
    assert created["config"]["validation_dataset"] == {
        "gcs_uri": f"gs://bucket/ftplan/{sha16}/validation.jsonl"
    }
    assert created["config"]["adapter_size"] == "ADAPTER_SIZE_FOUR" and created["config"]["epoch_count"] == 3
    assert created["config"]["tuned_model_display_name"] == "support-triage"

    (repo / "hosted" / "job.json").unlink()  # lost state: found again through the job labels
    assert run("vertex", "--today", "2026-11-25", "--poll-seconds", "3", factory=server.factory) == 0
    assert len(server.created) == 1 and len(server.uploads) == 2
    final = state(repo)
    assert final["status"] == "JOB_STATE_SUCCEEDED" and final["tuned_model"].endswith("/endpoints/42")


def test_vertex_requires_a_gcs_prefix(repo, monkeypatch, capsys):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    set_vertex(repo, vertex={"gcs_uri_prefix": "/local/folder"})
    assert run("vertex", "--today", "2026-11-25") == 1
    assert "vertex.gcs_uri_prefix: '/local/folder' is not a gs:// URI" in capsys.readouterr().err


# --- the real openai SDK against a loopback server (runs where `openai` is installed) ----------------
class _OpenAIHandler(BaseHTTPRequestHandler):
    """The few endpoints submit_hosted uses, shaped like api.openai.com's JSON."""

    jobs: dict[str, dict] = {}
    requests: list[tuple[str, str, str, bytes]] = []

    def log_message(self, *args) -> None:  # keep pytest output clean
        return

    def _send(self, payload: dict, code: int = 200) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append(("POST", self.path, self.headers.get("Authorization", ""), body))
        if self.path == "/v1/files":
            n = sum(1 for r in self.requests if r[1] == "/v1/files")
            return self._send(
                {
                    "id": f"file-{n}",
                    "object": "file",
                    "bytes": len(body),
                    "created_at": 0,
                    "filename": "train.jsonl",
                    "purpose": "fine-tune",
                    "status": "processed",
                }
            )
        params = json.loads(body)
        job = {
            "id": f"ftjob-{len(self.jobs) + 1}",
            "object": "fine_tuning.job",
            "status": "queued",
            "model": params["model"],
            "created_at": 0,
            "training_file": params["training_file"],
            "validation_file": params.get("validation_file"),
            "metadata": params.get("metadata"),
            "fine_tuned_model": None,
            "error": None,
        }
        self.jobs[job["id"]] = job
        self._send(job)

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, self.headers.get("Authorization", ""), b""))
        url = urlparse(self.path)
        if url.path == "/v1/fine_tuning/jobs":
            wanted = {
                k[len("metadata[") : -1]: v[0]
                for k, v in parse_qs(url.query).items()
                if k.startswith("metadata[")
            }
            data = [
                j
                for j in self.jobs.values()
                if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())
            ]
            return self._send({"object": "list", "data": data, "has_more": False})
        job = self.jobs[url.path.rsplit("/", 1)[-1]]
        job["status"] = "succeeded"
        job["fine_tuned_model"] = "ft:gpt-4o-mini-2024-07-18:org:support-triage:xyz"
        self._send(job)


def test_real_openai_sdk_against_loopback(repo, monkeypatch, capsys):
    pytest.importorskip("openai")
    _OpenAIHandler.jobs, _OpenAIHandler.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        assert sh.main(["--provider", "openai", "--today", "2026-11-25", "--poll-seconds", "0"]) == 0
        (create,) = [json.loads(r[3]) for r in _OpenAIHandler.requests if r[1] == "/v1/fine_tuning/jobs"]
        assert create["model"] == "gpt-4o-mini-2024-07-18" and create["suffix"] == "support-triage"
        assert create["method"]["supervised"]["hyperparameters"] == {"n_epochs": 3}
        assert create["training_file"] == "file-1" and create["validation_file"] == "file-2"
        uploads = [r[3] for r in _OpenAIHandler.requests if r[1] == "/v1/files"]
        assert len(uploads) == 2 and b'name="purpose"\r\n\r\nfine-tune' in uploads[0]
        assert all(r[2] == f"Bearer {FAKE_KEY}" for r in _OpenAIHandler.requests)  # sent only as the header

        (repo / "hosted" / "job.json").unlink()  # found again through jobs.list(metadata=...)
        assert sh.main(["--provider", "openai", "--today", "2026-11-25", "--poll-seconds", "1"]) == 0
        assert len(_OpenAIHandler.jobs) == 1
        assert state(repo)["tuned_model"] == "ft:gpt-4o-mini-2024-07-18:org:support-triage:xyz"
        captured = capsys.readouterr()
        assert FAKE_KEY not in captured.out + captured.err
    finally:
        server.shutdown()
        thread.join()


# --- the real google-genai + google-cloud-storage SDKs against a loopback server ------------------
class _VertexHandler(BaseHTTPRequestHandler):
    """OAuth token, GCS multipart upload and Vertex tuningJobs endpoints, enough for submit_hosted."""

    jobs: dict[str, dict] = {}
    requests: list[tuple[str, str, bytes]] = []

    log_message = _OpenAIHandler.log_message
    _send = _OpenAIHandler._send

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        self.requests.append(("POST", self.path, body))
        if self.path.startswith("/token"):
            return self._send({"access_token": "ya29.loopback", "expires_in": 3600, "token_type": "Bearer"})
        if self.path.startswith("/upload/storage/v1/b/"):
            return self._send(
                {"bucket": "bucket", "name": "uploaded", "size": str(len(body)), "generation": "1"}
            )
        name = f"projects/my-project/locations/us-central1/tuningJobs/{len(self.jobs) + 1}"
        self.jobs[name] = {
            "name": name,
            "state": "JOB_STATE_PENDING",
            "labels": json.loads(body).get("labels"),
        }
        self._send(self.jobs[name])

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, b""))
        path = urlparse(self.path).path
        if path.endswith("/tuningJobs"):
            return self._send({"tuningJobs": list(self.jobs.values())})
        if path.startswith("/storage/v1/b/"):
            return self._send({"name": "bucket"})
        job = self.jobs[path.removeprefix("/v1beta1/")]
        job.update(state="JOB_STATE_SUCCEEDED", tunedModel={"endpoint": "projects/my-project/endpoints/9"})
        self._send(job)


def _service_account_file(path: Path, token_uri: str) -> Path:
    """A throwaway service-account key whose token endpoint is the loopback server (no Google account)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "my-project",
                "private_key_id": "k1",
                "private_key": pem.decode(),
                "client_email": "sa@my-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_real_vertex_sdks_against_loopback(repo, monkeypatch, tmp_path_factory):
    for module in ("google.genai", "google.cloud.storage", "cryptography"):
        pytest.importorskip(module)
    _VertexHandler.jobs, _VertexHandler.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VertexHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        key_file = _service_account_file(tmp_path_factory.mktemp("adc") / "sa.json", f"{base}/token")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
        monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", f"{base}/")
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", base)
        set_vertex(repo)
        assert sh.main(["--provider", "vertex", "--today", "2026-11-25", "--poll-seconds", "0"]) == 0
        posts = [(p, b) for m, p, b in _VertexHandler.requests if m == "POST" and "tuningJobs" in p]
        ((path, body),) = posts
        sent = json.loads(body)
        sha16 = state(repo)["data_sha256"][:16]
        assert path == "/v1beta1/projects/my-project/locations/us-central1/tuningJobs"
        assert sent["baseModel"] == "gemini-2.5-flash"
        assert sent["supervisedTuningSpec"]["trainingDatasetUri"] == f"gs://bucket/ftplan/{sha16}/train.jsonl"
        assert sent["supervisedTuningSpec"]["hyperParameters"] == {
            "epochCount": 3,
            "adapterSize": "ADAPTER_SIZE_FOUR",
        }
        uploads = [b for m, p, b in _VertexHandler.requests if p.startswith("/upload/storage/v1/b/bucket/o")]
        assert len(uploads) == 2 and b'"contents": [{"role": "user"' in uploads[0]

        (repo / "hosted" / "job.json").unlink()  # found again through the job labels: no second job
        assert sh.main(["--provider", "vertex", "--today", "2026-11-25", "--poll-seconds", "1"]) == 0
        assert len(_VertexHandler.jobs) == 1
        assert state(repo)["tuned_model"] == "projects/my-project/endpoints/9"
    finally:
        server.shutdown()
        thread.join()
