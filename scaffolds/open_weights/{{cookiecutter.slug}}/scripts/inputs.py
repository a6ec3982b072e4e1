"""Reading what the user points a script at, safely: file names shown as one printable line, only regular files
read (a FIFO would block, /dev/zero never ends), sizes capped, UTF-8 decoded with a message that says where.

Used by scripts/common.py (which re-exports it), scripts/schemas.py and scripts/raw_formats.py; no imports of
the other scripts, so any of them can use it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 8 << 20  # a YAML/JSON config over 8 MB is not a config (the generated ones are ~5 KB)
UTF8_FIX = "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 FILE > NEW)"


def shown(value: Any) -> str:
    """A file name (or any text) as one printable line: bytes that are not UTF-8 as \\xNN, line breaks and other
    control or formatting characters (ESC, U+2028, U+202E) escaped, so a name can neither split an error line
    nor drive the terminal."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    try:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte (e.g. from a JSON \ud800)
        pass
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be read as an input file (missing, a folder, a FIFO or device, a dangling link, a name
    the file system refuses), or None when it is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is a dangling symlink" if os.path.islink(path) else "file not found — check the path"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or type(exc).__name__}) — check the path"
    except ValueError as exc:  # an embedded NUL
        return f"is not a usable path ({exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file — name the file inside it"
    what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
    return f"is {what}, not a regular file — save the data to a file and pass that"


def output_problem(path: str | Path, folder: bool = False) -> str | None:
    """Why `path` cannot take an output file (or, with `folder`, an output folder): something of the other kind
    or a FIFO is there (writing to a FIFO waits for a reader forever), a dangling link, a parent that is no
    folder, a name the file system refuses; None when it can be written."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return "is a dangling symlink — remove it or choose another name"
        parent = Path(path).parent
        if parent.exists() and not parent.is_dir():
            return f"its folder {shown(parent)} is a file — choose another path"
        return None
    except OSError as exc:
        return f"cannot be used ({exc.strerror or type(exc).__name__}) — choose another path"
    except ValueError as exc:
        return f"is not a usable path ({exc})"
    if folder and not stat.S_ISDIR(mode):
        return "exists and is not a folder — choose a folder"
    if not folder and not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
        return f"is {kind}, not a file — choose a file name"
    return None


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file, at most `limit` of them; ValueError(`path: why — fix`) otherwise."""
    problem = file_problem(path)
    if problem:
        raise ValueError(f"{shown(path)}: {problem}")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1 if limit is not None else -1)
    except OSError as exc:
        raise ValueError(f"{shown(path)}: cannot read it ({exc.strerror or exc}) — check its permissions") from None
    if limit is not None and len(data) > limit:
        raise ValueError(f"{shown(path)}: is over {limit >> 20} MB — is it the right file?")
    return data


def read_text(path: str | Path, limit: int | None = None, encoding: str = "utf-8") -> str:
    """The text of a regular file (UTF-8; `utf-8-sig` tolerates a byte-order mark); ValueError naming the file,
    the byte where decoding stopped and the fix otherwise."""
    data = read_bytes(path, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        guess = " (Latin-1 or Windows-1252?)" if 0x80 <= data[exc.start] <= 0xFF else ""
        raise ValueError(f"{shown(path)}: not UTF-8 at byte {exc.start}{guess} — {UTF8_FIX}") from None
