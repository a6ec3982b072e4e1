"""`ftplan export DIR --to axolotl|llamafactory|torchtune`: the plan as another trainer's config.

The same model, method, data and hyperparameters as configs/train.yaml, each value with the plan's reason
as its comment (filters.comment / filters.yaml_value, like every generated config), in the keys that trainer
reads. Data stays where the repository keeps it (data/train.jsonl, data/validation.jsonl: chat `messages`);
the loss is on the assistant's answer only, as scripts/train.py trains it. Values a trainer cannot express
are said in the file's header, never silently dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from generator.errors import Problem, UserError
from generator.render.filters import comment, yaml_value

TARGETS = ("axolotl", "llamafactory", "torchtune")
TRAIN, VALIDATION = "data/train.jsonl", "data/validation.jsonl"

# LLaMA-Factory chat template names (src/llamafactory/data/template.py) by the start of the model's hf_id.
LLAMAFACTORY_TEMPLATES = (
    ("meta-llama/Llama-3", "llama3"), ("Qwen/Qwen3", "qwen3"), ("Qwen/Qwen2.5", "qwen"),
    ("google/gemma-3", "gemma3"), ("mistralai/", "mistral"), ("microsoft/Phi-4-mini", "phi4_mini"),
    ("microsoft/phi-4", "phi4"), ("HuggingFaceTB/SmolLM2", "smollm2"), ("openai/gpt-oss", "gpt_oss"),
    # LLaMA-Factory 0.9.5 has no smollm3 template: "smollm" is SmolLM3's ChatML turns without a default system
    # prompt (reasoning off); "olmo" is OLMo 2 Instruct's <|user|> / <|assistant|> format.
    ("HuggingFaceTB/SmolLM3", "smollm"), ("allenai/OLMo-2", "olmo"),
)
# torchtune model builders: hf_id -> (builder module, size suffix, tokenizer builder, checkpointer model_type).
TORCHTUNE_MODELS = {
    "meta-llama/Llama-3.2-1B-Instruct": ("llama3_2", "llama3_2_1b", "llama3.llama3_tokenizer", "LLAMA3_2"),
    "meta-llama/Llama-3.2-3B-Instruct": ("llama3_2", "llama3_2_3b", "llama3.llama3_tokenizer", "LLAMA3_2"),
    "meta-llama/Llama-3.1-8B-Instruct": ("llama3_1", "llama3_1_8b", "llama3.llama3_tokenizer", "LLAMA3"),
    "meta-llama/Llama-3.3-70B-Instruct": ("llama3_3", "llama3_3_70b", "llama3.llama3_tokenizer", "LLAMA3"),
    "Qwen/Qwen2.5-0.5B-Instruct": ("qwen2_5", "qwen2_5_0_5b", "qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "Qwen/Qwen2.5-7B-Instruct": ("qwen2_5", "qwen2_5_7b_instruct", "qwen2_5.qwen2_5_tokenizer", "QWEN2"),
    "Qwen/Qwen3-0.6B": ("qwen3", "qwen3_0_6b_instruct", "qwen3.qwen3_tokenizer", "QWEN3"),
    "Qwen/Qwen3-1.7B": ("qwen3", "qwen3_1_7b_instruct", "qwen3.qwen3_tokenizer", "QWEN3"),
    "Qwen/Qwen3-4B": ("qwen3", "qwen3_4b_instruct", "qwen3.qwen3_tokenizer", "QWEN3"),
    "Qwen/Qwen3-8B": ("qwen3", "qwen3_8b_instruct", "qwen3.qwen3_tokenizer", "QWEN3"),
    "Qwen/Qwen3-14B": ("qwen3", "qwen3_14b_instruct", "qwen3.qwen3_tokenizer", "QWEN3"),
    "Qwen/Qwen3-32B": ("qwen3", "qwen3_32b", "qwen3.qwen3_tokenizer", "QWEN3"),
}


class _Doc:
    """YAML lines, each value through yaml_value and each reason through comment."""

    def __init__(self, header: list[str]) -> None:
        self.lines = [f"# {comment(h)}" if h else "#" for h in header] + [""]

    def section(self, title: str) -> None:
        self.lines += ["", f"# --- {comment(title)} " + "-" * max(3, 100 - len(title))]

    def put(self, key: str, value: Any, why: Any = "", indent: int = 0) -> None:
        text = f"{' ' * indent}{key}: {yaml_value(value)}"
        self.lines.append(text + (f"  # {comment(why)}" if why else ""))

    def open(self, key: str, why: Any = "", indent: int = 0) -> None:
        self.lines.append(f"{' ' * indent}{key}:" + (f"  # {comment(why)}" if why else ""))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _common(plan: dict) -> tuple[dict, dict, str, str]:
    training = plan["training"]
    hp = training.get("hyperparameters")
    method = training.get("open_weights_method") or training["method"]
    if not hp or method not in ("lora", "qlora", "full"):
        raise UserError(Problem("--to", f"the plan trains with {training['method']!r}, not open weights",
                                "export works for lora, qlora and full fine-tuning plans"))
    return hp, training.get("reasons") or {}, method, plan["base_model"]["hf_id"]


def _header(plan: dict, tool: str, run: str, notes: list[str]) -> list[str]:
    meta = plan["meta"]
    return [f"{tool} config for {meta['slug']}, exported by ftplan {meta['ftplan_version']} from the plan of "
            f"{meta['today']} (plan.json; configs/train.yaml is the same run for TRL).", "",
            f"Run it: {run}", *([""] + notes if notes else [])]


def _warmup(plan: dict, hp: dict) -> tuple[int, int]:
    """(optimizer steps of the run, warmup steps): the plan's warmup ratio as a count."""
    steps = max(1, math.ceil(plan["data"]["split"]["train"] / hp["effective_batch_size"])) * int(hp["epochs"])
    return steps, math.ceil(hp["warmup_ratio"] * steps)


