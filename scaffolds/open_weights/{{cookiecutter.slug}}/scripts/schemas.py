"""The schema of every config file the scripts read: unknown keys and wrong types are errors naming file and key.

    python scripts/schemas.py eval configs/eval.yaml        # prints each problem, exit 1 if any
    python scripts/schemas.py rollout configs/rollout.yaml

Stdlib and PyYAML only, and no import of the other script modules: ftplan's `check` imports this file from its
own copy of the scaffold to validate a user's repository. `validate_file(kind, path)` returns the problems, each
one line `file: key: what is wrong — how to fix`; an empty list means the file is valid.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = ("mcnemar", "sign_flip")  # the paired tests scripts/stats.py runs
GATE_OPS = (">=", "delta_ci_low>", "drop<=")
FORGETTING_GATE = "forgetting_probe"  # a gate on the probe's drop, not on one of the metrics
PROFILES = ("smoke", "hosted")  # eval.yaml sections that `--profile NAME` lays over the top level


@dataclass(frozen=True)
class F:
    """One key: its type (str, int, float, bool, list, map, dict, metrics) and limits; `doc` is its meaning."""

    type: str
    doc: str = ""
    required: bool = False
    nullable: bool = False
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    item: F | None = None  # list items, dict values
    keys: dict[str, F] = field(default_factory=dict)  # map: the fixed keys


METRIC = F("map", "how one metric is compared", keys={
    "test": F("str", "paired test of tuned vs base", choices=TESTS),
    "builtin": F("bool", "true: scripts/metrics.py computes it; false: scripts/user_metrics.py"),
    "kind": F("str", "per_item (mean of per-example scores) or corpus", choices=("per_item", "corpus")),
    "description": F("str", "what the metric measures"),
})
EVAL_KEYS: dict[str, F] = {
    "base_model": F("str", "Hub id or local folder of the base model", required=True),
    "adapter": F("str", "the trained adapter (or full model) folder", nullable=True),
    "task_type": F("str", "the plan's task type: decides the error analysis", required=True),
    "labels": F("labels", "the label set macro-F1 averages over: auto (data/manifest.json), a list, or null",
                nullable=True, item=F("str")),
    "heldout": F("str", "the frozen held-out JSONL", required=True),
    "probe": F("str", "general-capability JSONL scored before and after tuning", nullable=True),
    "few_shot_examples": F("str", "demonstrations for the few-shot baseline", nullable=True),
    "few_shot_k": F("int", "demonstrations per prompt", lo=0),
    "generation": F("map", "decoding settings", keys={
        "max_new_tokens": F("int", "room for one answer", lo=1),
        "batch_size": F("int", "prompts per generate() call", lo=1),
    }),
    "device": F("str", "where the local model runs", choices=("auto", "cpu", "cuda")),
    "statistics": F("map", "paired statistics of tuned vs base", keys={
        "confidence": F("float", "level of the bootstrap interval", lo=0.5, hi=0.999),
        "bootstrap_resamples": F("int", "paired bootstrap resamples", lo=1),
        "permutation_resamples": F("int", "sign-flip permutations", lo=1),
        "mcnemar_exact_below": F("int", "exact binomial McNemar below this many discordant pairs", lo=0),
        "seed": F("int", "seed of resampling and generation"),
    }),
    "metrics": F("metrics", "metric name -> {test, builtin}; a list of names takes the defaults",
                 required=True, item=METRIC),
    "primary_metric": F("str", "the success metric; one of metrics", required=True),
    "gates": F("list", "pass/fail rules of `make eval`", item=F("map", keys={
        "metric": F("str", f"one of metrics, or {FORGETTING_GATE}", required=True),
        "op": F("str", "the comparison", required=True, choices=GATE_OPS),
        "threshold": F("float", "the limit", required=True),
        "reason": F("str", "why this gate"),
    })),
    "data_config": F("str", "configs/data.yaml: its `documents:` folder adds the RAG baseline", nullable=True),
    "rag_config": F("str", "configs/rag.yaml: chunking and retrieval of the RAG baseline", nullable=True),
    "max_error_examples": F("int", "wrong answers listed in the report", lo=0),
    "output_dir": F("str", "where reports and the generation cache go", required=True),
    "api_key_env": F("str", "environment variable that holds the endpoint's key"),
    "endpoint": F("str", "an OpenAI-compatible server URL", nullable=True),
    "endpoint_model": F("str", "the tuned model's name on the endpoint", nullable=True),
    "endpoint_timeout_s": F("float", "seconds per request", lo=1),
    "endpoint_retries": F("int", "retries of a request after 429/5xx/connection errors", lo=0),
    "endpoint_concurrency": F("int", "requests in flight at once", lo=1),
    "sql": F("map", "execution_accuracy: the database the queries run on (read-only)", nullable=True, keys={
        "database": F("str", "a .sqlite/.db (SQLite) or .duckdb file", nullable=True),
        "dialect": F("str", "the dialect the queries are written in (sqlglot name: sqlite, duckdb, postgres...)"),
        "timeout_s": F("float", "seconds a query may run before it counts as wrong", lo=0.01),
    }),
    "json_schema": F("str", "json_schema_validity: the JSON Schema file every answer must validate against",
                     nullable=True),
    "allow_code_execution": F("bool", "pass_at_1 runs the generated code on this machine: true to allow it"),
    "code_execution": F("map", "pass_at_1 limits per program", nullable=True, keys={
        "timeout_s": F("float", "CPU seconds (and wall clock + 1 s)", lo=1),
        "memory_mb": F("int", "address-space limit", lo=64),
    }),
    "judge": F("map", "win_rate: the pairwise LLM judge", nullable=True, keys={
        "endpoint": F("str", "OpenAI-compatible URL (or --judge-endpoint)", nullable=True),
        "model": F("str", "the judge model", nullable=True),
        "api_key_env": F("str", "environment variable that holds the judge's key"),
        "rubric": F("str", "what makes one answer better than the other"),
        "prompt": F("str", "the judge prompt: {rubric} {question} {reference} {answer_a} {answer_b}"),
        "concurrency": F("int", "judge requests in flight at once", lo=1),
        "retries": F("int", "retries after 429/5xx/connection errors", lo=0),
        "timeout_s": F("float", "seconds per judge request", lo=1),
    }),
    "forgetting": F("map", "forgetting measured on lm-evaluation-harness tasks", nullable=True, keys={
        "lm_eval_tasks": F("list", "lm_eval task names; []: the bundled probe", item=F("str")),
        "limit": F("int", "items per task; null: all", nullable=True, lo=1),
        "batch_size": F("int", "lm_eval batch size", lo=1),
    }),
}
EVAL_PROFILE = F("map", "overrides for --profile", keys=EVAL_KEYS)

ROLLOUT_KEYS: dict[str, F] = {
    "serving": F("str", "how the tuned model is served"),
    "baseline_rate": F("float", "control's success rate", lo=0, hi=1),
    "mde": F("float", "smallest lift worth detecting", lo=0, hi=1),
    "alpha": F("float", "two-sided false-positive rate", lo=0, hi=1),
    "power": F("float", "chance of detecting a lift of mde", lo=0, hi=1),
    "sample_size_per_arm": F("int", "requests per arm before deciding", required=True, lo=1),
    "duration_days": F("int", "planned days of the A/B stage", lo=0),
    "split": F("map", "traffic shares at the A/B stage", keys={
        "control": F("float", lo=0, hi=1), "treatment": F("float", lo=0.000001, hi=0.999999)}),
    "min_lift": F("float", "ship when the lift's CI lower bound exceeds this"),
    "srm_alpha": F("float", "sample-ratio-mismatch threshold", lo=0, hi=1),
    "guardrails": F("map", "limits on the treatment arm", keys={
        "p95_latency_ms": F("float", lo=0), "error_rate": F("float", lo=0, hi=1),
        "cost_per_request_usd": F("float", lo=0), "format_validity": F("float", lo=0, hi=1)}),
    "stages": F("list", "shadow -> canary -> ramp -> full", item=F("map", keys={
        "name": F("str", required=True), "traffic_pct": F("float", required=True, lo=0, hi=100),
        "min_days": F("int", lo=0)})),
    "rollback_criteria": F("list", "automatic rollback triggers", item=F("str")),
}

FTPLAN_KEYS: dict[str, F] = {
    "early_stopping_patience": F("int", "evaluations without a lower eval_loss before stopping; null: off",
                                 nullable=True, lo=1),
    "padding_free": F("bool", "lay each batch's examples end to end where the loss stays exact"),
}

# One logged request of the A/B test (CSV cells are text, so numbers and booleans are parsed).
OUTCOME_REQUIRED = ("variant", "success", "latency_ms", "cost")
OUTCOME_OPTIONAL = ("error", "format_valid")
VARIANTS = ("control", "treatment")
TRUE, FALSE = {"1", "true", "yes", "t", "y"}, {"0", "false", "no", "f", "n", ""}

SCHEMAS = {"eval": EVAL_KEYS, "rollout": ROLLOUT_KEYS, "ftplan": FTPLAN_KEYS}
KINDS = (*SCHEMAS, "ab_outcomes")


def _type_ok(spec: F, value: Any) -> bool:
    if spec.type == "str":
        return isinstance(value, str)
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if spec.type == "list":
        return isinstance(value, list)
    if spec.type == "labels":
        return value == "auto" or isinstance(value, list)
    return isinstance(value, dict)  # map, dict


EXPECTED = {"str": "text", "bool": "true or false", "int": "a whole number", "float": "a finite number",
            "list": "a list", "map": "a mapping", "labels": "auto or a list of labels",
            "metrics": "a mapping of metric names (or a list of names)"}


def check(value: Any, spec: F, path: str, problems: list[str], required: bool = True) -> None:
    """Append `path: what — fix` for every way `value` breaks `spec` (keys unknown, types, limits)."""
    if value is None:
        if not spec.nullable:
            problems.append(f"{path}: is empty — give {EXPECTED[spec.type]} ({spec.doc or 'see the comment'})")
        return
    if spec.type == "metrics" and isinstance(value, list):
        for i, name in enumerate(value):
            if not isinstance(name, str):
                problems.append(f"{path}[{i}]: {name!r} is not a metric name — write the name as text")
        return
    if not _type_ok(spec, value):
        problems.append(f"{path}: {value!r} ({type(value).__name__}) is not {EXPECTED[spec.type]} — fix the value")
        return
    if spec.choices and value not in spec.choices:
        problems.append(f"{path}: {value!r} is not one of {list(spec.choices)} — pick one")
    if spec.lo is not None and value < spec.lo or spec.hi is not None and value > spec.hi:
        problems.append(f"{path}: {value} is outside [{spec.lo}, {spec.hi}] — use a value in that range")
    if spec.type in ("list", "labels") and spec.item and isinstance(value, list):
        for i, item in enumerate(value):
            check(item, spec.item, f"{path}[{i}]", problems, required)
    elif spec.type == "metrics" and spec.item:
        for name, item in value.items():
            check({} if item is None else item, spec.item, f"{path}.{name}", problems, required)
    elif spec.type == "map":
        check_keys(value, spec.keys, path, problems, required)


def check_keys(data: dict, keys: dict[str, F], prefix: str, problems: list[str], required: bool = True,
               extra: tuple = ()) -> None:
    """Unknown keys (with the closest valid name), missing required keys, then each value."""
    where = f"{prefix}." if prefix else ""
    for key, value in data.items():
        if key in extra:
            continue
        if key not in keys:
            close = difflib.get_close_matches(str(key), [*keys, *extra], n=1, cutoff=0.6)
            fix = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join([*keys, *extra])}"
            problems.append(f"{where}{key}: is not a key — {fix}")
            continue
        check(value, keys[key], f"{where}{key}", problems, required)
    if required:
        for key, spec in keys.items():
            if spec.required and key not in data:
                problems.append(f"{where}{key}: missing — add it ({spec.doc})")


def metric_names(metrics: Any) -> list[str]:
    if isinstance(metrics, dict):
        return [str(k) for k in metrics]
    return [str(m) for m in metrics] if isinstance(metrics, list) else []


def check_eval_links(cfg: dict, prefix: str, problems: list[str]) -> None:
    """Cross-key rules of an eval config: the primary metric and every gate name one of `metrics`."""
    names = metric_names(cfg.get("metrics"))
    if "metrics" in cfg and not names:
        problems.append(f"{prefix}metrics: is empty — list at least the primary metric")
    primary = cfg.get("primary_metric")
    if isinstance(primary, str) and names and primary not in names:
        problems.append(f"{prefix}primary_metric: {primary!r} is not in metrics {names} — add it or pick one")
    for i, gate in enumerate(cfg.get("gates") or []):
        metric = gate.get("metric") if isinstance(gate, dict) else None
        if isinstance(metric, str) and metric != FORGETTING_GATE and names and metric not in names:
            problems.append(f"{prefix}gates[{i}].metric: {metric!r} is not in metrics {names} — add it there")


def validate(kind: str, data: Any, profile: str | None = None) -> list[str]:
    """Problems of an already parsed config (without the file name). For eval, `profile` is applied too."""
    if kind not in SCHEMAS:
        return [f"kind: {kind!r} is not one of {list(KINDS)}"]
    if not isinstance(data, dict):
        return [f"top level: {type(data).__name__} — expected a mapping of keys (key: value lines)"]
    problems: list[str] = []
    if kind != "eval":
        check_keys(data, SCHEMAS[kind], "", problems)
        return problems
    base = {k: v for k, v in data.items() if k not in PROFILES}
    check_keys(data, EVAL_KEYS, "", problems, extra=PROFILES)
    check_eval_links(base, "", problems)
    for name in PROFILES:
        section = data.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            problems.append(f"{name}: {section!r} is not a mapping — indent its keys under `{name}:`")
            continue
        check_keys(section, EVAL_KEYS, name, problems, required=False)
        merged = {**base, **section}
        for key, spec in EVAL_KEYS.items():
            if spec.required and key not in merged:
                problems.append(f"{name}: {key}: missing at the top level and in `{name}:` — add it")
        check_eval_links(merged, f"{name}: ", problems)
    if profile is not None and profile not in PROFILES:
        problems.append(f"--profile {profile}: no such section — use one of {list(PROFILES)} or drop the flag")
    elif profile is not None and data.get(profile) is None:
        problems.append(f"--profile {profile}: no `{profile}:` section — add one or drop the flag")
    return problems


def apply_profile(data: dict, profile: str | None) -> dict:
    """The eval config that `--profile NAME` runs: the section's keys replace the top level's."""
    base = {k: v for k, v in data.items() if k not in PROFILES}
    return {**base, **(data.get(profile) or {})} if profile else base


def parse_outcome(row: dict, where: str) -> tuple[dict | None, list[str]]:
    """One A/B outcome row (CSV text or JSON values) -> typed values; extra columns are ignored."""
    missing = [c for c in OUTCOME_REQUIRED if c not in row]
    if missing:
        return None, [f"{where}: missing column(s) {missing} — need {', '.join(OUTCOME_REQUIRED)}"]
    problems: list[str] = []
    out: dict[str, Any] = {"variant": str(row["variant"]).strip().lower()}
    if out["variant"] not in VARIANTS:
        problems.append(f"{where}: variant={row['variant']!r} — must be control or treatment")
    for key in ("success", *OUTCOME_OPTIONAL):
        if key == "success" or row.get(key) not in (None, ""):
            text = str(row[key]).strip().lower()
            if text in TRUE | FALSE:
                out[key] = text in TRUE
            else:
                problems.append(f"{where}: {key}={row[key]!r} — use 0/1 or true/false")
    for key in ("latency_ms", "cost"):
        try:
            out[key] = float(row[key])
        except (TypeError, ValueError, OverflowError):
            problems.append(f"{where}: {key}={row[key]!r} is not a number")
            continue
        if not math.isfinite(out[key]) or out[key] < 0:
            problems.append(f"{where}: {key}={row[key]!r} must be a finite number >= 0")
    return (None if problems else out), problems


MAX_CONFIG_BYTES = 8 << 20  # a config over 8 MB is not a config (the generated ones are ~5 KB)
MAX_OUTCOMES_BYTES = 2 << 30  # an outcomes log is read whole: past 2 GB, aggregate it first


def shown(path: Any) -> str:
    """A file name as one printable line (scripts/inputs.py has the same; this file imports no other script)."""
    text = str(path)
    try:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        pass
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def read_text(path: Path, limit: int) -> tuple[str | None, list[str]]:
    """The UTF-8 text of a regular file of at most `limit` bytes, or why not. A FIFO or a device is refused
    before it is opened (reading one would wait for a writer, or never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None, ["is a dangling symlink" if os.path.islink(path) else "not found — check the path"]
    except (OSError, ValueError) as exc:
        return None, [f"cannot be opened ({getattr(exc, 'strerror', None) or exc}) — check the path"]
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO or device"
        return None, [f"is {kind}, not a file — name the file"]
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        return None, [f"cannot read it ({exc.strerror or exc}) — check its permissions"]
    if len(data) > limit:
        return None, [f"is over {limit >> 20} MB — is it the right file?"]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        guess = " (Latin-1 or Windows-1252?)" if data[exc.start] >= 0x80 else ""
        return None, [f"cannot read it: not UTF-8 at byte {exc.start}{guess} — the file must be UTF-8 text"]


def read_outcomes(path: Path) -> tuple[list[dict], list[str]]:
    """Rows of a CSV (with header) or JSONL outcomes file, or the reason it cannot be read."""
    text, problems = read_text(path, MAX_OUTCOMES_BYTES)
    if text is None:
        return [], problems
    if path.suffix != ".jsonl":
        try:
            return list(csv.DictReader(text.splitlines())), []
        except csv.Error as exc:
            return [], [f"not valid CSV ({exc}) — a header line, then one request per line"]
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                return [], [f"line {n}: not JSON ({exc.msg}) — one object per line"]
            except RecursionError:
                return [], [f"line {n}: JSON nested too deeply — one flat object per line"]
            except ValueError as exc:  # an integer of thousands of digits
                return [], [f"line {n}: not usable JSON ({' '.join(str(exc).split())[:120]}) — one object per line"]
            if not isinstance(row, dict):
                return [], [f"line {n}: a JSON {type(row).__name__}, not an object"]
            rows.append(row)
    return rows, []


def read_yaml(path: Path) -> tuple[Any, list[str]]:
    import yaml

    text, problems = read_text(path, MAX_CONFIG_BYTES)
    if text is None:
        if problems[0].startswith("not found"):
            return None, ["not found — check the path (ftplan scaffold writes it)"]
        return None, problems
    try:
        return yaml.safe_load(text) or {}, []
    except yaml.YAMLError as exc:
        return None, [f"not valid YAML ({' '.join(str(exc).split())})"]
    except RecursionError:
        return None, ["not valid YAML (nested too deeply) — a config is a few levels of key: value lines"]


def validate_file(kind: str, path: str | Path, profile: str | None = None) -> list[str]:
    """Every problem of one file, each `file: key: what — fix`; [] when it is valid."""
    path = Path(path)
    if kind == "ab_outcomes":
        rows, problems = read_outcomes(path)
        for n, row in enumerate(rows, 1):
            problems += parse_outcome(row, f"row {n}")[1]
    else:
        data, problems = read_yaml(path)
        problems = problems or validate(kind, data, profile)
    return [f"{shown(path)}: {p}" for p in problems]


def _cli() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        print(f"usage: python scripts/schemas.py {{{','.join(KINDS)}}} FILE", file=sys.stderr)
        return 2
    found = validate_file(sys.argv[1], sys.argv[2])
    print("\n".join(found) or f"{sys.argv[2]}: OK")
    return 1 if found else 0


if __name__ == "__main__":
    from common import run

    run(_cli)
