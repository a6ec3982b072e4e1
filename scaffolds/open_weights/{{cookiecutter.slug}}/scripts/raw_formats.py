"""The user's raw files as records, and records in the shapes people have as chat examples (data/FORMAT.md).

Used by scripts/prepare_data.py. `read_records(source)` yields (where, record) with `where` naming the file
and the line (CSV/TSV/JSONL), item (JSON) or row (Parquet, Hugging Face datasets); a record that cannot be
read is yielded as an `Invalid` so the caller reports it. `to_chat(record, mapping)` returns the example or
raises `ValueError` with what is wrong and how to fix it. Inputs are only ever opened for reading.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inputs import file_problem, read_text, shown

TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
HF_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # folders Dataset.save_to_disk writes
HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # owner/name as the Hugging Face Hub spells it
# (input, output) column pairs recognised without a mapping, most specific first; Alpaca is handled apart.
PAIRS = (("prompt", "completion"), ("input", "output"), ("question", "answer"), ("query", "response"),
         ("instruction", "response"), ("text", "label"))
# ShareGPT `from` and chat `role` spellings -> the roles of data/FORMAT.md.
ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "chatgpt": "assistant", "model": "assistant", "bot": "assistant", "tool": "tool",
         "function": "tool", "observation": "tool"}
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long tickets and documents fit in one cell
MAX_RAW_BYTES = 2 << 30  # a text file is read whole: past 2 GB, convert it to Parquet or split it


@dataclass(frozen=True)
class Invalid:
    """A record that could not be read (bad JSON, a JSON scalar): reported, never dropped silently."""

    message: str


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and bytes, in sorted order)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f is not path:  # os.fsencode: a name that is not UTF-8 is hashed as its bytes
            digest.update(os.fsencode(f.relative_to(path)) + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def is_hub_name(source: str) -> bool:
    """owner/name with nothing at that path (not even a dangling link): a Hugging Face Hub dataset."""
    return bool(HUB_NAME.match(source)) and not Path(source).suffix and not os.path.lexists(source)


def read_records(source: str) -> Iterator[tuple[str, Any]]:
    """(where, record) for every record of one raw input; a UserError-worthy problem raises ValueError."""
    path, name = Path(source), shown(source)
    if is_hub_name(source):
        yield from _read_hf(source, hub=True)
        return
    problem = file_problem(path)
    if problem and problem.startswith("file not found"):
        raise ValueError(f"{name}: not found — give a CSV, TSV, JSONL, JSON or Parquet file, a dataset "
                         "folder, or a Hugging Face dataset name (owner/name)")
    if problem and path.is_dir():
        yield from _read_hf(source, hub=False)
        return
    if problem:  # a FIFO, a device, a dangling link: reading one could wait forever
        raise ValueError(f"{name}: {problem}")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        yield from ((f"{name} row {i}", rec) for i, rec in enumerate(_read_parquet(path), 1))
        return
    if suffix not in (*TEXT_SUFFIXES, *JSONL_SUFFIXES, ".json"):
        raise ValueError(f"{name}: unknown file type {shown(suffix or '(none)')!r} — use .csv, .tsv, .jsonl, "
                         ".json or .parquet (rename the file if its content is one of these)")
    text = read_text(path, MAX_RAW_BYTES, "utf-8-sig")  # a byte-order mark is tolerated
    if suffix in TEXT_SUFFIXES:
        yield from _read_csv(name, text, TEXT_SUFFIXES[suffix])
    elif suffix in JSONL_SUFFIXES:
        yield from _read_jsonl(name, text)
    else:
        yield from _read_json(name, text)


def _read_csv(source: str, text: str, delimiter: str) -> Iterator[tuple[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ValueError(f"{source} line 1: not a valid header ({exc}) — the first line names the columns") from None
    if not header:
        return
    header = [h.strip() for h in header]
    start = reader.line_num + 1
    while True:
        where = f"{source} line {start}"
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a NUL byte, a quote left open at the end of the file
            raise ValueError(f"{where}: not valid CSV ({exc}) — fix the line (quote cells that contain quotes "
                             "or line breaks) and save the file as plain text") from None
        start = reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield where, Invalid(f"{len(row)} cells but the header has {len(header)} columns — quote cells "
                                 "that contain the delimiter or a line break")
            continue
        yield where, dict(zip(header, row, strict=True))


def _read_jsonl(source: str, text: str) -> Iterator[tuple[str, Any]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"{source} line {n}", Invalid(f"not valid JSON ({exc.msg}) — one JSON object per line")
            continue
        except (RecursionError, ValueError) as exc:  # nested thousands deep; an integer of thousands of digits
            yield f"{source} line {n}", Invalid(f"not usable JSON ({_json_why(exc)}) — one flat JSON object per line")
            continue
        yield f"{source} line {n}", record if isinstance(record, dict) else Invalid(
            f"a JSON {type(record).__name__}, not an object — one JSON object per line")


def _read_json(source: str, text: str) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not valid JSON (line {exc.lineno}: {exc.msg}) — a JSON array of objects, "
                         "or one object per line in a .jsonl file") from None
    except (RecursionError, ValueError) as exc:
        raise ValueError(f"{source}: not usable JSON ({_json_why(exc)}) — a JSON array of flat objects") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{source}: expected a JSON array of examples or {{\"data\": [...]}}, got {keys}")
    for i, record in enumerate(data, 1):
        yield f"{source} item {i}", record if isinstance(record, dict) else Invalid(
            f"a JSON {type(record).__name__}, not an object")


def _json_why(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:120]


def _read_parquet(path: Path) -> list[dict]:
    try:
        return _parquet_rows(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's and pandas' many error types all mean: cannot read it
        if isinstance(exc, ValueError) and "pip install" in str(exc):
            raise
        why = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise ValueError(f"{shown(path)}: not a readable Parquet file ({why}) — is it complete?") from None


def _parquet_rows(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:
        return pq.read_table(path).to_pylist()
    try:
        import pandas as pd
    except ImportError:
        raise ValueError(f"{shown(path)}: reading Parquet needs pyarrow — pip install pyarrow") from None
    try:
        return pd.read_parquet(path).to_dict(orient="records")
    except ImportError as exc:
        raise ValueError(f"{shown(path)}: reading Parquet needs pyarrow ({exc}) — pip install pyarrow") from None


def _read_hf(source: str, hub: bool) -> Iterator[tuple[str, Any]]:
    """A dataset saved with save_to_disk, a folder of data files, or a Hub name; every split, in order."""
    try:
        import datasets
    except ImportError:
        raise ValueError(f"{shown(source)}: reading a Hugging Face dataset needs `datasets` — pip install "
                         "datasets") from None
    try:
        if not hub and any((Path(source) / m).exists() for m in HF_DISK_MARKERS):
            data = datasets.load_from_disk(source)
        else:
            data = datasets.load_dataset(source)
    except Exception as exc:  # noqa: BLE001 - the loader's many failure types all mean: cannot read it
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        what = "no such file or folder here, and as a Hugging Face Hub dataset" if hub else "as a dataset folder"
        raise ValueError(f"{shown(source)}: {what} it cannot be loaded ({shown(reason)}) — check the path or name "
                         "(a Hub dataset needs the network, or HF_DATASETS_OFFLINE=1 and the cache)") from None
    splits = data.items() if isinstance(data, dict) else [(None, data)]
    for split, part in splits:
        label = f"{shown(source)} [{shown(split)}]" if split else shown(source)
        for i, record in enumerate(part, 1):
            yield f"{label} row {i}", record


def _text(value: Any, name: str) -> str:
    if value is None or isinstance(value, float) and value != value:  # a missing cell (None or NaN)
        raise ValueError(f"{name} is empty — fill it in or remove the row")
    if isinstance(value, (dict, list)):
        raise ValueError(f"{name} is a {type(value).__name__}, not text — map a text column")
    text = str(value)
    if not text.strip():
        raise ValueError(f"{name} is empty — fill it in or remove the row")
    return text


def _messages(value: Any, name: str) -> list[dict]:
    """A chat (role/content) or ShareGPT (from/value) list, possibly JSON-encoded in a CSV cell."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (RecursionError, ValueError):
            raise ValueError(f"{name} is text, not a JSON list of messages") from None
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name} must be a non-empty list of messages")
    out = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise ValueError(f"{name}[{i}] is a {type(msg).__name__}, not an object")
        role = msg.get("role", msg.get("from"))
        content = msg.get("content", msg.get("value"))
        if str(role).lower() not in ROLES:
            raise ValueError(f"{name}[{i}]: role {role!r} — use one of {sorted(set(ROLES))}")
        out.append({"role": ROLES[str(role).lower()], "content": _text(content, f"{name}[{i}].content")})
    return out


