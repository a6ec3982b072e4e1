"""Turn your raw data into data/train.jsonl, validation.jsonl, the frozen heldout.jsonl and data/manifest.json.

    make data RAW=raw/tickets.csv        (= python scripts/prepare_data.py raw/tickets.csv --config configs/data.yaml)
    python scripts/prepare_data.py raw/tickets.csv --dry-run          # read and check everything, write nothing
    python scripts/prepare_data.py raw/tickets.csv --input-field body --output-field queue --system "Route it."
    python scripts/prepare_data.py raw/train.parquet --heldout raw/my_eval.jsonl   # your own evaluation set
    python scripts/prepare_data.py raw/a.jsonl raw/b.json --skip-invalid  # write the good rows, list the rest
    python scripts/prepare_data.py owner/dataset-name                 # a Hugging Face dataset (needs the network)

Reads CSV, TSV, JSONL, JSON (an array or {"data": [...]}), Parquet and Hugging Face datasets (a save_to_disk
folder, a folder of data files, or a Hub name) in the shapes people have: chat `messages`, ShareGPT
`conversations`, prompt/completion, input/output, Alpaca instruction/input/output, or any two columns named
in configs/data.yaml (flags win over that file). Every row becomes the chat format of data/FORMAT.md; exact
and near duplicates are removed, as are training rows that copy a held-out row; the split is deterministic
(seeded; stratified by label for classification; by time when `time_field` is set). A malformed row stops
the run with its file and line (`--skip-invalid`: skip it and record it in the manifest). Inputs are only
read; an existing held-out set is never replaced by a different one without `--force`, because it is frozen
once the baseline is measured. Exit status: 0 ok, 1 a problem to fix, 2 bad usage.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, check_output, read_text, run, shown  # noqa: E402
from inputs import MAX_CONFIG_BYTES  # noqa: E402
from schemas import F, check_keys, read_yaml  # noqa: E402

SPLITS = ("train", "validation", "heldout")
DATA_KEYS: dict[str, F] = {
    "input_field": F("str", "column with the user's text (null: detect the shape)", nullable=True),
    "output_field": F("str", "column with the answer the model must learn", nullable=True),
    "messages_field": F("str", "column with a chat or ShareGPT message list", nullable=True),
    "system": F("str", "system prompt added to every example that has none", nullable=True),
    "label_field": F("str", "column with the class (null: the answer is the label)", nullable=True),
    "time_field": F("str", "timestamp column: oldest rows train, newest are held out", nullable=True),
    "heldout": F("str", "your own evaluation file, used as the frozen held-out set", nullable=True),
    "seed": F("int", "seed of the split"),
    "split": F("map", "fractions of the examples per split", keys={
        s: F("float", f"share of {s}", required=True, lo=0, hi=1) for s in SPLITS}),
    "min_heldout_per_label": F("int", "held-out examples of every label that has two or more", lo=0),
    "planned_heldout_size": F("int", "held-out size the plan needs to detect the target gain", nullable=True,
                              lo=0),
    "remove_near_duplicates": F("bool", "drop near duplicates too, not only exact ones"),
    "near_duplicate_threshold": F("float", "Jaccard similarity of word 3-grams that counts as a copy",
                                  lo=0.5, hi=1),
    "tokenizer": F("str", "tokenizer for the manifest's token counts (null: estimate)", nullable=True),
    "chars_per_token": F("float", "characters per token of the estimate", lo=0.5, hi=100),
    "documents": F("str", "folder of .txt/.md documents for the RAG baseline of make baseline", nullable=True),
}
LABELS_DOC = "auto (the answers' set), a list of the allowed labels, or null (not classification)"
DEFAULTS: dict[str, Any] = {k: None for k in DATA_KEYS} | {
    "labels": "auto", "seed": 42, "split": {"train": 0.9, "validation": 0.05, "heldout": 0.05},
    "min_heldout_per_label": 1, "remove_near_duplicates": True, "near_duplicate_threshold": 0.9,
    "chars_per_token": 4.0}
MAX_SHOWN = 20  # malformed rows printed; the total is always given
MAX_LISTED = 10_000  # skipped rows named in the manifest; the count is always exact


def load_settings(path: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """configs/data.yaml checked against DATA_KEYS (every problem at once), over DEFAULTS, under the flags."""
    data, problems = read_yaml(Path(path))
    if not problems and not isinstance(data, dict):
        problems = [f"top level: {type(data).__name__} — expected key: value lines"]
    if not problems:
        check_keys(data, DATA_KEYS, "", problems, extra=("labels",))
        labels = data.get("labels", "auto")
        if not (labels in ("auto", None) or isinstance(labels, list) and labels
                and all(isinstance(x, str) for x in labels)):
            problems.append(f"labels: {labels!r} — use {LABELS_DOC}")
        fractions = data.get("split")
        if isinstance(fractions, dict) and all(isinstance(v, (int, float)) for v in fractions.values()) \
                and abs(sum(fractions.values()) - 1) > 1e-6:
            problems.append(f"split: the fractions add up to {sum(fractions.values()):g} — make them add up to 1")
    if problems:
        raise UserError("\n".join(f"{shown(path)}: {p}" for p in problems))
    return DEFAULTS | data | {k: v for k, v in overrides.items() if v is not None}


def convert(sources: list[str], cfg: dict[str, Any]) -> tuple[list[dict], list[str], list[dict]]:
    """Every record of `sources` as {example, label, time, where}; the malformed ones as `where: why`."""
    from data_format import _has_lone_surrogate, check_schema
    from raw_formats import Invalid, is_hub_name, read_records, sha256_of, time_key, to_chat

    rows, problems, info = [], [], []
    labels = cfg["labels"]
    for source in sources:
        count, first = 0, len(rows)
        try:
            for where, record in read_records(source):
                count += 1
                try:
                    if isinstance(record, Invalid):
                        raise ValueError(record.message)
                    example = to_chat(record, cfg)
                    answer = example["messages"][-1]["content"]
                    label = None
                    if labels is not None:
                        label = " ".join(str(record[cfg["label_field"]] if cfg["label_field"] else answer).split())
                        if isinstance(labels, list) and label not in labels:
                            raise ValueError(f"label {label!r} is not one of `labels` in the config {labels}")
                        example["label"] = label
                    found: list = []
                    check_schema(example, 0, found)
                    if any(f[1] == "error" for f in found):
                        raise ValueError("; ".join(f[3] for f in found if f[1] == "error"))
                    if _has_lone_surrogate(example):  # a JSON \ud800 escape alone: no UTF-8 file can hold it
                        raise ValueError("a \\uD800-\\uDFFF escape without its pair is not a character: fix or "
                                         "drop the text")
                    when = time_key(record[cfg["time_field"]], cfg["time_field"]) if cfg["time_field"] else None
                    rows.append({"example": example, "label": label, "time": when, "where": where})
                except ValueError as exc:
                    problems.append(f"{where}: {exc}")
        except ValueError as exc:  # the whole input cannot be read
            raise UserError(str(exc)) from None
        if count == 0:
            problems.append(f"{shown(source)}: no rows — is it the right file?")
        info.append({"path": source, "sha256": None if is_hub_name(source) else sha256_of(Path(source)),
                     "rows": count, "examples": len(rows) - first})
    return rows, problems, info


def report_invalid(problems: list[str], what: str, skip: bool) -> None:
    if problems and not skip:
        more = len(problems) - MAX_SHOWN
        raise UserError("\n".join(problems[:MAX_SHOWN] + ([f"... and {more} more"] if more > 0 else []) + [
            f"{len(problems)} malformed row(s) in {what}: fix them, or pass --skip-invalid to write the good "
            "rows (the manifest lists the skipped ones)"]))
    for line in problems[:MAX_SHOWN]:
        print(f"skipped  {line}")


def guard_outputs(out: Path, inputs: list[str], heldout_sha: str, force: bool) -> None:
    """Refuse to write over an input (same path or hard link) or to replace a frozen held-out set."""
    check_output(out, "--out", folder=True)
    problems = []
    stats = {(s.st_dev, s.st_ino): p for p in inputs if Path(p).exists() for s in [os.stat(p)]}
    for name in [f"{s}.jsonl" for s in SPLITS] + ["manifest.json"]:
        target = out / name
        same = stats.get((target.stat().st_dev, target.stat().st_ino)) if target.exists() else None
        if same:
            problems.append(f"--out {shown(out)}: would overwrite the input {shown(same)} ({shown(target)}) — inputs "
                            "are never modified; use another --out")
    for p in inputs:
        if Path(p).is_dir() and (out.resolve() == Path(p).resolve() or Path(p).resolve() in out.resolve().parents):
            problems.append(f"--out {shown(out)}: is inside the input dataset folder {shown(p)} — use another --out")
    held = out / "heldout.jsonl"
    if held.is_file() and not force:
        old = hashlib.sha256(held.read_bytes()).hexdigest()
        try:
            frozen = json.loads(read_text(out / "manifest.json", MAX_CONFIG_BYTES))["files"]["heldout.jsonl"]["sha256"]
        except (ValueError, KeyError, TypeError, RecursionError):  # no manifest, or not one prepare_data wrote
            frozen = None
        if old != heldout_sha:
            edited = f"; it was also edited since {out / 'manifest.json'} recorded {frozen[:12]}" \
                if frozen and frozen != old else ""
            problems.append(f"{shown(held)}: exists (sha256 {old[:12]}) and this run would replace it with a different "
                            f"held-out set (sha256 {heldout_sha[:12]}){edited} — the held-out set is frozen once the "
                            "baseline is measured: pass --force to replace it (then re-run make baseline), or "
                            "--heldout " + shown(held) + " --out ANOTHER_FOLDER to keep it")
    if problems:
        raise UserError("\n".join(problems))


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r["example"], ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def label_counts(splits: dict[str, list[dict]], classes: bool, warnings: list[str]
                 ) -> tuple[list[str], dict[str, dict]]:
    """The label set found in the data and its counts per split; a label missing from a split is a warning."""
    from data_format import MAX_LABELS

    label_set = sorted({r["label"] for rs in splits.values() for r in rs if r["label"] is not None})
    if classes and len(label_set) > MAX_LABELS:
        raise UserError(f"labels: auto found {len(label_set)} distinct answers, more than a label set "
                        f"({MAX_LABELS}) — set `labels: null` in configs/data.yaml for a generation task")
    per_split = {s: dict(sorted(collections.Counter(r["label"] for r in rs).items())) for s, rs in splits.items()}
    for s in ("train", "heldout") if label_set else ():
        if missing := [lab for lab in label_set if lab not in per_split[s]]:
            warnings.append(f"{s} lacks {len(missing)} label(s) {missing[:10]}: collect more of them")
    return label_set, per_split


def main(cfg: dict[str, Any]) -> int:
    """Read, convert, deduplicate, split and write (or, with dry_run, only report); return the exit status."""
    from split_data import drop_duplicates, drop_heldout_copies, split, token_stats

    raw, out = cfg["raw"], Path(cfg["out"])
    rows, problems, sources = convert(raw, cfg)
    held_rows, held_problems, held_info = convert([cfg["heldout"]], cfg) if cfg["heldout"] else ([], [], [])
    report_invalid(problems + held_problems, "the input", cfg["skip_invalid"])
    pool, exact, near = drop_duplicates(rows, cfg["near_duplicate_threshold"], cfg["remove_near_duplicates"])
    pool, leak_exact, leak_near = drop_heldout_copies(pool, held_rows, cfg["near_duplicate_threshold"],
                                                      cfg["remove_near_duplicates"])
    warnings = []
    _, held_exact, held_near = drop_duplicates(held_rows, cfg["near_duplicate_threshold"], True)
    if held_exact or held_near:
        warnings.append(f"--heldout {shown(cfg['heldout'])} has {held_exact} exact and {held_near} near duplicate "
                        "rows; kept as given (it is your evaluation set): remove the copies there if unintended")
    fractions = dict(cfg["split"])
    if cfg["heldout"]:
        fractions.pop("heldout")
    splits, method = split(pool, fractions, cfg["seed"], cfg["labels"] is not None and not cfg["time_field"],
                           bool(cfg["time_field"]), cfg["min_heldout_per_label"])
    if cfg["heldout"]:
        splits["heldout"] = held_rows
    if not splits["train"] or not splits["heldout"]:
        why = ("no label has two examples, so none can be held out: set `labels: null` in configs/data.yaml "
               "if the answers are free text") if pool and cfg["labels"] is not None and not cfg["heldout"] \
            else "too few to split — add data"
        raise UserError(f"{len(pool)} example(s) left after removing duplicates; {why}")
    label_set, per_split = label_counts(splits, cfg["labels"] is not None, warnings)
    planned = cfg["planned_heldout_size"]
    if planned and len(splits["heldout"]) < planned:
        warnings.append(f"held-out has {len(splits['heldout'])} examples; the plan sized it at {planned} to detect "
                        "the target gain: raise split.heldout or bring a larger --heldout file")
    blobs = {f"{s}.jsonl": jsonl(rs) for s, rs in splits.items()}
    guard_outputs(out, raw + ([cfg["heldout"]] if cfg["heldout"] else []),
                  hashlib.sha256(blobs["heldout.jsonl"]).hexdigest(), cfg["force"])
    tokens = token_stats(splits, cfg["tokenizer"], cfg["chars_per_token"])
    settings = {k: cfg[k] for k in (*DEFAULTS, "skip_invalid")} | {"config": cfg["config"]}
    skipped = problems + held_problems
    manifest = {
        "created_by": "scripts/prepare_data.py",
        "sources": sources, "heldout_source": held_info[0] if held_info else None,
        "settings": settings,
        "counts": {"rows_read": sum(s["rows"] for s in sources + held_info), "invalid_skipped": len(skipped),
                   "exact_duplicates": exact, "near_duplicates": near,
                   "heldout_copies_removed": {"exact": leak_exact, "near": leak_near},
                   **{s: len(rs) for s, rs in splits.items()}},
        "skipped": {"count": len(skipped), "rows": skipped[:MAX_LISTED]},
        "split": {"method": method, "fractions": cfg["split"], "heldout_from": cfg["heldout"] or "the raw data"},
        "labels": {"set": label_set, "source": "data", **per_split} if cfg["labels"] is not None else None,
        "tokens": tokens, "warnings": warnings,
        "files": {name: {"path": str(out / name), "rows": len(splits[name.split(".")[0]]),
                         "sha256": hashlib.sha256(blob).hexdigest()} for name, blob in blobs.items()},
    }
    print(f"read {manifest['counts']['rows_read']} row(s) from {len(sources) + len(held_info)} file(s); "
          f"{len(skipped)} malformed row(s) skipped")
    print(f"duplicates removed: {exact} exact, {near} near; copies of held-out rows removed from training: "
          f"{leak_exact} exact, {leak_near} near")
    print(f"split ({method}): " + ", ".join(f"{s} {len(rs)}" for s, rs in splits.items()))
    if label_set:
        print(f"labels: {len(label_set)} (" + ", ".join(f"{s} {len(per_split[s])}" for s in splits) + ")")
    print(f"tokens ({tokens['method']}): " + ", ".join(
        f"{s} p50 {t['p50']:.0f} p95 {t['p95']:.0f} max {t['max']}" for s in SPLITS if (t := tokens.get(s))))
    for w in warnings + ([tokens["note"]] if "note" in tokens else []):
        print(f"warning: {w}")
    if cfg["dry_run"]:
        names = ", ".join(str(out / n) for n in [*blobs, "manifest.json"])
        print(f"dry run: nothing written (would write {names})")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    # backslashreplace: a file name that is not UTF-8 is recorded as its JSON escapes, never a crash
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    blobs["manifest.json"] = text.encode("utf-8", "backslashreplace")
    for name, blob in blobs.items():  # each file replaced whole: a crash never leaves half a file
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(blob)
        os.replace(tmp, out / name)
    print(f"wrote {', '.join(str(out / n) for n in blobs)}; next: make validate")
    return 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", nargs="+", help="raw files or folders (CSV, TSV, JSONL, JSON, Parquet, HF dataset)")
    parser.add_argument("--config", default="configs/data.yaml", help="column mapping and split settings")
    parser.add_argument("--input-field", help="column with the user's text (overrides input_field)")
    parser.add_argument("--output-field", help="column with the answer (overrides output_field)")
    parser.add_argument("--system", help="system prompt for every example without one (overrides system)")
    parser.add_argument("--heldout", help="your own evaluation file: the frozen held-out set (overrides heldout)")
    parser.add_argument("--out", default="data", help="folder for the splits and manifest.json (default: data)")
    parser.add_argument("--skip-invalid", action="store_true", help="skip malformed rows; the manifest lists them")
    parser.add_argument("--force", action="store_true", help="replace an existing, different held-out set")
    parser.add_argument("--dry-run", action="store_true", help="read and check everything; write nothing")
    a = parser.parse_args(argv)
    cfg = load_settings(a.config, {"input_field": a.input_field, "output_field": a.output_field,
                                   "system": a.system, "heldout": a.heldout})
    return main(cfg | {"raw": a.raw, "out": a.out, "config": a.config, "skip_invalid": a.skip_invalid,
                       "force": a.force, "dry_run": a.dry_run})


if __name__ == "__main__":
    run(cli)
