"""The plan <-> TRL config mapping, both ways: configs/train.yaml and configs/smoke.yaml are written from it,
and `ftplan check` reads a user's train.yaml back into plan/fit.py's inputs through the same table.

Every line is `key: value  # reason`: the value through the `yaml` filter's serialiser, the reason through
the `comment` filter, so no plan or catalog text can add a key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from generator.render.filters import comment, yaml_value

# The memory estimator's optimizer families -> transformers' `optim` values (transformers OptimizerNames).
TRAINER_OPTIM = {"adamw": "adamw_torch_fused", "adamw_8bit": "adamw_bnb_8bit",
                 "paged_adamw_8bit": "paged_adamw_8bit", "sgd": "sgd", "adafactor": "adafactor"}
# What TRL / transformers use when a key is absent (SFTConfig, ModelConfig, TrainingArguments defaults).
TRL_DEFAULTS: dict[str, Any] = {"max_length": 1024, "per_device_train_batch_size": 8, "num_train_epochs": 3,
                                "lora_r": 16, "optim": "adamw_torch", "activation_checkpointing": True,
                                "use_peft": False, "load_in_4bit": False, "lora_target_modules": None}
# fit input -> the TRL key that carries it (method comes from use_peft + load_in_4bit).
FIT_KEYS = {"seq_len": "max_length", "micro_batch": "per_device_train_batch_size",
            "grad_ckpt": "activation_checkpointing", "lora_r": "lora_r", "targets": "lora_target_modules",
            "optimizer": "optim", "epochs": "num_train_epochs", "method": "use_peft / load_in_4bit",
            "loss": "use_liger_kernel"}

# The forgetting mix as TRL's dataset mixture (DatasetMixtureConfig `datasets:`): the user's training split in
# full, then the general data at the plan's share of it. TRL normalises the fractions, so 1.0 and 0.05 keep
# every training row and add 5% as many general rows (the plan's forgetting_mix.examples).
USER_MIX_ENTRY: dict[str, Any] = {"path": "data", "split": "train", "columns": ["messages"], "fraction": 1.0}
# Shown (commented out) when the plan names no general dataset: the SFT data of the alignment handbook's
# Zephyr recipe, MIT licence, chat rows in a `messages` column (huggingface.co/datasets/HuggingFaceH4/ultrachat_200k).
SUGGESTED_GENERAL: dict[str, Any] = {"path": "HuggingFaceH4/ultrachat_200k", "split": "train_sft"}


class Block(list[tuple[Any, str]]):
    """A YAML list written one `- item  # reason` line per item: a list of (value, reason)."""


# Checkpoints per DPO run: a preempted run loses at most a quarter of it (ftplan policy).
DPO_CHECKPOINTS = 4

Entry = tuple[str, Any, str]  # (TRL key, value, reason)
Section = tuple[str, list[Entry]]


def estimator_optimizer(optim: str) -> str:
    """transformers' `optim` value -> the memory estimator's optimizer family."""
    for family, name in TRAINER_OPTIM.items():
        if optim in (family, name):
            return family
    if "8bit" in optim:
        return "paged_adamw_8bit" if optim.startswith("paged") else "adamw_8bit"
    return {"sgd": "sgd", "adafactor": "adafactor"}.get(optim, "adamw")


def lines(sections: Iterable[Section]) -> str:
    out: list[str] = []
    for title, entries in sections:
        out.append("")
        out.append(f"# --- {title} " + "-" * max(3, 100 - len(title)))
        for key, v, reason in entries:
            if key.startswith("#"):
                out += [f"# {comment(line)}" if line else "#" for line in v]
            elif isinstance(v, Block):
                out.append(f"{key}:" + (f"  # {comment(reason)}" if reason else ""))
                out += [f"- {yaml_value(item)}" + (f"  # {comment(why)}" if why else "") for item, why in v]
            else:
                out.append(f"{key}: {yaml_value(v)}" + (f"  # {comment(reason)}" if reason else ""))
    return "\n".join(out) + "\n"


def mixture_entries(plan: dict[str, Any]) -> list[tuple[dict[str, Any], str]] | None:
    """The forgetting mix as TRL `datasets:` entries, when the plan names its general dataset; else None.

    Read from plan.data.forgetting_mix: `fraction` (the share of general rows per training row) and, when the
    planner names one, `dataset` (a Hub id or a local folder), `dataset_config` and `split`.
    """
    mix = plan["data"].get("forgetting_mix") or {}
    share = float(mix.get("fraction") or 0.0)
    if share <= 0 or not mix.get("dataset"):
        return None
    general: dict[str, Any] = {"path": str(mix["dataset"])}
    if mix.get("dataset_config"):
        general["name"] = str(mix["dataset_config"])
    general.update(split=str(mix.get("split") or "train"), columns=["messages"], fraction=share)
    return [(dict(USER_MIX_ENTRY), "your data/train.jsonl, every row"),
            (general, f"{share:.0%} as many general rows: " + str(mix.get("why", "")))]


def _mixture(plan: dict[str, Any]) -> list[Entry]:
    """train.yaml's `datasets:` entry, or (no general dataset in the plan) the same lines commented out."""
    entries = mixture_entries(plan)
    if entries is not None:
        return [("datasets", Block(entries), "the forgetting mix (TRL DatasetMixtureConfig); scripts/train.py "
                                             "writes the rows it took to output_dir/data_mixture.json")]
    share = float((plan["data"].get("forgetting_mix") or {}).get("fraction") or 0.0)
    if share <= 0:
        return []
    general = {**SUGGESTED_GENERAL, "columns": ["messages"], "fraction": share}
    return [("#", [
        f"Forgetting mix: the plan replays {share:.0%} general chat data (STRATEGY.md, Data). To draw it, "
        "uncomment the",
        "three lines below and name the general set: a Hub id, a local folder, or path \"json\" with data_files",
        "FILE.jsonl (rows in the `messages` shape). TRL keeps the first rows of each entry (the fractions are",
        "shares, normalised); validation stays dataset_name's validation split.",
        "datasets:",
        f"- {yaml_value(USER_MIX_ENTRY)}",
        f"- {yaml_value(general)}",
    ], "")]


