"""Preference-tune the SFT model with TRL's DPOTrainer from configs/dpo.yaml: the stage after `make train`.

    make train && make dpo                                              # SFT first, then DPO on its adapter
    python scripts/train_dpo.py --config configs/dpo.yaml --dry-run     # check config and pairs only
    python scripts/train_dpo.py --config configs/dpo.yaml --beta 0.2 --max_steps 100
    python scripts/evaluate.py --config configs/eval.yaml --adapter outputs/SLUG-dpo --output-dir reports/dpo

configs/dpo.yaml exists when the plan has a preference stage (chosen/rejected pairs, or success judged
pairwise). It holds TRL keys only (ScriptArguments + DPOConfig + ModelConfig + DatasetMixtureConfig), checked by
TRL's own parser, so a misspelled key is an error. `model_name_or_path` is the SFT output folder:

- a LoRA/QLoRA adapter there: the base model it names is loaded (4-bit again for QLoRA), the adapter is
  trained on, and TRL keeps a frozen copy of it as the reference ("ref" adapter), so DPO measures its
  rewards against the SFT model, not the base; the saved adapter replaces the SFT one in serving;
- a fully tuned model there: it is the policy, and TRL loads a second copy as the reference.

data/preference.jsonl, one pair per line (TRL's preference formats; every row of one shape):

    {"prompt": [{"role": "user", "content": "..."}], "chosen": [{"role": "assistant", "content": "better"}],
     "rejected": [{"role": "assistant", "content": "worse"}]}
    {"prompt": "...", "chosen": "better", "rejected": "worse"}
    {"chosen": [full conversation], "rejected": [full conversation]}       (TRL takes the shared start as prompt)

The log shows rewards/chosen, rewards/rejected, rewards/margins and rewards/accuracies; run_metadata.json next
to the adapter keeps them. Judge the result by the held-out pairwise win rate against the SFT adapter.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, quiet_libraries, report_dry_run, run  # noqa: E402
from train import (  # noqa: E402
    DRY_RUN_FLAG,
    LIBRARIES,
    last_checkpoint,
    local_files,
    mix_datasets,
    mixture_problems,
    pop_flag,
    quiet_progress,
    read_config,
)

DEFAULT_CONFIG = Path("configs/dpo.yaml")
PAIR_KEYS = ("prompt", "chosen", "rejected")
MAX_PROBLEMS = 10  # rows named per run; the rest are counted
REWARD_KEYS = ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies")


def config_path(argv: list[str]) -> Path:
    value, _ = pop_flag(argv, "--config")
    path = Path(value) if value else DEFAULT_CONFIG
    if not path.is_file():
        if path == DEFAULT_CONFIG:
            raise UserError(f"{path}: missing — this plan has no preference stage (STRATEGY.md, Training). Fix: set "
                            "facts.preference_pairs_available in .ftplan-answers.yml and run `ftplan update .`")
        raise UserError(f"--config: {path} does not exist. Fix: pass configs/dpo.yaml")
    return path


def _kind(value: Any) -> str | None:
    """'text', 'chat' (a list of role/content messages) or None (neither)."""
    if isinstance(value, str):
        return "text" if value.strip() else None
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m
                                                 for m in value):
        return "chat"
    return None


def row_problems(row: Any, at: str) -> list[str]:
    """What is wrong with one pair, each `at: what — fix`."""
    if not isinstance(row, dict):
        return [f"{at}: not a JSON object with chosen and rejected"]
    kinds = {k: _kind(row.get(k)) for k in PAIR_KEYS if k in row}
    found = [f"{at}: {key}: missing or empty — text, or a list of role/content messages"
             for key in ("chosen", "rejected") if kinds.get(key) is None]
    if found:
        return found
    if kinds["chosen"] != kinds["rejected"]:
        return [f"{at}: chosen is {kinds['chosen']}, rejected is {kinds['rejected']} — use one shape for both"]
    if row["chosen"] == row["rejected"]:
        return [f"{at}: chosen and rejected are the same — a pair needs a better and a worse answer"]
    if "prompt" not in row:
        return [] if kinds["chosen"] == "chat" else [f"{at}: prompt: missing — plain-text pairs need one"]
    if kinds["prompt"] != kinds["chosen"]:
        return [f"{at}: prompt is {kinds['prompt'] or 'empty'} but the answers are {kinds['chosen']} — use one "
                "shape for all three"]
    return []


def pair_problems(rows: Any, where: str) -> list[str]:
    """Every malformed pair (the first MAX_PROBLEMS named, the rest counted); rows are numbered from 1."""
    problems: list[str] = []
    count = total = 0
    shape = None
    for total, row in enumerate(rows, 1):
        found = row_problems(row, f"{where} row {total}")
        if not found:
            this = sorted((k, _kind(row[k])) for k in PAIR_KEYS if k in row)
            shape = shape or this
            if this != shape:
                found = [f"{where} row {total}: {dict(this)} differs from the first pair's {dict(shape)} — every "
                         "pair of one shape"]
        count += len(found)
        problems += found[: max(0, MAX_PROBLEMS - len(problems))]
    if count > len(problems):
        problems.append(f"{where}: {count - len(problems)} more problem(s) not shown")
    if total == 0:
        problems.append(f"{where}: no pairs — one JSON object per line")
    return problems


def jsonl_rows(path: Path):
    """The rows of a local JSONL file; a line that is not JSON is a problem row (None), not a crash."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    yield None


