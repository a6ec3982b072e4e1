"""Benchmark the generated training (scripts/train.py) against stock `trl sft`, varied-length data (issue 4).

    python bench/bench_train.py --out /tmp/ftplan-bench-train
    python bench/bench_train.py --repeats 5 --steps 32 --threads 2 --out /tmp/ftplan-bench-train

Builds, locally and in seconds, a small Llama (the scaffold's word-level tokenizer and chat template, wider
and deeper than the smoke model so the matrices dominate the timings) and chat rows whose lengths follow a
log-normal spread clipped to 10-400 tokens. One TRL-only YAML is written; both commands train on it from
fresh output folders, interleaved (ours, stock, stock, ours, ...), with the same seed, data order and
hyperparameters. Tokens/s = the non-padding tokens TRL counts (`num_tokens`) / the Trainer's
`train_runtime`; the ratio is taken per pair, and the median of the pairs is reported. The loss curves come
from each run's final trainer_state.json (full precision); they go to OUT/loss_curves.csv, the timings to
OUT/results.json, and a markdown summary to stdout.
"""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCAFFOLD = ROOT / "scaffolds/open_weights/{{cookiecutter.slug}}"
TRAIN_SCRIPT = SCAFFOLD / "scripts/train.py"
# Bigger than the smoke model (64 wide, 2 layers) so a step is dominated by matrix work, not Python overhead;
# still small enough that a 24-step run takes well under a minute on one CPU thread.
MODEL_SIZES = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
}
TRAIN_ROWS, VALIDATION_ROWS = 512, 64
# Row length in tokens: log-normal (median 60, sigma 0.9) clipped to [10, 400], the spread of real
# support/chat data where a few long rows set the padded width of every batch.
LENGTH_MEDIAN, LENGTH_SIGMA, LENGTH_MIN, LENGTH_MAX = 60, 0.9, 10, 400
TEMPLATE_TOKENS = 5  # <s>, <|user|>, <|assistant|>, the label, </s>
MAX_LENGTH = 512  # above the longest row: nothing is truncated, both runs see every token
BATCH_SIZE = 16
LEARNING_RATE = 1e-3  # the smoke config's order of magnitude for LoRA on a random tiny model
RATIO_GOAL = 1.3  # issue 4


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_workdir(work: Path, seed: int) -> dict:
    """Tokenizer + a random Llama saved with save_pretrained, and train/validation JSONL of varied length."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny = load_module(SCAFFOLD / "scripts/make_tiny_model.py", "make_tiny_model")
    tokenizer = tiny.build_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **MODEL_SIZES,
    )
    LlamaForCausalLM(config).save_pretrained(work / "model")
    tokenizer.save_pretrained(work / "model")

    rng = random.Random(seed)
    lengths = []

    def row() -> dict:
        label = rng.choice(sorted(tiny.TOPICS))
        total = int(min(LENGTH_MAX, max(LENGTH_MIN, rng.lognormvariate(0, LENGTH_SIGMA) * LENGTH_MEDIAN)))
        words = rng.choices(tiny.FILLER, k=max(1, total - TEMPLATE_TOKENS - 1))
        words.insert(rng.randint(0, len(words)), rng.choice(tiny.TOPICS[label]))
        lengths.append(len(words) + TEMPLATE_TOKENS)
        # Conversational prompt/completion: stock `trl sft` and scripts/train.py then both put the loss on
        # the completion only (stock would train `messages` rows on every token, a different objective).
        return {
            "prompt": [{"role": "user", "content": " ".join(words)}],
            "completion": [{"role": "assistant", "content": label}],
        }

    (work / "data").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", TRAIN_ROWS), ("validation", VALIDATION_ROWS)):
        with open(work / "data" / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            for _ in range(n):
                fh.write(json.dumps(row()) + "\n")
    train_lengths = sorted(lengths[:TRAIN_ROWS])
    return {
        "min": train_lengths[0],
        "median": statistics.median(train_lengths),
        "mean": round(statistics.mean(train_lengths), 1),
        "max": train_lengths[-1],
    }


def write_config(work: Path, steps: int) -> Path:
    """One YAML of TRL keys only, read by both commands."""
    config = {
        "model_name_or_path": str(work / "model"),
        "dataset_name": str(work / "data"),
        "dataset_train_split": "train",
        "dataset_test_split": "validation",
        "use_cpu": True,
        "bf16": False,
        "dtype": "float32",
        "use_peft": True,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_target_modules": "all-linear",
        "learning_rate": LEARNING_RATE,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 2,
        "max_length": MAX_LENGTH,
        "completion_only_loss": True,
        "per_device_train_batch_size": BATCH_SIZE,
        "per_device_eval_batch_size": BATCH_SIZE,
        "max_steps": steps,
        "logging_steps": 1,
        "eval_strategy": "steps",
        "eval_steps": steps,  # one evaluation, at the end
        "save_strategy": "steps",
        "save_steps": steps,  # one checkpoint, at the end: its trainer_state.json has full-precision losses
        "report_to": "none",
        "disable_tqdm": True,
        "seed": 0,
    }
    path = work / "bench_train.yaml"
    header = "# bench/bench_train.py: the same TRL config for scripts/train.py and stock `trl sft`\n"
    path.write_text(header + "\n".join(f"{k}: {json.dumps(v)}" for k, v in config.items()) + "\n")
    return path


def run_once(kind: str, config: Path, out: Path, steps: int, threads: int) -> dict:
    """One training run as a subprocess; returns tokens/s, runtime and the loss history."""
    if kind == "ours":
        cmd = [sys.executable, str(TRAIN_SCRIPT), "--config", str(config), "--output_dir", str(out)]
    else:
        cmd = [
            str(Path(sys.executable).parent / "trl"),
            "sft",
            "--config",
            str(config),
            "--output_dir",
            str(out),
        ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{kind} run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    summary = None
    for line in proc.stdout.splitlines():
        if line.startswith("{") and "train_runtime" in line:
            summary = ast.literal_eval(line)
    if summary is None:
        sys.exit(f"{kind} run printed no train_runtime:\n{proc.stdout[-2000:]}")
    state = json.loads((out / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    history = state["log_history"]
    tokens = max(h["num_tokens"] for h in history if "num_tokens" in h)
    runtime = float(summary["train_runtime"])
    return {
        "kind": kind,
        "runtime_s": runtime,
        "wall_s": round(wall, 2),
        "tokens": tokens,
        "tokens_per_s": tokens / runtime,
        "padding_free_log": "Padding-free batches" in proc.stdout + proc.stderr,
        "train_loss": {h["step"]: h["loss"] for h in history if "loss" in h},
        "eval_loss": next(h["eval_loss"] for h in history if "eval_loss" in h),
    }


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def main(out: Path, repeats: int, steps: int, threads: int, seed: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    lengths = build_workdir(out, seed)
    config = write_config(out, steps)
    runs: list[dict] = []
    for i in range(repeats):
        order = ("ours", "stock") if i % 2 == 0 else ("stock", "ours")
        for kind in order:
            runs.append(run_once(kind, config, out / f"run{i}-{kind}", steps, threads))
            print(
                f"pair {i} {kind}: {runs[-1]['tokens_per_s']:.0f} tokens/s, {runs[-1]['runtime_s']:.1f} s",
                file=sys.stderr,
            )
    pairs = [(runs[2 * i], runs[2 * i + 1]) for i in range(repeats)]
    pairs = [(a, b) if a["kind"] == "ours" else (b, a) for a, b in pairs]
    ratios = [o["tokens_per_s"] / s["tokens_per_s"] for o, s in pairs]
    ours0, stock0 = pairs[0]
    steps_logged = sorted(ours0["train_loss"])
    with open(out / "loss_curves.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "train_loss_ours", "train_loss_stock", "rel_diff"])
        for step in steps_logged:
            a, b = ours0["train_loss"][step], stock0["train_loss"].get(step)
            writer.writerow([step, a, b, rel_diff(a, b) if b is not None else ""])
        writer.writerow(
            [
                "eval",
                ours0["eval_loss"],
                stock0["eval_loss"],
                rel_diff(ours0["eval_loss"], stock0["eval_loss"]),
            ]
        )
    train_diffs = [
        rel_diff(o["train_loss"][k], s["train_loss"][k]) for o, s in pairs for k in o["train_loss"]
    ]
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg(), "platform": platform.platform()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "threads": threads,
        "steps": steps,
        "batch": BATCH_SIZE,
        "model": MODEL_SIZES,
        "row_tokens": lengths,
        "tokens_per_s": {
            "ours": statistics.median(o["tokens_per_s"] for o, _ in pairs),
            "stock": statistics.median(s["tokens_per_s"] for _, s in pairs),
        },
        "ratios": ratios,
        "ratio_median": statistics.median(ratios),
        "tokens_per_run": {"ours": ours0["tokens"], "stock": stock0["tokens"]},
        "ours_padding_free": all(o["padding_free_log"] for o, _ in pairs),
        "max_rel_diff_train_loss": max(train_diffs),
        "max_rel_diff_final_train_loss": max(
            rel_diff(o["train_loss"][steps], s["train_loss"][steps]) for o, s in pairs
        ),
        "max_rel_diff_eval_loss": max(rel_diff(o["eval_loss"], s["eval_loss"]) for o, s in pairs),
        "eval_loss": {
            "ours": [o["eval_loss"] for o, _ in pairs],
            "stock": [s["eval_loss"] for _, s in pairs],
        },
        "runs": [{k: v for k, v in r.items() if k != "train_loss"} for r in runs],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    tps = results["tokens_per_s"]
    print("| run | tokens/s (median) |\n|---|---|")
    print(f"| scripts/train.py (padding-free: {results['ours_padding_free']}) | {tps['ours']:.0f} |")
    print(f"| stock trl sft | {tps['stock']:.0f} |")
    print(
        f"\nratio per pair: {', '.join(f'{r:.2f}' for r in ratios)}; median {results['ratio_median']:.2f} "
        f"(goal >= {RATIO_GOAL})"
    )
    print(
        f"loss agreement: max relative difference, train loss over all steps "
        f"{results['max_rel_diff_train_loss']:.2e}, final eval loss {results['max_rel_diff_eval_loss']:.2e}"
    )
    print(f"row tokens: {lengths}; {results['machine']}")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/ftplan-bench-train"))
    parser.add_argument("--repeats", type=int, default=3, help="interleaved pairs; the median is reported")
    parser.add_argument("--steps", type=int, default=24, help="optimizer steps per run")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each run")
    parser.add_argument("--seed", type=int, default=0, help="model init and data")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    main(args.out, args.repeats, args.steps, args.threads, args.seed)
