"""Three-way merge of one text file: base = what ftplan generated last time, ours = the user's file,
theirs = the new render.

`git merge-file -p --diff3` does it when git is on the PATH (its alignment is the one users know from git);
otherwise a pure-Python diff3 over difflib's matching blocks gives the same result for clean merges and the
same marker format for conflicts (`FTPLAN_MERGE=python` forces it, `=git` requires git). A conflict is
written as

    <<<<<<< yours
    the user's lines
    ||||||| ftplan (last time)
    what ftplan generated before
    =======
    what ftplan generates now
    >>>>>>> ftplan (now)
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from generator.errors import FtplanError

LABELS = ("yours", "ftplan (last time)", "ftplan (now)")


def merge3(ours: str, base: str, theirs: str, engine: str | None = None) -> tuple[str, int]:
    """The merged text and the number of conflicts in it (0: a clean merge)."""
    if ours == theirs or base == theirs:
        return ours, 0
    if ours == base:
        return theirs, 0
    engine = engine or os.environ.get("FTPLAN_MERGE") or ("git" if shutil.which("git") else "python")
    if engine == "git":
        return _git_merge(ours, base, theirs)
    if engine == "python":
        return _python_merge(ours, base, theirs)
    raise FtplanError(f"FTPLAN_MERGE={engine!r}: use git or python")


def _git_merge(ours: str, base: str, theirs: str) -> tuple[str, int]:
    if not shutil.which("git"):
        raise FtplanError("FTPLAN_MERGE=git but git is not on the PATH: install git or unset FTPLAN_MERGE")
    with tempfile.TemporaryDirectory(prefix="ftplan-merge-") as tmp:
        paths = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(text.encode("utf-8"))
            paths.append(str(path))
        labels = [arg for label in LABELS for arg in ("-L", label)]
        res = subprocess.run(["git", "merge-file", "-p", "--diff3", *labels, *paths], capture_output=True)
    if res.returncode < 0 or res.returncode >= 127:
        raise FtplanError(f"git merge-file failed: {res.stderr.decode('utf-8', 'replace').strip()[:200]}")
    return res.stdout.decode("utf-8"), res.returncode


def _matches(base: list[str], other: list[str]) -> dict[int, int]:
    """base line index -> other line index, for the lines difflib matches (monotone in both)."""
    out = {}
    for block in difflib.SequenceMatcher(None, base, other, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            out[block.a + k] = block.b + k
    return out


def _python_merge(ours: str, base: str, theirs: str) -> tuple[str, int]:
    o, b, t = (s.splitlines(keepends=True) for s in (ours, base, theirs))
    mo, mt = _matches(b, o), _matches(b, t)
    out: list[str] = []
    conflicts = 0
    i = jo = jt = 0

    def chunk(base_part: list[str], ours_part: list[str], theirs_part: list[str]) -> None:
        nonlocal conflicts
        if ours_part == theirs_part or base_part == theirs_part:
            out.extend(ours_part)
        elif base_part == ours_part:
            out.extend(theirs_part)
        else:
            conflicts += 1
            for marker, part in ((f"<<<<<<< {LABELS[0]}\n", ours_part), (f"||||||| {LABELS[1]}\n", base_part),
                                 ("=======\n", theirs_part)):
                out.append(marker)
                out.extend(part)
                if part and not part[-1].endswith("\n"):
                    out.append("\n")
            out.append(f">>>>>>> {LABELS[2]}\n")

    while True:
        k = next((k for k in range(i, len(b)) if k in mo and k in mt and mo[k] >= jo and mt[k] >= jt), None)
        if k is None:
            chunk(b[i:], o[jo:], t[jt:])
            break
        if k > i or mo[k] > jo or mt[k] > jt:
            chunk(b[i:k], o[jo:mo[k]], t[jt:mt[k]])
        out.append(b[k])
        i, jo, jt = k + 1, mo[k] + 1, mt[k] + 1
    return "".join(out), conflicts