def _why(reasons: dict[str, str], key: str, fallback: str) -> str:
    return reasons.get(key, fallback)


def train_sections(plan: dict[str, Any]) -> list[Section]:
    """train.yaml's (key, value, reason) entries, all from the plan."""
    t = plan["training"]
    hp, why, method = t["hyperparameters"], t["reasons"], t["open_weights_method"]
    slug = plan["meta"]["slug"]
    model: list[Entry] = [("model_name_or_path", plan["base_model"]["hf_id"], plan["base_model"]["why"])]
    if method == "full":
        model += [("dtype", "float32", "fp32 master weights, bf16 autocast compute: the mixed-precision AdamW the "
                                       "memory estimate assumes"),
                  ("use_peft", False, _why(why, "method", "full fine-tune: every weight is trained"))]
    else:
        model += [("dtype", "bfloat16", "frozen base weights (and QLoRA compute) in bf16; float32 on GPUs without "
                                        "bf16 (e.g. T4)"),
                  ("use_peft", True, _why(why, "method", f"{method}: train low-rank adapters, the base stays frozen")),
                  ("lora_r", hp["lora_r"], _why(why, "lora_r", "higher rank: more capacity, more memory")),
                  ("lora_alpha", hp["lora_alpha"], _why(why, "lora_alpha", "alpha = 2r (TRL ModelConfig default)")),
                  ("lora_dropout", hp["lora_dropout"], _why(why, "lora_dropout", "light regularisation")),
                  ("lora_target_modules", hp["target_modules"],
                   _why(why, "target_modules", "all linear layers (Biderman et al. 2024)"))]
    if method == "qlora":
        model += [("load_in_4bit", True, _why(why, "load_in_4bit", "QLoRA: base weights in 4-bit NF4, adapters in "
                                                                 "16/32-bit")),
                  ("bnb_4bit_quant_type", "nf4", "NormalFloat4, the QLoRA paper's data type"),
                  ("use_bnb_nested_quant", True, "double quantization: ~0.37 bits/param saved (QLoRA paper, 2)")]
    data: list[Entry] = [
        ("dataset_name", "data", "local folder: data/train.jsonl and data/validation.jsonl (see data/FORMAT.md)"),
        ("dataset_train_split", "train", ""),
        ("dataset_test_split", "validation", "evaluated every eval_steps; the frozen data/heldout.jsonl is never "
                                             "trained on"),
        *_mixture(plan),
        ("max_length", hp["max_seq_length"], _why(why, "max_seq_length", "covers the prompt + answer length")),
        ("completion_only_loss", True, "loss on the answer only (scripts/train.py turns chat rows into "
                                       "prompt/completion)"),
        ("packing", False, "one example per sequence; packing would mix examples"),
    ]
    optimisation: list[Entry] = [
        ("learning_rate", float(hp["learning_rate"]), _why(why, "learning_rate", "the usual rate for this method")),
        ("num_train_epochs", hp["epochs"], _why(why, "epochs", "passes over the training set")),
        ("per_device_train_batch_size", hp["per_device_train_batch_size"],
         _why(why, "per_device_train_batch_size", "fits the GPU memory estimate")),
        ("gradient_accumulation_steps", hp["gradient_accumulation_steps"],
         f"effective batch {hp['effective_batch_size']}: "
         + _why(why, "effective_batch_size", "per-device batch x accumulation x GPUs")),
        ("per_device_eval_batch_size", hp["per_device_train_batch_size"], ""),
        ("lr_scheduler_type", hp["scheduler"], _why(why, "scheduler", "decays the rate smoothly to zero")),
        ("warmup_steps", float(hp["warmup_ratio"]), _why(why, "warmup_ratio", "a float below 1 is a fraction of all "
                                                                              "steps")),
        ("weight_decay", float(hp["weight_decay"]), _why(why, "weight_decay", "no decay on low-rank adapters")),
        ("optim", hp["optimizer"], _why(why, "optimizer", "optimizer states sized to the memory estimate")),
        ("activation_checkpointing", hp["gradient_checkpointing"],
         _why(why, "gradient_checkpointing", "recompute activations: less memory, ~20% slower")),
        ("bf16", hp["bf16"], _why(why, "bf16", "mixed precision on GPUs that support bf16")),
        ("seed", hp["seed"], ""),
    ]
    if hp.get("use_liger_kernel"):
        optimisation.append(("use_liger_kernel", True, _why(why, "use_liger_kernel", "fused linear cross-entropy: "
                                                                                      "no full fp32 logits")))
    logging: list[Entry] = [
        ("output_dir", f"outputs/{slug}", "adapter, tokenizer, run_metadata.json; `make train` resumes from its "
                                          "last checkpoint"),
        ("eval_strategy", "steps", ""),
        ("eval_steps", hp["eval_steps"], _why(why, "eval_steps", "validation loss this often: the early-stopping "
                                                                 "signal")),
        ("save_strategy", "steps", ""),
        ("save_steps", hp["save_steps"], "a multiple of eval_steps, so the best evaluated step has a checkpoint"),
        ("save_total_limit", 2, "the best checkpoint and the latest (for resuming)"),
        ("load_best_model_at_end", True, "the saved model is the best on validation, not the last"),
        ("metric_for_best_model", "eval_loss", ""),
        ("greater_is_better", False, ""),
        ("logging_steps", 10, ""),
        ("include_num_input_tokens_seen", True, "tokens seen go into run_metadata.json"),
        ("report_to", "none", "or tensorboard (pip install tensorboard; tensorboard --logdir outputs) or trackio"),
    ]
    return [("Model", model), ("Data", data), ("Optimisation", optimisation),
            ("Evaluation, checkpoints, logging", logging)]


