"""Fine-tune the base model with TRL's SFTTrainer (LoRA, QLoRA or full) from configs/train.yaml.

    python scripts/train.py --config configs/train.yaml --dry-run          # check configs and data only
    python scripts/train.py --config configs/train.yaml
    python scripts/train.py --config configs/train.yaml --learning_rate 1e-4 --max_steps 200
    python scripts/train.py --config configs/train.yaml --early_stopping_patience 0   # no early stopping
    python scripts/train.py --config configs/smoke.yaml                   # tiny local model, CPU
    accelerate launch --config_file configs/accelerate/fsdp.yaml scripts/train.py --config configs/train.yaml

The YAML holds TRL keys only (ScriptArguments + SFTConfig + ModelConfig), so stock
`trl sft --config configs/train.yaml` reads the same file. ftplan's own settings live in configs/ftplan.yaml
(beside the train config; `--ftplan-config PATH` for another). What this script adds to stock `trl sft`:

- completion-only loss on chat data: each `messages` row becomes a conversational prompt/completion pair
  whose completion is the last assistant turn, so the loss is on the answer, not on the prompt;
- early stopping on the validation split, patience from `--early_stopping_patience N` or else from
  configs/ftplan.yaml `early_stopping_patience` (0 or null: off); the best checkpoint is kept
  (`load_best_model_at_end`);
- padding-free batching: each batch is one row of the examples laid end to end, with `position_ids`
  restarting at every example, so no compute goes to padding. transformers' sdpa/eager/flash attention turns
  restarting position ids into a block-diagonal causal mask (no attention across examples) and the loss is
  the same token mean, so the losses equal those of padded batches (ftplan's bench/bench_train.py measured
  2.1x the tokens/s of stock `trl sft` on CPU, rows of 10-400 tokens). It stays off when packing is on (TRL is
  already padding-free then), for remote-code models, for other attention kernels, and when
  configs/ftplan.yaml says `padding_free: false`;
- automatic resume from the newest complete checkpoint in `output_dir`, after a crash or a kill too (a
  checkpoint folder cut short by a kill while saving is skipped);
- CPU when no GPU is present;
- `run_metadata.json` next to the adapter: model, method, seed, world size, steps, best metric, loss
  history, tokens seen, wall time and library versions; `loss.png`, the loss curves (with matplotlib);
- one progress bar with the latest loss on it (no log dicts between bars, no bar per evaluation), and the
  libraries' warnings that are not about your run (kernel hub lookups, deprecations) filtered out.

Nothing heavy (torch, transformers, trl) is imported before the flags are read, so `--dry-run` is quick.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, load_config, quiet_libraries, report_dry_run, run  # noqa: E402

PATIENCE_FLAG = "--early_stopping_patience"
FTPLAN_FLAG = "--ftplan-config"
DRY_RUN_FLAG = "--dry-run"
# Attention kernels whose masks follow restarting position_ids (transformers masking_utils
# find_packed_sequence_indices for sdpa/eager; cu_seq_lens from TRL's collator for flash attention).
PACKED_ATTENTION = {"sdpa", "eager", "flash_attention_2", "flash_attention_3"}
LIBRARIES = ["torch", "transformers", "trl", "peft", "datasets", "accelerate", "bitsandbytes"]


def pop_flag(argv: list[str], flag: str, takes_value: bool = True) -> tuple[str | None, list[str]]:
    """Remove `flag VALUE` / `flag=VALUE` (or a bare switch) before TRL's parser, which would reject it."""
    rest: list[str] = []
    value: str | None = None
    it = iter(argv)
    for arg in it:
        if arg == flag:
            value = next(it, None) if takes_value else "true"
            if value is None:
                raise UserError(f"{flag}: needs a value")
        elif takes_value and arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return value, rest


def config_path(argv: list[str]) -> Path | None:
    """The --config file, or None without one (then every setting comes from flags, as with `trl sft`)."""
    value, _ = pop_flag(argv, "--config")
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise UserError(f"--config: {path} does not exist. Fix: pass configs/train.yaml or configs/smoke.yaml")
    return path


def ftplan_settings(argv: list[str], explicit: str | None) -> tuple[dict[str, Any], Path]:
    """configs/ftplan.yaml (beside the train config, or --ftplan-config), validated; {} when absent."""
    cfg = config_path(argv)
    path = Path(explicit) if explicit else (cfg.parent if cfg else Path("configs")) / "ftplan.yaml"
    if not path.is_file():
        if explicit:
            raise UserError(f"{FTPLAN_FLAG}: {path} does not exist. Fix: pass configs/ftplan.yaml")
        return {}, path
    return load_config("ftplan", path), path


def patience_of(flag: str | None, settings: dict[str, Any]) -> int | None:
    """The flag wins over configs/ftplan.yaml; 0 (or null in the file) turns early stopping off."""
    if flag is not None:
        if not flag.isdigit():
            raise UserError(f"{PATIENCE_FLAG}: expected a whole number >= 0 (0: off), got {flag!r}")
        return int(flag) or None
    return settings.get("early_stopping_patience")


