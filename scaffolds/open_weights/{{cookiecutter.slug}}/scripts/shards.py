"""Sharded training on CPU processes, and the proof that each process held only its shard (`make smoke-fsdp`).

    make smoke-fsdp                                               # FSDP2, 2 CPU processes, then the evaluation
    FTPLAN_SHARD_REPORT=smoke/reports/shards accelerate launch --config_file configs/accelerate/fsdp.yaml \\
        --num_processes 2 --mixed_precision no scripts/train.py --config configs/smoke.yaml
    python scripts/shards.py check smoke/reports/shards --world-size 2 --expect FSDP   # each rank held ~1/2

scripts/train.py calls `callbacks()` before it builds the trainer. Two things happen there:

- accelerate (1.x) turns `distributed_type: FSDP` into FSDP only on accelerators: on CPU processes its state
  stays MULTI_CPU, drops the FSDP plugin, and the Trainer wraps the model in DDP, so a CPU launch of
  configs/accelerate/fsdp.yaml silently replicated the model. When the launcher asked for FSDP
  (ACCELERATE_USE_FSDP=true) and there is no GPU, the state is promoted to FSDP with the plugin accelerate
  built from the launcher's settings, exactly what it does on GPUs; nothing changes where a GPU is present.
  DeepSpeed needs no such help, only flags: `--use_cpu false --ddp_backend gloo` (accelerate enables it only
  without use_cpu, and with no backend named it counts one process), as `make smoke-deepspeed` passes;
- with FTPLAN_SHARD_REPORT=DIR, every rank writes DIR/rank<N>.json once its model is wrapped, and again after
  the first step: the elements of each parameter it holds (a DTensor's `to_local()`, a ZeRO-3 parameter's
  `ds_tensor`, or the whole tensor where it is replicated or kept gathered) against the full parameter, the
  sharded and the replicated apart, and the optimizer state it holds.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, run  # noqa: E402

REPORT_ENV = "FTPLAN_SHARD_REPORT"
# Slack around 1/world_size. FSDP2 cuts each parameter into world_size chunks along dim 0, the last ones short
# when the rows do not divide evenly (the tiny model's 127-row embedding: 64 and 63 rows, so 0.5005 and 0.4995
# of its weights); ZeRO-3 pads every partition to the same size.
TOLERANCE = 0.05
# deepspeed/runtime/zero/config.py: stage3_param_persistence_threshold's default, which accelerate's
# deepspeed_config keeps (the Trainer's 10 x hidden_size applies to "auto" in a DeepSpeed JSON only).
PERSISTENCE_DEFAULT = 100_000


def enable_cpu_fsdp() -> bool:
    """Let accelerate shard with FSDP on CPU processes when the launcher asked for FSDP; True if it will."""
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true":
        return False
    import torch

    if torch.cuda.is_available():
        return False  # accelerate's own path: nothing to do
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    init = AcceleratorState.__init__
    if getattr(init, "_ftplan_cpu_fsdp", False):
        return True

    @functools.wraps(init)
    def promote(self, *args, fsdp_plugin=None, **kwargs):
        init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if fsdp_plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
            self.distributed_type = DistributedType.FSDP  # what accelerate does for MULTI_GPU (state.py)
            if self._mixed_precision != "no":
                fsdp_plugin.set_mixed_precision(self._mixed_precision)
            self.fsdp_plugin = fsdp_plugin
            PartialState._shared_state["distributed_type"] = self.distributed_type  # as state.py does

    promote._ftplan_cpu_fsdp = True  # type: ignore[attr-defined]
    AcceleratorState.__init__ = promote
    return True


def held(param) -> tuple[int, int, bool, int]:
    """(elements of this rank's shard, of the full parameter, sharded?, elements kept gathered besides)."""
    from torch.distributed.tensor import DTensor

    if isinstance(param, DTensor):  # FSDP2 registers DTensors only while resharded (plain tensors when gathered)
        sharded = any(p.is_shard() for p in param.placements)
        return param.to_local().numel(), param.numel(), sharded, 0
    if hasattr(param, "ds_numel"):  # DeepSpeed ZeRO-3: this rank's partition is ds_tensor; `data` is empty
        # unless gathered: a parameter under stage3_param_persistence_threshold stays gathered after first use
        return param.ds_tensor.numel(), param.ds_numel, True, param.data.numel()
    return param.numel(), param.numel(), False, 0


def tally(named) -> dict[str, Any]:
    """Element counts of (name, tensor) pairs held here against the full ones, the sharded and replicated apart."""
    out: dict[str, Any] = {"sharded": {"local": 0, "full": 0, "tensors": 0, "gathered": 0},
                           "replicated": {"local": 0, "full": 0, "tensors": 0, "names": []}}
    for name, tensor in named:
        local, full, sharded, gathered = held(tensor)
        part = out["sharded" if sharded else "replicated"]
        part["local"] += local
        part["full"] += full
        part["tensors"] += 1
        if sharded:
            part["gathered"] += gathered
        else:
            part["names"].append(name)
    for part in out.values():
        part["fraction"] = round(part["local"] / part["full"], 6) if part["full"] else None
    return out


def optimizer_state(optimizer, trainable_full: int) -> dict[str, Any]:
    """Elements of optimizer state (Adam's moments) this rank holds, against one full copy of it.

    FSDP2 keeps the moments as DTensors shaped like their parameters; DeepSpeed ZeRO keeps them on flat fp32
    partitions of its own, so their full size is (moments per parameter) x (trainable elements).
    """
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's AcceleratedOptimizer wraps the real one
    zero = hasattr(inner, "fp32_partitioned_groups_flat") or hasattr(inner, "single_partition_of_fp32_groups")
    if zero:
        inner = inner.optimizer  # the torch optimizer stepping this rank's flat partition
    pairs, kinds = [], set()
    for param, state in getattr(inner, "state", {}).items():
        for key, value in state.items():
            if hasattr(value, "numel") and value.dim() > 0:
                pairs.append((f"{key}:{tuple(param.shape)}", value))
                kinds.add(key)
    if not zero:
        return tally(pairs)
    local = sum(v.numel() for _, v in pairs)
    full = len(kinds) * trainable_full
    return {"sharded": {"local": local, "full": full, "tensors": len(pairs),
                        "fraction": round(local / full, 6) if full else None},
            "replicated": {"local": 0, "full": 0, "tensors": 0, "names": [], "fraction": None}}


def report_callback(out_dir: Path):
    """A TrainerCallback writing this rank's shard report once the model is wrapped and has taken a step."""
    from transformers import TrainerCallback

    class ShardReport(TrainerCallback):
        def __init__(self) -> None:
            self.report: dict[str, Any] = {}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            import torch.distributed as dist
            from accelerate.state import AcceleratorState

            self.report = {
                "rank": dist.get_rank() if dist.is_initialized() else 0,
                "world_size": dist.get_world_size() if dist.is_initialized() else 1,
                "distributed_type": str(AcceleratorState().distributed_type).split(".")[-1],
                "wrapper": type(model).__name__,
                "when": "wrapped, before the first step",
                **self.held(model),
            }
            self.write()

        def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
            # After a whole step: what stays resident (ZeRO-3 keeps small parameters gathered from the first
            # forward on, FSDP2 reshards after backward) and the optimizer state, created by the first step.
            if self.report and self.report["when"] != "after the first step" and optimizer is not None:
                self.report.update(when="after the first step", **self.held(model))
                trainable = self.report["trainable"]
                full = trainable["sharded"]["full"] + trainable["replicated"]["full"]
                self.report["optimizer_state"] = optimizer_state(optimizer, full)
                self.write()

        @staticmethod
        def held(model) -> dict[str, Any]:
            return {"parameters": tally(model.named_parameters()),
                    "trainable": tally((n, p) for n, p in model.named_parameters() if p.requires_grad),
                    "buffers": tally(model.named_buffers())}

        def write(self) -> None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"rank{self.report['rank']}.json"
            path.write_text(json.dumps(self.report, indent=2) + "\n", encoding="utf-8")

    return ShardReport()


def callbacks() -> list:
    """Called by scripts/train.py before the trainer exists: FSDP on CPU processes, the report when asked."""
    enable_cpu_fsdp()
    out = os.environ.get(REPORT_ENV)
    return [report_callback(Path(out))] if out else []


def check(out_dir: Path, world_size: int, tolerance: float = TOLERANCE, expect: str | None = None) -> list[str]:
    """Every rank's report present, the world size (and wrapper) right, each rank's share of the sharded ~1/N."""
    paths = sorted(out_dir.glob("rank*.json"))
    if not paths:
        raise UserError(f"{out_dir}: no rank*.json. Fix: run the training with {REPORT_ENV}={out_dir}")
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    problems, lines = [], []
    if len(reports) != world_size:
        problems.append(f"{len(reports)} rank reports in {out_dir}, expected {world_size}")
    want = 1 / world_size
    for r in reports:
        if r["world_size"] != world_size:
            problems.append(f"rank {r['rank']}: world size {r['world_size']}, expected {world_size}")
        if expect and r["distributed_type"] != expect:
            problems.append(f"rank {r['rank']}: trained as {r['distributed_type']}, expected {expect}")
        shown = []
        for kind in ("parameters", "trainable", "optimizer_state"):
            part = (r.get(kind) or {}).get("sharded") or {}
            frac = part.get("fraction")
            if not frac:
                problems.append(f"rank {r['rank']}: no sharded {kind} (wrapper {r['wrapper']}): not sharded")
                continue
            if abs(frac - want) > tolerance:
                problems.append(f"rank {r['rank']}: holds {frac:.3f} of the sharded {kind}, expected "
                                f"{want:.3f} +- {tolerance}")
            shown.append(f"{kind} {part['local']:,}/{part['full']:,} = {frac:.3f}")
            if kind == "parameters" and part.get("gathered"):
                shown.append(f"and {part['gathered']:,} parameter elements kept gathered (ZeRO-3 persistence)")
        rep = r["parameters"]["replicated"]
        shown.append(f"replicated {rep['full']:,} parameter elements in {rep['tensors']} tensors, "
                     f"{r['buffers']['replicated']['full']:,} buffer elements")
        lines.append(f"rank {r['rank']}/{r['world_size']} ({r['distributed_type']}, {r['wrapper']}): "
                     + "; ".join(shown))
    if problems:
        raise UserError("\n".join(problems))
    return lines


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="assert each rank held about 1/world-size of the sharded state")
    c.add_argument("reports", type=Path, help=f"the {REPORT_ENV} folder (rank<N>.json)")
    c.add_argument("--world-size", type=int, required=True)
    c.add_argument("--tolerance", type=float, default=TOLERANCE, help="allowed distance from 1/world-size")
    c.add_argument("--expect", choices=["FSDP", "DEEPSPEED"], help="the distributed type every rank must report")
    args = parser.parse_args(argv)
    lines = check(args.reports, args.world_size, args.tolerance, args.expect)
    print("\n".join(lines))
    print(f"sharded across {args.world_size} processes: each held about 1/{args.world_size} of the parameters "
          "(of the trainable ones too) and of the optimizer state")
    if any("kept gathered" in line for line in lines):
        print("ZeRO-3 also keeps a gathered copy of every tensor under stage3_param_persistence_threshold "
              f"(DeepSpeed's default {PERSISTENCE_DEFAULT:,} elements: every tensor of the tiny model; of a real "
              "model, the norms and biases), beside each rank's partition")
    return 0


if __name__ == "__main__":
    run(lambda: cli(sys.argv[1:]))
