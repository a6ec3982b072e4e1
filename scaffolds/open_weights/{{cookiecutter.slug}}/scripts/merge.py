"""Merge the LoRA adapter into its base model: one standalone model folder (weights, tokenizer, chat
template, generation config) that any tool loads without PEFT — vLLM without --enable-lora, TGI, llama.cpp's
converter, `AutoModelForCausalLM.from_pretrained(OUT)`.

Run from the repository root:

    make merge                                   # configs/eval.yaml's base_model + adapter -> outputs/merged
    make merge PROFILE=smoke MERGED=smoke/merged # the smoke model and adapter
    python scripts/merge.py --config configs/eval.yaml --out outputs/merged --dry-run   # check; load no model
    python scripts/merge.py --config configs/eval.yaml --out outputs/merged --dtype bfloat16

The merge runs in float32 on the CPU (exact W + BA, no rounding before the sum) and saves in --dtype (auto:
the base's own dtype). A QLoRA adapter is merged into the 16-bit base, not the 4-bit one it was trained on:
the standard practice (merging into quantized weights would round the update away); evaluate the merged
folder (`python scripts/evaluate.py --adapter OUT`) before shipping it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, load_config, output_problem, run, shown  # noqa: E402

DTYPES = ("auto", "float32", "bfloat16", "float16")


def check(cfg: dict) -> list[str]:
    """Problems that stop the merge before any model is loaded."""
    adapter, out = Path(cfg["adapter"]), Path(cfg["out"])
    problems = []
    if not (adapter / "adapter_config.json").is_file():
        problems.append(f"adapter: no adapter_config.json in {shown(adapter)} — train first (make train), or pass "
                        "--adapter DIR (a full fine-tune's folder is already standalone: nothing to merge)")
    for name, path in (("adapter", adapter), ("base_model", Path(str(cfg["base_model"])))):
        src, dest = path.resolve(), out.resolve()
        if path.exists() and (dest == src or dest in src.parents or src in dest.parents):
            problems.append(f"--out: {shown(out)} is, holds or lies inside the {name} {shown(path)} — choose another "
                            "folder")
    where = output_problem(out, folder=True) or output_problem(out.with_name(out.name + ".partial"), folder=True)
    if where:
        problems.append(f"--out: {shown(out)}: {where}")
    elif out.exists() and any(out.iterdir()) and not cfg.get("force"):
        problems.append(f"--out: {shown(out)} exists and is not empty — choose a new folder or pass --force")
    return problems


def main(cfg: dict) -> int:
    problems = check(cfg)
    if cfg["dry_run"]:
        print(f"merge {shown(cfg['adapter'])} into {shown(cfg['base_model'])} -> {shown(cfg['out'])} "
              f"(dtype {cfg['dtype']})")
        for p in problems:
            print(f"  problem  {p}")
        return 0
    if problems:
        raise UserError("\n".join(problems))
    import torch
    from adapters import detail, load_adapter
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    adapter, out, base = Path(cfg["adapter"]), Path(cfg["out"]), str(cfg["base_model"])
    try:
        base_config = AutoConfig.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except Exception as exc:  # noqa: BLE001 - missing, not a model folder, corrupt weights, no network
        raise UserError(f"base_model: cannot load {shown(base)} ({detail(exc)}) — pass a Hub id or a local model "
                        "folder with --base-model") from None
    dtype = cfg["dtype"]
    if dtype == "auto":
        own = getattr(base_config, "dtype", None) or getattr(base_config, "torch_dtype", None)
        dtype = str(own).replace("torch.", "") if own else "float32"
        dtype = dtype if isinstance(getattr(torch, dtype, None), torch.dtype) else "float32"
    merged = load_adapter(model, adapter, base).merge_and_unload()
    merged = merged.to(getattr(torch, dtype))
    tok_src = str(adapter if (adapter / "tokenizer_config.json").exists() else base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_src)
    except Exception as exc:  # noqa: BLE001 - missing files, bad JSON, a tokenizer.json the library rejects
        raise UserError(f"tokenizer: cannot load {shown(tok_src)} ({detail(exc)}) — retrain, or pass the base "
                        "model's folder with --base-model") from None
    if not tokenizer.chat_template:
        raise UserError(f"tokenizer of {shown(tok_src)} has no chat template")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    merged.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    weights = sorted((adapter).glob("adapter_model.*"))
    meta = {"base_model": str(cfg["base_model"]), "adapter": str(adapter), "dtype": dtype,
            "adapter_sha256": hashlib.sha256(weights[0].read_bytes()).hexdigest() if weights else None,
            "tokenizer_from": tok_src}
    (staging / "merge_metadata.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    print(f"merged {shown(adapter)} into {shown(base)} -> {shown(out)} ({dtype})")
    return 0


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/eval.yaml")
    ap.add_argument("--profile", help="apply this section's overrides, e.g. smoke")
    ap.add_argument("--base-model")
    ap.add_argument("--adapter")
    ap.add_argument("--out", default="outputs/merged", help="the merged model folder")
    ap.add_argument("--dtype", choices=DTYPES, default="auto", help="saved dtype (auto: the base's own)")
    ap.add_argument("--force", action="store_true", help="replace a non-empty --out")
    ap.add_argument("--dry-run", action="store_true", help="check the inputs; load no model")
    args = ap.parse_args(argv)
    cfg = load_config("eval", args.config, args.profile)
    cfg.update({k: v for k, v in vars(args).items() if v is not None and k not in ("config", "profile")})
    return cfg


if __name__ == "__main__":
    run(lambda: main(parse_args()))