def enable_padding_free(trainer, training_args) -> bool:
    """Switch TRL's collator to padding-free batches where that gives exactly the padded batches' loss.

    Stock `trl sft` only allows `padding_free: true` without `max_length` (it would not truncate), so the
    YAML cannot ask for it; TRL's own collator does the flattening once its flag is set after preparation,
    which has already truncated every example to `max_length`. The masks stay per example because TRL's
    compute_loss passes `use_cache=False` (with a KV cache, transformers would ignore the restarting position
    ids and let examples attend to each other).
    """
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collator = trainer.data_collator
    attention = trainer.model.config.get_text_config()._attn_implementation
    if (
        training_args.packing
        or training_args.padding_free
        or training_args.trust_remote_code
        or attention not in PACKED_ATTENTION
        or type(collator) is not DataCollatorForLanguageModeling
    ):
        return False
    collator.padding_free = True
    return True


def to_prompt_completion(row: dict) -> dict:
    """Chat row -> conversational prompt/completion; the loss is computed on the last assistant turn only."""
    messages = row["messages"]
    if not messages or messages[-1]["role"] != "assistant":
        raise UserError(
            "messages: every chat row must end with an assistant turn (the target). "
            "Fix: run scripts/validate_data.py on the file and repair the rows it names"
        )
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def load_splits(script_args, training_args):
    """Load the dataset (a local folder such as `data`, or a Hub id) and make chat rows completion-only."""
    from datasets import load_dataset

    if not script_args.dataset_name:
        raise UserError(
            "dataset_name: missing. Fix: set `dataset_name: data` in the config or pass --dataset_name"
        )
    try:
        dataset = load_dataset(script_args.dataset_name, name=script_args.dataset_config)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise UserError(
            f"dataset_name: cannot load {script_args.dataset_name!r} ({exc}). Fix: point it at a folder "
            "holding train.jsonl and validation.jsonl (see data/FORMAT.md)"
        ) from exc
    wanted = [script_args.dataset_train_split]
    if training_args.eval_strategy != "no":
        wanted.append(script_args.dataset_test_split)
    for split in wanted:
        if split not in dataset:
            raise UserError(
                f"dataset_{'train' if split == wanted[0] else 'test'}_split: no split {split!r} in "
                f"{script_args.dataset_name} (found {sorted(dataset)}). Fix: add {split}.jsonl there "
                "or set the split name in the config"
            )
    splits = {}
    for split in wanted:
        data = dataset[split]
        if "messages" in data.column_names:
            data = data.map(to_prompt_completion, remove_columns=data.column_names)
        elif not {"prompt", "completion"} <= set(data.column_names):
            raise UserError(
                f"{split}: rows need `messages` or `prompt` + `completion` (found {data.column_names}). "
                "Fix: see data/FORMAT.md"
            )
        else:
            data = data.select_columns(["prompt", "completion"])
        splits[split] = data
    return splits[wanted[0]], splits.get(script_args.dataset_test_split) if len(wanted) > 1 else None


def last_checkpoint(output_dir: str) -> str | None:
    """The newest checkpoint-N that was saved completely, or None.

    transformers writes trainer_state.json last, so a run killed while saving leaves a newer folder without
    it; transformers' get_last_checkpoint would pick that folder and resuming would fail.
    """
    complete = []
    for path in Path(output_dir).glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # saving was cut short: no (or a truncated) trainer state
        if step.isdigit():
            complete.append((int(step), str(path)))
    return max(complete)[1] if complete else None


def method_of(model_args) -> str:
    if not model_args.use_peft:
        return "full"
    return "qlora" if model_args.load_in_4bit else "lora"


