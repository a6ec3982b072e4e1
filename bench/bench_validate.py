"""Benchmark the scaffold's data validator against the straightforward yardstick (issue 4).

    python bench/bench_validate.py --rows 100000 --baseline --out /tmp/ftplan-bench
    python bench/bench_validate.py --rows 1000000 --out /tmp/ftplan-bench

Generates chat rows of varied length (Zipf words, log-normal lengths, system prompts, multi-turn, injected
duplicates, near duplicates, defects and held-out leaks), trains a small BPE tokenizer with a ChatML
template locally, then runs bench/validate_baseline.py and scripts/validate_data.py on the same files as
subprocesses, recording wall time, the peak RSS of the main process and the peak RSS summed over the
process tree (workers included). Results go to OUT/results.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / "scaffolds/open_weights/{{cookiecutter.slug}}/scripts/validate_data.py"
BASELINE = ROOT / "bench/validate_baseline.py"
VOCAB_WORDS = 8000  # pseudo-words; Zipf exponent 1.1 gives English-like frequency skew (Zipf 1949)
ZIPF_S = 1.1
USER_MEDIAN_WORDS, USER_SIGMA = 40, 0.8  # log-normal prompt length: median 40 words, long right tail
ANSWER_MEDIAN_WORDS, ANSWER_SIGMA = 25, 0.7
LABELS = ("billing", "bug", "account", "feature_request", "refund", "other")
LABEL_SHARE, SYSTEM_SHARE, MULTI_TURN_SHARE = 0.6, 0.3, 0.15
DUP_SHARE, NEAR_SHARE, BAD_SHARE, LEAK_SHARE = 0.005, 0.005, 0.0005, 0.0002
HELDOUT_ROWS = 2000
RECENT_ROWS = 1000  # duplicates copy one of the last 1000 rows
MAX_SEQ_LENGTH = 1024
BPE_VOCAB = 8000
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SAMPLE_S = 0.05  # RSS sampling period


class Corpus:
    """Draws word sequences quickly: a Zipf-weighted pseudo-vocabulary sampled in bulk with numpy."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "gu", "zi", "or", "an", "el"]
        words = set()
        wrng = np.random.default_rng(0)
        while len(words) < VOCAB_WORDS:
            words.add("".join(wrng.choice(syll, size=wrng.integers(1, 5))))
        self.vocab = sorted(words)
        weights = 1.0 / np.arange(1, VOCAB_WORDS + 1) ** ZIPF_S
        self.p = weights / weights.sum()
        self.pool: list[str] = []
        self.at = 0

    def words(self, n: int) -> str:
        if self.at + n > len(self.pool):
            idx = self.rng.choice(VOCAB_WORDS, size=max(n, 1 << 20), p=self.p)
            self.pool, self.at = [self.vocab[i] for i in idx.tolist()], 0
        self.at += n
        return " ".join(self.pool[self.at - n : self.at])

    def length(self, median: int, sigma: float) -> int:
        return int(np.clip(self.rng.lognormal(np.log(median), sigma), 2, 4000))

    def example(self) -> dict:
        r = self.rng.random
        msgs = []
        if r() < SYSTEM_SHARE:
            msgs.append({"role": "system", "content": f"You are support agent {int(r() * 5)}. Be brief."})
        turns = 2 if r() < MULTI_TURN_SHARE else 1
        for t in range(turns):
            msgs.append({"role": "user", "content": self.words(self.length(USER_MEDIAN_WORDS, USER_SIGMA))})
            if r() < LABEL_SHARE and t == turns - 1:
                answer = LABELS[int(self.rng.integers(len(LABELS)))]
            else:
                answer = self.words(self.length(ANSWER_MEDIAN_WORDS, ANSWER_SIGMA))
            msgs.append({"role": "assistant", "content": answer})
        return {"messages": msgs}


def near_copy(row: dict, corpus: Corpus) -> dict:
    msgs = [dict(m) for m in row["messages"]]
    user = next(m for m in msgs if m["role"] == "user")
    user["content"] = user["content"] + " " + corpus.words(1)
    return {"messages": msgs}