def check_pair_files(cfg: dict[str, Any]) -> list[str]:
    """pair_problems over every local JSONL file the config names (the dry run; training checks the rows)."""
    problems = []
    for field, name in local_files(cfg).items():
        path = Path(name)
        if path.is_file() and path.suffix == ".jsonl":
            problems += pair_problems(jsonl_rows(path), f"{field}: {name}")
    return problems


def load_pairs(script_args, mixture):
    """The pairs of `datasets:` (TRL's get_dataset) or dataset_name, checked row by row."""
    if mixture is not None and mixture.datasets:
        for entry in mixture.datasets:
            files = [entry.data_files] if isinstance(entry.data_files, str) else entry.data_files or []
            for name in files if isinstance(files, list) else []:
                if not Path(name).exists():
                    raise UserError(f"{name}: missing — collect chosen/rejected pairs first (format: "
                                    "scripts/train_dpo.py), one JSON object per line")
        pairs, manifest = mix_datasets(mixture)
        where = "datasets"
    else:
        from train import load_named

        pairs = load_named(script_args, [script_args.dataset_train_split])[script_args.dataset_train_split]
        manifest, where = None, script_args.dataset_name
    problems = pair_problems(iter(pairs), where)
    if problems:
        raise UserError("\n".join(problems))
    return pairs, manifest


def load_policy(model_args, training_args):
    """(model, tokenizer path, start kind): the SFT adapter on its base, trainable, or a full model's path."""
    start = Path(model_args.model_name_or_path or "")
    if not start.is_dir():
        if str(start).startswith("outputs"):
            raise UserError(f"model_name_or_path: {start} does not exist — run `make train` first: DPO starts from "
                            "the SFT model")
        return str(start), str(start), "model"  # a Hub id or another model: TRL loads it and its reference
    adapter = start / "adapter_config.json"
    if not adapter.is_file():
        return str(start), str(start), "full"
    if model_args.use_peft:
        raise UserError(f"use_peft: {start} holds the SFT adapter, which DPO continues — remove use_peft (a new "
                        "adapter would train on top of the base, not of SFT)")
    import torch
    from peft import PeftModel, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM
    from trl import get_quantization_config

    try:
        base_id = json.loads(adapter.read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise UserError(f"{adapter}: unreadable ({exc}) — re-run `make train`") from None
    quantization = get_quantization_config(model_args)
    dtype = model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype)
    base = AutoModelForCausalLM.from_pretrained(
        base_id, revision=model_args.model_revision, trust_remote_code=training_args.trust_remote_code,
        attn_implementation=model_args.attn_implementation, dtype=dtype, quantization_config=quantization)
    if quantization is not None:
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=training_args.gradient_checkpointing)
    return PeftModel.from_pretrained(base, str(start), is_trainable=True), str(start), "adapter"


def write_metadata(trainer, model_args, training_args, start: str, pairs: int, started: float) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    def lib_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    history = trainer.state.log_history
    rows = [{"step": h["step"], "loss": h["loss"], **{k: h[k] for k in REWARD_KEYS if k in h}}
            for h in history if "loss" in h]
    metadata = {
        "stage": "dpo", "start": model_args.model_name_or_path, "start_kind": start, "pairs": pairs,
        "beta": training_args.beta, "learning_rate": training_args.learning_rate, "seed": training_args.seed,
        "world_size": training_args.world_size, "device": str(training_args.device),
        "global_step": trainer.state.global_step, "epochs": trainer.state.epoch, "train": rows,
        "final": rows[-1] if rows else None, "wall_time_s": round(time.time() - started, 2),
        "libraries": {name: lib_version(name) for name in LIBRARIES},
    }
    out = Path(training_args.output_dir) / "run_metadata.json"
    out.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