def write_metadata(trainer, model_args, training_args, started: float, patience: int | None) -> dict:
    """Everything needed to compare or reproduce this run, next to the adapter."""
    from importlib.metadata import PackageNotFoundError, version

    def lib_version(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    state = trainer.state
    history = state.log_history
    metadata = {
        "model": model_args.model_name_or_path,
        "method": method_of(model_args),
        "seed": training_args.seed,
        "world_size": training_args.world_size,
        "device": str(training_args.device),
        "global_step": state.global_step,
        "max_steps": state.max_steps,
        "epochs": state.epoch,
        "best_metric": {
            "name": training_args.metric_for_best_model,
            "value": state.best_metric,
            "checkpoint": state.best_model_checkpoint,
        },
        "early_stopping_patience": patience,
        "stopped_early": bool(state.max_steps and state.global_step < state.max_steps),
        "train_loss": [{"step": h["step"], "loss": h["loss"]} for h in history if "loss" in h],
        "eval_loss": [{"step": h["step"], "loss": h["eval_loss"]} for h in history if "eval_loss" in h],
        "tokens_seen": state.num_input_tokens_seen,
        "padding_free": getattr(trainer.data_collator, "padding_free", False),
        "wall_time_s": round(time.time() - started, 2),
        "libraries": {name: lib_version(name) for name in LIBRARIES},
    }
    out = Path(training_args.output_dir) / "run_metadata.json"
    out.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return metadata


# Warnings a user can do nothing about in this run (message prefixes, matched as regular expressions).


def quiet_progress(trainer) -> None:
    """One bar for the run with the loss on it: no raw log dicts between bars, no bar per evaluation."""
    from transformers.trainer_callback import ProgressCallback

    class OneBar(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and self.training_bar is not None and logs:
                shown = {k: f"{logs[k]:.4f}" for k in ("loss", "eval_loss") if isinstance(logs.get(k), float)}
                if shown:
                    self.training_bar.set_postfix(shown, refresh=False)

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            pass

    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(OneBar())


def main(script_args, training_args, model_args, patience: int | None, padding_free: bool = True) -> dict:
    """Train, keep the best checkpoint, save adapter + tokenizer + run_metadata.json in output_dir."""
    from transformers import AutoTokenizer, EarlyStoppingCallback
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    started = time.time()
    train_data, eval_data = load_splits(script_args, training_args)
    training_args.model_init_kwargs = {
        **(training_args.model_init_kwargs or {}),
        "revision": model_args.model_revision,
        "trust_remote_code": training_args.trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out of the loss, any token will do
    callbacks = []
    if eval_data is not None and patience is not None:
        if not training_args.load_best_model_at_end:
            raise UserError(
                "load_best_model_at_end: early stopping needs it true (and save_steps a multiple "
                "of eval_steps). Fix: set it in the config"
            )
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )
    if padding_free and enable_padding_free(trainer, training_args):
        trainer.accelerator.print("Padding-free batches: examples laid end to end, no attention across them")
    resume = training_args.resume_from_checkpoint
    if resume is None:
        resume = last_checkpoint(training_args.output_dir)
        if resume:
            trainer.accelerator.print(f"Resuming from {resume}")
    quiet_progress(trainer)
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(training_args.output_dir)  # the best model when load_best_model_at_end
    metadata: dict = {}
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
        metadata = write_metadata(trainer, model_args, training_args, started, patience)
        import charts

        print(charts.loss_curves(trainer.state.log_history, Path(training_args.output_dir) / "loss.png"))
        best = metadata["best_metric"]
        print(
            f"Saved {metadata['method']} model to {training_args.output_dir} after {metadata['global_step']} "
            f"steps on {metadata['world_size']} process(es); best {best['name']} = {best['value']}"
        )
    if hasattr(trainer, "end"):
        trainer.end()  # closes trackers and the process group (transformers >= 5.18)
    return metadata


def parse(argv: list[str]):
    """TRL's own parser, so the YAML and the CLI flags are exactly those of `trl sft`."""
    import torch
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser

    if not torch.cuda.is_available() and "--use_cpu" not in argv:
        argv = [*argv, "--use_cpu", "true"]  # no GPU here: train on the CPU rather than fail
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))
    try:
        return parser.parse_args_and_config(args=argv)
    except ValueError as exc:  # unknown keys or flags, inconsistent values
        raise UserError(f"{exc}. Fix: use the keys of `trl sft --help` only, with valid values") from exc


def dry_run(argv: list[str], settings: dict[str, Any], ftplan_path: Path, patience: int | None) -> int:
    """Check the train config with TRL's parser (when installed) and name the data files; load no model."""
    import importlib.util

    cfg_path = config_path(argv)
    cfg: dict[str, Any] = {}
    if cfg_path is not None:
        import yaml

        try:
            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"{cfg_path}: not valid YAML ({' '.join(str(exc).split())})") from None
        if not isinstance(cfg, dict):
            raise UserError(f"{cfg_path}: expected TRL keys (key: value lines), got a {type(cfg).__name__}")
    if importlib.util.find_spec("trl") is not None:
        parse(argv)
        print("TRL accepts every key and flag")
    else:
        print("trl is not installed: the train config's keys were not checked (pip install -e .[train])")
    print(f"ftplan settings: {ftplan_path if settings else 'none'}; early stopping patience {patience or 'off'}")
    data = str(cfg.get("dataset_name") or "")
    hub_id = data.count("/") == 1 and not data.startswith((".", "/")) and not Path(data).exists()
    named = {} if not data or hub_id else {
        split: str(Path(data) / f"{cfg.get(f'dataset_{key}_split') or split}.jsonl")
        for key, split in (("train", "train"), ("test", "validation"))}
    return report_dry_run(f"{cfg_path or 'the command line'}", named)


def cli(argv: list[str]) -> int:
    dry, argv = pop_flag(argv, DRY_RUN_FLAG, takes_value=False)
    explicit, argv = pop_flag(argv, FTPLAN_FLAG)
    flag, argv = pop_flag(argv, PATIENCE_FLAG)
    settings, ftplan_path = ftplan_settings(argv, explicit)
    patience = patience_of(flag, settings)
    if dry:
        return dry_run(argv, settings, ftplan_path, patience)
    quiet_libraries()  # before parse(): importing trl imports bitsandbytes, which warns on import
    main(*parse(argv), patience, bool(settings.get("padding_free", True)))
    return 0


if __name__ == "__main__":
    run(lambda: cli(sys.argv[1:]))
