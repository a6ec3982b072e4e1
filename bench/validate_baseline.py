"""The yardstick for the data validator: the straightforward way to run the same checks.

    python bench/validate_baseline.py TRAIN --heldout H --tokenizer DIR --max-seq-length N [--report R.json]

One line at a time: `json.loads` per line, the chat template applied and tokenized per example (twice: the
whole conversation and the prompt), exact duplicates in a Python dict of normalized texts, near duplicates
with a per-example MinHash and a dict-of-bands LSH index (the datasketch `MinHashLSH` pattern), one process.
Schema and length rules are imported from the scaffold's validator so both find the same defects; what
differs is only how the work is done. bench/bench_validate.py times the two side by side.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import sys
import zlib
from pathlib import Path

import numpy as np

VALIDATOR = (
    Path(__file__).resolve().parents[1]
    / "scaffolds/open_weights/{{cookiecutter.slug}}/scripts/validate_data.py"
)
NUM_PERM = 64  # as in the validator, so the Jaccard estimates have the same error
MERSENNE = np.uint64((1 << 61) - 1)  # datasketch's permutation modulus
MAX32 = np.uint64((1 << 32) - 1)


def load_validator():
    spec = importlib.util.spec_from_file_location("validate_data_rules", VALIDATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vd = load_validator()
_rng = np.random.default_rng(1)
PERM_A = _rng.integers(1, int(MERSENNE), NUM_PERM, dtype=np.uint64)
PERM_B = _rng.integers(0, int(MERSENNE), NUM_PERM, dtype=np.uint64)


def signature(text: str) -> np.ndarray:
    """datasketch-style MinHash of word 3-gram shingles: (a*h + b) mod p, minimum per permutation."""
    words = text.split()
    shingles = {" ".join(words[i : i + 3]) for i in range(max(1, len(words) - 2))}
    hv = np.array([zlib.crc32(s.encode("utf-8")) for s in shingles], dtype=np.uint64)
    return (((PERM_A[:, None] * hv[None, :] + PERM_B[:, None]) % MERSENNE) & MAX32).min(axis=1)


def rows_per_band(threshold: float) -> int:
    return vd.rows_per_band(threshold)


class Index:
    """Exact texts in a dict, signatures in a list, LSH bands in dicts of lists."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.r = rows_per_band(threshold)
        self.exact: dict[str, int] = {}
        self.sigs: list[np.ndarray] = []
        self.lines: list[int] = []
        self.bands: list[dict[bytes, list[int]]] = [
            collections.defaultdict(list) for _ in range(NUM_PERM // self.r)
        ]

    def query(self, sig: np.ndarray) -> tuple[int, float] | None:
        seen: set[int] = set()
        for b, band in enumerate(self.bands):
            for idx in band.get(sig[b * self.r : (b + 1) * self.r].tobytes(), ()):
                if idx in seen:
                    continue
                seen.add(idx)
                sim = float((self.sigs[idx] == sig).mean())
                if sim >= self.threshold:
                    return self.lines[idx], sim
        return None

    def insert(self, sig: np.ndarray, line: int) -> None:
        idx = len(self.sigs)
        self.sigs.append(sig)
        self.lines.append(line)
        for b, band in enumerate(self.bands):
            band[sig[b * self.r : (b + 1) * self.r].tobytes()].append(idx)


def scan(path: str, tok, max_len: int, threshold: float, findings: list, stats: dict, against: Index | None):
    index = Index(threshold)
    lengths, labels = [], collections.Counter()
    eos = tok.eos_token if tok.chat_template else None

    def add(line: int, severity: str, code: str, message: str) -> None:
        findings.append({"file": path, "line": line, "severity": severity, "code": code, "message": message})

    with open(path, "rb") as fh:
        for line, raw in enumerate(fh, start=1):
            if line == 1 and raw.startswith(vd.BOM):
                add(1, "warning", "utf8_bom", "BOM")
                raw = raw[3:]
            if not raw.strip():
                add(line, "warning", "blank_line", "blank line")
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                add(line, "error", "invalid_utf8", "not UTF-8")
                continue
            except ValueError as exc:
                add(line, "error", "invalid_json", str(exc))
                continue
            out: list = []
            ex = vd.check_schema(obj, line, out)
            for f in out:
                add(*f)
            if ex is None:
                continue
            kind, prompt, completion, label = ex
            if kind == "chat":
                full_ids = tok.apply_chat_template(prompt + completion, tokenize=True, return_dict=False)
                prompt_ids = (
                    tok.apply_chat_template(
                        prompt, tokenize=True, add_generation_prompt=True, return_dict=False
                    )
                    if prompt
                    else []
                )
                text = tok.apply_chat_template(prompt + completion, tokenize=False)
            else:
                text = prompt[0]["content"] + completion[0]["content"]
                full_ids = tok(text, add_special_tokens=False)["input_ids"]
                prompt_ids = tok(prompt[0]["content"], add_special_tokens=False)["input_ids"]
            n_full, n_prompt = len(full_ids), len(prompt_ids)
            if n_full > max_len:
                if n_prompt >= max_len:
                    add(line, "error", "prompt_too_long", f"{n_prompt} tokens")
                else:
                    add(line, "warning", "completion_truncated", f"{n_full} tokens")
            answer = completion[-1]["content"] if isinstance(completion[-1]["content"], str) else ""
            if eos and kind == "chat" and answer.strip():
                pos = text.rfind(answer.strip())
                if pos >= 0 and eos not in text[pos + len(answer.strip()) :]:
                    add(line, "warning", "eos_missing", "no EOS after the answer")
            if label is None and 0 < len(answer.split()) <= vd.LABEL_MAX_WORDS:
                label = " ".join(answer.split())
            if label is not None:
                labels[str(label)] += 1
            lengths.append(n_full)
            norm = vd.normalize([ex])[0]
            if against is not None and norm in against.exact:
                add(line, "error", "leak_exact", f"held-out line {against.exact[norm]}")
                continue
            if norm in index.exact:
                add(line, "warning", "exact_duplicate", f"line {index.exact[norm]}")
                continue
            index.exact[norm] = line
            sig = signature(norm.replace("\x1e", " ").replace("\x1f", " "))
            if against is not None and (hit := against.query(sig)):
                add(line, "error", "leak_near", f"held-out line {hit[0]}")
            if hit := index.query(sig):
                add(line, "warning", "near_duplicate", f"line {hit[0]}")
            else:
                index.insert(sig, line)
    arr = np.array(lengths)
    stats[path] = {
        "examples": len(lengths),
        "tokens": {f"p{q}": float(np.percentile(arr, q)) for q in (50, 90, 99)} | {"max": int(arr.max())},
        "labels": dict(labels),
    }
    return index


def main(
    train: str, heldout: str | None, tokenizer: str, max_len: int, threshold: float, report: str | None
) -> int:
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(tokenizer)
    findings: list = []
    stats: dict = {}
    held_index = scan(heldout, tok, max_len, threshold, findings, stats, None) if heldout else None
    scan(train, tok, max_len, threshold, findings, stats, held_index)
    counts = collections.Counter(f["code"] for f in findings)
    print(json.dumps(dict(sorted(counts.items()))))
    if report:
        Path(report).write_text(json.dumps({"findings": findings, "stats": stats}) + "\n", encoding="utf-8")
    return 1 if any(f["severity"] == "error" for f in findings) else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("train")
    p.add_argument("--heldout")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--max-seq-length", type=int, required=True)
    p.add_argument("--near-dup-threshold", type=float, default=0.9)
    p.add_argument("--report")
    a = p.parse_args()
    sys.exit(main(a.train, a.heldout, a.tokenizer, a.max_seq_length, a.near_dup_threshold, a.report))