TRAIN_HEADER = """\
# Training config for {slug}: TRL SFT ({method}) of {model}, written by ftplan {version} on {today}.
#
# Run it:           make train            (= python scripts/train.py --config configs/train.yaml)
# Or stock TRL:     trl sft --config configs/train.yaml --eval_strategy no --load_best_model_at_end false
#                   (with `datasets:` stock TRL evaluates only on a split of the mix, which has none: train.py
#                   takes validation from dataset_name, stock TRL trains without it)
# Override a value: python scripts/train.py --config configs/train.yaml --learning_rate 1e-4 --max_steps 200
#                   (every key below is also a CLI flag; flags win over this file)
# Multi-GPU (one node):
#   accelerate launch --config_file configs/accelerate/multi_gpu.yaml scripts/train.py --config configs/train.yaml
#   accelerate launch --config_file configs/accelerate/fsdp.yaml scripts/train.py --config configs/train.yaml
#   accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml scripts/train.py --config configs/train.yaml
# Multi-node (run on every node, NODE_RANK 0..N-1, MASTER_ADDR = node 0):
#   accelerate launch --config_file configs/accelerate/multi_gpu.yaml --num_machines N --machine_rank $NODE_RANK \\
#     --main_process_ip $MASTER_ADDR --main_process_port 29500 scripts/train.py --config configs/train.yaml
#
# Only TRL keys live here (ScriptArguments + SFTConfig + ModelConfig + DatasetMixtureConfig): stock `trl sft`
# rejects unknown keys.
# ftplan's additions to the run (early stopping) are in configs/ftplan.yaml, read by scripts/train.py.
# `ftplan check .` re-fits and re-costs the run after you edit a value here.
"""


