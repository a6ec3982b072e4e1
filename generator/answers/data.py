"""`--data FILE.jsonl`: count the rows and measure token lengths of a training file, streamed line by line.

Accepts TRL's formats (chat `messages`, `prompt`/`completion`, `input`/`output`); broken lines are reported
with their numbers, a capped number of them, as one UserError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generator.answers.inference import MAX_LABELS, DataStats, estimate_tokens, looks_like_label
from generator.errors import Problem, UserError
from generator.safety import UTF8_FIX, display_path, not_utf8

MAX_DATA_PROBLEMS = 20  # report this many broken lines, then a count, so a bad file is not a wall of text
# Memory bounds of the measurement. One row holds one training example: 16 MiB is 4M+ tokens of text, far past
# any model's context, so a longer "line" is a binary file or /dev/zero. The file as a whole is read once,
# streamed; past 4 GiB a sample measures the token lengths as well and takes minutes, not an hour.
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_DATA_BYTES = 4 * 1024 * 1024 * 1024
MAX_JSON_DEPTH = 64  # a training row is a list of messages of parts: a few levels; json recursion is ~1000


def _content_text(content: Any) -> str | None:
    """Text of a message content: a string, or a list of {type: text, text: ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        texts = [p for p in parts if isinstance(p, str)]
        if parts and len(texts) == len(parts):
            return "".join(texts)
    return None


def _messages_io(messages: Any) -> tuple[str, str] | str:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    texts: list[tuple[str, str]] = []
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") not in ("system", "user", "assistant", "tool"):
            return "each message needs a role of system, user or assistant"
        text = _content_text(msg.get("content"))
        if text is None:
            return "each message needs a text 'content'"
        texts.append((msg["role"], text))
    if texts[-1][0] != "assistant":
        return "the last message must be the assistant's (the target)"
    return "".join(t for _, t in texts[:-1]), texts[-1][1]


_ROW_FORMATS = (("prompt_completion", "prompt", "completion"), ("input_output", "input", "output"))


def _side_text(value: Any) -> str | None:
    """One side of a prompt/completion row: a string, or a list of messages whose contents are joined."""
    text = _content_text(value)
    if text is None and isinstance(value, list) and all(isinstance(m, dict) for m in value):
        contents = [_content_text(m.get("content")) for m in value]
        text = None if any(c is None for c in contents) else "".join(c or "" for c in contents)
    return text


def _row_io(row: Any) -> tuple[str, str, str] | str:
    """(format, input text, output text) of one JSONL row, or what is wrong with it."""
    if not isinstance(row, dict):
        return "must be a JSON object"
    if "messages" in row:
        got = _messages_io(row["messages"])
        return got if isinstance(got, str) else ("chat", *got)
    for fmt, key_in, key_out in _ROW_FORMATS:
        if key_in in row or key_out in row:
            text_in, text_out = _side_text(row.get(key_in)), _side_text(row.get(key_out))
            if text_in is None:
                return f"'{key_in}' must be text (or a list of messages)"
            if text_out is None:
                return f"'{key_out}' must be text (or a list of messages)"
            return fmt, text_in, text_out
    return "needs 'messages', or 'prompt' and 'completion', or 'input' and 'output'"


def measure_data(path: Path) -> DataStats:
    """Count rows and average token lengths of a JSONL training file, streamed line by line."""
    name = display_path(path)
    if not path.exists():
        raise UserError(Problem(name, "file not found", "check the path to your JSONL data"))
    if path.is_dir():
        raise UserError(Problem(name, "is a directory, not a file", "give the .jsonl file inside it"))
    problems: list[Problem] = []
    broken = count = in_tokens = out_tokens = 0
    formats: dict[str, int] = {}
    outputs: dict[str, None] = {}
    labels_possible = True
    try:
        for lineno, line in _lines(path, name):
            if isinstance(line, Problem):
                broken += 1
                if len(problems) < MAX_DATA_PROBLEMS:
                    problems.append(line)
                continue
            if not line.strip():
                continue
            got = _parse_row(line)
            if isinstance(got, str):
                broken += 1
                if len(problems) < MAX_DATA_PROBLEMS:
                    problems.append(
                        Problem(f"{name}:{lineno}", got, "see data/FORMAT.md for the accepted rows")
                    )
                continue
            fmt, text_in, text_out = got
            formats[fmt] = formats.get(fmt, 0) + 1
            count += 1
            in_tokens += estimate_tokens(text_in)
            out_tokens += estimate_tokens(text_out)
            if labels_possible:
                if looks_like_label(text_out.strip()):
                    outputs.setdefault(text_out.strip(), None)
                    labels_possible = len(outputs) <= MAX_LABELS
                else:
                    labels_possible = False
    except OSError as exc:
        raise UserError(
            Problem(name, f"cannot be read: {exc.strerror or exc}", "check its permissions")
        ) from None
    except UserError as exc:  # a line or the file past its cap: stop, with what was found before it
        raise UserError(problems + exc.problems) from None
    if broken > len(problems):
        problems.append(
            Problem(name, f"and {broken - len(problems)} more broken lines", "fix the lines above first")
        )
    if problems:
        raise UserError(problems)
    if count == 0:
        raise UserError(
            Problem(name, "has no examples", "write one JSON object per line (see data/FORMAT.md)")
        )
    labels = tuple(outputs) if labels_possible and outputs else None
    return DataStats(name, count, round(in_tokens / count), round(out_tokens / count), formats, labels)


def _depth_ok(line: str) -> bool:
    """Bracket nesting stays under MAX_JSON_DEPTH (counted outside strings, before json builds anything)."""
    depth = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_row(line: str) -> tuple[str, str, str] | str:
    if line.count("[") + line.count("{") > MAX_JSON_DEPTH and not _depth_ok(line):
        return f"is nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        row = json.loads(line, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        return f"is not valid JSON ({str(exc)[:200]})"
    got = _row_io(row)
    if not isinstance(got, str) and any(_has_surrogate(t) for t in got[1:]):
        return "holds a lone surrogate escape (e.g. \\ud800): not text any tokenizer accepts"
    return got


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _lines(path: Path, name: str) -> Iterator[tuple[int, str | Problem]]:
    """Decoded lines, each read with a cap: no line and no file can make the measurement hold more memory."""
    total = 0
    with path.open("rb") as handle:
        lineno = 0
        while raw := handle.readline(MAX_LINE_BYTES + 1):
            lineno += 1
            total += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise UserError(Problem(
                    f"{name}:{lineno}", f"is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB (no line end)",
                    "give a JSONL file: one JSON object per line (not a binary file or a device)"))
            if total > MAX_DATA_BYTES:
                raise UserError(Problem(
                    name, f"is larger than {MAX_DATA_BYTES // 1024 ** 3} GiB",
                    f"measure a sample: head -n 100000 {name} > sample.jsonl, and give examples_available "
                    "as a fact"))
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if b"\x00" in raw:
                yield lineno, Problem(f"{name}:{lineno}", "holds NUL bytes: not a text file",
                                      "give the JSONL file of your examples")
                continue
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, Problem(f"{name}:{lineno}", f"is not UTF-8 text ({not_utf8(exc)})", UTF8_FIX)
