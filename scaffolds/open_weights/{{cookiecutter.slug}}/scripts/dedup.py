"""Exact and near-duplicate detection for the data validator: b-bit MinHash signatures and LSH banding.

Exact duplicates share the hash of their normalized text (case and whitespace folded). Near duplicates are
found by MinHash over word 3-gram shingles (Broder 1997), 16-bit signatures (Li & Koenig 2010) and LSH bands
sized so a pair exactly at the threshold is a candidate at least 95% of the time; candidates are then
confirmed on their signatures. Memory stays flat: 128 bytes of signature per example.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

NUM_PERM = 64  # MinHash permutations: std. error of the Jaccard estimate sqrt(J(1-J)/64) ~ 0.04 at J = 0.9
SIG_BITS = 16  # b-bit MinHash (Li & Koenig 2010): keep the low 16 bits, chance collisions 1/65536
SHINGLE_WORDS = 3  # word 3-grams, the usual shingle for near-duplicate text (Broder 1997)
LSH_RECALL = (
    0.95  # the banding is chosen so a pair exactly at the threshold is a candidate >= 95% of the time
)
MAX_BUCKET_REPS = 256  # a bucket compares each member with at most this many earlier examples: bounded time
MINHASH_BLOCK = 1 << 15  # shingles per vectorized MinHash block: 64 x 32k x 8 bytes = 16 MB at most
ROW_CHUNK = 1 << 16  # signature rows per preallocated block, so the store never copies itself to grow
_rng = np.random.default_rng(20240521)  # fixed seed: the same data always gives the same signatures
PERM_A = _rng.integers(1, 1 << 63, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd: multiply-shift hashing
PERM_B = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)
MIX = _rng.integers(1, 1 << 63, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # shingle and band-key mixing
_CTX: dict[str, Any] = {}  # tokenizer and limits; set before worker processes fork, so they inherit it


def normalize(examples: list[tuple]) -> list[str]:
    """Case- and whitespace-insensitive text of each example, the unit of duplicate detection."""
    return [
        "\x1e".join(
            f"{m['role']}\x1f{' '.join(str(m['content']).casefold().split())}" for m in prompt + completion
        )
        for _, prompt, completion, _ in examples
    ]


def minhash(texts: list[str]) -> np.ndarray:
    """b-bit MinHash signatures (n, NUM_PERM) over word 3-gram shingles, vectorized over the batch."""
    shingles, owner = [], []
    for i, text in enumerate(texts):
        words = np.fromiter(
            map(zlib.crc32, text.encode("utf-8").replace(b"\x1e", b" ").replace(b"\x1f", b" ").split()),
            dtype=np.uint64,
        )
        if len(words) >= SHINGLE_WORDS:
            sh = words[: len(words) - SHINGLE_WORDS + 1] * MIX[0]
            for k in range(1, SHINGLE_WORDS):
                sh = sh ^ (words[k : len(words) - SHINGLE_WORDS + 1 + k] * MIX[k])
        else:
            sh = np.array(
                [int(np.bitwise_xor.reduce(words * MIX[: len(words)])) if len(words) else 0], dtype=np.uint64
            )
        shingles.append(sh)
        owner.append(np.full(len(sh), i, dtype=np.int64))
    flat, ids = np.concatenate(shingles), np.concatenate(owner)
    sig = np.full((NUM_PERM, len(texts)), np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, len(flat), MINHASH_BLOCK):
        block, bids = flat[start : start + MINHASH_BLOCK], ids[start : start + MINHASH_BLOCK]
        hv = (PERM_A[:, None] * block[None, :] + PERM_B[:, None]) >> np.uint64(32)  # multiply-shift hash
        starts = np.flatnonzero(np.r_[True, bids[1:] != bids[:-1]])
        cols = bids[starts]
        sig[:, cols] = np.minimum(sig[:, cols], np.minimum.reduceat(hv, starts, axis=1))
    return (sig.T & np.uint64((1 << SIG_BITS) - 1)).astype(np.uint16)


def rows_per_band(threshold: float) -> int:
    """Largest LSH band (fewest candidates) that still finds a pair at `threshold` with LSH_RECALL."""
    for r in (64, 32, 16, 8, 4, 2, 1):
        if 1 - (1 - threshold**r) ** (NUM_PERM // r) >= LSH_RECALL:
            return r
    return 1


def first_of_each_hash(scan: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mark exact duplicates (normalized-text hash seen on an earlier line); return (is_dup, original row)."""
    order = np.argsort(scan.hashes, kind="stable")
    h = scan.hashes[order]
    new_group = np.r_[True, h[1:] != h[:-1]] if len(h) else np.zeros(0, bool)
    first = order[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]
    original = np.empty_like(order)
    original[order] = first
    return original != np.arange(len(order)), original


