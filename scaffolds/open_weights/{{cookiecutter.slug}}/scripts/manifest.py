"""What data/manifest.json (written by scripts/prepare_data.py) tells the later steps: the label set, and the
sha256 of the frozen held-out set that the baseline and the evaluation must share.

    python scripts/manifest.py data/heldout.jsonl reports/baseline_report.json   # prints problems, exit 1 if any

The manifest sits beside the held-out file (data/heldout.jsonl -> data/manifest.json). `labels: auto` in
configs/eval.yaml reads its `labels.set`; `make eval` refuses a held-out set whose sha256 is not the one the
manifest and the baseline report recorded, because a changed held-out set makes base and tuned incomparable.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from inputs import file_problem, read_text, shown

MAX_MANIFEST_BYTES = 64 << 20  # manifests and reports: the manifest lists at most 10,000 skipped rows, a few MB
LABELS_FIX = ("run `make data RAW=your_file` (it writes the label set to data/manifest.json) or list the labels "
              "in configs/eval.yaml `labels:`")


def manifest_path(heldout: str | Path) -> Path:
    return Path(heldout).parent / "manifest.json"


def read_manifest(heldout: str | Path) -> dict[str, Any] | None:
    """The manifest beside the held-out file, or None when there is none (or it is not a JSON object)."""
    try:
        data = json.loads(read_text(manifest_path(heldout), MAX_MANIFEST_BYTES))
    except (ValueError, RecursionError):  # missing, not a file, not UTF-8, not JSON
        return None
    return data if isinstance(data, dict) else None


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_labels(labels: Any, heldout: str | Path) -> tuple[list[str] | None, str, str | None]:
    """(label set, where it came from, problem). `auto`: the manifest's labels.set; a list: itself."""
    if labels != "auto":
        return labels, "configs/eval.yaml" if labels else "none", None
    where = manifest_path(heldout)
    manifest = read_manifest(heldout)
    if manifest is None:
        return None, str(where), (f"labels: auto reads the label set from {shown(where)}, which is missing — "
                                  f"{LABELS_FIX}")
    found = (manifest.get("labels") or {}).get("set") if isinstance(manifest.get("labels"), dict) else None
    if not isinstance(found, list) or not found:
        return None, str(where), (f"labels: auto but {shown(where)} has no label set (configs/data.yaml "
                                  f"`labels: null`?) — {LABELS_FIX}")
    return [str(x) for x in found], str(where), None


def frozen_hashes(heldout: str | Path, baseline_report: str | Path | None) -> dict[str, str]:
    """The held-out sha256 each record holds: {"manifest": ..., "baseline": ...} (absent when not recorded)."""
    out = {}
    manifest = read_manifest(heldout)
    entry = ((manifest or {}).get("files") or {}).get(Path(heldout).name) if manifest else None
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
        out["manifest"] = entry["sha256"]
    if baseline_report:
        try:
            recorded = json.loads(read_text(baseline_report, MAX_MANIFEST_BYTES)).get("heldout_sha256")
        except (ValueError, RecursionError, AttributeError):  # missing, not a file, not JSON, not an object
            recorded = None
        if isinstance(recorded, str):
            out["baseline"] = recorded
    return out


def heldout_changed(heldout: str | Path, baseline_report: str | Path | None = None) -> list[str]:
    """One line per record whose held-out sha256 differs from the file's now; [] when all agree."""
    if file_problem(heldout):
        return []
    now, problems = sha256_file(heldout), []
    for source, sha in frozen_hashes(heldout, baseline_report).items():
        if sha == now:
            continue
        if source == "baseline":
            problems.append(f"heldout: {shown(heldout)} changed since the baseline was measured (sha256 {sha[:12]} "
                            f"in {shown(baseline_report)}, {now[:12]} now) — restore the file, or re-run "
                            "`make baseline` to measure the base model on this held-out set")
        else:
            problems.append(f"heldout: {shown(heldout)} changed since `make data` froze it (sha256 {sha[:12]} "
                            f"in {shown(manifest_path(heldout))}, {now[:12]} now) — restore the file, or re-run "
                            "`make data` and then `make baseline`")
    return problems


def _cli() -> int:
    if len(sys.argv) not in (2, 3):
        print("usage: python scripts/manifest.py HELDOUT.jsonl [BASELINE_REPORT.json]", file=sys.stderr)
        return 2
    found = heldout_changed(*sys.argv[1:])
    print("\n".join(found) or f"{shown(sys.argv[1])}: unchanged")
    return 1 if found else 0


if __name__ == "__main__":
    from common import run

    run(_cli)
