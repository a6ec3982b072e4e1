"""Upload the prepared data, start the hosted tuning job and poll it, without ever paying twice for one job.

Every run converts and re-validates data/train.jsonl (and data/validation.jsonl) with prepare_hosted.py,
so only data that passes the provider's rules is uploaded. The job is recorded in hosted/job.json (data
sha256 + config hash + job id): a rerun with the same data and config resumes polling that job.

    python scripts/submit_hosted.py --provider openai --dry-run          # what would be sent, and the cost
    python scripts/submit_hosted.py --provider openai                    # upload, start, poll until done
    python scripts/submit_hosted.py --provider vertex --poll-seconds 0   # start (or check) once and return
    python scripts/submit_hosted.py --provider openai --today 2027-01-07 # date for the availability check

Credentials come from the environment only and are never written or printed:
  OpenAI: OPENAI_API_KEY.   Vertex: ADC (GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default
  login`), GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_LOCATION; the data goes to vertex.gcs_uri_prefix (gs://...).
SDKs: `pip install openai` / `pip install google-genai google-cloud-storage` (imported only when used).
Exit codes: 0 submitted / running / succeeded, 1 refused, bad input or failed job, 2 usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import prepare_hosted as ph  # noqa: E402  (a sibling script, not an installed package)

PROVIDER_NAMES = {"openai": "OpenAI", "vertex": "Google Vertex AI"}
STATE_NAME = "job.json"
JOB_KEYS = ("provider", "model", "epochs", "learning_rate_multiplier", "adapter_size", "suffix")
SECRET_ENV_VARS = ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")
# Key shapes redacted even when they are not in the environment (OpenAI "sk-...", Google API keys "AIza...").
SECRET_PATTERNS = (re.compile(r"sk-[A-Za-z0-9_\-*]{8,}"), re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
                   re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"))
REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 6  # shorter env values are not secrets worth hiding, and replacing them would garble text
OPENAI_DONE = {"succeeded", "failed", "cancelled"}
OPENAI_DEAD = {"failed", "cancelled"}
# Terminal states, from google-genai's types.JOB_STATES_ENDED_VERTEX.
VERTEX_DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
VERTEX_DEAD = VERTEX_DONE - {"JOB_STATE_SUCCEEDED"}
# google-genai types.AdapterSize names for the sizes prepare_hosted.VERTEX_ADAPTER_SIZES allows.
VERTEX_ADAPTER_ENUM = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR",
                       8: "ADAPTER_SIZE_EIGHT", 16: "ADAPTER_SIZE_SIXTEEN"}
LABEL_CHARS = 32  # Vertex label values allow 63 lowercase chars; a 128-bit prefix of the sha256 is plenty
JOBS_SCANNED = 100  # how many recent jobs to search for an earlier submission of the same data
RETIREMENT_WARNING_DAYS = 30  # a judgement call: less than a month of serving is rarely worth a tuning job
DEFAULT_POLL_SECONDS = 60


class MissingSDK(Exception):
    """The provider's SDK is not installed; the message says what to pip install."""


def redact(text: str) -> str:
    """Hide every credential the process can see, and anything shaped like a key."""
    for var in SECRET_ENV_VARS:
        value = os.environ.get(var, "")
        if len(value) >= MIN_SECRET_CHARS:
            text = text.replace(value, REDACTED)
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def say(message: str, err: bool = False) -> None:
    print(redact(message), file=sys.stderr if err else sys.stdout, flush=True)