def main(script_args, training_args, model_args, mixture=None) -> dict:
    """DPO on the SFT model; save the adapter (or model), tokenizer and run_metadata.json in output_dir."""
    from transformers import AutoTokenizer
    from trl import DPOTrainer, get_peft_config, get_quantization_config

    started = time.time()
    pairs, _ = load_pairs(script_args, mixture)
    model, tokenizer_path, start = load_policy(model_args, training_args)
    if isinstance(model, str):
        training_args.model_init_kwargs = {
            **(training_args.model_init_kwargs or {}), "revision": model_args.model_revision,
            "trust_remote_code": training_args.trust_remote_code,
            "attn_implementation": model_args.attn_implementation, "dtype": model_args.dtype}
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, trust_remote_code=training_args.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    trainer = DPOTrainer(
        model=model, args=training_args, train_dataset=pairs, processing_class=tokenizer,
        peft_config=get_peft_config(model_args) if start != "adapter" else None,
        quantization_config=get_quantization_config(model_args) if isinstance(model, str) else None,
    )
    trainer.accelerator.print(f"DPO from {model_args.model_name_or_path} ({start}) on {len(pairs):,} pairs, "
                              f"beta {training_args.beta}")
    resume = training_args.resume_from_checkpoint or last_checkpoint(training_args.output_dir)
    if resume:
        trainer.accelerator.print(f"Resuming from {resume}")
    quiet_progress(trainer)
    trainer.train(resume_from_checkpoint=resume)
    policy = trainer.accelerator.unwrap_model(trainer.model)
    if "ref" in getattr(policy, "peft_config", {}):
        policy.delete_adapter("ref")  # the frozen SFT copy: serving needs only the trained adapter
    trainer.save_model(training_args.output_dir)
    metadata: dict = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
        metadata = write_metadata(trainer, model_args, training_args, start, len(pairs), started)
        final = metadata["final"] or {}
        shown = ", ".join(f"{k} {final[k]:.4f}" for k in ("rewards/margins", "rewards/accuracies") if k in final)
        saved = "adapter" if start == "adapter" else "model"
        print(f"Saved DPO {saved} to {training_args.output_dir} after {metadata['global_step']} steps"
              + (f"; last {shown}" if shown else ""))
    if hasattr(trainer, "end"):
        trainer.end()
    return metadata


def parse(argv: list[str]):
    """TRL's own parser: the keys and flags of `trl dpo`."""
    import torch
    from trl import DatasetMixtureConfig, DPOConfig, ModelConfig, ScriptArguments, TrlParser

    if not torch.cuda.is_available() and "--use_cpu" not in argv:
        argv = [*argv, "--use_cpu", "true"]
    parser = TrlParser((ScriptArguments, DPOConfig, ModelConfig, DatasetMixtureConfig))
    try:
        return parser.parse_args_and_config(args=argv)
    except ValueError as exc:
        raise UserError(f"{exc}. Fix: use the keys of `trl dpo --help` only, with valid values") from exc


def dry_run(argv: list[str], cfg: dict[str, Any], path: Path) -> int:
    import importlib.util

    problems = check_pair_files(cfg)  # before TRL's slow import: the pairs are the likelier mistake
    if problems:
        raise UserError("\n".join(problems))
    if importlib.util.find_spec("trl") is not None:
        parse(argv)
        print("TRL accepts every key and flag")
    else:
        print("trl is not installed: the DPO config's keys were not checked (pip install -e .[train])")
    status = report_dry_run(str(path), local_files(cfg))
    start = Path(str(cfg.get("model_name_or_path") or ""))
    if start.is_dir():
        print(f"  found    start: {start} ({'SFT adapter' if (start / 'adapter_config.json').is_file() else 'model'})")
    elif str(start).startswith("outputs"):
        print(f"  missing  start: {start} — run `make train` first: DPO starts from the SFT model")
    return status


def cli(argv: list[str]) -> int:
    dry, argv = pop_flag(argv, DRY_RUN_FLAG, takes_value=False)
    path = config_path(argv)
    if "--config" not in argv:
        argv = ["--config", str(path), *argv]
    cfg = read_config(path)
    problems = mixture_problems(cfg, str(path))
    if problems:
        raise UserError("\n".join(problems))
    if dry:
        return dry_run(argv, cfg, path)
    quiet_libraries()
    script_args, training_args, model_args, mixture = parse(argv)
    main(script_args, training_args, model_args, mixture)
    return 0


if __name__ == "__main__":
    run(lambda: cli(sys.argv[1:]))
