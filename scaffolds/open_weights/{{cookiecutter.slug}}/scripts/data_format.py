"""Reading and checking training data rows: JSONL lines, chat/prompt-completion shapes, the chat template, tokens.

Used by scripts/validate_data.py; every check appends (line, severity, code, message) findings, the codes
data/FORMAT.md lists.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
from dedup import MIX, NUM_PERM, ROW_CHUNK

try:  # orjson parses bytes several times faster than json; optional
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

KNOWN_ROLES = ("system", "user", "assistant", "tool")
EXTRA_KEYS = ("label", "slice", "metadata")  # data/FORMAT.md: optional keys every script ignores or reads
BATCH_SIZE = (
    1000  # examples per tokenizer/template call: amortizes Python overhead (HF "fast tokenizers" docs)
)
MAX_FINDINGS_PER_CODE = 1000  # the report keeps the first 1000 of each code; stats.finding_counts has all
MAX_LABELS = 200  # more distinct "labels" than this is free text, not classification
BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 16 << 20  # one example longer than 16 MB is an error; the validator never holds more of a line
SKIP_BYTES = 1 << 20  # the rest of an over-long line is read and dropped in pieces of this size
HUB_TIMEOUT_S = 3.0  # seconds to wait for the Hugging Face Hub before falling back to whitespace counts


def finding(file: str, line: int, severity: str, code: str, message: str) -> dict[str, Any]:
    return {"file": file, "line": line, "severity": severity, "code": code, "message": message}


def load_tokenizer(source: str | None) -> tuple[Any, str | None]:
    """Load a fast tokenizer without importing torch; on failure say why and how to fix it."""
    hint = "token counts fall back to whitespace words; pass --tokenizer PATH (a local tokenizer folder)"
    if not source:
        return None, f"no tokenizer configured: {hint}"
    looks_local = source.startswith((".", "/", "~")) or source.count("/") != 1
    if looks_local and not Path(source).expanduser().exists():
        return None, f"tokenizer {source!r} not found: {hint}"
    from transformers import PreTrainedTokenizerFast  # AutoTokenizer would import torch (~200 MB)

    name = str(Path(source).expanduser()) if looks_local else source
    try:  # the local folder or the Hugging Face cache first: no network round trips
        return PreTrainedTokenizerFast.from_pretrained(name, local_files_only=True), None
    except Exception as exc:  # noqa: BLE001 - any loader failure degrades to whitespace counting
        error = exc
    if not looks_local and not os.environ.get("HF_HUB_OFFLINE"):
        if not hub_reachable():
            return None, f"tokenizer {source!r} is not in the local cache and the Hub is unreachable: {hint}"
        try:
            return PreTrainedTokenizerFast.from_pretrained(name), None
        except Exception as exc:  # noqa: BLE001
            error = exc
    reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
    return None, f"could not load tokenizer {source!r} ({reason}): {hint}"


def hub_reachable() -> bool:
    """One quick connection instead of the hub client's minutes of retries when offline."""
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=HUB_TIMEOUT_S).close()
        return True
    except OSError:
        return False


