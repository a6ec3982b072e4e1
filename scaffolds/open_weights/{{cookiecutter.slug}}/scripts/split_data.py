"""Duplicates, the deterministic split and length statistics of prepared examples (scripts/prepare_data.py).

Duplicates are found exactly as scripts/validate_data.py finds them (scripts/dedup.py: the same normalised
text, its 64-bit BLAKE2b hash and MinHash signatures), so a prepared split passes the validator's duplicate
and leakage checks. Each example is a dict with `example` (the JSONL row), `label` and `time` (or None).
"""

from __future__ import annotations

import collections
import hashlib
import math
import random
from typing import Any

import numpy as np
from data_format import FileScan, count_tokens, load_tokenizer, render
from dedup import first_of_each_hash, minhash, near_pairs, normalize

PERCENTILES = (50, 95)  # the manifest's typical and long-tail example lengths, plus the maximum


def _tuple(row: dict) -> tuple:
    msgs = row["example"]["messages"]
    return "chat", msgs[:-1], msgs[-1:], row["label"]


def scan_of(rows: list[dict], name: str) -> FileScan:
    """The hashes and signatures scripts/dedup.py compares, in the validator's own container."""
    scan = FileScan(name)
    norm = normalize([_tuple(r) for r in rows])
    hashes = [int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in norm]
    scan.merge({"findings": [], "lines": np.arange(1, len(rows) + 1, dtype=np.uint32),
                "hashes": np.array(hashes, dtype=np.uint64), "lengths": np.zeros(len(rows), np.int32),
                "sigs": minhash(norm) if norm else np.zeros((0, 64), np.uint16), "labels": [],
                "roles": collections.Counter(), "turns": collections.Counter()})
    scan.finish()
    return scan


def drop_duplicates(rows: list[dict], threshold: float, near: bool) -> tuple[list[dict], int, int]:
    """Keep the first of each exact and near-duplicate group, in input order: (kept, exact, near)."""
    if not rows:
        return rows, 0, 0
    scan = scan_of(rows, "raw")
    is_dup, _ = first_of_each_hash(scan)
    gone = is_dup.copy()
    n_near = 0
    if near:
        for row, _, _ in near_pairs(scan, scan, threshold, is_dup, is_dup):
            gone[row] = True
            n_near += 1
    return [r for r, g in zip(rows, gone, strict=True) if not g], int(is_dup.sum()), n_near


def drop_heldout_copies(rows: list[dict], held: list[dict], threshold: float, near: bool
                        ) -> tuple[list[dict], int, int]:
    """Training candidates equal or nearly equal to a held-out example are removed: (kept, exact, near)."""
    if not rows or not held:
        return rows, 0, 0
    train, frozen = scan_of(rows, "train"), scan_of(held, "heldout")
    exact = np.isin(train.hashes, frozen.hashes)
    gone = exact.copy()
    n_near = 0
    if near:
        held_dup, _ = first_of_each_hash(frozen)
        for row, _, _ in near_pairs(train, frozen, threshold, exact, held_dup):
            gone[row] = True
            n_near += 1
    return [r for r, g in zip(rows, gone, strict=True) if not g], int(exact.sum()), n_near


def quotas(n: int, fractions: dict[str, float], min_heldout: int, min_validation: int = 0) -> dict[str, int]:
    """Rows of one group (a label, or everything) per split: rounded fractions, train keeps at least one."""
    total = sum(fractions.values()) or 1.0
    want = {k: round(n * v / total) if v > 0 else 0 for k, v in fractions.items() if k != "train"}
    for key, least in (("heldout", min_heldout), ("validation", min_validation)):
        if key in want and fractions[key] > 0 and n >= 2:
            want[key] = max(want[key], min(least, n - 1))
    for key in ("validation", "heldout"):  # shrink validation first when the group is too small
        while key in want and want[key] > 0 and sum(want.values()) > n - 1:
            want[key] -= 1
    return {"train": n - sum(want.values()), **want}


def split(rows: list[dict], fractions: dict[str, float], seed: int, stratify: bool, by_time: bool,
          min_heldout: int) -> tuple[dict[str, list[dict]], str]:
    """Deterministic split into train/validation(/heldout): by time, stratified by label, or random."""
    order = list(range(len(rows)))
    parts: dict[str, list[int]] = {k: [] for k in fractions}
    if by_time:
        order.sort(key=lambda i: (rows[i]["time"], i))
        q = quotas(len(rows), fractions, min_heldout, 1)
        cut = q["train"]
        parts["train"] = order[:cut]
        for key in ("validation", "heldout"):
            if key in q:
                parts[key] = order[cut: cut + q[key]]
                cut += q[key]
        method = "time: oldest to train, newest to " + ("heldout" if "heldout" in q else "validation")
    else:
        groups: dict[Any, list[int]] = collections.defaultdict(list)
        for i in order:
            groups[rows[i]["label"] if stratify else None].append(i)
        rng = random.Random(seed)
        for key in sorted(groups, key=str):
            members = groups[key]
            rng.shuffle(members)
            q = quotas(len(members), fractions, min_heldout, 0 if stratify else 1)
            start = 0
            for name in ("heldout", "validation", "train"):
                if name in q:
                    parts[name] += members[start: start + q[name]]
                    start += q[name]
        if fractions.get("validation", 0) > 0 and not parts["validation"] and len(parts["train"]) > 1:
            counts = collections.Counter(rows[i]["label"] for i in parts["train"])
            top = max(counts, key=lambda k: (counts[k], str(k)))  # the most common label can spare one
            moved = next(i for i in reversed(parts["train"]) if rows[i]["label"] == top)
            parts["train"].remove(moved)
            parts["validation"].append(moved)  # training evaluates on validation: it needs one example
        for name in parts:
            parts[name].sort()  # input order within each split: easy to read and to diff
        method = f"stratified by label (seed {seed})" if stratify else f"random (seed {seed})"
    return {k: [rows[i] for i in v] for k, v in parts.items()}, method


def token_stats(splits: dict[str, list[dict]], tokenizer: str | None, chars_per_token: float
                ) -> dict[str, Any]:
    """p50/p95/max tokens per split: the tokenizer's chat template when configured, else a char estimate."""
    tok, note = load_tokenizer(tokenizer) if tokenizer else (None, None)
    method = f"tokenizer {tokenizer}" if tok is not None else f"estimate: 1 token ~ {chars_per_token:g} characters"
    out: dict[str, Any] = {"method": method, **({"note": note} if note else {})}
    for name, rows in splits.items():
        if tok is not None:
            lengths = count_tokens(render([_tuple(r) for r in rows], tok)[0], tok)
        else:
            lengths = [math.ceil(sum(len(m["content"]) for m in r["example"]["messages"]) / chars_per_token)
                       for r in rows]
        out[name] = ({f"p{q}": float(np.percentile(lengths, q)) for q in PERCENTILES} | {"max": int(max(lengths))}
                     if lengths else None)
    return out