def axolotl(plan: dict) -> str:
    hp, why, method, model = _common(plan)
    d = _Doc(_header(plan, "Axolotl", "axolotl train configs/export/axolotl.yaml", []))
    d.section("Model")
    d.put("base_model", model, plan["base_model"].get("why"))
    d.put("chat_template", "tokenizer_default", "the model's own chat template, as scripts/train.py uses it")
    if method != "full":
        d.put("adapter", method, why.get("method"))
        if method == "qlora":
            d.put("load_in_4bit", True, "QLoRA: the frozen base in 4-bit NF4")
        d.put("lora_r", hp["lora_r"], why.get("lora_r"))
        d.put("lora_alpha", hp["lora_alpha"], why.get("lora_r"))
        d.put("lora_dropout", hp["lora_dropout"], why.get("lora_dropout"))
        if hp["target_modules"] == ["all-linear"]:
            d.put("lora_target_linear", True, why.get("target_modules"))
        else:
            d.put("lora_target_modules", hp["target_modules"], why.get("target_modules"))
    d.section("Data")
    for key, path in (("datasets", TRAIN), ("test_datasets", VALIDATION)):
        d.open(key, "chat rows {messages: [...]}, see data/FORMAT.md")
        d.put("  - path", path, indent=0)
        d.put("ds_type", "json", indent=4)
        d.put("split", "train", "the file's only split", indent=4)
        d.put("type", "chat_template", indent=4)
        d.put("field_messages", "messages", indent=4)
        d.put("roles_to_train", ["assistant"], "loss on the answer only (completion_only_loss in train.yaml)",
              indent=4)
    d.put("dataset_prepared_path", "outputs/axolotl/prepared")
    d.put("sequence_len", hp["max_seq_length"], why.get("max_seq_length"))
    d.put("sample_packing", False, "one example per sequence, as configs/train.yaml")
    d.put("train_on_inputs", False, "loss on the answer only")
    d.section("Optimisation")
    d.put("micro_batch_size", hp["per_device_train_batch_size"], why.get("per_device_train_batch_size"))
    d.put("gradient_accumulation_steps", hp["gradient_accumulation_steps"], why.get("effective_batch_size"))
    d.put("num_epochs", hp["epochs"], why.get("epochs"))
    d.put("learning_rate", float(hp["learning_rate"]), why.get("learning_rate"))
    d.put("lr_scheduler", hp["scheduler"], why.get("scheduler"))
    d.put("warmup_ratio", float(hp["warmup_ratio"]), why.get("warmup_ratio"))
    d.put("optimizer", hp["optimizer"], why.get("optimizer"))
    d.put("weight_decay", float(hp["weight_decay"]), why.get("weight_decay"))
    d.put("bf16", bool(hp["bf16"]), why.get("bf16"))
    d.put("gradient_checkpointing", bool(hp["gradient_checkpointing"]), why.get("gradient_checkpointing"))
    d.section("Evaluation and checkpoints")
    d.put("eval_steps", hp["eval_steps"], why.get("eval_steps"))
    d.put("save_steps", hp["save_steps"], "a checkpoint at every evaluation")
    d.put("early_stopping_patience", hp["early_stopping_patience"], why.get("early_stopping_patience"))
    d.put("seed", hp["seed"], "the plan's seed")
    d.put("output_dir", "outputs/axolotl")
    return d.text()


