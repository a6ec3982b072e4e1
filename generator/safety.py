"""The one guard for "an output must never be an input": every command that writes asks it first.

`ftplan plan A.yaml -o A.yaml` would replace the answers; `scaffold --force -o DIR` would delete a `--data`
file or a `--catalog-dir` inside DIR. Paths are compared after resolving symlinks and `..`, and by inode, so
a hard link or a second spelling of the same file is caught too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from generator.errors import Problem, UserError


def display_path(path: Path | str) -> str:
    """A path as printable text: bytes that are not UTF-8 in a file name (kept by Python as lone surrogates,
    which no terminal or UTF-8 file can take) are shown as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


UTF8_FIX = "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 FILE > NEW`, or your editor's 'Save with encoding')"


def not_utf8(exc: UnicodeDecodeError) -> str:
    """Where decoding stopped, and the likely encoding: 0x80-0xFF bytes alone are Latin-1 / Windows-1252."""
    byte = exc.object[exc.start]
    guess = "; Latin-1 or Windows-1252?" if 0x80 <= byte <= 0xFF else ""
    return f"byte 0x{byte:02x} at offset {exc.start}{guess}"


def _resolved(path: Path) -> Path:
    try:
        return Path(os.path.realpath(Path(path).expanduser()))
    except (OSError, ValueError):
        return Path(os.path.abspath(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _inside(inner: Path, folder: Path) -> bool:
    return inner == folder or folder in inner.parents


def _held_inodes(folder: Path, wanted: dict[tuple[int, int], Path]) -> Path | None:
    """An input that is a hard link to a file somewhere inside `folder` (whose other name lies elsewhere)."""
    if not wanted:
        return None
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            hit = wanted.get((st.st_dev, st.st_ino))
            if hit is not None:
                return hit
    return None


def refuse_overwrite(output: Path, inputs: Iterable[Path | None], flag: str) -> None:
    """Raise UserError if writing (or replacing) `output` would touch one of `inputs`.

    `output` is a file the command writes, or a folder it replaces as a whole (`scaffold --force`): then any
    input inside it, or hard-linked to a file inside it, is refused too. `flag` names the option that gave
    `output` (e.g. "-o"), so the message points at what to change. Inputs that do not exist are ignored.
    """
    out = _resolved(output)
    given = [Path(p) for p in inputs if p is not None]
    is_folder = out.is_dir()
    inodes: dict[tuple[int, int], Path] = {}
    for item in given:
        src = _resolved(item)
        if src == out or _same_file(src, out):
            raise UserError(Problem(flag, f"{output} is the input {item}; writing it would destroy the input",
                                    f"give {flag} another path"))
        if is_folder and _inside(src, out):
            raise UserError(Problem(flag, f"{output} holds the input {item}; replacing it would delete it",
                                    f"move {item} out of {output}, or give {flag} another folder"))
        try:
            st = src.stat()
        except OSError:
            continue
        if src.is_file() and st.st_nlink > 1:
            inodes[(st.st_dev, st.st_ino)] = item
    if is_folder:
        hit = _held_inodes(out, inodes)
        if hit is not None:
            raise UserError(Problem(flag, f"{output} holds a hard link to the input {hit}; replacing the folder "
                                    "would change it", f"give {flag} another folder"))