def train_yaml(plan: dict[str, Any]) -> str:
    m = plan["meta"]
    header = TRAIN_HEADER.format(slug=comment(m["slug"]), method=comment(plan["training"]["open_weights_method"]),
                                 model=comment(plan["base_model"]["hf_id"]), version=comment(m["ftplan_version"]),
                                 today=comment(m["today"]))
    return header + lines(train_sections(plan))


def smoke_sections(method: str) -> list[Section]:
    """smoke.yaml: the plan's method on the tiny local model; the other values are sized for it, not planned."""
    run: list[Entry] = [
        ("model_name_or_path", "smoke/model", "written by scripts/make_tiny_model.py --out smoke"),
        ("dataset_name", "smoke/data", "train.jsonl + validation.jsonl of the synthetic topic task"),
        ("dataset_train_split", "train", ""), ("dataset_test_split", "validation", ""),
        ("output_dir", "smoke/outputs", ""),
        ("use_cpu", True, "the smoke test must pass on any laptop"),
        ("bf16", False, "CPU: full-precision training (QLoRA still computes in bf16 through `dtype`)"),
    ]
    if method == "full":
        run += [("use_peft", False, "the plan's method: full fine-tune"),
                ("learning_rate", 0.001, "all weights train; a higher rate diverges on the tiny model")]
    else:
        run += [("use_peft", True, f"the plan's method: {method}"), ("lora_r", 16, ""), ("lora_alpha", 32, ""),
                ("lora_dropout", 0.0, "10 epochs of 512 rows: nothing to regularise"),
                ("lora_target_modules", "all-linear", ""),
                ("learning_rate", 0.003, "measured on 2 data seeds: 2e-3-3e-3 learn the task in ~150 steps; 5e-3+ "
                                         "can stall")]
    if method == "qlora":
        run += [("load_in_4bit", True, "the plan's QLoRA: NF4 + double quantization, on the CPU too "
                                       "(bitsandbytes >= 0.48)"),
                ("bnb_4bit_quant_type", "nf4", ""), ("use_bnb_nested_quant", True, ""),
                ("dtype", "bfloat16", "QLoRA compute dtype")]
    else:
        run += [("dtype", "float32", "")]
    schedule: list[Entry] = [
        ("max_length", 64, "the longest smoke row is ~40 tokens"), ("completion_only_loss", True, ""),
        ("num_train_epochs", 10, "the validation loss flattens after ~7 (320 steps in all)"),
        ("per_device_train_batch_size", 16, ""), ("per_device_eval_batch_size", 64, ""),
        ("lr_scheduler_type", "cosine", ""), ("warmup_steps", 5, ""),
        ("activation_checkpointing", False, "nothing to save on a tiny model; faster without"),
        ("eval_strategy", "steps", ""), ("eval_steps", 32, ""), ("save_strategy", "steps", ""),
        ("save_steps", 32, ""), ("save_total_limit", 2, ""), ("load_best_model_at_end", True, ""),
        ("metric_for_best_model", "eval_loss", ""), ("greater_is_better", False, ""), ("logging_steps", 16, ""),
        ("include_num_input_tokens_seen", True, ""), ("report_to", "none", ""), ("seed", 0, ""),
    ]
    return [("Tiny model, synthetic data, CPU", run), ("Schedule", schedule)]