def llamafactory_template(model: str) -> str:
    return next((t for prefix, t in LLAMAFACTORY_TEMPLATES if model.startswith(prefix)), "default")


def llamafactory_dataset_info() -> str:
    """dataset_info.json for configs/export/llamafactory/: the repo's chat files in ShareGPT/OpenAI style."""
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
            "system_tag": "system"}
    info = {name: {"file_name": f"../../../{path}", "formatting": "sharegpt", "columns": {"messages": "messages"},
                   "tags": tags} for name, path in (("ftplan_train", TRAIN), ("ftplan_validation", VALIDATION))}
    return json.dumps(info, indent=2) + "\n"


def llamafactory(plan: dict) -> str:
    hp, why, method, model = _common(plan)
    template = llamafactory_template(model)
    notes = [] if template != "default" else [f"No LLaMA-Factory template is known for {model}: set `template`."]
    d = _Doc(_header(plan, "LLaMA-Factory", "llamafactory-cli train configs/export/llamafactory.yaml "
                     "(from the repository root; the data's dataset_info.json is in configs/export/llamafactory/)",
                     notes))
    d.section("Model")
    d.put("model_name_or_path", model, plan["base_model"].get("why"))
    d.put("template", template, "the model's chat format in LLaMA-Factory")
    d.section("Method")
    d.put("stage", "sft", "supervised fine-tuning")
    d.put("do_train", True)
    d.put("finetuning_type", "full" if method == "full" else "lora", why.get("method"))
    if method == "qlora":
        d.put("quantization_bit", 4, "QLoRA: the frozen base in 4-bit")
        d.put("quantization_method", "bnb", "bitsandbytes NF4, as scripts/train.py")
    if method != "full":
        d.put("lora_rank", hp["lora_r"], why.get("lora_r"))
        d.put("lora_alpha", hp["lora_alpha"], why.get("lora_r"))
        d.put("lora_dropout", hp["lora_dropout"], why.get("lora_dropout"))
        targets = "all" if hp["target_modules"] == ["all-linear"] else ",".join(hp["target_modules"])
        d.put("lora_target", targets, why.get("target_modules"))
    d.section("Data")
    d.put("dataset_dir", "configs/export/llamafactory", "dataset_info.json pointing at data/*.jsonl")
    d.put("dataset", "ftplan_train", TRAIN)
    d.put("eval_dataset", "ftplan_validation", VALIDATION)
    d.put("cutoff_len", hp["max_seq_length"], why.get("max_seq_length"))
    d.put("train_on_prompt", False, "loss on the answer only")
    d.put("packing", False, "one example per sequence")
    d.section("Optimisation")
    d.put("per_device_train_batch_size", hp["per_device_train_batch_size"], why.get("per_device_train_batch_size"))
    d.put("gradient_accumulation_steps", hp["gradient_accumulation_steps"], why.get("effective_batch_size"))
    d.put("num_train_epochs", float(hp["epochs"]), why.get("epochs"))
    d.put("learning_rate", float(hp["learning_rate"]), why.get("learning_rate"))
    d.put("lr_scheduler_type", hp["scheduler"], why.get("scheduler"))
    steps, warmup = _warmup(plan, hp)
    d.put("warmup_steps", warmup, f"{comment(why.get('warmup_ratio', 'warmup'))}: {hp['warmup_ratio']} x {steps} "
          "optimizer steps (a count: transformers 5 dropped warmup_ratio)")
    d.put("optim", hp["optimizer"], why.get("optimizer"))
    d.put("weight_decay", float(hp["weight_decay"]), why.get("weight_decay"))
    d.put("bf16", bool(hp["bf16"]), why.get("bf16"))
    d.put("disable_gradient_checkpointing", not hp["gradient_checkpointing"], why.get("gradient_checkpointing"))
    d.put("seed", hp["seed"], "the plan's seed")
    d.section("Evaluation and checkpoints")
    d.put("per_device_eval_batch_size", hp["per_device_train_batch_size"])
    d.put("eval_strategy", "steps")
    d.put("eval_steps", hp["eval_steps"], why.get("eval_steps"))
    d.put("save_steps", hp["save_steps"], "a checkpoint at every evaluation")
    d.put("output_dir", "outputs/llamafactory")
    d.put("logging_steps", 10)
    d.put("plot_loss", True)
    return d.text()