def _import_sdk(module: str, pip_name: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingSDK(f"the '{pip_name}' package is not installed: pip install {pip_name}") from None


def default_client_factory(kind: str) -> Any:
    """The official SDK clients; each reads its credentials from the environment itself."""
    if kind == "openai":
        return _import_sdk("openai", "openai").OpenAI()
    if kind == "vertex":
        genai = _import_sdk("google.genai", "google-genai")
        project, location = os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["GOOGLE_CLOUD_LOCATION"]
        return genai.Client(vertexai=True, project=project, location=location)
    if kind == "gcs":
        storage = _import_sdk("google.cloud.storage", "google-cloud-storage")
        return storage.Client(project=os.environ["GOOGLE_CLOUD_PROJECT"])
    raise ValueError(f"unknown client kind {kind!r}")


def window_refusal(cfg: dict[str, Any], provider: str, today: date) -> str | None:
    """Why no new job may start today, or None."""
    window, retired = cfg["tuning_window"], cfg["model_retirement"]
    name = PROVIDER_NAMES[provider]
    if window["closes"] and today >= window["closes"]:
        notice = f" (notice of {window['notice']})" if window["notice"] else ""
        source = f"; source: {window['source']}" if window["source"] else ""
        stopped = f"{name} stopped accepting fine-tuning jobs on {window['closes']}{notice}"
        return f"{stopped}: use the open-weights path in this repo (make train){source}"
    if retired and today >= retired:
        fix = "choose a current model in configs/hosted.yaml or use the open-weights path (make train)"
        return f"{cfg['model']} was retired on {retired}, so a model tuned on it could not be served: {fix}"
    return None


def sha256_text(lines: list[str]) -> str:
    return hashlib.sha256("".join(line + "\n" for line in lines).encode("utf-8")).hexdigest()


def config_hash(cfg: dict[str, Any]) -> str:
    """Only the settings that change the trained model; a new price or date must not start a second job."""
    subset = {key: cfg.get(key) for key in JOB_KEYS}
    return hashlib.sha256(json.dumps(subset, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        say(f"warning: {path} is not valid JSON; ignored (the provider's job list is checked)", err=True)
        return None
    return state if isinstance(state, dict) else None


def save_state(path: Path, state: dict[str, Any]) -> None:
    state["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ph.write_atomic(path, [redact(json.dumps(state, indent=2, default=str))])


def _status(job: Any, provider: str) -> str:
    raw = getattr(job, "status" if provider == "openai" else "state", None)
    return str(getattr(raw, "value", raw))


# --- OpenAI ------------------------------------------------------------------------------------------------
def openai_find_job(client: Any, metadata: dict[str, str]) -> str | None:
    try:
        page = client.fine_tuning.jobs.list(limit=JOBS_SCANNED, metadata=metadata)
    except TypeError:  # an SDK older than the metadata filter
        page = client.fine_tuning.jobs.list(limit=JOBS_SCANNED)
    for scanned, job in enumerate(page, start=1):
        found = getattr(job, "metadata", None) or {}
        if all(found.get(k) == v for k, v in metadata.items()) and _status(job, "openai") not in OPENAI_DEAD:
            return str(job.id)
        if scanned >= JOBS_SCANNED:
            break
    return None


def openai_submit(client: Any, cfg: dict[str, Any], files: dict[str, Path], metadata: dict[str, str]) -> str:
    uploaded = {}
    for split, path in files.items():
        with path.open("rb") as fh:
            uploaded[split] = client.files.create(file=fh, purpose="fine-tune").id
        say(f"uploaded {path} as {uploaded[split]}")
    hyper: dict[str, Any] = {"n_epochs": int(cfg["epochs"])}
    if cfg.get("learning_rate_multiplier") is not None:
        hyper["learning_rate_multiplier"] = float(cfg["learning_rate_multiplier"])
    method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
    kwargs: dict[str, Any] = {"model": cfg["model"], "training_file": uploaded["train"], "method": method}
    kwargs["metadata"] = metadata
    if "validation" in uploaded:
        kwargs["validation_file"] = uploaded["validation"]
    if cfg.get("suffix"):
        kwargs["suffix"] = str(cfg["suffix"])
    return str(client.fine_tuning.jobs.create(**kwargs).id)


# --- Vertex AI ---------------------------------------------------------------------------------------------
def vertex_find_job(client: Any, labels: dict[str, str]) -> str | None:
    for scanned, job in enumerate(client.tunings.list(), start=1):
        found = getattr(job, "labels", None) or {}
        if all(found.get(k) == v for k, v in labels.items()) and _status(job, "vertex") not in VERTEX_DEAD:
            return str(job.name)
        if scanned >= JOBS_SCANNED:
            break
    return None


def gcs_upload(gcs: Any, local: Path, uri: str) -> str:
    bucket, _, blob = uri.removeprefix("gs://").partition("/")
    gcs.bucket(bucket).blob(blob).upload_from_filename(str(local))
    say(f"uploaded {local} to {uri}")
    return uri


def vertex_submit(
    client: Any, gcs: Any, cfg: dict[str, Any], files: dict[str, Path], data_sha: str, labels: dict[str, str]
) -> str:
    prefix = str(cfg["vertex"]["gcs_uri_prefix"]).rstrip("/")
    folder = f"{prefix}/{data_sha[:16]}"  # one folder per data version: an upload never overwrites another
    uris = {split: gcs_upload(gcs, path, f"{folder}/{path.name}") for split, path in files.items()}
    config: dict[str, Any] = {"epoch_count": int(cfg["epochs"]), "labels": labels}
    if cfg.get("suffix"):
        config["tuned_model_display_name"] = str(cfg["suffix"])
    if cfg.get("learning_rate_multiplier") is not None:
        config["learning_rate_multiplier"] = float(cfg["learning_rate_multiplier"])
    if cfg.get("adapter_size") is not None:
        config["adapter_size"] = VERTEX_ADAPTER_ENUM[int(cfg["adapter_size"])]
    if "validation" in uris:
        config["validation_dataset"] = {"gcs_uri": uris["validation"]}
    train = {"gcs_uri": uris["train"]}
    job = client.tunings.tune(base_model=cfg["model"], training_dataset=train, config=config)
    return str(job.name)


# --- the run -----------------------------------------------------------------------------------------------
def poll(provider: str, client: Any, job_id: str, state: dict[str, Any], state_path: Path,
         poll_seconds: float, sleep: Callable[[float], None]) -> int:
    """Check the job until it ends (or once, with --poll-seconds 0), recording each new status."""
    openai = provider == "openai"
    last = None
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id) if openai else client.tunings.get(name=job_id)
        status = _status(job, provider)
        if status != last:
            say(f"job {job_id}: {status}")
            state["status"] = last = status
            save_state(state_path, state)
        if status in (OPENAI_DONE if openai else VERTEX_DONE):
            break
        if poll_seconds <= 0:
            say("still running: rerun this command to check again (it resumes this job; it starts no other)")
            return 0
        sleep(poll_seconds)
    if status in (OPENAI_DEAD if openai else VERTEX_DEAD):
        error = getattr(job, "error", None)
        detail = getattr(error, "message", None) or error or "no detail given"
        say(f"job {job_id} ended as {status}: {detail}. Fix it, then delete {state_path} to retry.", err=True)
        return 1
    tuned = job.fine_tuned_model if openai else getattr(getattr(job, "tuned_model", None), "endpoint", None)
    state["tuned_model"] = tuned
    save_state(state_path, state)
    say(f"tuned model: {tuned} (recorded in {state_path}); evaluate it on the same held-out set as the base")
    return 0


def missing_env(provider: str, cfg: dict[str, Any]) -> list[str]:
    """Everything the real SDK call needs from the shell, checked before any client exists."""
    google = ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION")
    needed = ("OPENAI_API_KEY",) if provider == "openai" else google
    fix = "export it in your shell (never write credentials into this repo)"
    problems = [f"{var}: not set — {fix}" for var in needed if not os.environ.get(var)]
    prefix = (cfg.get("vertex") or {}).get("gcs_uri_prefix")
    if provider == "vertex" and not str(prefix or "").startswith("gs://"):
        why = "Vertex reads tuning data only from Cloud Storage"
        problems.append(f"vertex.gcs_uri_prefix: '{prefix}' is not a gs:// URI — set gs://BUCKET/DIR ({why})")
    return problems


def dry_run(cfg: dict[str, Any], provider: str, prepared: dict[str, ph.Prepared], files: dict[str, Path],
            resume: dict[str, Any] | None, state_path: Path, today: date) -> int:
    train = prepared["train"].stats
    say(f"dry run on {today}: nothing uploaded, no job started, no SDK imported")
    for split, path in files.items():
        say(f"  {split}: {cfg['data'][split]} -> {path} ({prepared[split].stats['examples']} examples)")
    name = PROVIDER_NAMES[provider]
    say(f"  {name} model {cfg['model']}, {cfg['epochs']} epochs, suffix {cfg.get('suffix')}")
    say(f"  billed tokens {train['billed_tokens']:,} ({train['token_counting']}); "
        f"training cost ~ {ph.usd(train['training_usd'])}")
    action = f"would resume job {resume['job_id']}" if resume else "would start a new job"
    say(f"  {action} (state: {state_path})")
    return 0


def main(argv: list[str] | None = None, client_factory: Callable[[str], Any] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """`client_factory(kind)` returns an SDK client for kind openai | vertex | gcs (tests pass a fake)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", required=True, choices=ph.PROVIDERS)
    parser.add_argument("--config", type=Path, default=Path("configs/hosted.yaml"))
    poll_help = "seconds between status checks; 0 checks once and returns"
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS, help=poll_help)
    parser.add_argument("--dry-run", action="store_true", help="print what would be submitted; call nothing")
    parser.add_argument("--today", type=date.fromisoformat, help="YYYY-MM-DD (default: the system date)")
    args = parser.parse_args(argv)
    provider, today = args.provider, args.today or date.today()
    try:
        cfg = ph.load_config(args.config)
        ph.check_provider(cfg, provider, args.config)
    except ph.ConfigError as exc:
        for problem in exc.problems:
            say(f"error: {problem}", err=True)
        return 1

    splits = [s for s in ("train", "validation") if cfg["data"].get(s)]
    prepared = {s: ph.prepare(provider, Path(cfg["data"][s]), cfg, split=s) for s in splits}
    for result in prepared.values():
        say(ph.summarize(result), err=bool(result.errors))
    if any(result.errors for result in prepared.values()):
        say("nothing submitted: fix the data errors above (prepare_hosted.py shows them too)", err=True)
        return 1

    out_dir = Path(cfg["output_dir"])
    state_path = out_dir / STATE_NAME
    files = {split: out_dir / provider / f"{split}.jsonl" for split in prepared}
    data_sha = hashlib.sha256("|".join(sha256_text(prepared[s].lines) for s in splits).encode()).hexdigest()
    cfg_sha = config_hash(cfg)
    previous = load_state(state_path) or {}
    same = (previous.get("provider"), previous.get("data_sha256"), previous.get("config_sha256"))
    resume = previous if previous.get("job_id") and same == (provider, data_sha, cfg_sha) else None
    refusal = None if resume else window_refusal(cfg, provider, today)
    if refusal:
        say(f"refused: {refusal}", err=True)
        return 1
    retired = cfg["model_retirement"]
    if retired and (retired - today).days < RETIREMENT_WARNING_DAYS:
        days = (retired - today).days
        say(f"warning: {cfg['model']} retires on {retired}, {days} days from {today}: the tuned model "
            "stops serving then", err=True)
    if args.dry_run:
        return dry_run(cfg, provider, prepared, files, resume, state_path, today)

    problems = missing_env(provider, cfg)
    for problem in problems:
        say(f"error: {problem}", err=True)
    if problems:
        return 1
    billed, cost = prepared["train"].stats["billed_tokens"], prepared["train"].stats["training_usd"]
    factory = client_factory or default_client_factory
    try:
        client = factory(provider)
        metadata = {"ftplan_data_sha256": data_sha, "ftplan_config_sha256": cfg_sha}
        labels = {"ftplan-data": data_sha[:LABEL_CHARS], "ftplan-config": cfg_sha[:LABEL_CHARS]}
        job_id: str | None
        if resume:
            job_id = str(resume["job_id"])
        else:
            find = openai_find_job if provider == "openai" else vertex_find_job
            job_id = find(client, metadata if provider == "openai" else labels)
        if job_id:
            say(f"resuming job {job_id}: same data and config as before; nothing is uploaded or billed again")
            state = resume or {}
        else:
            for split, path in files.items():
                ph.write_atomic(path, prepared[split].lines)
            say(f"starting a {PROVIDER_NAMES[provider]} job: {billed:,} billed tokens, about {ph.usd(cost)}")
            if provider == "openai":
                job_id = openai_submit(client, cfg, files, metadata)
            else:
                job_id = vertex_submit(client, factory("gcs"), cfg, files, data_sha, labels)
            state = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        state.update(provider=provider, model=cfg["model"], job_id=job_id, data_sha256=data_sha,
                     config_sha256=cfg_sha, files={k: str(v) for k, v in files.items()},
                     billed_tokens=billed, training_usd=cost)
        save_state(state_path, state)
        return poll(provider, client, job_id, state, state_path, args.poll_seconds, sleep)
    except MissingSDK as exc:
        say(f"error: {exc}", err=True)
        return 1
    except Exception as exc:  # SDK errors: the message, never a traceback or a key
        say(f"error: the {PROVIDER_NAMES[provider]} call failed: {type(exc).__name__}: {exc}", err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
