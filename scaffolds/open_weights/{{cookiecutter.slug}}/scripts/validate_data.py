"""Validate JSONL fine-tuning data before it costs GPU hours: format, template, lengths, duplicates, leakage.

    python scripts/validate_data.py data/train.jsonl --heldout data/heldout.jsonl --report report.json
    python scripts/validate_data.py smoke/data/train.jsonl --tokenizer smoke/model --max-seq-length 256
    python scripts/validate_data.py data/train.jsonl --workers 1 --near-dup-threshold 0.8

The tokenizer (`model_name_or_path`) and the length limit (`max_length`) default to configs/train.yaml.
Every finding names its file and 1-based line (line 0: the whole file); data/FORMAT.md lists the codes.
Exit status: 0 no errors (warnings allowed), 1 errors or unreadable input, 2 bad usage. Inputs are only read.
Memory stays flat as files grow: examples are checked in batches and only hashes and MinHash signatures
(16-bit, 64 per example) are kept.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing
import os
import socket
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

try:  # orjson parses bytes several times faster than json; optional
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

KNOWN_ROLES = ("system", "user", "assistant", "tool")
EXTRA_KEYS = ("label", "slice", "metadata")  # data/FORMAT.md: optional keys every script ignores or reads
BATCH_SIZE = (
    1000  # examples per tokenizer/template call: amortizes Python overhead (HF "fast tokenizers" docs)
)
NUM_PERM = 64  # MinHash permutations: std. error of the Jaccard estimate sqrt(J(1-J)/64) ~ 0.04 at J = 0.9
SIG_BITS = 16  # b-bit MinHash (Li & Koenig 2010): keep the low 16 bits, chance collisions 1/65536
SHINGLE_WORDS = 3  # word 3-grams, the usual shingle for near-duplicate text (Broder 1997)
LSH_RECALL = (
    0.95  # the banding is chosen so a pair exactly at the threshold is a candidate >= 95% of the time
)
MAX_BUCKET_REPS = 256  # a bucket compares each member with at most this many earlier examples: bounded time
MINHASH_BLOCK = 1 << 15  # shingles per vectorized MinHash block: 64 x 32k x 8 bytes = 16 MB at most
ROW_CHUNK = 1 << 16  # signature rows per preallocated block, so the store never copies itself to grow
MAX_FINDINGS_PER_CODE = 1000  # the report keeps the first 1000 of each code; stats.finding_counts has all
LABEL_MAX_WORDS = 3  # an assistant answer this short is read as a class label
MIN_LABELED_SHARE = 0.95  # label balance is reported when at least this share of examples has a label
MAX_LABELS = 200  # more distinct "labels" than this is free text, not classification
IMBALANCE_RATIO = 10.0  # warn at 10:1 majority:minority, inside Google ML Crash Course's "moderate" imbalance
SUMMARY_PER_CODE = 3  # findings printed per code on the terminal
PARALLEL_MIN_BYTES = 4 << 20  # below 4 MB, starting worker processes costs more than it saves
BOM = b"\xef\xbb\xbf"
HUB_TIMEOUT_S = 3.0  # seconds to wait for the Hugging Face Hub before falling back to whitespace counts
_rng = np.random.default_rng(20240521)  # fixed seed: the same data always gives the same signatures
PERM_A = _rng.integers(1, 1 << 63, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd: multiply-shift hashing
PERM_B = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)
MIX = _rng.integers(1, 1 << 63, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # shingle and band-key mixing
_CTX: dict[str, Any] = {}  # tokenizer and limits; set before worker processes fork, so they inherit it


class UsageError(Exception):
    """Bad input to the command itself (missing file, bad config): printed without a traceback."""


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
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        out.append((line, "error", "invalid_json", f"not valid JSON ({exc}): one JSON object per line"))
        return None


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


def normalize(examples: list[tuple]) -> list[str]:
    """Case- and whitespace-insensitive text of each example, the unit of duplicate detection."""
    return [
        "\x1e".join(
            f"{m['role']}\x1f{' '.join(str(m['content']).casefold().split())}" for m in prompt + completion
        )
        for _, prompt, completion, _ in examples
    ]


def minhash(texts: list[str]) -> np.ndarray:
    """b-bit MinHash signatures (n, NUM_PERM) over word 3-gram shingles, vectorized over the batch."""
    shingles, owner = [], []
    for i, text in enumerate(texts):
        words = np.fromiter(
            map(zlib.crc32, text.encode("utf-8").replace(b"\x1e", b" ").replace(b"\x1f", b" ").split()),
            dtype=np.uint64,
        )
        if len(words) >= SHINGLE_WORDS:
            sh = words[: len(words) - SHINGLE_WORDS + 1] * MIX[0]
            for k in range(1, SHINGLE_WORDS):
                sh = sh ^ (words[k : len(words) - SHINGLE_WORDS + 1 + k] * MIX[k])
        else:
            sh = np.array(
                [int(np.bitwise_xor.reduce(words * MIX[: len(words)])) if len(words) else 0], dtype=np.uint64
            )
        shingles.append(sh)
        owner.append(np.full(len(sh), i, dtype=np.int64))
    flat, ids = np.concatenate(shingles), np.concatenate(owner)
    sig = np.full((NUM_PERM, len(texts)), np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, len(flat), MINHASH_BLOCK):
        block, bids = flat[start : start + MINHASH_BLOCK], ids[start : start + MINHASH_BLOCK]
        hv = (PERM_A[:, None] * block[None, :] + PERM_B[:, None]) >> np.uint64(32)  # multiply-shift hash
        starts = np.flatnonzero(np.r_[True, bids[1:] != bids[:-1]])
        cols = bids[starts]
        sig[:, cols] = np.minimum(sig[:, cols], np.minimum.reduceat(hv, starts, axis=1))
    return (sig.T & np.uint64((1 << SIG_BITS) - 1)).astype(np.uint16)


def check_chunk(chunk: list[tuple[int, bytes]]) -> dict[str, Any]:
    """Everything per example for one batch of lines; runs in a worker process or in-process."""
    tok, max_len = _CTX.get("tokenizer"), _CTX.get("max_len")
    out: list = []
    examples, lines = [], []
    for line, raw in chunk:
        obj = parse_line(raw, line, out)
        ex = None if obj is None and out and out[-1][0] == line else check_schema(obj, line, out)
        if ex is not None:
            examples.append(ex)
            lines.append(line)
    result: dict[str, Any] = {
        "findings": out,
        "lines": np.array(lines, dtype=np.uint32),
        "labels": [],
        "roles": collections.Counter(),
        "turns": collections.Counter(),
    }
    if not examples:
        result.update(
            hashes=np.zeros(0, np.uint64),
            sigs=np.zeros((0, NUM_PERM), np.uint16),
            lengths=np.zeros(0, np.int32),
        )
        return result
    fulls, errors = render(examples, tok)
    full_len = count_tokens(fulls, tok)
    # the prompt's length matters only where the whole example is too long: render and count only those
    over = [i for i, n in enumerate(full_len) if max_len and n > max_len and not errors[i]]
    prompt_len = dict(
        zip(over, count_tokens(render([examples[i] for i in over], tok, True)[0], tok), strict=True)
    )
    eos = getattr(tok, "eos_token", None) if tok is not None and getattr(tok, "chat_template", None) else None
    for i, (kind, prompt, completion, label) in enumerate(examples):
        line = lines[i]
        answer = completion[-1]["content"] if isinstance(completion[-1]["content"], str) else ""
        if errors[i]:
            out.append(
                (line, "error", "template_error", f"the chat template rejects this example: {errors[i]}")
            )
        elif max_len and full_len[i] > max_len:
            if prompt_len[i] >= max_len:
                out.append(
                    (
                        line,
                        "error",
                        "prompt_too_long",
                        (
                            f"the prompt alone is {prompt_len[i]} tokens >= "
                            f"max_seq_length {max_len}: no answer token survives truncation; shorten it"
                        ),
                    )
                )
            else:
                out.append(
                    (
                        line,
                        "warning",
                        "completion_truncated",
                        (
                            f"{full_len[i]} tokens > max_seq_length "
                            f"{max_len}: only {max_len - prompt_len[i]} answer tokens survive"
                        ),
                    )
                )
        if eos and kind == "chat" and not errors[i] and answer.strip():
            pos = fulls[i].rfind(answer.strip())
            if pos >= 0 and eos not in fulls[i][pos + len(answer.strip()) :]:
                out.append(
                    (
                        line,
                        "warning",
                        "eos_missing",
                        (
                            f"the chat template does not put EOS {eos!r} after "
                            "the answer: the model may not learn to stop; fix the template or append it"
                        ),
                    )
                )
        if label is None and len(answer.split()) <= LABEL_MAX_WORDS and answer.strip():
            label = " ".join(answer.split())
        result["labels"].append(None if label is None else str(label))
        result["roles"].update(m["role"] for m in prompt + completion)
        result["turns"][len(prompt) + len(completion)] += 1
    norm = normalize(examples)
    result["hashes"] = np.array(
        [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in norm],
        dtype=np.uint64,
    )
    result["sigs"] = minhash(norm)
    result["lengths"] = np.array(full_len, dtype=np.int32)
    return result


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
        for line, raw in enumerate(fh, start=1):
            scan.physical_lines = line
            progress(len(raw))
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


def scan_file(path: Path, pool: Any, workers: int) -> FileScan:
    """Stream one file through check_chunk, with at most 2 batches per worker in flight."""
    scan = FileScan(str(path))
    step, close = make_progress(path)
    chunks = read_chunks(path, scan, step)
    if pool is None or path.stat().st_size < PARALLEL_MIN_BYTES:
        for chunk in chunks:
            scan.merge(check_chunk(chunk))
    else:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append(pool.apply_async(check_chunk, (chunk,)))
            if len(pending) >= 2 * workers:
                scan.merge(pending.popleft().get())
        while pending:
            scan.merge(pending.popleft().get())
    close()
    scan.finish()
    if scan.n == 0:
        scan.add(0, "error", "empty_file", "no examples in the file: add one JSON object per line")
    return scan


def rows_per_band(threshold: float) -> int:
    """Largest LSH band (fewest candidates) that still finds a pair at `threshold` with LSH_RECALL."""
    for r in (64, 32, 16, 8, 4, 2, 1):
        if 1 - (1 - threshold**r) ** (NUM_PERM // r) >= LSH_RECALL:
            return r
    return 1


def first_of_each_hash(scan: FileScan) -> tuple[np.ndarray, np.ndarray]:
    """Mark exact duplicates (normalized-text hash seen on an earlier line); return (is_dup, original row)."""
    order = np.argsort(scan.hashes, kind="stable")
    h = scan.hashes[order]
    new_group = np.r_[True, h[1:] != h[:-1]] if len(h) else np.zeros(0, bool)
    first = order[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    original = np.empty_like(order)
    original[order] = first
    return original != np.arange(len(order)), original


def near_pairs(a: FileScan, b: FileScan, threshold: float, skip_a: np.ndarray, skip_b: np.ndarray):
    """Yield (row in a, row in b, Jaccard estimate) for near duplicates; a is b means within one file."""
    r = rows_per_band(threshold)
    same = a is b
    flagged = skip_a.copy()
    for band in range(NUM_PERM // r):
        ka = a.band_keys(band, r)
        kb = ka if same else b.band_keys(band, r)
        keys = np.concatenate([ka, kb]) if not same else ka
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
        sizes = np.diff(bounds)
        for k in np.flatnonzero(sizes >= 2):  # only buckets holding two or more examples
            members = order[bounds[k] : bounds[k] + sizes[k]]
            if same:
                members = members[~flagged[members]]
                msigs = a.sig(members)
                reps: list[int] = []  # positions in `members` of examples kept as originals
                for j, m in enumerate(members):
                    if reps:
                        sims = (msigs[reps] == msigs[j]).mean(axis=1)
                        best = int(np.argmax(sims))
                        if sims[best] >= threshold:
                            flagged[m] = True
                            yield int(m), int(members[reps[best]]), float(sims[best])
                            continue
                    if len(reps) < MAX_BUCKET_REPS:
                        reps.append(j)
            else:
                in_a = members[members < len(ka)]
                in_a = in_a[~flagged[in_a]]
                in_b = members[members >= len(ka)] - len(ka)
                in_b = in_b[~skip_b[in_b]][:MAX_BUCKET_REPS]
                if not len(in_a) or not len(in_b):
                    continue
                sb = b.sig(in_b)
                for lo in range(0, len(in_a), MAX_BUCKET_REPS):  # blocks bound the (a, b, perm) array
                    part = in_a[lo : lo + MAX_BUCKET_REPS]
                    sims = (a.sig(part)[:, None, :] == sb[None, :, :]).mean(axis=2)
                    best = sims.argmax(axis=1)
                    for i in np.flatnonzero(sims[np.arange(len(part)), best] >= threshold):
                        flagged[part[i]] = True
                        yield int(part[i]), int(in_b[best[i]]), float(sims[i, best[i]])


def duplicate_findings(scan: FileScan, threshold: float) -> tuple[np.ndarray, int, int]:
    """Exact and near duplicates within one file, as warnings; returns the exact-duplicate mask and counts."""
    is_dup, original = first_of_each_hash(scan)
    for row in np.flatnonzero(is_dup):
        scan.add(
            int(scan.lines[row]),
            "warning",
            "exact_duplicate",
            f"same example as line {int(scan.lines[original[row]])}: remove one copy",
        )
    near = 0
    for row, other, sim in near_pairs(scan, scan, threshold, is_dup, is_dup):
        near += 1
        scan.add(
            int(scan.lines[row]),
            "warning",
            "near_duplicate",
            f"near duplicate of line {int(scan.lines[other])} (Jaccard ~{sim:.2f} >= {threshold})",
        )
    return is_dup, int(is_dup.sum()), near


def leakage_findings(
    train: FileScan, held: FileScan, threshold: float, held_dup: np.ndarray
) -> tuple[int, int]:
    """Train examples that also appear, exactly or nearly, in the frozen held-out set: errors."""
    order = np.argsort(held.hashes)
    pos = np.searchsorted(held.hashes[order], train.hashes)
    pos = np.minimum(pos, max(len(order) - 1, 0))
    exact = (held.hashes[order][pos] == train.hashes) if len(order) else np.zeros(len(train.hashes), bool)
    for row in np.flatnonzero(exact):
        train.add(
            int(train.lines[row]),
            "error",
            "leak_exact",
            f"identical to held-out {held.path} line "
            f"{int(held.lines[order[pos[row]]])}: remove it from training (the held-out set is frozen)",
        )
    near = 0
    for row, other, sim in near_pairs(train, held, threshold, exact, held_dup):
        near += 1
        train.add(
            int(train.lines[row]),
            "error",
            "leak_near",
            f"near duplicate of held-out {held.path} line "
            f"{int(held.lines[other])} (Jaccard ~{sim:.2f}): remove it from training",
        )
    return int(exact.sum()), near


def file_stats(scan: FileScan, exact: int, near: int) -> dict[str, Any]:
    lengths = scan.lengths
    pct = {f"p{q}": float(np.percentile(lengths, q)) for q in (50, 90, 99)} if len(lengths) else {}
    stats: dict[str, Any] = {
        "file": scan.path,
        "lines": scan.physical_lines,
        "blank_lines": scan.blank_lines,
        "examples": scan.n,
        "tokens": {
            **pct,
            "max": int(lengths.max()) if len(lengths) else 0,
            "mean": float(lengths.mean()) if len(lengths) else 0.0,
            "total": int(lengths.sum()),
        },
        "roles": dict(scan.roles),
        "turns": {str(k): v for k, v in sorted(scan.turns.items())},
        "exact_duplicates": exact,
        "near_duplicates": near,
        "labels": None,
    }
    if scan.n and scan.labeled >= MIN_LABELED_SHARE * scan.n and 2 <= len(scan.labels) <= MAX_LABELS:
        stats["labels"] = dict(scan.labels.most_common())
        (top, most), (low, least) = scan.labels.most_common()[0], scan.labels.most_common()[-1]
        if most >= IMBALANCE_RATIO * least:
            scan.add(
                0,
                "warning",
                "label_imbalance",
                f"{top!r} has {most} examples, {low!r} only {least} "
                f"(>= {IMBALANCE_RATIO:.0f}:1): collect more of the rare labels or reweight",
            )
    return stats


def print_summary(scans: list[FileScan], report: dict[str, Any]) -> None:
    for scan in scans:
        s = report["stats"]["files"][scan.path]
        tk = s["tokens"]
        print(
            f"{scan.path}: {s['examples']} examples, tokens p50 {tk.get('p50', 0):.0f} "
            f"p90 {tk.get('p90', 0):.0f} p99 {tk.get('p99', 0):.0f} max {tk['max']}"
        )
        for (severity, code), count in sorted(scan.counts.items()):
            print(f"  {severity:7} {code:22} {count}")
            for f in [f for f in scan.findings if f["code"] == code][:SUMMARY_PER_CODE]:
                print(f"      {f['file']}:{f['line']}: {f['message'][:160]}")
    st = report["stats"]
    print(
        f"{st['errors']} error(s), {st['warnings']} warning(s)" + (" - FAILED" if st["errors"] else " - OK")
    )


def main(
    train: str,
    heldout: str | None = None,
    report_path: str | None = None,
    tokenizer: str | None = None,
    max_seq_length: int | None = None,
    config: str | None = None,
    workers: int | None = None,
    near_dup_threshold: float = 0.9,
) -> int:
    """Validate `train` (and `heldout`); write the JSON report; return the exit status."""
    cfg: dict[str, Any] = {}
    cfg_path = Path(config or "configs/train.yaml")
    if cfg_path.is_file():
        import yaml

        cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    elif config:
        raise UsageError(f"--config {config}: file not found")
    for p in (train, heldout):
        if p is not None and not Path(p).is_file():
            raise UsageError(f"{p}: file not found")
    if report_path and not Path(report_path).resolve().parent.is_dir():
        raise UsageError(f"--report {report_path}: its folder does not exist; create it first")
    if report_path and any(p and Path(p).resolve() == Path(report_path).resolve() for p in (train, heldout)):
        raise UsageError(
            f"--report {report_path} is an input file: the validator never overwrites its inputs"
        )
    if max_seq_length is not None and max_seq_length < 1:
        raise UsageError("--max-seq-length must be a positive number of tokens")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if not 0.0 < near_dup_threshold <= 1.0:
        raise UsageError("--near-dup-threshold must be in (0, 1]")
    max_len = max_seq_length if max_seq_length is not None else cfg.get("max_length")
    tok, note = load_tokenizer(tokenizer or cfg.get("model_name_or_path"))
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    _CTX.update(tokenizer=tok, max_len=max_len)
    run_notes = []
    if note:
        run_notes.append(finding(train, 0, "warning", "tokenizer_unavailable", note))
    elif not getattr(tok, "chat_template", None):
        run_notes.append(
            finding(
                train,
                0,
                "warning",
                "no_chat_template",
                "tokenizer has no chat template: lengths use a plain 'role: content' join",
            )
        )
    if max_len is None:
        run_notes.append(
            finding(
                train,
                0,
                "warning",
                "no_max_length",
                "no max_length in the config: pass --max-seq-length N to check truncation",
            )
        )
    pool = None
    paths = [Path(train)] + ([Path(heldout)] if heldout else [])
    try:
        if (
            workers > 1
            and "fork" in multiprocessing.get_all_start_methods()  # not on Windows: one process there
            and any(p.stat().st_size >= PARALLEL_MIN_BYTES for p in paths)
        ):
            os.environ["TOKENIZERS_PARALLELISM"] = "false"  # parallel processes instead of Rust threads
            pool = multiprocessing.get_context("fork").Pool(workers)  # forked: inherits _CTX, no reload
        scans = [scan_file(p, pool, workers) for p in paths]
    except BaseException:  # Ctrl-C or a crash: stop the workers now instead of waiting for their queue
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    file_stats_all, dups = {}, []
    for scan in scans:
        is_dup, exact, near = duplicate_findings(scan, near_dup_threshold)
        dups.append(is_dup)
        file_stats_all[scan.path] = (scan, exact, near)
    leak = {"exact": 0, "near": 0}
    if len(scans) == 2:
        leak["exact"], leak["near"] = leakage_findings(scans[0], scans[1], near_dup_threshold, dups[1])
    stats: dict[str, Any] = {"files": {p: file_stats(*v) for p, v in file_stats_all.items()}, "leakage": leak}
    findings = run_notes + [f for scan in scans for f in scan.findings]
    counts: collections.Counter = collections.Counter({f["code"]: 0 for f in run_notes})
    for f in run_notes:
        counts[f["code"]] += 1
    for scan in scans:
        for (_, code), n in scan.counts.items():
            counts[code] += n
    n_err = sum(n for s in scans for (sev, _), n in s.counts.items() if sev == "error")
    stats.update(
        tokenizer=None if tok is None else (tokenizer or cfg.get("model_name_or_path")),
        token_counting="tokenizer" if tok is not None else "whitespace",
        max_seq_length=max_len,
        near_dup_threshold=near_dup_threshold,
        finding_counts=dict(counts),
        errors=n_err,
        warnings=sum(counts.values()) - n_err,
        findings_truncated=any(n > MAX_FINDINGS_PER_CODE for s in scans for n in s.counts.values()),
    )
    report = {"findings": findings, "stats": stats}
    for f in run_notes:
        print(f"{f['severity']}: {f['code']}: {f['message']}")
    print_summary(scans, report)
    if report_path:
        Path(report_path).write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"report: {report_path}")
    return 1 if n_err else 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", help="training JSONL file")
    parser.add_argument("--heldout", help="frozen held-out JSONL: checked too, and for leakage from train")
    parser.add_argument("--report", help="write the findings and stats as JSON here")
    parser.add_argument(
        "--tokenizer", help="tokenizer folder or hub id (default: model_name_or_path of --config)"
    )
    parser.add_argument("--max-seq-length", type=int, help="token limit (default: max_length of --config)")
    parser.add_argument("--config", help="TRL train YAML (default: configs/train.yaml when present)")
    parser.add_argument(
        "--workers", type=int, help="worker processes for large files (default: min(4, CPUs))"
    )
    parser.add_argument("--near-dup-threshold", type=float, default=0.9, help="Jaccard for near duplicates")
    args = parser.parse_args(argv)
    try:
        return main(
            args.train,
            args.heldout,
            args.report,
            args.tokenizer,
            args.max_seq_length,
            args.config,
            args.workers,
            args.near_dup_threshold,
        )
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli())