def generate(out: Path, rows: int) -> tuple[Path, Path]:
    """Write heldout.jsonl and train_<rows>.jsonl (reused when already there)."""
    held_path, train_path = out / "heldout.jsonl", out / f"train_{rows}.jsonl"
    held_corpus = Corpus(seed=7)
    held = [held_corpus.example() for _ in range(HELDOUT_ROWS)]
    if not held_path.exists():
        held_path.write_text("".join(json.dumps(h) + "\n" for h in held), encoding="utf-8")
    if train_path.exists():
        return train_path, held_path
    corpus = Corpus(seed=rows)
    recent: list[dict] = []
    with open(train_path, "w", encoding="utf-8") as fh:
        for _ in range(rows):
            u = corpus.rng.random()
            if recent and u < DUP_SHARE:
                row = recent[int(corpus.rng.integers(len(recent)))]
            elif recent and u < DUP_SHARE + NEAR_SHARE:
                row = near_copy(recent[int(corpus.rng.integers(len(recent)))], corpus)
            elif u < DUP_SHARE + NEAR_SHARE + LEAK_SHARE:
                row = held[int(corpus.rng.integers(len(held)))]
            elif u < DUP_SHARE + NEAR_SHARE + 2 * LEAK_SHARE:
                row = near_copy(held[int(corpus.rng.integers(len(held)))], corpus)
            elif u < DUP_SHARE + NEAR_SHARE + 2 * LEAK_SHARE + BAD_SHARE:
                fh.write(json.dumps(corpus.example())[:-7] + "\n")  # truncated JSON
                continue
            else:
                row = corpus.example()
                recent.append(row)
                if len(recent) > RECENT_ROWS:
                    recent.pop(0)
            fh.write(json.dumps(row) + "\n")
    return train_path, held_path


def build_tokenizer(out: Path) -> Path:
    """A byte-level BPE trained on the held-out text, with a ChatML template and EOS <|im_end|>."""
    folder = out / "tokenizer"
    if (folder / "tokenizer.json").exists():
        return folder
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    texts = [m["content"] for line in (out / "heldout.jsonl").open() for m in json.loads(line)["messages"]]
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=specials))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHATML
    tok.save_pretrained(folder)
    return folder


def measure(cmd: list[str]) -> dict:
    """Run `cmd`: wall and CPU seconds, exit code, peak RSS of the main process, peak RSS and PSS of the tree.

    RSS summed over forked workers counts their shared copy-on-write pages once per process; PSS (the
    proportional set size) splits shared pages among the processes, so its sum is the real footprint.
    """
    import resource

    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak = {"main": 0, "tree": 0, "pss": 0}
    while proc.poll() is None:
        try:
            procs = [ps, *ps.children(recursive=True)]
            rss = [p.memory_info().rss for p in procs]
            pss = sum(p.memory_full_info().pss for p in procs)
        except psutil.Error:
            continue
        peak = {
            "main": max(peak["main"], rss[0]),
            "tree": max(peak["tree"], sum(rss)),
            "pss": max(peak["pss"], pss),
        }
        time.sleep(SAMPLE_S)
    output = proc.communicate()[0]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_main_mb": round(peak["main"] / 2**20),
        "peak_rss_tree_mb": round(peak["tree"] / 2**20),
        "peak_pss_tree_mb": round(peak["pss"] / 2**20),
        "output_tail": output[-600:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--out", default="/tmp/ftplan-bench")
    ap.add_argument("--baseline", action="store_true", help="also time the yardstick")
    ap.add_argument("--workers", type=int, nargs="*", default=[], help="extra --workers values to time")
    ap.add_argument("--no-default", action="store_true", help="skip the run with the default --workers")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    train, held = generate(out, args.rows)
    tok = build_tokenizer(out)
    print(
        f"data: {train} ({train.stat().st_size / 2**20:.0f} MB), ready in {time.perf_counter() - t0:.0f}s;"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    common = [
        str(train),
        "--heldout",
        str(held),
        "--tokenizer",
        str(tok),
        "--max-seq-length",
        str(MAX_SEQ_LENGTH),
    ]
    runs = []
    if args.baseline:
        runs.append(
            ("yardstick", [sys.executable, str(BASELINE), *common, "--report", str(out / "base.json")])
        )
    if not args.no_default:
        default = [sys.executable, str(VALIDATOR), *common, "--report", str(out / "new.json")]
        runs.append(("validate_data.py", default))
    for w in args.workers:
        runs.append(
            (
                f"validate_data.py --workers {w}",
                [
                    sys.executable,
                    str(VALIDATOR),
                    *common,
                    "--workers",
                    str(w),
                    "--report",
                    str(out / f"new_w{w}.json"),
                ],
            )
        )
    results = []
    for name, cmd in runs:
        res = measure(cmd) | {"name": name, "rows": args.rows}
        print(json.dumps({k: v for k, v in res.items() if k != "output_tail"}), flush=True)
        results.append(res)
    path = out / "results.json"
    previous = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(previous + results, indent=2) + "\n")
    print("| run | rows | wall s | CPU s | peak RSS main MB | peak RSS tree MB | peak PSS tree MB | exit |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']} | {r['rows']:,} | {r['wall_s']} | {r['cpu_s']} | {r['peak_rss_main_mb']} "
            f"| {r['peak_rss_tree_mb']} | {r['peak_pss_tree_mb']} | {r['exit']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
