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

- the forgetting mix: a `datasets:` list (TRL's DatasetMixtureConfig, as in `trl sft`) is the training set,
  loaded by TRL's get_dataset: the first entry is your data (a mixture that would drop any of its rows is an
  error), the others general chat data at their `fraction` (TRL keeps the first rows of each); validation
  stays dataset_name's split. The rows each entry gave go to output_dir/data_mixture.json;
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

import difflib
import json
import math
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
# The keys of one `datasets:` entry: TRL 1.16's DatasetConfig fields (trl/scripts/utils.py).
DATASET_KEYS = ("path", "name", "data_dir", "data_files", "split", "columns", "fraction")
# Other trainers' words for those keys (axolotl, LLaMA-Factory, dataset cards), for "did you mean".
DATASET_KEY_ALIASES = {"proportion": "fraction", "weight": "fraction", "ratio": "fraction", "share": "fraction",
                       "probability": "fraction", "config": "name", "subset": "name", "dataset_config": "name",
                       "files": "data_files", "column": "columns"}
DATA_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow", ".txt")
MIXTURE_FILE = "data_mixture.json"


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


def read_config(path: Path | None) -> dict[str, Any]:
    """The config file's keys, or {} without one; not TRL-checked (that is `parse`)."""
    if path is None:
        return {}
    import yaml

    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{path}: expected TRL keys (key: value lines), got a {type(cfg).__name__}")
    return cfg


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _entry_problems(at: str, entry: dict[str, Any]) -> list[str]:
    problems = []
    for key in entry:
        if key not in DATASET_KEYS:
            close = [DATASET_KEY_ALIASES[key]] if key in DATASET_KEY_ALIASES else \
                difflib.get_close_matches(str(key), DATASET_KEYS, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"use only {', '.join(DATASET_KEYS)}"
            problems.append(f"{at}.{key}: is not a key of a TRL dataset entry — {fix}")
    path = entry.get("path")
    if not isinstance(path, str) or not path.strip():
        problems.append(f"{at}.path: missing — a Hub id, a local folder, or \"json\" with data_files: FILE.jsonl")
    elif path.lower().endswith(DATA_FILE_SUFFIXES) and entry.get("data_files") is None:
        kind = Path(path).suffix.lstrip(".").replace("jsonl", "json")
        problems.append(f"{at}.path: {path} is a file, which load_dataset looks up on the Hub — set path: {kind} "
                        f"and data_files: {path}")
    for key in ("name", "data_dir", "split"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            problems.append(f"{at}.{key}: {entry[key]!r} must be text")
    columns = entry.get("columns")
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        problems.append(f"{at}.columns: {columns!r} must be a list of column names, e.g. [messages]")
    files = entry.get("data_files")
    if files is not None and not isinstance(files, (str, list, dict)):
        problems.append(f"{at}.data_files: {files!r} must be a path, a list of paths or {{split: path}}")
    fraction = entry.get("fraction")
    if fraction is not None and (not _number(fraction) or fraction <= 0):
        problems.append(f"{at}.fraction: {fraction!r} must be a number > 0 (its share of the mixture; TRL "
                        "normalises the fractions to sum to 1)")
    return problems


def mixture_problems(cfg: dict[str, Any], where: str) -> list[str]:
    """Every problem of the config's `datasets:` (TRL DatasetMixtureConfig) at once, `where: key: what — fix`.

    TRL itself would stop at the first bad entry with a TypeError, and take a misspelled fraction for none."""
    entries = cfg.get("datasets")
    if entries is None or entries == []:
        return []
    if not isinstance(entries, list):
        return [f"{where}: datasets: must be a list of entries (path, split, columns, fraction), got "
                f"{type(entries).__name__}"]
    problems = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            problems += _entry_problems(f"datasets[{i}]", entry)
        else:
            problems.append(f"datasets[{i}]: expected a mapping with a path, got {entry!r}")
    with_fraction = [i for i, e in enumerate(entries) if isinstance(e, dict) and e.get("fraction") is not None]
    if with_fraction and len(with_fraction) != len(entries) and not problems:
        missing = [i for i in range(len(entries)) if i not in with_fraction]
        problems.append(f"datasets: fraction is set on entries {with_fraction} but not on {missing} — TRL needs "
                        "it on every entry or on none")
    if cfg.get("streaming"):
        problems.append("streaming: true — scripts/train.py needs every entry's length for the fractions; set it "
                        "false")
    if cfg.get("test_split_size") is not None:
        problems.append("test_split_size: TRL would carve validation from the mixture at random (no seed) — "
                        "remove it: validation comes from dataset_name's validation split")
    return [p if p.startswith(where) else f"{where}: {p}" for p in problems]


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


def to_training_rows(data, split: str):
    """Chat rows -> completion-only prompt/completion; prompt/completion rows as they are."""
    if "messages" in data.column_names:
        return data.map(to_prompt_completion, remove_columns=data.column_names)
    if not {"prompt", "completion"} <= set(data.column_names):
        raise UserError(
            f"{split}: rows need `messages` or `prompt` + `completion` (found {data.column_names}). "
            "Fix: see data/FORMAT.md"
        )
    return data.select_columns(["prompt", "completion"])


def load_named(script_args, splits: list[str], role: str = "train"):
    """The splits of dataset_name (a local folder such as `data`, or a Hub id)."""
    from datasets import load_dataset

    if not script_args.dataset_name:
        raise UserError(
            f"dataset_name: missing (the {role} data). Fix: set `dataset_name: data` in the config or pass "
            "--dataset_name"
        )
    try:
        dataset = load_dataset(script_args.dataset_name, name=script_args.dataset_config)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        raise UserError(
            f"dataset_name: cannot load {script_args.dataset_name!r} ({exc}). Fix: point it at a folder "
            "holding train.jsonl and validation.jsonl (see data/FORMAT.md)"
        ) from exc
    for split in splits:
        if split not in dataset:
            key = "train" if split == script_args.dataset_train_split and role == "train" else "test"
            raise UserError(
                f"dataset_{key}_split: no split {split!r} in {script_args.dataset_name} (found {sorted(dataset)}). "
                f"Fix: add {split}.jsonl there or set the split name in the config"
            )
    return {split: dataset[split] for split in splits}


def mixture_rows(sizes: list[int], fractions: list[float | None]) -> list[int]:
    """The rows TRL's get_dataset keeps of each entry: all without fractions; else the first round(w * N) of
    each, the fractions normalised to weights w and N the largest total that oversamples none."""
    if all(f is None for f in fractions):
        return list(sizes)
    weights = [float(f or 0.0) / sum(float(f or 0.0) for f in fractions) for f in fractions]
    total = min(n / w for n, w in zip(sizes, weights, strict=True) if w > 0)
    return [round(w * total) for w in weights]


def mix_datasets(mixture) -> tuple[Any, dict[str, Any]]:
    """The `datasets:` entries through TRL's get_dataset, and what each gave (the data_mixture.json record)."""
    from dataclasses import replace

    from trl import DatasetMixtureConfig, get_dataset

    def load(config, what: str):
        try:
            return get_dataset(config)["train"]
        except (FileNotFoundError, ValueError, ConnectionError, KeyError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise UserError(f"{what}: cannot load it ({detail}). Fix: a Hub id, a local folder, or path json with "
                            "data_files FILE.jsonl; `columns: [messages]` on every entry") from exc

    entries = mixture.datasets
    sizes = [len(load(DatasetMixtureConfig(datasets=[replace(d, fraction=None)]), f"datasets[{i}] ({d.path})"))
             for i, d in enumerate(entries)]
    used = mixture_rows(sizes, [d.fraction for d in entries])
    if len(entries) > 1 and used[0] < sizes[0]:
        weights = [(n / float(d.fraction)) for n, d in zip(sizes, entries, strict=True)]
        short = weights.index(min(weights))
        raise UserError(
            f"datasets[{short}].fraction: {entries[short].path} has {sizes[short]:,} rows, too few for fraction "
            f"{entries[short].fraction}: TRL would keep only {used[0]:,} of the {sizes[0]:,} rows of datasets[0] "
            f"({entries[0].path}, your data). Fix: a larger split there, or a smaller fraction"
        )
    mixed = load(mixture, "datasets")
    manifest = {
        "rows": len(mixed),
        "selection": "TRL get_dataset: the first rows of each entry, in file order; the trainer shuffles them",
        "entries": [{"path": d.path, "name": d.name, "split": d.split, "data_files": d.data_files,
                     "fraction": d.fraction, "rows_available": n, "rows_used": u,
                     "share": round(u / max(len(mixed), 1), 6)}
                    for d, n, u in zip(entries, sizes, used, strict=True)],
    }
    return mixed, manifest


def load_splits(script_args, training_args, mixture=None):
    """Train and validation rows, completion-only; with a `datasets:` mixture, its record (else None)."""
    test = script_args.dataset_test_split
    evaluate = training_args.eval_strategy != "no"
    if mixture is not None and mixture.datasets:
        train, manifest = mix_datasets(mixture)
        eval_data = load_named(script_args, [test], role="validation")[test] if evaluate else None
    else:
        wanted = [script_args.dataset_train_split] + ([test] if evaluate else [])
        splits = load_named(script_args, wanted)
        train, eval_data, manifest = splits[wanted[0]], splits.get(test) if evaluate else None, None
    train = to_training_rows(train, script_args.dataset_train_split if manifest is None else "datasets")
    return train, None if eval_data is None else to_training_rows(eval_data, test), manifest


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


def write_metadata(trainer, model_args, training_args, started: float, patience: int | None,
                   mixture: dict | None = None) -> dict:
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
        "data_mixture": mixture,
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


def write_mixture(trainer, manifest: dict, output_dir: str) -> dict:
    """data_mixture.json: the rows each `datasets:` entry gave and the rows the trainer holds, before training."""
    manifest = {**manifest, "rows_in_trainer": len(trainer.train_dataset), "seed": trainer.args.seed}
    if trainer.is_world_process_zero():
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / MIXTURE_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        parts = [f"{e['rows_used']:,} of " + (e["data_files"] if isinstance(e["data_files"], str) else
                                               f"{e['path']} ({e['split']})") for e in manifest["entries"]]
        trainer.accelerator.print(f"Training mix: {' + '.join(parts)} = {manifest['rows']:,} rows")
    return manifest


def main(script_args, training_args, model_args, patience: int | None, padding_free: bool = True,
         mixture=None) -> dict:
    """Train, keep the best checkpoint, save adapter + tokenizer + run_metadata.json in output_dir."""
    from transformers import AutoTokenizer, EarlyStoppingCallback
    from trl import SFTTrainer, get_peft_config, get_quantization_config

    started = time.time()
    train_data, eval_data, manifest = load_splits(script_args, training_args, mixture)
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
    import shards  # FSDP on CPU processes too (accelerate drops it there), per-rank shard report on request

    callbacks += shards.callbacks()
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
    if manifest is not None:
        manifest = write_mixture(trainer, manifest, training_args.output_dir)
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
        metadata = write_metadata(trainer, model_args, training_args, started, patience, manifest)
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
    from trl import DatasetMixtureConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

    if not torch.cuda.is_available() and "--use_cpu" not in argv:
        argv = [*argv, "--use_cpu", "true"]  # no GPU here: train on the CPU rather than fail
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    try:
        return parser.parse_args_and_config(args=argv)
    except ValueError as exc:  # unknown keys or flags, inconsistent values
        raise UserError(f"{exc}. Fix: use the keys of `trl sft --help` only, with valid values") from exc


def local_files(cfg: dict[str, Any]) -> dict[str, str]:
    """The local data files the run reads (dataset_name's splits, the `datasets:` entries'); Hub ids are not."""
    def is_hub(path: str) -> bool:
        return path.count("/") == 1 and not path.startswith((".", "/")) and not Path(path).exists()

    named: dict[str, str] = {}
    data = str(cfg.get("dataset_name") or "")
    mixture = [e for e in cfg.get("datasets") or [] if isinstance(e, dict)]
    keys = (("test", "validation"),) if mixture else (("train", "train"), ("test", "validation"))
    if data and not is_hub(data):
        named.update({split: str(Path(data) / f"{cfg.get(f'dataset_{key}_split') or split}.jsonl")
                      for key, split in keys})
    for i, entry in enumerate(mixture):
        files, path = entry.get("data_files"), str(entry.get("path") or "")
        if isinstance(files, str):
            named[f"datasets[{i}]"] = files
        elif isinstance(files, list):
            named.update({f"datasets[{i}][{j}]": str(f) for j, f in enumerate(files)})
        elif files is None and path and not is_hub(path):
            named[f"datasets[{i}]"] = str(Path(path) / f"{entry.get('split') or 'train'}.jsonl")
        elif files is None and path:
            print(f"  hub      datasets[{i}]: {path} ({entry.get('split') or 'train'}), downloaded when training")
    return named


# Keys whose type TRL's parser passes through unchecked (a wrong one fails later, deep in a library).
TEXT_KEYS = ("output_dir", "model_name_or_path", "dataset_name")


def type_problems(cfg: dict[str, Any], where: str) -> list[str]:
    """`where: key: what — fix` for the keys TRL would accept with a type that breaks the run later."""
    problems = []
    for key in TEXT_KEYS:
        if key in cfg and (not isinstance(cfg[key], str) or not cfg[key].strip()):
            problems.append(f"{where}: {key}: {cfg[key]!r} must be a folder or model name (text) — quote it")
    targets = cfg.get("lora_target_modules")
    if targets is not None and not (isinstance(targets, str) or (
            isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets))):
        problems.append(f"{where}: lora_target_modules: {targets!r} must be all-linear or a list of module "
                        "names — e.g. [q_proj, v_proj]")
    return problems


def dry_run(argv: list[str], cfg: dict[str, Any], settings: dict[str, Any], ftplan_path: Path,
            patience: int | None) -> int:
    """Check the train config with TRL's parser (when installed) and name the data files; load no model."""
    import importlib.util

    if importlib.util.find_spec("trl") is not None:
        parse(argv)
        print("TRL accepts every key and flag")
    else:
        print("trl is not installed: the train config's keys were not checked (pip install -e .[train])")
    print(f"ftplan settings: {ftplan_path if settings else 'none'}; early stopping patience {patience or 'off'}")
    mixture = [e for e in cfg.get("datasets") or [] if isinstance(e, dict)]
    if mixture:
        shares = ", ".join(f"{e.get('path')} {e.get('fraction', 'all')}" for e in mixture)
        print(f"training mix (datasets:, TRL's fractions): {shares}")
    return report_dry_run(f"{config_path(argv) or 'the command line'}", local_files(cfg))


def cli(argv: list[str]) -> int:
    dry, argv = pop_flag(argv, DRY_RUN_FLAG, takes_value=False)
    explicit, argv = pop_flag(argv, FTPLAN_FLAG)
    flag, argv = pop_flag(argv, PATIENCE_FLAG)
    settings, ftplan_path = ftplan_settings(argv, explicit)
    patience = patience_of(flag, settings)
    cfg_path = config_path(argv)
    cfg = read_config(cfg_path)
    where = str(cfg_path or "the command line")
    problems = type_problems(cfg, where) + mixture_problems(cfg, str(cfg_path or "--datasets"))
    if problems:
        raise UserError("\n".join(problems))
    if dry:
        return dry_run(argv, cfg, settings, ftplan_path, patience)
    quiet_libraries()  # before parse(): importing trl imports bitsandbytes, which warns on import
    script_args, training_args, model_args, mixture = parse(argv)
    main(script_args, training_args, model_args, patience, bool(settings.get("padding_free", True)), mixture)
    return 0


if __name__ == "__main__":
    run(lambda: cli(sys.argv[1:]))