def to_chat(record: dict, mapping: dict[str, Any]) -> dict[str, Any]:
    """One record -> {"messages": [...]} ending with the assistant turn; ValueError names the fix."""
    inp, outp, msgs_field = mapping.get("input_field"), mapping.get("output_field"), mapping.get("messages_field")
    for key in (inp, outp, msgs_field, mapping.get("label_field"), mapping.get("time_field")):
        if key and key not in record:
            raise ValueError(f"no column {key!r} (columns: {sorted(record)[:12]}) — fix configs/data.yaml")
    if msgs_field or not (inp or outp) and ("messages" in record or "conversations" in record):
        field = msgs_field or ("messages" if "messages" in record else "conversations")
        messages = _messages(record[field], field)
    elif inp or outp:
        pair = (inp or _guess(record, outp, 0), outp or _guess(record, inp, 1))
        messages = [{"role": "user", "content": _text(record[pair[0]], pair[0])},
                    {"role": "assistant", "content": _text(record[pair[1]], pair[1])}]
    elif "instruction" in record and "output" in record:  # Alpaca: the optional input follows the instruction
        extra = record.get("input")
        user = _text(record["instruction"], "instruction")
        if extra not in (None, "") and str(extra).strip():
            user = f"{user}\n\n{extra}"
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(record["output"],
                                                                                              "output")}]
    else:
        pair = next((p for p in PAIRS if p[0] in record and p[1] in record), None)
        if pair is None:
            raise ValueError(f"columns {sorted(record)[:12]} match no known shape (messages, conversations, "
                             "prompt/completion, input/output, instruction/input/output) — set input_field and "
                             "output_field in configs/data.yaml or pass --input-field/--output-field")
        if isinstance(record[pair[0]], list) and isinstance(record[pair[1]], list):  # conversational prompt
            messages = _messages(record[pair[0]], pair[0]) + _messages(record[pair[1]], pair[1])
        else:
            messages = [{"role": "user", "content": _text(record[pair[0]], pair[0])},
                        {"role": "assistant", "content": _text(record[pair[1]], pair[1])}]
    if messages[-1]["role"] != "assistant":
        raise ValueError(f"the last message is {messages[-1]['role']!r} — it must be the assistant's answer")
    if mapping.get("system") and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": str(mapping["system"])})
    return {"messages": messages}


