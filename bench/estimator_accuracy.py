"""How close ftplan's peak-memory estimate comes to published, measured peaks -- next to the alternatives.

Run:
    /work/venv/bin/python bench/estimator_accuracy.py                 # table
    /work/venv/bin/python bench/estimator_accuracy.py --format json   # machine-readable
    /work/venv/bin/python bench/estimator_accuracy.py --ftune-python /tmp/ftune/bin/python   # add ftune

Rows come from tests/fixtures/published_peaks.yaml (each with its source and settings). For every row it
prints the published figure, ftplan's estimate of the same measurement (allocated / reserved / nvidia-smi,
see MemoryEstimate.as_measured), the LLaMA-Factory rule of thumb, a weights-only estimate and, when a
Python with `ftuneai` installed is given, ftune's estimate; then each method's mean absolute percentage
error (MAPE) on the holdout rows and on all rows. All figures in GiB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from statistics import mean

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator.catalog import Architecture  # noqa: E402
from generator.plan.memory import GIB, estimate_memory, weights_only_gb  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "published_peaks.yaml"
GB = 1e9
# LLaMA-Factory README, "Hardware Requirement" (estimated GB for x billion parameters, 16-bit LoRA and
# 4-bit QLoRA; full fine-tuning with AMP): the rule of thumb REFERENCES.md asks us to beat.
RULE_OF_THUMB_GB_PER_B = {"full": 18.0, "lora": 2.0, "qlora": 0.5}
SHARDED = ("fsdp", "zero3")
# ftune's names for the LoRA targets the rows use.
FTUNE_TARGETS = {("q_proj", "v_proj"): "attention", ("all-linear",): "all_linear"}
FTUNE_SHARDING = {"ddp": "none", "fsdp": "fsdp", "zero3": "zero_3"}

FTUNE_SCRIPT = r"""
import json, sys
from importlib.metadata import version
from ftuneai.core.memory import MemoryEstimator
from ftuneai.core.models import ModelSpec, TrainingConfig, FineTuneMethod, Quantization, OptimizerType, \
    LoRATarget, ShardingStrategy
out = {"version": version("ftuneai"), "rows": {}}
for r in json.load(sys.stdin):
    spec = ModelSpec(name=r["id"], parameters=r["params"], hidden_size=r["hidden_size"],
                     num_layers=r["num_layers"], num_attention_heads=r["heads"], num_kv_heads=r["kv_heads"],
                     intermediate_size=r["ffn"], vocab_size=r["vocab"],
                     max_seq_length=max(4096, r["seq_len"]))
    cfg = TrainingConfig(model=r["id"], method=FineTuneMethod(r["method"]),
                         quantization=Quantization("4bit" if r["method"] == "qlora" else "none"),
                         batch_size=r["batch_size"], seq_length=r["seq_len"],
                         gradient_checkpointing=r["grad_ckpt"], optimizer=OptimizerType("adamw"),
                         lora_rank=r["lora_r"], lora_alpha=2 * r["lora_r"],
                         lora_target=LoRATarget(r["target"]),
                         flash_attention=True, sharding=ShardingStrategy(r["sharding"]), num_gpus=r["gpus"])
    out["rows"][r["id"]] = MemoryEstimator(spec, cfg).estimate().total_gb
