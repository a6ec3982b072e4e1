"""Convert this repo's chat data to a hosted provider's tuning JSONL and check it against its published rules.

Hosted tuning bills every training token, and a provider rejects a bad file only after the upload. This
script finds the problems first, names their lines, and says what the job will cost.

    python scripts/prepare_hosted.py --provider vertex data/train.jsonl -o hosted/vertex/train.jsonl
    python scripts/prepare_hosted.py --provider openai data/train.jsonl -o hosted/openai/train.jsonl \
        --report hosted/openai/train_report.json
    python scripts/prepare_hosted.py --provider openai data/validation.jsonl -o hosted/openai/validation.jsonl

Input: one example per line, `{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`
or `{"prompt": str | [messages], "completion": str | [messages]}` (see data/FORMAT.md).
Output: one line per input line, in the provider's format. Nothing is written when there is an error.
Exit codes: 0 ok (warnings allowed), 1 errors in the data or the config, 2 usage error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

# --- Published limits (each with its source and the date it was read) -------------------------------------
VERTEX_DATA_FORMAT_URL = (
    "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare"
)
VERTEX_LIMITS_URL = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning"
VERTEX_LIMITS_CHECKED = "2026-11-25"
# "Maximum input and output training tokens: 131,072" (Gemini 2.5 Pro/Flash/Flash-Lite), VERTEX_LIMITS_URL.
VERTEX_MAX_TOKENS_PER_EXAMPLE = 131_072
# "Maximum validation dataset size: 5000 examples", VERTEX_LIMITS_URL.
VERTEX_MAX_VALIDATION_EXAMPLES = 5_000
# "Maximum training dataset size: 1M text-only examples", VERTEX_LIMITS_URL.
VERTEX_MAX_TRAINING_EXAMPLES = 1_000_000
# "Maximum training dataset file size: 1GB for JSONL", VERTEX_LIMITS_URL.
VERTEX_MAX_FILE_BYTES = 1_000_000_000
# "For best results, we recommend that you start with 100 examples", VERTEX_DATA_FORMAT_URL (advice only).
VERTEX_RECOMMENDED_MIN_EXAMPLES = 100

OPENAI_GUIDE_URL = "https://platform.openai.com/docs/guides/fine-tuning"
OPENAI_LIMITS_CHECKED = "2026-11-25"
# "To fine-tune a model, you are required to provide at least 10 examples", OPENAI_GUIDE_URL.
OPENAI_MIN_TRAINING_EXAMPLES = 10
# "Training example context length: 65,536" for gpt-4o (2024-08-06) and gpt-4o-mini (2024-07-18): Azure
# OpenAI fine-tuning models table (github.com/MicrosoftDocs/azure-ai-docs, includes/fine-tune-models.md),
# and the figure community.openai.com quotes from OpenAI's guide for gpt-4o-mini (read 2026-11-25). Others:
# set max_tokens_per_example in configs/hosted.yaml.
OPENAI_MAX_TOKENS_PER_EXAMPLE = {"gpt-4o-2024-08-06": 65_536, "gpt-4o-mini-2024-07-18": 65_536}
OPENAI_FALLBACK_MAX_TOKENS = 65_536  # the only figure verified for any model (above); used with a warning
# "Individual files can be up to 512 MB" (Files API; openai-python 3.57 `files.create` docstring).
OPENAI_MAX_FILE_BYTES = 512 * 1024 * 1024
# A token is about 4 characters of English (OpenAI Help Center, "What are tokens and how to count them?").
CHARS_PER_TOKEN = 4
# tiktoken chat overhead, OpenAI Cookbook "How to count tokens with tiktoken" (num_tokens_from_messages):
# 3 tokens per message and 3 to prime the reply.
TIKTOKEN_TOKENS_PER_MESSAGE = 3
TIKTOKEN_REPLY_PRIMING = 3
TIKTOKEN_DEFAULT_ENCODING = "o200k_base"  # gpt-4o and gpt-4.1 families (tiktoken's model table)

# "Adapter size: Supported values are 1, 2, 4, 8, and 16" (Gemini 2.5 Flash / Flash-Lite), VERTEX_LIMITS_URL.
VERTEX_ADAPTER_SIZES = (1, 2, 4, 8, 16)

# OpenAI: "suffix: A string of up to 64 characters" (openai-python 3.57 `fine_tuning.jobs.create` docstring).
MAX_SUFFIX_CHARS = 64

PROVIDERS = ("vertex", "openai")
REPO_ROLES = ("system", "user", "assistant")
MAX_PRINTED_FINDINGS = 50  # the terminal shows this many; --report has them all

# Every key configs/hosted.yaml may hold (None: a value, checked in load_config; a dict: a section).
CONFIG_KEYS: dict[str, Any] = dict.fromkeys(
    ("provider", "model", "epochs", "learning_rate_multiplier", "adapter_size", "training_usd_per_1m_tokens",
     "price_source", "max_tokens_per_example", "model_retirement", "suffix", "output_dir"))
CONFIG_KEYS |= {"tuning_window": dict.fromkeys(("closes", "notice", "source")),
                "data": dict.fromkeys(("train", "validation")), "vertex": dict.fromkeys(("gcs_uri_prefix",))}
REQUIRED_KEYS = ("provider", "model", "epochs", "training_usd_per_1m_tokens", "data", "output_dir")


class ConfigError(Exception):
    """A wrong configs/hosted.yaml: each message is `field: problem — fix`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Finding:
    file: str
    line: int | None
    severity: str  # "error" | "warning"
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Prepared:
    """The converted lines plus everything the report needs; `lines` is empty when there are errors."""

    lines: list[str]
    findings: list[Finding]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def report(self) -> dict[str, Any]:
        return {"findings": [f.as_dict() for f in self.findings], "stats": self.stats}