def _guess(record: dict, known: str | None, side: int) -> str:
    """The other column of a half-given mapping: its usual partner in PAIRS."""
    for pair in PAIRS:
        if pair[1 - side] == known and pair[side] in record:
            return pair[side]
    which = "output_field" if side else "input_field"
    raise ValueError(f"only one of input_field/output_field is set — set {which} too (columns: "
                     f"{sorted(record)[:12]})")


def time_key(value: Any, name: str) -> float:
    """A sortable instant from an ISO date/time, a Unix timestamp or a datetime; naive times read as UTC."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"{name} is empty — every row needs a time to split by time")
    if isinstance(value, (int, float)):
        return _finite(value, name)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _finite(number, name)
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name} {value!r} is not an ISO date/time (2024-05-01 or 2024-05-01T12:00:00Z) "
                             "or a Unix timestamp") from None
    if hasattr(value, "timestamp"):
        try:
            if getattr(value, "tzinfo", None) is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return _finite(float(value.timestamp()), name)
        except (OverflowError, OSError, TypeError) as exc:
            raise ValueError(f"{name} {shown(value)!r} is out of range ({exc})") from None
    raise ValueError(f"{name} is a {type(value).__name__}, not a date/time")


def _finite(value: float | int, name: str) -> float:
    """A Unix timestamp that a float holds and that is finite (NaN would make the time split arbitrary)."""
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{name} {str(value)[:40]} is not a finite time — use an ISO date/time or a Unix timestamp")
    return number