SMOKE_HEADER = """\
# Smoke-test config: the same TRL SFT form as configs/train.yaml, for the tiny local model on the CPU.
# It proves the pipeline runs end to end in about a minute; it says nothing about the real model.
#
# Run it:           make smoke            (builds smoke/ with scripts/make_tiny_model.py, then trains and evaluates)
#                   python scripts/train.py --config configs/smoke.yaml
# Or stock TRL:     trl sft --config configs/smoke.yaml
# Override a value: python scripts/train.py --config configs/smoke.yaml --max_steps 10
# Two processes:    make smoke-distributed (python -m torch.distributed.run --nproc_per_node 2 scripts/train.py ...)
#
# The method is the plan's ({method}); the other values are sized for a 100k-parameter model and
# 512 synthetic rows, not taken from the plan: a tiny random model needs a much higher learning rate.
# Measured on 2 CPU cores, one thread: ~6 s of LoRA or ~19 s of QLoRA training, held-out accuracy 0 -> 0.96-1.0.
"""


def smoke_yaml(plan: dict[str, Any]) -> str:
    method = plan["training"]["open_weights_method"]
    return SMOKE_HEADER.format(method=comment(method)) + lines(smoke_sections(method))


def method_of(cfg: dict[str, Any]) -> str:
    if cfg.get("load_in_4bit", TRL_DEFAULTS["load_in_4bit"]):
        return "qlora"
    return "lora" if cfg.get("use_peft", TRL_DEFAULTS["use_peft"]) else "full"


