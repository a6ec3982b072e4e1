"""Text-overlap metrics that reproduce the reference implementations exactly (tests compare them):

- ROUGE-L F-measure as Google's `rouge-score` computes it (`RougeScorer(["rougeL"])`, no stemming): lowercase,
  every run of characters outside [a-z0-9] becomes a space, LCS of the tokens (Lin 2004).
- chrF as `sacrebleu.CHRF()` (character 6-grams, beta 2, whitespace removed; Popovic 2015): precision and
  recall averaged over the orders both sides have, then one F-score, corpus level from summed statistics.
- BLEU as `sacrebleu.BLEU()` (13a tokenizer, 4-grams, exponential smoothing, brevity penalty; Papineni 2002,
  Post 2018), corpus level from summed statistics.

Scores are in [0, 1] (sacrebleu prints 100 times these). Each corpus metric keeps per-example counts, so
scripts/stats.py resamples them with a matrix product.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

CHRF_CHAR_ORDER, CHRF_BETA = 6, 2  # sacrebleu's CHRF() defaults
BLEU_ORDER = 4  # sacrebleu's BLEU() default max_ngram_order
_ROUGE_SPLIT = re.compile(r"[^a-z0-9]+")
_13A = [  # sacrebleu.tokenizers.tokenizer_re.TokenizerRegexp, the language-dependent part of 13a
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def rouge_tokens(text: str) -> list[str]:
    return [t for t in _ROUGE_SPLIT.sub(" ", text.lower()).split() if t]


def rouge_l(hyp: str, ref: str) -> float:
    """ROUGE-L F1 of the longest common subsequence of tokens; 0 when either side has no token."""
    h, r = rouge_tokens(hyp), rouge_tokens(ref)
    if not h or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for tok in h:
        cur = [0]
        for j, rt in enumerate(r):
            cur.append(prev[j] + 1 if tok == rt else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(h) + len(r))


def _char_ngrams(text: str, n: int) -> Counter:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def chrf_stats(hyp: str, ref: str) -> list[int]:
    """(hyp n-grams, ref n-grams, matches) for character orders 1..6, whitespace removed; like sacrebleu, an
    order the reference is too short for counts no hypothesis n-grams either."""
    h, r = "".join(hyp.split()), "".join(ref.split())
    stats = []
    for n in range(1, CHRF_CHAR_ORDER + 1):
        hc, rc = _char_ngrams(h, n), _char_ngrams(r, n)
        n_ref = max(len(r) - n + 1, 0)
        stats += [max(len(h) - n + 1, 0) if n_ref else 0, n_ref, sum((hc & rc).values())]
    return stats


def chrf_from_sums(total: np.ndarray) -> np.ndarray:
    """Corpus chrF from summed statistics (..., 18), sacrebleu 2.x's formula."""
    t = np.asarray(total, dtype=float).reshape(*np.shape(total)[:-1], CHRF_CHAR_ORDER, 3)
    n_hyp, n_ref, n_match = t[..., 0], t[..., 1], t[..., 2]
    used = (n_hyp > 0) & (n_ref > 0)
    orders = used.sum(axis=-1)
    p = np.divide(n_match, n_hyp, out=np.zeros_like(n_match), where=used).sum(axis=-1)
    r = np.divide(n_match, n_ref, out=np.zeros_like(n_match), where=used).sum(axis=-1)
    p = np.divide(p, orders, out=np.zeros(orders.shape), where=orders > 0)
    r = np.divide(r, orders, out=np.zeros(orders.shape), where=orders > 0)
    b2 = CHRF_BETA**2
    denom = b2 * p + r
    return np.divide((1 + b2) * p * r, denom, out=np.zeros(denom.shape), where=(p + r) > 0)


def tokenize_13a(line: str) -> list[str]:
    """sacrebleu's default BLEU tokenizer (mteval-v13a)."""
    line = line.rstrip().replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _13A:
        line = pattern.sub(repl, line)
    return line.split()


def bleu_stats(hyp: str, ref: str) -> list[int]:
    """[hyp length, ref length, matches 1..4, hyp n-grams 1..4] of one segment."""
    h, r = tokenize_13a(hyp), tokenize_13a(ref)
    correct, total = [], []
    for n in range(1, BLEU_ORDER + 1):
        hc = Counter(tuple(h[i : i + n]) for i in range(len(h) - n + 1))
        rc = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
        correct.append(sum((hc & rc).values()))
        total.append(sum(hc.values()))
    return [len(h), len(r), *correct, *total]


def bleu_from_sums(total: np.ndarray) -> np.ndarray:
    """Corpus BLEU from summed statistics (..., 10), sacrebleu's compute_bleu with smooth_method='exp'."""
    t = np.asarray(total, dtype=float)
    sys_len, ref_len = t[..., 0], t[..., 1]
    correct, count = t[..., 2 : 2 + BLEU_ORDER], t[..., 2 + BLEU_ORDER :]
    zero = correct == 0
    halvings = np.cumsum(zero, axis=-1)  # sacrebleu doubles its smoothing divisor at each order with no match
    safe = np.where(count > 0, count, 1.0)
    prec = np.where(zero, 1.0 / (2.0**halvings * safe), correct / safe)
    log_mean = np.log(prec).mean(axis=-1)
    bp = np.where(sys_len >= ref_len, 1.0,
                  np.exp(1 - np.divide(ref_len, sys_len, out=np.ones_like(ref_len), where=sys_len > 0)))
    bp = np.where((sys_len == 0) & (ref_len > 0), 0.0, bp)
    valid = (count > 0).all(axis=-1) & ~zero.all(axis=-1)
    return np.where(valid, bp * np.exp(log_mean), 0.0)