def parse_line(raw: bytes, line: int, out: list) -> Any:
    """Decode one line as UTF-8 JSON; `out` collects (line, severity, code, message)."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.append(
            (line, "error", "invalid_utf8", f"not UTF-8 at byte {exc.start}: re-encode the file as UTF-8")
        )
        return None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        out.append((line, "error", "invalid_json", f"not valid JSON ({exc}): one JSON object per line"))
        return None
    if "\\ud" in text.lower() and _has_lone_surrogate(obj):  # only a \uD800-\uDFFF escape can make one
        out.append((line, "error", "invalid_unicode",
                    "a \\uD800-\\uDFFF escape without its pair is not a character: fix or drop the text"))
        return None
    return obj


def _has_lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def check_messages(msgs: Any, line: int, out: list, field: str) -> bool:
    """Roles, system placement and content of one message list; True when it can be rendered."""
    if not isinstance(msgs, list) or not msgs:
        out.append((line, "error", "bad_messages", f"{field} must be a non-empty list of {{role, content}}"))
        return False
    ok = True
    for i, msg in enumerate(msgs):
        where = f"{field}[{i}]"
        if not isinstance(msg, dict) or "role" not in msg or "content" not in msg:
            out.append(
                (line, "error", "bad_messages", f"{where} must be an object with 'role' and 'content'")
            )
            ok = False
            continue
        role, content = msg["role"], msg["content"]
        if role not in KNOWN_ROLES:
            out.append((line, "error", "unknown_role", f"{where}.role is {role!r}: use one of {KNOWN_ROLES}"))
            ok = False
        if role == "system" and (i > 0 or field != "messages" and field != "prompt"):
            out.append((line, "error", "system_not_first", f"{where}: a system message may only come first"))
        if not isinstance(content, str):
            if not (role == "assistant" and content is None and msg.get("tool_calls")):
                out.append(
                    (
                        line,
                        "error",
                        "non_string_content",
                        f"{where}.content is {type(content).__name__}: it must be a string",
                    )
                )
                ok = False
        elif not content.strip() and not msg.get("tool_calls"):
            out.append((line, "error", "empty_content", f"{where}.content is empty or whitespace only"))
    return ok


def check_schema(obj: Any, line: int, out: list) -> tuple[str, list, list, Any] | None:
    """Return (kind, prompt messages or text, completion messages or text, label) of a valid example."""
    if not isinstance(obj, dict):
        out.append((line, "error", "not_object", f"line is a JSON {type(obj).__name__}, not an object"))
        return None
    if "messages" in obj:
        allowed, kind = ("messages",), "chat"
        if "prompt" in obj or "completion" in obj:
            out.append((line, "error", "ambiguous_format", "has both 'messages' and 'prompt'/'completion'"))
            return None
    elif "prompt" in obj and "completion" in obj:
        allowed, kind = ("prompt", "completion"), "prompt_completion"
    else:
        out.append(
            (
                line,
                "error",
                "unknown_format",
                f"keys {sorted(obj)[:8]}: need 'messages' or both 'prompt' and 'completion'",
            )
        )
        return None
    for key in obj:
        if key not in allowed and key not in EXTRA_KEYS:
            out.append((line, "warning", "unknown_key", f"unknown key {key!r} is ignored by training"))
    label = obj.get("label")
    if kind == "chat":
        msgs = obj["messages"]
        if not check_messages(msgs, line, out, "messages"):
            return None
        if msgs[-1]["role"] != "assistant":
            out.append(
                (
                    line,
                    "error",
                    "no_final_assistant",
                    f"last message is {msgs[-1]['role']!r}: the example must end with the assistant's answer",
                )
            )
            return None
        return "chat", msgs[:-1], msgs[-1:], label
    prompt, completion = obj["prompt"], obj["completion"]
    if isinstance(prompt, str) and isinstance(completion, str):
        for name, text in (("prompt", prompt), ("completion", completion)):
            if not text.strip():
                out.append((line, "error", "empty_content", f"{name} is empty or whitespace only"))
        return (
            "text",
            [{"role": "user", "content": prompt}],
            [{"role": "assistant", "content": completion}],
            label,
        )
    if isinstance(prompt, list) and isinstance(completion, list):
        if not (
            check_messages(prompt, line, out, "prompt") & check_messages(completion, line, out, "completion")
        ):
            return None
        if completion[-1]["role"] != "assistant":
            out.append((line, "error", "no_final_assistant", "completion must end with an assistant message"))
            return None
        return "chat", prompt, completion, label
    out.append(
        (
            line,
            "error",
            "non_string_content",
            "prompt and completion must both be strings or both be message lists",
        )
    )
    return None


def render(examples: list[tuple], tok: Any, prompt_only: bool = False) -> tuple[list[str], list[str | None]]:
    """Text as training sees it: the chat template applied in batches (or a plain join), and template errors.

    With `prompt_only`, the messages before the answer plus the generation prompt: what must fit before
    a single answer token survives truncation.
    """
    texts: list[str] = [""] * len(examples)
    errors: list[str | None] = [None] * len(examples)
    chat_idx, convs = [], []
    for i, (kind, prompt, completion, _) in enumerate(examples):
        msgs = prompt if prompt_only else prompt + completion
        if kind == "text":
            texts[i] = prompt[0]["content"] + ("" if prompt_only else completion[0]["content"])
        elif tok is None or not getattr(tok, "chat_template", None):
            texts[i] = "\n".join(f"{m['role']}: {m['content']}" for m in msgs) + (
                "\nassistant: " * prompt_only
            )
        elif msgs:
            chat_idx.append(i)
            convs.append(msgs)
    if not chat_idx:
        return texts, errors
    try:
        rendered = tok.apply_chat_template(convs, tokenize=False, add_generation_prompt=prompt_only)
        for i, text in zip(chat_idx, rendered, strict=True):
            texts[i] = text
    except Exception:  # noqa: BLE001 - one bad conversation fails the batch: redo one by one to name it
        for i, conv in zip(chat_idx, convs, strict=True):
            try:
                texts[i] = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=prompt_only)
            except Exception as exc:  # noqa: BLE001 - template errors (e.g. role alternation) are findings
                errors[i] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return texts, errors


def count_tokens(texts: list[str], tok: Any) -> list[int]:
    """Token counts in one batched call to the Rust tokenizer (whitespace words without a tokenizer)."""
    if tok is None:
        return [len(t.split()) for t in texts]
    backend = tok.backend_tokenizer
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)  # _fast skips offsets
    return [len(e) for e in encode(texts, add_special_tokens=False)]


class FileScan:
    """What one file leaves behind: bounded per-example arrays, counters and capped findings."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[dict] = []
        self.counts: collections.Counter = collections.Counter()
        self.lines, self.hashes, self.lengths = [], [], []
        self.sig_blocks: list[np.ndarray] = []
        self.n = 0
        self.labels: collections.Counter = collections.Counter()
        self.labeled = 0
        self.roles: collections.Counter = collections.Counter()
        self.turns: collections.Counter = collections.Counter()
        self.physical_lines = self.blank_lines = 0

    def add(self, line: int, severity: str, code: str, message: str) -> None:
        self.counts[(severity, code)] += 1
        if self.counts[(severity, code)] <= MAX_FINDINGS_PER_CODE:
            self.findings.append(finding(self.path, line, severity, code, message))

    def merge(self, res: dict[str, Any]) -> None:
        for f in res["findings"]:
            self.add(*f)
        self.lines.append(res["lines"])
        self.hashes.append(res["hashes"])
        self.lengths.append(res["lengths"])
        sigs = res["sigs"]
        while len(sigs):
            offset = self.n % ROW_CHUNK
            if offset == 0:
                self.sig_blocks.append(np.empty((ROW_CHUNK, NUM_PERM), dtype=np.uint16))
            take = min(len(sigs), ROW_CHUNK - offset)
            self.sig_blocks[-1][offset : offset + take] = sigs[:take]
            self.n += take
            sigs = sigs[take:]
        for label in res["labels"]:
            if label is not None:
                self.labeled += 1
                if label in self.labels or len(self.labels) <= MAX_LABELS:
                    self.labels[label] += 1
        self.roles.update(res["roles"])
        self.turns.update(res["turns"])

    def finish(self) -> None:
        self.lines = np.concatenate(self.lines) if self.lines else np.zeros(0, np.uint32)
        self.hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        self.lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int32)

    def sig(self, rows: np.ndarray) -> np.ndarray:
        if not len(rows):
            return np.zeros((0, NUM_PERM), np.uint16)
        return np.stack([self.sig_blocks[r // ROW_CHUNK][r % ROW_CHUNK] for r in rows])

    def band_keys(self, band: int, rows_per_band: int) -> np.ndarray:
        cols = slice(band * rows_per_band, (band + 1) * rows_per_band)
        parts = [
            (b[:, cols].astype(np.uint64) * MIX[:rows_per_band]).sum(axis=1, dtype=np.uint64)
            for b in self.sig_blocks
        ]
        return np.concatenate(parts)[: self.n] if parts else np.zeros(0, np.uint64)


def read_chunks(path: Path, scan: FileScan, progress: Any):
    """Yield lists of (line, raw bytes) of non-blank lines; BOM and blank lines become findings here."""
    chunk: list[tuple[int, bytes]] = []
    with open(path, "rb") as fh:  # read-only, binary: CRLF, a BOM and invalid UTF-8 are ours to judge
        for line, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
            scan.physical_lines = line
            progress(len(raw))
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                size = len(raw)
                while (rest := fh.readline(SKIP_BYTES)) and not rest.endswith(b"\n"):
                    size += len(rest)
                    progress(len(rest))
                size += len(rest)
                progress(len(rest))
                scan.add(line, "error", "line_too_long",
                         f"line is over {MAX_LINE_BYTES >> 20} MB ({size} bytes): one example per line; "
                         "split or shorten it")
                continue
            if line == 1 and raw.startswith(BOM):
                scan.add(
                    1, "warning", "utf8_bom", "file starts with a UTF-8 BOM (tolerated); save without BOM"
                )
                raw = raw[len(BOM) :]
            raw = raw.rstrip(b"\n").rstrip(b"\r")
            if not raw.strip():
                scan.blank_lines += 1
                scan.add(line, "warning", "blank_line", "blank line skipped")
                continue
            chunk.append((line, raw))
            if len(chunk) >= BATCH_SIZE:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def make_progress(path: Path) -> tuple[Any, Any]:
    """Byte-based progress on a terminal: tqdm when installed, else a plain counter; silent otherwise."""
    if not sys.stderr.isatty():
        return (lambda n: None), (lambda: None)
    total = path.stat().st_size
    try:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=path.name, leave=False)
        return bar.update, bar.close
    except ImportError:
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if done[0] % (1 << 22) < n:
                print(f"\r{path.name}: {done[0] * 100 // max(total, 1)}%", end="", file=sys.stderr)

        return step, (lambda: print(file=sys.stderr))