print(json.dumps(out))
"""


def load_fixture(path: Path = FIXTURE) -> tuple[dict[str, Architecture], dict[str, dict], list[dict]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    models = {name: Architecture(**spec) for name, spec in data["models"].items()}
    return models, data["sources"], data["rows"]


def published_gib(row: dict, source: dict) -> float:
    return row["published_gb"] * (GB / GIB if source["unit"] == "GB" else 1.0)


def ftplan_gib(row: dict, source: dict, arch: Architecture) -> float:
    est = estimate_memory(
        arch,
        method=row["method"],
        seq_len=row["seq_len"],
        batch_size=row["batch_size"],
        grad_ckpt=row["grad_ckpt"],
        lora_r=row["lora_r"],
        lora_targets=row["lora_targets"],
        optimizer=row["optimizer"],
        gpus=row["gpus"],
        sharding=row["sharding"],
        **source["stack"],
    )
    return est.as_measured(source["metric"])


def rule_of_thumb_gib(row: dict, arch: Architecture) -> float:
    total = RULE_OF_THUMB_GB_PER_B[row["method"]] * arch.param_count() / 1e9
    return total / row["gpus"] if row["sharding"] in SHARDED else total


def weights_only_per_gpu_gib(row: dict, arch: Architecture) -> float:
    total = weights_only_gb(arch, row["method"])
    return total / row["gpus"] if row["sharding"] in SHARDED else total


def ftune_gib(rows: list[dict], models: dict[str, Architecture], python: str) -> tuple[str, dict[str, float]]:
    """ftune's total_gb (GiB, incl. its 20% CUDA overhead) for the same rows, run in ftune's own venv."""
    payload = []
    for row in rows:
        arch = models[row["model"]]
        payload.append({
            "id": row["id"], "params": arch.param_count(), "hidden_size": arch.hidden_size,
            "num_layers": arch.num_layers, "heads": arch.num_attention_heads, "kv_heads": arch.num_kv_heads,
            "ffn": arch.intermediate_size, "vocab": arch.vocab_size, "seq_len": row["seq_len"],
            "method": row["method"], "batch_size": row["batch_size"], "grad_ckpt": row["grad_ckpt"],
            "lora_r": row["lora_r"], "target": FTUNE_TARGETS[tuple(row["lora_targets"])],
            "sharding": FTUNE_SHARDING[row["sharding"]], "gpus": row["gpus"],
        })
    done = subprocess.run([python, "-c", FTUNE_SCRIPT], input=json.dumps(payload), capture_output=True,
                          text=True, check=True, timeout=120)
    result = json.loads(done.stdout)
    return result["version"], result["rows"]


def ape(estimate: float, published: float) -> float:
    return abs(estimate - published) / published * 100.0


def evaluate(ftune_python: str | None = None, path: Path = FIXTURE) -> dict:
    """Every row's figures and each method's MAPE (holdout and all rows)."""
    models, sources, rows = load_fixture(path)
    ftune_version, ftune_rows = (None, {})
    if ftune_python:
        ftune_version, ftune_rows = ftune_gib(rows, models, ftune_python)
    table = []
    for row in rows:
        arch, source = models[row["model"]], sources[row["source"]]
        entry = {
            "id": row["id"], "use": row["use"], "metric": source["metric"],
            "published": published_gib(row, source),
            "ftplan": ftplan_gib(row, source, arch),
            "rule_of_thumb": rule_of_thumb_gib(row, arch),
            "weights_only": weights_only_per_gpu_gib(row, arch),
        }
        if row["id"] in ftune_rows:
            entry["ftune"] = ftune_rows[row["id"]]
        table.append(entry)
    methods = ["ftplan", "rule_of_thumb", "weights_only"] + (["ftune"] if ftune_rows else [])
    mape = {}
    for subset in ("holdout", "calibrate", "all"):
        # "context" rows are shown but never scored: their settings are not pinned (see the fixture).
        chosen = [e for e in table if e["use"] == subset or (subset == "all" and e["use"] != "context")]
        mape[subset] = {m: mean(ape(e[m], e["published"]) for e in chosen) for m in methods}
        mape[subset]["rows"] = len(chosen)
    return {"unit": "GiB", "ftune_version": ftune_version, "rows": table, "mape_percent": mape}


def render_table(result: dict) -> str:
    methods = [m for m in ("ftplan", "rule_of_thumb", "weights_only", "ftune") if m in result["rows"][0]]
    head = f"{'row':<36} {'use':<9} {'metric':<10} {'published':>9} " + " ".join(f"{m:>13}" for m in methods)
    lines = [head, "-" * len(head)]
    for e in result["rows"]:
        cells = " ".join(f"{e[m]:>7.2f} {e[m] / e['published'] * 100 - 100:>+4.0f}%" for m in methods)
        lines.append(f"{e['id']:<36} {e['use']:<9} {e['metric']:<10} {e['published']:>9.2f} {cells}")
    lines.append("")
    for subset, scores in result["mape_percent"].items():
        parts = ", ".join(f"{m} {scores[m]:.1f}%" for m in methods)
        lines.append(f"MAPE {subset} ({scores['rows']} rows): {parts}")
    lines.append("All figures GiB; +x% = estimate above the published peak; 'context' rows are not scored.")
    if result["ftune_version"]:
        lines.append(f"ftune: ftuneai {result['ftune_version']} (MemoryEstimator.total_gb, same models)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--ftune-python", default=None,
                        help="a Python with ftuneai installed, e.g. /tmp/ftune/bin/python (optional)")
    args = parser.parse_args(argv)
    if args.ftune_python and not Path(args.ftune_python).exists():
        print(f"--ftune-python: {args.ftune_python} does not exist — install ftuneai into a venv first",
              file=sys.stderr)
        return 1
    result = evaluate(args.ftune_python)
    print(json.dumps(result, indent=2) if args.format == "json" else render_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
