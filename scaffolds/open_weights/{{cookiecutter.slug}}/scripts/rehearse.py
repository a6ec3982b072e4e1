"""Rehearse the real run on the CPU before any GPU hour: your configs, your data, a tiny model, a few steps.

    make rehearse                      (= python scripts/rehearse.py)
    python scripts/rehearse.py --dry-run           # write the rehearsal configs and check them; run nothing
    python scripts/rehearse.py --raw raw/tickets.csv   # prepare the raw file into rehearse/data first
    python scripts/rehearse.py --steps 10 --limit 40

It runs configs/train.yaml, configs/eval.yaml and configs/data.yaml as they are, with only the model swapped
for a tiny local one (a tokenizer trained on your data, so nothing is unknown; random weights) and the device
for the CPU with a few optimizer steps: [prepare ->] validate -> baseline -> train -> eval. Everything goes to
rehearse/ (the configs it ran, the model, the adapter and rehearse/reports/eval_report.json with the plan's
primary metric), so real data and real reports are never touched. The tiny model's scores mean nothing; what
the rehearsal proves is that your data, configs and metrics work together. The gates are reported, not
enforced: a tiny model is not expected to pass them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, file_problem, load_config, read_text, run, shown  # noqa: E402
from inputs import MAX_CONFIG_BYTES  # noqa: E402

OUT = Path("rehearse")
STEPS, LIMIT, MAX_NEW_TOKENS, VOCAB = 5, 50, 32, 2000
# TRL keys set for the CPU and a few steps; every other key of configs/train.yaml runs as written.
CPU = {"use_cpu": True, "bf16": False, "fp16": False, "tf32": None, "dtype": "float32", "load_in_4bit": False,
       "load_in_8bit": False, "optim": "adamw_torch", "gradient_accumulation_steps": 1, "report_to": "none",
       "push_to_hub": False, "deepspeed": None, "fsdp": None, "fsdp_config": None, "attn_implementation": None,
       "torch_compile": False, "dataloader_num_workers": 0, "save_total_limit": 1, "use_liger_kernel": False}
DROP = {k for k, v in CPU.items() if v is None}
# The train.yaml numbers the rehearsal itself reads (train.py checks the rest): whole numbers in these ranges.
NUMBERS = {"per_device_train_batch_size": (1, 1 << 16), "per_device_eval_batch_size": (1, 1 << 16),
           "max_length": (1, 1 << 22), "seed": (0, 2**32 - 1)}


def texts(paths: list[Path]) -> list[str]:
    """Every message text of the JSONL files (chat or prompt/completion rows), for the tiny tokenizer."""
    out: list[str] = []
    for path in paths:
        if file_problem(path):
            continue
        try:
            lines = read_text(path).split("\n")
        except ValueError:
            continue  # not UTF-8: validate_data.py reports it with its line
        for line in lines:
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                continue  # validate_data.py reports it with its line
            for key in ("messages", "prompt", "completion"):
                value = row.get(key) if isinstance(row, dict) else None
                if isinstance(value, str):
                    out.append(value)
                elif isinstance(value, list):
                    out += [str(m.get("content", "")) for m in value if isinstance(m, dict)]
    return out


def build_tiny_model(out: Path, corpus: list[str], max_length: int, seed: int) -> None:
    """A byte-level BPE tokenizer trained on the data (exact round trip, no unknown token) and a random tiny
    Llama of scripts/make_tiny_model.py's sizes, with room for the config's max_length."""
    import torch
    from make_tiny_model import CHAT_TEMPLATE, LM_HEAD_STD, MODEL_SIZES, ROLE_TOKENS, SPECIAL
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = [SPECIAL["pad"], SPECIAL["unk"], SPECIAL["bos"], SPECIAL["eos"], *ROLE_TOKENS]
    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk"]))
    # Spaces are tokens of their own, so a prompt ending in a space is a token prefix of prompt + answer (as TRL's
    # completion-only loss needs); byte-level, so every text round-trips exactly.
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(" ", behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus or ["a"], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIAL["pad"], unk_token=SPECIAL["unk"],
                                   bos_token=SPECIAL["bos"], eos_token=SPECIAL["eos"],
                                   additional_special_tokens=ROLE_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    sizes = {**MODEL_SIZES, "max_position_embeddings": max(MODEL_SIZES["max_position_embeddings"], max_length)}
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                                         tie_word_embeddings=False, **sizes))
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, LM_HEAD_STD)
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(out)
    fast.save_pretrained(out)


def train_config(path: Path, data: str, out: Path, steps: int) -> dict[str, Any]:
    """configs/train.yaml with the tiny model, the CPU and `steps` steps (one evaluation and save at the end)."""
    import yaml

    try:
        cfg = yaml.safe_load(read_text(path, MAX_CONFIG_BYTES)) or {}
    except ValueError as exc:  # not a file, too big, not UTF-8
        raise UserError(f"--train-config {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())
        raise UserError(f"{shown(path)}: not valid YAML ({shown(why)})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{shown(path)}: expected TRL keys (key: value lines)")
    for key, (lo, hi) in NUMBERS.items():
        value = cfg.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
            raise UserError(f"{shown(path)}: {key}: {shown(repr(value))[:60]} is not a whole number in [{lo}, {hi}] "
                            "— fix the value")
    cfg = {k: v for k, v in cfg.items() if k not in DROP}
    cfg.update({k: v for k, v in CPU.items() if v is not None and (k in cfg or k in ("use_cpu", "bf16", "dtype"))})
    cfg.update(model_name_or_path=str(out / "model"), output_dir=str(out / "outputs"), max_steps=steps,
               dataset_name=data, per_device_train_batch_size=min(int(cfg.get("per_device_train_batch_size", 4)), 4),
               per_device_eval_batch_size=min(int(cfg.get("per_device_eval_batch_size", 8)), 8),
               logging_steps=1, eval_steps=steps, save_steps=steps, report_to="none")
    if cfg.get("datasets"):
        cfg = _local_mixture(cfg, data)
    return cfg


# Dataset builders that read the entry's own data_files (local files), not a Hub repository.
LOCAL_BUILDERS = ("json", "csv", "parquet", "text", "arrow")


def _local_mixture(cfg: dict[str, Any], data: str) -> dict[str, Any]:
    """The forgetting mix offline: your rows (`path: data`) from the rehearsal's data folder, local general sets
    kept, Hub ones skipped with a note (`make train` draws them); no mixture left when only your rows remain."""
    kept, skipped = [], []
    for entry in cfg["datasets"]:
        where = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        if where == "data":
            kept.append({**entry, "path": data})
        elif where in LOCAL_BUILDERS or (where and Path(where).exists()):
            kept.append(entry)
        else:
            skipped.append(where or repr(entry))
    if skipped:
        print(f"rehearse: the general mix from {', '.join(skipped)} needs the Hub: skipped here; `make train` "
              "draws it", flush=True)
    out = {k: v for k, v in cfg.items() if k != "datasets"}
    if len(kept) > 1:
        out["datasets"] = kept
    return out


def eval_config(path: Path, data: Path, out: Path) -> dict[str, Any]:
    """configs/eval.yaml with the tiny model and its adapter, the CPU, short answers, reports in rehearse/."""
    import yaml

    load_config("eval", path)  # every problem of the real config first, named in its own file
    cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    gen = dict(cfg.get("generation") or {})
    gen["max_new_tokens"] = min(int(gen.get("max_new_tokens", MAX_NEW_TOKENS)), MAX_NEW_TOKENS)
    cfg.update(base_model=str(out / "model"), adapter=str(out / "outputs"), output_dir=str(out / "reports"),
               device="cpu", generation=gen, endpoint=None, endpoint_model=None)
    if str(cfg.get("heldout", "")).startswith("data/") and data != Path("data"):
        cfg["heldout"] = str(data / Path(cfg["heldout"]).name)
    if (cfg.get("forgetting") or {}).get("lm_eval_tasks"):
        cfg["forgetting"] = {**cfg["forgetting"], "lm_eval_tasks": []}  # the bundled probe: no downloads
    return cfg


def step(name: str, cmd: list[str], ok: tuple[int, ...] = (0,)) -> int:
    print(f"\n== rehearse: {name}: {' '.join(cmd)}", flush=True)
    code = subprocess.run([sys.executable, *cmd], check=False).returncode
    if code not in ok:
        raise UserError(f"rehearse: {name} failed (exit {code}) — the messages above name the file and the fix; "
                        "the real run would fail the same way")
    return code


def main(args: argparse.Namespace) -> int:
    import yaml

    out, data = OUT, Path("data")
    (out / "reports").mkdir(parents=True, exist_ok=True)
    if args.raw:
        data = out / "data"
        step("prepare", ["scripts/prepare_data.py", "--config", args.data_config, "--out", str(data), "--force",
                         "--", args.raw])  # `--`: a file name that starts with a dash is still the file
    train = train_config(Path(args.train_config), str(data), out, args.steps)
    evalc = eval_config(Path(args.eval_config), data, out)
    train_path, eval_path = out / "train.yaml", out / "eval.yaml"
    train_path.write_text(yaml.safe_dump(train, sort_keys=False, allow_unicode=True), encoding="utf-8")
    eval_path.write_text(yaml.safe_dump(evalc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    ftplan_cfg = Path(args.train_config).parent / "ftplan.yaml"
    ftplan_flag = ["--ftplan-config", str(ftplan_cfg)] if ftplan_cfg.is_file() else []
    if args.dry_run:
        step("check train", ["scripts/train.py", "--config", str(train_path), *ftplan_flag, "--dry-run"])
        step("check eval", ["scripts/evaluate.py", "--config", str(eval_path), "--dry-run"])
        print(f"dry run: wrote {train_path} and {eval_path}; nothing trained")
        return 0
    heldout = Path(evalc["heldout"])
    corpus = texts([data / "train.jsonl", data / "validation.jsonl", heldout,
                    *(Path(p) for p in (evalc.get("few_shot_examples"), evalc.get("probe")) if p)])
    if not corpus:
        raise UserError(f"rehearse: no examples in {shown(data)}/ — run `make data RAW=your_file` first")
    build_tiny_model(out / "model", corpus, int(train.get("max_length") or 1024), int(train.get("seed", 0)))
    print(f"tiny model with a tokenizer trained on {len(corpus)} texts of your data: {out / 'model'}")
    step("validate", ["scripts/validate_data.py", str(data / "train.jsonl"), "--heldout", str(heldout),
                      "--report", str(out / "reports/data_validation.json"), "--tokenizer", str(out / "model"),
                      "--config", str(train_path)])
    limit = ["--limit", str(args.limit)]
    step("baseline", ["scripts/evaluate.py", "--config", str(eval_path), "--baseline-only", *limit])
    step("train", ["scripts/train.py", "--config", str(train_path), *ftplan_flag])
    step("eval", ["scripts/evaluate.py", "--config", str(eval_path), *limit], ok=(0, 1))  # 1: a gate failed
    report = json.loads((out / "reports/eval_report.json").read_text(encoding="utf-8"))
    primary = report["primary_metric"]
    m = report["metrics"][primary]
    print(f"\nrehearsal passed: {primary} base {m['base']:.3f} -> tuned {m['tuned']:.3f} on {report['n_examples']} "
          f"held-out examples (tiny model: the numbers mean nothing, the pipeline works)")
    print(f"  gates {'passed' if report['passed'] else 'failed, as expected on a tiny model'}; "
          f"report: {out / 'reports/eval_report.json'} (.md); real reports untouched")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-config", default="configs/train.yaml")
    ap.add_argument("--eval-config", default="configs/eval.yaml")
    ap.add_argument("--data-config", default="configs/data.yaml")
    ap.add_argument("--raw", help="a raw data file: prepared into rehearse/data (data/ is left as it is)")
    ap.add_argument("--steps", type=int, default=STEPS, help=f"optimizer steps (default {STEPS})")
    ap.add_argument("--limit", type=int, default=LIMIT, help=f"held-out examples scored (default {LIMIT})")
    ap.add_argument("--dry-run", action="store_true", help="write and check the rehearsal configs; run nothing")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.limit < 1:
        ap.error("--steps and --limit must be at least 1")
    return args


if __name__ == "__main__":
    run(lambda: main(parse_args()))