def near_pairs(a: Any, b: Any, threshold: float, skip_a: np.ndarray, skip_b: np.ndarray):
    """Yield (row in a, row in b, Jaccard estimate) for near duplicates; a is b means within one file."""
    r = rows_per_band(threshold)
    same = a is b
    flagged = skip_a.copy()
    for band in range(NUM_PERM // r):
        ka = a.band_keys(band, r)
        kb = ka if same else b.band_keys(band, r)
        keys = np.concatenate([ka, kb]) if not same else ka
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True])
        sizes = np.diff(bounds)
        for k in np.flatnonzero(sizes >= 2):  # only buckets holding two or more examples
            members = order[bounds[k] : bounds[k] + sizes[k]]
            if same:
                members = members[~flagged[members]]
                msigs = a.sig(members)
                reps: list[int] = []  # positions in `members` of examples kept as originals
                for j, m in enumerate(members):
                    if reps:
                        sims = (msigs[reps] == msigs[j]).mean(axis=1)
                        best = int(np.argmax(sims))
                        if sims[best] >= threshold:
                            flagged[m] = True
                            yield int(m), int(members[reps[best]]), float(sims[best])
                            continue
                    if len(reps) < MAX_BUCKET_REPS:
                        reps.append(j)
            else:
                in_a = members[members < len(ka)]
                in_a = in_a[~flagged[in_a]]
                in_b = members[members >= len(ka)] - len(ka)
                in_b = in_b[~skip_b[in_b]][:MAX_BUCKET_REPS]
                if not len(in_a) or not len(in_b):
                    continue
                sb = b.sig(in_b)
                for lo in range(0, len(in_a), MAX_BUCKET_REPS):  # blocks bound the (a, b, perm) array
                    part = in_a[lo : lo + MAX_BUCKET_REPS]
                    sims = (a.sig(part)[:, None, :] == sb[None, :, :]).mean(axis=2)
                    best = sims.argmax(axis=1)
                    for i in np.flatnonzero(sims[np.arange(len(part)), best] >= threshold):
                        flagged[part[i]] = True
                        yield int(part[i]), int(in_b[best[i]]), float(sims[i, best[i]])


def duplicate_findings(scan: Any, threshold: float) -> tuple[np.ndarray, int, int]:
    """Exact and near duplicates within one file, as warnings; returns the exact-duplicate mask and counts."""
    is_dup, original = first_of_each_hash(scan)
    for row in np.flatnonzero(is_dup):
        scan.add(
            int(scan.lines[row]),
            "warning",
            "exact_duplicate",
            f"same example as line {int(scan.lines[original[row]])}: remove one copy",
        )
    near = 0
    for row, other, sim in near_pairs(scan, scan, threshold, is_dup, is_dup):
        near += 1
        scan.add(
            int(scan.lines[row]),
            "warning",
            "near_duplicate",
            f"near duplicate of line {int(scan.lines[other])} (Jaccard ~{sim:.2f} >= {threshold})",
        )
    return is_dup, int(is_dup.sum()), near


def leakage_findings(
    train: Any, held: Any, threshold: float, held_dup: np.ndarray
) -> tuple[int, int]:
    """Train examples that also appear, exactly or nearly, in the frozen held-out set: errors."""
    order = np.argsort(held.hashes)
    pos = np.searchsorted(held.hashes[order], train.hashes)
    pos = np.minimum(pos, max(len(order) - 1, 0))
    exact = (held.hashes[order][pos] == train.hashes) if len(order) else np.zeros(len(train.hashes), bool)
    for row in np.flatnonzero(exact):
        train.add(
            int(train.lines[row]),
            "error",
            "leak_exact",
            f"identical to held-out {held.path} line "
            f"{int(held.lines[order[pos[row]]])}: remove it from training (the held-out set is frozen)",
        )
    near = 0
    for row, other, sim in near_pairs(train, held, threshold, exact, held_dup):
        near += 1
        train.add(
            int(train.lines[row]),
            "error",
            "leak_near",
            f"near duplicate of held-out {held.path} line "
            f"{int(held.lines[other])} (Jaccard ~{sim:.2f}): remove it from training",
        )
    return int(exact.sum()), near