def torchtune(plan: dict) -> str:
    hp, why, method, model = _common(plan)
    if model not in TORCHTUNE_MODELS:
        raise UserError(Problem("--to torchtune", f"torchtune has no model builder for {model}",
                                "export to axolotl or llamafactory, or write the torchtune model section by hand"))
    if method == "qlora":
        builder_prefix = "qlora_"
    elif method == "lora":
        builder_prefix = "lora_"
    else:
        builder_prefix = ""
    family, size, tokenizer, model_type = TORCHTUNE_MODELS[model]
    gpus = int(plan["training"]["hardware"]["gpu_count"])
    recipe = ("full_finetune" if method == "full" else "lora_finetune") + ("_single_device" if gpus == 1
                                                                           else "_distributed")
    steps, warmup = _warmup(plan, hp)
    local = f"/tmp/{model.split('/')[-1]}"
    notes = [f"First: tune download {model} --output-dir {local}",
             "torchtune has no early stopping or per-step evaluation in this recipe: run `make eval` on the result."]
    run = f"tune run {'--nproc_per_node ' + str(gpus) + ' ' if gpus > 1 else ''}{recipe} " \
          "--config configs/export/torchtune.yaml"
    d = _Doc(_header(plan, "torchtune", run, notes))
    d.put("output_dir", "outputs/torchtune")
    d.section("Model")
    d.open("model", plan["base_model"].get("why"))
    d.put("_component_", f"torchtune.models.{family}.{builder_prefix}{size}", why.get("method"), indent=2)
    if method != "full":
        all_linear = hp["target_modules"] == ["all-linear"]
        d.put("lora_attn_modules", ["q_proj", "k_proj", "v_proj", "output_proj"] if all_linear
              else hp["target_modules"], why.get("target_modules"), indent=2)
        d.put("apply_lora_to_mlp", all_linear, indent=2)
        d.put("lora_rank", hp["lora_r"], why.get("lora_r"), indent=2)
        d.put("lora_alpha", hp["lora_alpha"], indent=2)
        d.put("lora_dropout", float(hp["lora_dropout"]), why.get("lora_dropout"), indent=2)
    d.open("tokenizer")
    d.put("_component_", f"torchtune.models.{tokenizer}", indent=2)
    d.put("path", f"{local}/original/tokenizer.model" if family.startswith("llama") else f"{local}/vocab.json",
          "from `tune download`", indent=2)
    if not family.startswith("llama"):
        d.put("merges_file", f"{local}/merges.txt", indent=2)
    d.put("max_seq_len", hp["max_seq_length"], why.get("max_seq_length"), indent=2)
    d.open("checkpointer")
    d.put("_component_", "torchtune.training.FullModelHFCheckpointer", indent=2)
    d.put("checkpoint_dir", local, indent=2)
    d.put("checkpoint_files", ["model.safetensors"], "the weights file(s) `tune download` fetched: list every "
          "shard", indent=2)
    d.put("recipe_checkpoint", None, indent=2)
    d.put("output_dir", "outputs/torchtune", indent=2)
    d.put("model_type", model_type, indent=2)
    d.put("resume_from_checkpoint", False)
    d.section("Data")
    d.open("dataset")
    d.put("_component_", "torchtune.datasets.chat_dataset", indent=2)
    d.put("source", "json", indent=2)
    d.put("data_files", TRAIN, "chat rows {messages: [...]}, see data/FORMAT.md", indent=2)
    d.put("split", "train", indent=2)
    d.put("conversation_column", "messages", indent=2)
    d.put("conversation_style", "openai", indent=2)
    d.put("train_on_input", False, "loss on the answer only", indent=2)
    d.put("packed", False, "one example per sequence", indent=2)
    d.put("seed", hp["seed"], "the plan's seed")
    d.put("shuffle", True)
    d.section("Optimisation")
    d.put("batch_size", hp["per_device_train_batch_size"], why.get("per_device_train_batch_size"))
    d.put("gradient_accumulation_steps", hp["gradient_accumulation_steps"], why.get("effective_batch_size"))
    d.put("epochs", hp["epochs"], why.get("epochs"))
    d.put("max_steps_per_epoch", None)
    d.open("optimizer")
    d.put("_component_", "torch.optim.AdamW", why.get("optimizer"), indent=2)
    d.put("fused", "fused" in str(hp["optimizer"]), indent=2)
    d.put("lr", float(hp["learning_rate"]), why.get("learning_rate"), indent=2)
    d.put("weight_decay", float(hp["weight_decay"]), why.get("weight_decay"), indent=2)
    d.open("lr_scheduler")
    d.put("_component_", "torchtune.training.lr_schedulers.get_cosine_schedule_with_warmup", why.get("scheduler"),
          indent=2)
    d.put("num_warmup_steps", warmup, f"{comment(why.get('warmup_ratio', 'warmup'))}: {hp['warmup_ratio']} x "
          f"{steps} optimizer steps", indent=2)
    d.open("loss")
    d.put("_component_", "torchtune.modules.loss.LinearCrossEntropyLoss", indent=2)
    d.put("device", "cuda")
    d.put("dtype", "bf16" if hp["bf16"] else "fp32", why.get("bf16"))
    d.put("enable_activation_checkpointing", bool(hp["gradient_checkpointing"]), why.get("gradient_checkpointing"))
    d.put("compile", False)
    d.open("metric_logger")
    d.put("_component_", "torchtune.training.metric_logging.DiskLogger", indent=2)
    d.put("log_dir", "outputs/torchtune/logs", indent=2)
    d.put("log_every_n_steps", 10)
    return d.text()


EXPORTERS: dict[str, Callable[[dict], str]] = {"axolotl": axolotl, "llamafactory": llamafactory,
                                               "torchtune": torchtune}


def export_files(plan: dict, to: str) -> dict[str, str]:
    """Relative path -> text of the files `ftplan export --to TO` writes."""
    if to not in EXPORTERS:
        raise UserError(Problem("--to", f"{to!r} is not one of {', '.join(TARGETS)}", "pick one of them"))
    files = {f"configs/export/{to}.yaml": EXPORTERS[to](plan)}
    if to == "llamafactory":
        files["configs/export/llamafactory/dataset_info.json"] = llamafactory_dataset_info()
    return files