# --- config ------------------------------------------------------------------------------------------------
def _check_keys(data: dict[str, Any], schema: dict[str, Any], prefix: str, problems: list[str]) -> None:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" — did you mean '{prefix}{close[0]}'?" if close else " — remove it"
            problems.append(f"{path}: unknown key{hint}")
        elif isinstance(schema[key], dict):
            if value is not None and not isinstance(value, dict):
                problems.append(f"{path}: expected a mapping of {sorted(schema[key])}")
            elif isinstance(value, dict):
                _check_keys(value, schema[key], f"{path}.", problems)


def _as_date(value: Any, path: str, problems: list[str]) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{path}: '{value}' is not a date — write it as YYYY-MM-DD")
        return None


def load_config(path: Path) -> dict[str, Any]:
    """Read configs/hosted.yaml and report every problem at once (unknown keys, types, dates)."""
    import yaml

    if not path.is_file():
        fix = "render it with `ftplan scaffold` or copy configs/hosted.example.yaml and edit it"
        raise ConfigError([f"{path}: not found — {fix}"])
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({exc})"]) from None
    if not isinstance(cfg, dict):
        raise ConfigError([f"{path}: expected a mapping of keys {sorted(CONFIG_KEYS)}"])
    problems: list[str] = []
    _check_keys(cfg, CONFIG_KEYS, "", problems)
    for key in REQUIRED_KEYS:
        if cfg.get(key) in (None, ""):
            problems.append(f"{key}: missing — set it in {path}")
    if cfg.get("provider") not in (None, *PROVIDERS):
        problems.append(f"provider: '{cfg['provider']}' is not one of {list(PROVIDERS)}")
    epochs = cfg.get("epochs")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
        problems.append(f"epochs: '{epochs}' must be a whole number >= 1")
    for key in ("training_usd_per_1m_tokens", "learning_rate_multiplier"):
        value = cfg.get(key)
        if value is not None and (
            not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0
        ):
            problems.append(f"{key}: '{value}' must be a number >= 0")
    limit = cfg.get("max_tokens_per_example")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        problems.append(f"max_tokens_per_example: '{limit}' must be a whole number >= 1, or null")
    if cfg.get("adapter_size") not in (None, *VERTEX_ADAPTER_SIZES):
        sizes = list(VERTEX_ADAPTER_SIZES)
        problems.append(f"adapter_size: '{cfg['adapter_size']}' must be one of {sizes} or null")
    if len(str(cfg.get("suffix") or "")) > MAX_SUFFIX_CHARS:
        problems.append(f"suffix: longer than {MAX_SUFFIX_CHARS} characters — shorten it")
    data: dict[str, Any] = cfg["data"] if isinstance(cfg.get("data"), dict) else {}
    if cfg.get("data") is not None and not data.get("train"):
        problems.append("data.train: missing — the path of the training JSONL, e.g. data/train.jsonl")
    window: dict[str, Any] = cfg["tuning_window"] if isinstance(cfg.get("tuning_window"), dict) else {}
    cfg["tuning_window"] = {key: _as_date(window.get(key), f"tuning_window.{key}", problems)
                            for key in ("closes", "notice")} | {"source": window.get("source")}
    cfg["model_retirement"] = _as_date(cfg.get("model_retirement"), "model_retirement", problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def check_provider(cfg: dict[str, Any], provider: str, config_path: Path) -> None:
    if cfg["provider"] != provider:
        want = cfg["provider"]
        fix = f"pass --provider {want} or edit provider in {config_path}"
        raise ConfigError(
            [f"provider: {config_path} is for '{want}' but --provider {provider} was given — {fix}"]
        )


# --- tokens ------------------------------------------------------------------------------------------------
class TokenCounter:
    """tiktoken for OpenAI when it is importable (and not refused), else characters / 4."""

    def __init__(self, provider: str, model: str, approx: bool) -> None:
        self.encoding = None
        self.method = f"approx: characters/{CHARS_PER_TOKEN}"
        if provider != "openai" or approx:
            return
        try:
            import tiktoken
        except ImportError:
            return
        try:
            try:
                self.encoding = tiktoken.encoding_for_model(model)
            except KeyError:  # a model tiktoken does not know: the encoding of the current families
                self.encoding = tiktoken.get_encoding(TIKTOKEN_DEFAULT_ENCODING)
        except Exception as exc:  # tiktoken downloads its BPE file on first use; offline that fails
            self.method += f" (tiktoken could not load its encoding: {type(exc).__name__})"
            return
        self.method = f"tiktoken:{self.encoding.name}"

    def count(self, messages: list[dict[str, str]]) -> int:
        if self.encoding is None:
            chars = sum(len(m["content"]) for m in messages)
            return math.ceil(chars / CHARS_PER_TOKEN)
        total = TIKTOKEN_REPLY_PRIMING
        for m in messages:
            total += TIKTOKEN_TOKENS_PER_MESSAGE + len(self.encoding.encode(m["role"]))
            total += len(self.encoding.encode(m["content"]))
        return total


# --- conversion --------------------------------------------------------------------------------------------
def _as_messages(value: Any, default_role: str, name: str) -> tuple[list[Any] | None, str | None]:
    if isinstance(value, str):
        return [{"role": default_role, "content": value}], None
    if isinstance(value, list):
        return value, None
    return None, f"'{name}' must be a string or a list of messages"


def to_messages(record: Any) -> tuple[list[dict[str, str]] | None, list[tuple[str, str]]]:
    """The repo format (messages, or prompt/completion) as one message list; problems as (code, message)."""
    if not isinstance(record, dict):
        return None, [("not_object", "each line must be a JSON object")]
    if "messages" in record:
        messages = record["messages"]
        if not isinstance(messages, list) or not messages:
            return None, [("bad_messages", "'messages' must be a non-empty list of {role, content}")]
    elif "prompt" in record and "completion" in record:
        prompt, p_err = _as_messages(record["prompt"], "user", "prompt")
        completion, c_err = _as_messages(record["completion"], "assistant", "completion")
        if p_err or c_err:
            return None, [("bad_messages", e) for e in (p_err, c_err) if e]
        messages = [*prompt, *completion]  # type: ignore[misc]
    else:
        return None, [
            ("missing_messages", "no 'messages' and no 'prompt'/'completion' pair — see data/FORMAT.md")
        ]
    problems: list[tuple[str, str]] = []
    clean: list[dict[str, str]] = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            problems.append(("bad_messages", f"message {i} is not an object with 'role' and 'content'"))
            continue
        role, content = m.get("role"), m.get("content")
        if role not in REPO_ROLES:
            problems.append(("bad_role", f"message {i} has role {role!r}; use one of {list(REPO_ROLES)}"))
        if not isinstance(content, str):
            problems.append(("bad_content", f"message {i} ({role}): 'content' must be a string"))
        elif not content.strip():
            problems.append(("empty_content", f"message {i} ({role}) is empty — fill it or drop the turn"))
        clean.append({"role": str(role), "content": content if isinstance(content, str) else ""})
    return (None if problems else clean), problems


def order_problems(provider: str, messages: list[dict[str, str]]) -> list[tuple[str, str]]:
    """The provider's turn-order rules (Vertex: alternate user/model; OpenAI: a user turn, assistant last)."""
    problems: list[tuple[str, str]] = []
    roles = [m["role"] for m in messages]
    if roles[-1] != "assistant":
        why = f"the last message is '{roles[-1]}'; it must be the assistant's answer (the training target)"
        problems.append(("last_not_assistant", why))
    if provider == "openai":
        first_assistant = roles.index("assistant") if "assistant" in roles else len(roles)
        if "user" not in roles[:first_assistant]:
            problems.append(("order", "no user message before the first assistant message"))
        return problems
    for i, role in enumerate(roles[1:], start=2):
        if role == "system":
            why = (
                f"system message at position {i}: Vertex takes one system instruction, before the first turn"
            )
            problems.append(("order", why))
    turns = [(i, r) for i, r in enumerate(roles, start=1) if r != "system"]
    if turns and turns[0][1] != "user":
        i, first = turns[0]
        why = f"the conversation starts with '{first}' (message {i}); Vertex needs a user turn first"
        problems.append(("order", why))
    for (i, a), (j, b) in pairwise(turns):
        if a == b:
            why = f"two '{a}' turns in a row (messages {i}, {j}); Vertex needs user and model to alternate"
            problems.append(("order", why))
    return problems


def to_provider(provider: str, messages: list[dict[str, str]]) -> dict[str, Any]:
    if provider == "openai":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
    out: dict[str, Any] = {}
    if messages[0]["role"] == "system":
        out["systemInstruction"] = {"role": "system", "parts": [{"text": messages[0]["content"]}]}
        messages = messages[1:]
    roles = {"user": "user", "assistant": "model"}
    out["contents"] = [{"role": roles[m["role"]], "parts": [{"text": m["content"]}]} for m in messages]
    return out


def parse_line(provider: str, raw: bytes) -> tuple[list[tuple[str, str]], list[dict[str, str]] | None]:
    """One input line: its problems as (code, message), and its messages when it has none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [("not_utf8", "not UTF-8 text — re-save the file as UTF-8")], None
    if not text.strip():
        return [("blank_line", "blank line — remove it (each line must be one example)")], None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return [("invalid_json", f"not valid JSON ({exc.msg} at column {exc.colno})")], None
    messages, problems = to_messages(record)
    if messages is not None:
        problems = order_problems(provider, messages)
    return problems, (messages if not problems else None)


def token_limit(provider: str, cfg: dict[str, Any]) -> tuple[int, str | None]:
    """The per-example limit, and a warning when it is not a published figure for this model."""
    if cfg.get("max_tokens_per_example"):
        return int(cfg["max_tokens_per_example"]), None
    if provider == "vertex":
        return VERTEX_MAX_TOKENS_PER_EXAMPLE, None
    model = str(cfg["model"])
    if model in OPENAI_MAX_TOKENS_PER_EXAMPLE:
        return OPENAI_MAX_TOKENS_PER_EXAMPLE[model], None
    why = f"no published per-example token limit is recorded for '{model}'; checking against "
    return OPENAI_FALLBACK_MAX_TOKENS, why + f"{OPENAI_FALLBACK_MAX_TOKENS:,} — set max_tokens_per_example"


def prepare(
    provider: str, input_path: Path, cfg: dict[str, Any], split: str = "train", approx_tokens: bool = False
) -> Prepared:
    """Convert and validate in memory; the caller decides whether to write."""
    name = str(input_path)
    findings: list[Finding] = []
    lines: list[str] = []
    counter = TokenCounter(provider, str(cfg["model"]), approx_tokens)
    limit, limit_warning = token_limit(provider, cfg)
    if limit_warning:
        findings.append(Finding(name, None, "warning", "unverified_limit", limit_warning))
    if not input_path.is_file():
        findings.append(Finding(name, None, "error", "missing_file", "file not found — check the path"))
        return Prepared([], findings, {"provider": provider, "examples": 0})
    token_counts: list[int] = []
    records = 0
    with input_path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            records += 1
            problems, messages = parse_line(provider, raw)
            if messages is not None:
                tokens = counter.count(messages)
                token_counts.append(tokens)
                if tokens > limit:
                    why = f"about {tokens:,} tokens ({counter.method}); the limit per example is {limit:,}"
                    problems = [("too_many_tokens", why + " — shorten or split it")]
            findings.extend(Finding(name, lineno, "error", code, msg) for code, msg in problems)
            if messages is not None and not problems:
                lines.append(json.dumps(to_provider(provider, messages), ensure_ascii=False))
    findings.extend(count_findings(provider, name, split, records))
    size = input_path.stat().st_size
    max_bytes = VERTEX_MAX_FILE_BYTES if provider == "vertex" else OPENAI_MAX_FILE_BYTES
    if size > max_bytes:
        why = f"{size:,} bytes; {provider} accepts at most {max_bytes:,} per file — split the data"
        findings.append(Finding(name, None, "error", "file_too_large", why))
    epochs = int(cfg["epochs"])
    dataset_tokens = sum(token_counts)
    billed = dataset_tokens * epochs if split == "train" else 0
    price = float(cfg["training_usd_per_1m_tokens"])
    errors = [f for f in findings if f.severity == "error"]
    train = split == "train"
    source = (f"{VERTEX_LIMITS_URL} (read {VERTEX_LIMITS_CHECKED})" if provider == "vertex"
              else f"{OPENAI_GUIDE_URL} (read {OPENAI_LIMITS_CHECKED})")
    stats = {
        "provider": provider, "model": cfg["model"], "split": split, "lines": records,
        "examples": len(token_counts), "token_counting": counter.method, "dataset_tokens": dataset_tokens,
        "max_tokens_in_example": max(token_counts, default=0),
        "mean_tokens_per_example": round(dataset_tokens / len(token_counts), 1) if token_counts else 0.0,
        "max_tokens_per_example": limit, "epochs": epochs, "billed_tokens": billed,
        "billed_tokens_note": "dataset tokens x epochs" if train else "validation data is not billed",
        "training_usd_per_1m_tokens": price, "training_usd": round(billed * price / 1_000_000, 4),
        "price_source": cfg.get("price_source"), "errors": len(errors),
        "warnings": len(findings) - len(errors), "limits_source": source,
    }
    return Prepared([] if errors else lines, findings, stats)


def count_findings(provider: str, name: str, split: str, examples: int) -> list[Finding]:
    """Example-count rules: OpenAI's minimum, Vertex's maxima and its recommended starting size."""
    if examples == 0:
        return [Finding(name, None, "error", "no_examples", "the file has no examples")]
    out: list[tuple[str, str, str]] = []
    if provider == "openai" and split == "train" and examples < OPENAI_MIN_TRAINING_EXAMPLES:
        why = f"{examples} examples; OpenAI needs {OPENAI_MIN_TRAINING_EXAMPLES} or more ({OPENAI_GUIDE_URL})"
        out.append(("error", "too_few_examples", why + " — add examples"))
    most = VERTEX_MAX_TRAINING_EXAMPLES if split == "train" else VERTEX_MAX_VALIDATION_EXAMPLES
    if provider == "vertex" and examples > most:
        why = f"{examples:,} {split} examples; Vertex accepts at most {most:,} ({VERTEX_LIMITS_URL})"
        out.append(("error", "too_many_examples", why + " — sample them down"))
    if provider == "vertex" and split == "train" and examples < VERTEX_RECOMMENDED_MIN_EXAMPLES:
        why = f"{examples} examples; Google recommends starting with {VERTEX_RECOMMENDED_MIN_EXAMPLES}"
        out.append(("warning", "few_examples", f"{why} ({VERTEX_DATA_FORMAT_URL})"))
    return [Finding(name, None, severity, code, msg) for severity, code, msg in out]


# --- output ------------------------------------------------------------------------------------------------
def write_atomic(path: Path, lines: Iterable[str]) -> None:
    """Write beside the target and rename, so a crash never leaves half a file that looks valid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def usd(amount: float) -> str:
    """Dollars with cents, or with four decimals when a small test set would otherwise show $0.00."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def summarize(result: Prepared) -> str:
    out = []
    for f in result.findings[:MAX_PRINTED_FINDINGS]:
        where = f"{f.file}:{f.line}" if f.line is not None else f.file
        out.append(f"{where}: {f.severity} [{f.code}] {f.message}")
    if len(result.findings) > MAX_PRINTED_FINDINGS:
        out.append(f"... and {len(result.findings) - MAX_PRINTED_FINDINGS} more (see them all with --report)")
    s = result.stats
    head = f"{s.get('examples', 0)} valid examples of {s.get('lines', 0)} lines"
    out.append(f"{head} for {s['provider']} ({s.get('split', 'train')}): {len(result.errors)} errors, "
               f"{len(result.findings) - len(result.errors)} warnings")
    if "billed_tokens" in s:
        cost = f"training cost ~ {usd(s['training_usd'])} at ${s['training_usd_per_1m_tokens']}/1M tokens"
        out.append(f"tokens: {s['dataset_tokens']:,} ({s['token_counting']}); billed: {s['billed_tokens']:,} "
                   f"= {s['billed_tokens_note']}; {cost}")
    return "\n".join(out)


def _default_split(input_path: Path, cfg: dict[str, Any]) -> str:
    validation = (cfg.get("data") or {}).get("validation")
    if validation and Path(validation).resolve() == input_path.resolve():
        return "validation"
    return "train"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", required=True, choices=PROVIDERS)
    parser.add_argument("input", type=Path, help="the repo's chat JSONL, e.g. data/train.jsonl")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the provider's JSONL to write")
    parser.add_argument("--config", type=Path, default=Path("configs/hosted.yaml"))
    parser.add_argument("--report", type=Path, help="write the findings and stats as JSON here")
    split_help = "default: validation when INPUT is the config's data.validation, else train"
    parser.add_argument("--split", choices=("train", "validation"), help=split_help)
    approx_help = f"count tokens as characters/{CHARS_PER_TOKEN} even when tiktoken is installed"
    parser.add_argument("--tokenizer-approx", action="store_true", help=approx_help)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        check_provider(cfg, args.provider, args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    split = args.split or _default_split(args.input, cfg)
    result = prepare(args.provider, args.input, cfg, split=split, approx_tokens=args.tokenizer_approx)
    result.stats["output"] = None if result.errors else str(args.output)
    if not result.errors:
        write_atomic(args.output, result.lines)
    if args.report:
        write_atomic(args.report, [json.dumps(result.report(), indent=2, default=str)])
    print(summarize(result))
    if result.errors:
        print(f"nothing written to {args.output}: fix the errors above and rerun", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