def fit_inputs(cfg: dict[str, Any], planned: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A train.yaml read back into fit inputs (the plan's for what TRL does not say: GPUs, strategy, headroom),
    and the inputs the user changed from the plan's -> the TRL key that changed them."""

    def get(key: str) -> Any:
        if key == "activation_checkpointing" and key not in cfg and "gradient_checkpointing" in cfg:
            return cfg["gradient_checkpointing"]  # the transformers 4 name
        return cfg.get(key, TRL_DEFAULTS.get(key))

    planned = {"loss": "fp32", **planned}  # plans written before the loss was recorded
    targets = get("lora_target_modules")
    targets = planned["targets"] if targets is None else [targets] if isinstance(targets, str) else list(targets)
    out = dict(planned)
    out.update(method=method_of(cfg), seq_len=int(get("max_length")),
               micro_batch=int(get("per_device_train_batch_size")), grad_ckpt=bool(get("activation_checkpointing")),
               lora_r=int(get("lora_r")), targets=targets, optimizer=estimator_optimizer(str(get("optim"))),
               epochs=float(get("num_train_epochs")),
               loss="chunked" if cfg.get("use_liger_kernel") else "fp32")
    if float(out["epochs"]) == float(planned["epochs"]):
        out["epochs"] = planned["epochs"]
    per_epoch = float(planned["tokens"]) / float(planned["epochs"])
    out["tokens"] = planned["tokens"] if out["epochs"] == planned["epochs"] else per_epoch * float(out["epochs"])
    changed = {name: FIT_KEYS[name] for name in FIT_KEYS if _differs(out[name], planned[name], name, out["method"])}
    return out, changed


def _differs(now: Any, planned: Any, name: str, method: str) -> bool:
    if name in ("lora_r", "targets") and method == "full":
        return False  # no adapters: rank and targets do not enter the fit
    if isinstance(planned, float) or isinstance(now, float):
        return float(now) != float(planned)
    return bool(now != planned)


def dpo_sections(plan: dict[str, Any]) -> list[Section]:
    """dpo.yaml's entries: the plan's preference stage (beta, rate, epochs) on the SFT run's settings."""
    t = plan["training"]
    pref, hp, method = t["preference"], t["hyperparameters"], t["open_weights_method"]
    slug = plan["meta"]["slug"]
    start = ("the SFT output (make train): scripts/train_dpo.py continues its adapter against a frozen copy of it"
             if method != "full" else "the SFT output (make train): the fully tuned model and its reference copy")
    model: list[Entry] = [("model_name_or_path", f"outputs/{slug}", start)]
    if method == "full":
        model.append(("dtype", "float32", "fp32 master weights, bf16 autocast compute, as in train.yaml"))
    else:
        model.append(("dtype", "bfloat16", "the frozen base in bf16, as in train.yaml"))
    if method == "qlora":
        model += [("load_in_4bit", True, "QLoRA: the base in 4-bit NF4 again, as for SFT"),
                  ("bnb_4bit_quant_type", "nf4", ""), ("use_bnb_nested_quant", True, "")]
    # Chosen and rejected both pass through the policy (and the reference): half SFT's per-device batch holds the
    # same tokens, and more accumulation keeps its effective batch.
    per_device = max(1, int(hp["per_device_train_batch_size"]) // 2)
    accumulation = max(1, round(int(hp["per_device_train_batch_size"]) * int(hp["gradient_accumulation_steps"])
                                / per_device))
    gpus = int((t.get("hardware") or {}).get("gpu_count") or 1)
    steps = math.ceil(int(pref["pairs"]) * int(pref["epochs"]) / (per_device * accumulation * gpus))
    save_steps = max(1, math.ceil(steps / DPO_CHECKPOINTS)) if steps else hp["save_steps"]
    data: list[Entry] = [
        ("datasets", Block([({"path": "json", "data_files": "data/preference.jsonl", "split": "train"},
                             f"{pref['pairs']:,} chosen/rejected pairs planned" if pref["pairs"] else
                             "collect chosen/rejected pairs first (the plan knows of none)")]),
         "one pair per line: prompt, chosen, rejected (format: scripts/train_dpo.py)"),
        ("max_length", hp["max_seq_length"], "prompt + the longer answer: SFT's max_length"),
        ("eval_strategy", "no", "judge DPO by the held-out pairwise win rate against the SFT adapter, not a loss"),
    ]
    optimisation: list[Entry] = [
        ("beta", float(pref["beta"]), "the plan's KL strength to the SFT reference (STRATEGY.md, Training): "
                                      "lower lets the model drift further from SFT"),
        ("learning_rate", float(pref["learning_rate"]), "the plan's preference-stage rate (STRATEGY.md, Training)"),
        ("num_train_epochs", pref["epochs"], "one pass over the pairs; more over-optimises the margin"),
        ("per_device_train_batch_size", per_device, f"half SFT's {hp['per_device_train_batch_size']}: chosen and "
                                                    "rejected ride together"),
        ("gradient_accumulation_steps", accumulation, f"{per_device * accumulation} pairs per GPU per step, SFT's "
                                                      "per-GPU batch"),
        ("lr_scheduler_type", hp["scheduler"], ""),
        ("warmup_steps", float(hp["warmup_ratio"]), "a float below 1 is a fraction of all steps"),
        ("weight_decay", float(hp["weight_decay"]), ""),
        ("optim", hp["optimizer"], "as for SFT"),
        ("activation_checkpointing", hp["gradient_checkpointing"], "as for SFT"),
        ("bf16", hp["bf16"], ""),
        ("seed", hp["seed"], ""),
    ]
    logging: list[Entry] = [
        ("output_dir", f"outputs/{slug}-dpo", "the DPO adapter and run_metadata.json (rewards and margins)"),
        ("save_strategy", "steps", ""),
        ("save_steps", save_steps, f"{DPO_CHECKPOINTS} checkpoints over the ~{steps} steps of {pref['pairs']:,} pairs; "
                                   "`make dpo` resumes from the latest" if steps else "`make dpo` resumes from the "
                                                                                      "latest checkpoint"),
        ("save_total_limit", 2, ""),
        ("logging_steps", 10, "rewards/chosen, rewards/rejected, rewards/margins, rewards/accuracies"),
        ("report_to", "none", "or tensorboard, trackio"),
    ]
    return [("Start from the SFT model", model), ("Preference pairs", data), ("Optimisation", optimisation),
            ("Checkpoints, logging", logging)]


DPO_HEADER = """\
# Preference stage for {slug}: TRL DPO ({method}) after SFT, written by ftplan {version} on {today}.
# The order: make train (SFT, configs/train.yaml) -> make dpo (this file, on the SFT adapter) -> evaluate both.
#
# Run it:           make dpo              (= python scripts/train_dpo.py --config configs/dpo.yaml)
# Check it:         python scripts/train_dpo.py --config configs/dpo.yaml --dry-run
# Override a value: python scripts/train_dpo.py --config configs/dpo.yaml --beta 0.2 --max_steps 100
# Evaluate:         python scripts/evaluate.py --config configs/eval.yaml --adapter outputs/{slug}-dpo \\
#                     --output-dir reports/dpo      (then compare with reports/eval_report.md, the SFT adapter)
#
# Data: data/preference.jsonl, one pair per line, chat or plain text (TRL's preference formats):
#   {{"prompt": [{{"role": "user", "content": "..."}}], "chosen": [{{"role": "assistant", "content": "better"}}],
#    "rejected": [{{"role": "assistant", "content": "worse"}}]}}
#   {{"prompt": "...", "chosen": "better", "rejected": "worse"}}
# Only TRL keys live here (ScriptArguments + DPOConfig + ModelConfig + DatasetMixtureConfig); every value the plan
# chose carries its reason. Plan: {pairs} pairs, ~{hours} GPU-hours, ~${usd}.
"""


def dpo_yaml(plan: dict[str, Any]) -> str | None:
    """configs/dpo.yaml when the plan has a preference stage, else None (the repo gets no DPO config)."""
    pref = plan["training"].get("preference")
    if not pref or not plan["training"].get("hyperparameters"):
        return None
    m = plan["meta"]
    header = DPO_HEADER.format(slug=comment(m["slug"]), method=comment(plan["training"]["open_weights_method"]),
                               version=comment(m["ftplan_version"]), today=comment(m["today"]),
                               pairs=f"{int(pref['pairs']):,}", hours=comment(pref["gpu_hours"]),
                               usd=f"{float(pref['training_usd']):,.2f}")
    return header + lines(dpo_sections(plan))
