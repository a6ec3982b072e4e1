"""Validate JSONL fine-tuning data before it costs GPU hours: format, template, lengths, duplicates, leakage.

    python scripts/validate_data.py data/train.jsonl --heldout data/heldout.jsonl --dry-run   # options only
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
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    UserError,
    check_output,
    file_problem,
    read_text,
    refuse_overwrite,
    report_dry_run,
    run,
    shown,
)
from data_format import (  # noqa: E402, F401 - BOM and check_schema are re-exported for bench/
    BOM,
    MAX_FINDINGS_PER_CODE,
    MAX_LABELS,
    FileScan,
    check_schema,
    count_tokens,
    finding,
    load_tokenizer,
    make_progress,
    parse_line,
    read_chunks,
    render,
)
from dedup import (  # noqa: E402, F401 - rows_per_band is re-exported for bench/
    NUM_PERM,
    duplicate_findings,
    leakage_findings,
    minhash,
    normalize,
    rows_per_band,
)

LABEL_MAX_WORDS = 3  # an assistant answer this short is read as a class label
MIN_LABELED_SHARE = 0.95  # label balance is reported when at least this share of examples has a label
IMBALANCE_RATIO = 10.0  # warn at 10:1 majority:minority, inside Google ML Crash Course's "moderate" imbalance
SUMMARY_PER_CODE = 3  # findings printed per code on the terminal
PARALLEL_MIN_BYTES = 4 << 20  # below 4 MB, starting worker processes costs more than it saves
REPLAY_SLICE = "replay"  # the forgetting mix's general-data rows: their short answers are not task labels
_CTX: dict[str, Any] = {}  # tokenizer and limits; set before worker processes fork, so they inherit it


def check_chunk(chunk: list[tuple[int, bytes]]) -> dict[str, Any]:
    """Everything per example for one batch of lines; runs in a worker process or in-process."""
    tok, max_len = _CTX.get("tokenizer"), _CTX.get("max_len")
    out: list = []
    examples, lines, replayed = [], [], []
    for line, raw in chunk:
        obj = parse_line(raw, line, out)
        ex = None if obj is None and out and out[-1][0] == line else check_schema(obj, line, out)
        if ex is not None:
            examples.append(ex)
            lines.append(line)
            replayed.append(isinstance(obj, dict) and obj.get("slice") == REPLAY_SLICE)
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
        if label is None and not replayed[i] and len(answer.split()) <= LABEL_MAX_WORDS and answer.strip():
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


def scan_file(path: Path, pool: Any, workers: int) -> FileScan:
    """Stream one file through check_chunk, with at most 2 batches per worker in flight."""
    scan = FileScan(shown(path))  # the name as findings and the report show it
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
                where = f"{f['file']}:{f['line']}" if f["line"] else f["file"]  # line 0: the whole file
                print(f"      {where}: {f['message'][:160]}")
    st = report["stats"]
    print(
        f"{st['errors']} error(s), {st['warnings']} warning(s)" + (" - FAILED" if st["errors"] else " - OK")
    )


def train_config(config: str | None) -> dict[str, Any]:
    """The tokenizer and length limit of the TRL train config (configs/train.yaml when present)."""
    import yaml
    from inputs import MAX_CONFIG_BYTES

    path = Path(config or "configs/train.yaml")
    if not config and file_problem(path):
        return {}
    try:
        cfg = yaml.safe_load(read_text(path, MAX_CONFIG_BYTES)) or {}
    except ValueError as exc:  # not a file, too big, not UTF-8
        raise UserError(f"--config {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())
        raise UserError(f"{shown(path)}: not valid YAML ({why})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{shown(path)}: expected TRL keys (key: value lines), got a {type(cfg).__name__}")
    for key, kind in (("model_name_or_path", str), ("max_length", int)):
        if cfg.get(key) is not None and (not isinstance(cfg[key], kind) or isinstance(cfg[key], bool)):
            want = "text" if kind is str else "a whole number"
            raise UserError(f"{shown(path)}: {key}: {shown(repr(cfg[key])[:80])} is not {want}")
    return cfg


def main(
    train: str,
    heldout: str | None = None,
    report_path: str | None = None,
    tokenizer: str | None = None,
    max_seq_length: int | None = None,
    config: str | None = None,
    workers: int | None = None,
    near_dup_threshold: float = 0.9,
    dry_run: bool = False,
) -> int:
    """Validate `train` (and `heldout`); write the JSON report; return the exit status.

    With `dry_run`, check the options and the train config and name the input files; read no data.
    """
    cfg = train_config(config)
    if report_path:
        check_output(report_path, "--report")
        if not Path(report_path).resolve().parent.is_dir():
            raise UserError(f"--report {shown(report_path)}: its folder does not exist; create it first")
    refuse_overwrite(report_path, [train, heldout, config], "--report")
    if report_path:  # the token-length chart goes beside the report
        check_output(Path(report_path).with_suffix(".png"), "--report (its .png)")
        refuse_overwrite(Path(report_path).with_suffix(".png"), [train, heldout, config], "--report (its .png)")
    if max_seq_length is not None and max_seq_length < 1:
        raise UserError("--max-seq-length must be a positive number of tokens")
    if workers is not None and workers < 1:
        raise UserError("--workers must be at least 1")
    if not 0.0 < near_dup_threshold <= 1.0:
        raise UserError("--near-dup-threshold must be in (0, 1]")
    if dry_run:
        return report_dry_run("the validation settings", {"train": train, "heldout": heldout})
    for p in (train, heldout):
        if p is not None and (problem := file_problem(p)):
            raise UserError(f"{shown(p)}: {problem}")
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
    if heldout:  # the frozen held-out set edited after `make data` froze it (scripts/manifest.py)
        from manifest import heldout_changed

        run_notes += [finding(heldout, 0, "error", "heldout_changed", m) for m in heldout_changed(heldout)]
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
    n_err += sum(1 for f in run_notes if f["severity"] == "error")
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
    if any(Path(p).parts[:1] == ("smoke",) for p in (train, heldout) if p):
        print("note: smoke/ holds synthetic data made by scripts/make_tiny_model.py, not yours")
    if report_path:
        Path(report_path).write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"report: {shown(report_path)}")
        import charts

        lengths = {scan.path: scan.lengths.tolist() for scan in scans}
        print(charts.token_lengths(lengths, max_len, Path(report_path).with_suffix(".png")))
    return 1 if n_err else 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", help="training JSONL file")
    parser.add_argument("--heldout", help="frozen held-out JSONL: checked too, and for leakage from train")
    parser.add_argument("--report", help="write the findings and stats as JSON here")
    parser.add_argument("--tokenizer", help="tokenizer folder or hub id (default: model_name_or_path of --config)")
    parser.add_argument("--max-seq-length", type=int, help="token limit (default: max_length of --config)")
    parser.add_argument("--config", help="TRL train YAML (default: configs/train.yaml when present)")
    parser.add_argument("--workers", type=int, help="worker processes for large files (default: min(4, CPUs))")
    parser.add_argument("--near-dup-threshold", type=float, default=0.9, help="Jaccard for near duplicates")
    parser.add_argument("--dry-run", action="store_true", help="check the options and config; read no data")
    a = parser.parse_args(argv)
    try:
        return main(a.train, a.heldout, a.report, a.tokenizer, a.max_seq_length, a.config, a.workers,
                    a.near_dup_threshold, a.dry_run)
    except ValueError as exc:  # OSError: common.run names the file
        raise UserError(f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None


if __name__ == "__main__":
    run(cli)
