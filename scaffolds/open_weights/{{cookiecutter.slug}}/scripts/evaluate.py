"""Compare the base and the tuned model on the same frozen held-out set, with paired statistics and gates.

Run from the repository root:

    python scripts/evaluate.py --config configs/eval.yaml --baseline-only   # is prompting enough?
    python scripts/evaluate.py --config configs/eval.yaml                   # base vs tuned, gates
    python scripts/evaluate.py --config configs/eval.yaml --profile smoke   # tiny local model, CPU
    python scripts/evaluate.py --config configs/eval.yaml --limit 50 --batch-size 8 --device cpu
    OPENAI_API_KEY=... python scripts/evaluate.py --config configs/eval.yaml \\
        --endpoint http://localhost:8000/v1 --endpoint-model my-adapter  # OpenAI-compatible server

Writes <output_dir>/eval_report.json and eval_report.md (baseline_report.* with --baseline-only). Every
generation is cached in <output_dir>/generations.jsonl, keyed by model, example and generation settings, so
an interrupted run continues where it stopped and gives the same report.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DEFAULT_METRICS = {  # which metrics answer "did it work" for each task type
    "classification": ["accuracy", "macro_f1"],
    "extraction": ["json_validity", "field_f1", "exact_match"],
    "code": ["exact_match"],
}
TEXT_METRICS = ["rouge_l", "chrf"]  # summarization, generation, chat, qa, translation
TASK_TYPES = [
    "classification",
    "extraction",
    "summarization",
    "generation",
    "chat",
    "code",
    "translation",
    "qa",
]
GATE_OPS = (">=", "delta_ci_low>", "drop<=")
MCNEMAR_EXACT_BELOW = 25  # b + c below this: exact binomial test (Miller 2024, arXiv 2411.00640)
CHRF_CHAR_ORDER, CHRF_BETA = 6, 2  # chrF defaults of sacrebleu (Popovic 2015, WMT)
OTHER_LABEL = "<other>"  # a prediction outside the label set


class ConfigError(Exception):
    """A user error: the message names the field and the fix."""


# ---------------------------------------------------------------- config and data
def load_config(path: str, profile: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc}") from None
    if profile:
        if profile not in cfg:
            raise ConfigError(
                f"--profile {profile}: no `{profile}:` section in {path} — add one or drop the flag"
            )
        cfg = {**{k: v for k, v in cfg.items() if k != profile}, **cfg[profile]}
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    if cfg.get("task_type") not in TASK_TYPES:
        raise ConfigError(f"task_type: {cfg.get('task_type')!r} is not one of {TASK_TYPES}")
    cfg.setdefault("metrics", DEFAULT_METRICS.get(cfg["task_type"], TEXT_METRICS))
    unknown = [m for m in cfg["metrics"] if m not in METRICS]
    if unknown:
        raise ConfigError(f"metrics: unknown {unknown} — choose from {sorted(METRICS)}")
    cfg.setdefault("primary_metric", cfg["metrics"][0])
    if cfg["primary_metric"] not in cfg["metrics"]:
        raise ConfigError(
            f"primary_metric: {cfg['primary_metric']!r} must be one of metrics {cfg['metrics']}"
        )
    for i, gate in enumerate(cfg.get("gates") or []):
        if gate.get("op") not in GATE_OPS or not isinstance(gate.get("threshold"), (int, float)):
            raise ConfigError(f"gates[{i}]: needs op in {GATE_OPS} and a numeric threshold, got {gate}")
        if gate["metric"] != "forgetting_probe" and gate["metric"] not in cfg["metrics"]:
            raise ConfigError(f"gates[{i}].metric: {gate['metric']!r} is not in metrics {cfg['metrics']}")
    for key in ("base_model", "heldout", "output_dir"):
        if not cfg.get(key):
            raise ConfigError(f"{key}: missing — set it in {path} or pass --{key.replace('_', '-')}")
    return cfg


def load_examples(path: str, field: str) -> list[dict[str, Any]]:
    """Read chat or prompt/completion JSONL into {prompt: [messages], reference, label, slice}."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path} ({exc}) — check the path in the config") from None
    examples = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{field}: {path} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg}) — one JSON object per line") from None
        if "messages" in row:
            msgs = row["messages"]
            if not msgs or msgs[-1].get("role") != "assistant":
                raise ConfigError(f"{where}: messages must end with the assistant turn (the reference)")
            prompt, reference = msgs[:-1], msgs[-1]["content"]
        elif "prompt" in row and "completion" in row:
            prompt = (
                row["prompt"]
                if isinstance(row["prompt"], list)
                else [{"role": "user", "content": row["prompt"]}]
            )
            comp = row["completion"]
            reference = comp[-1]["content"] if isinstance(comp, list) else comp
        else:
            raise ConfigError(f"{where}: needs `messages` or `prompt` + `completion` (see data/FORMAT.md)")
        examples.append({"prompt": prompt, "reference": str(reference), "slice": row.get("slice")})
    if not examples:
        raise ConfigError(f"{field}: {path} has no examples")
    return examples


def few_shot_prompts(examples: list[dict], shots_pool: list[dict], k: int) -> list[list[dict]]:
    """Prefix k demonstrations, one per distinct answer first; held-out prompts never become shots."""
    held = {json.dumps(e["prompt"], sort_keys=True) for e in examples}
    pool = [s for s in shots_pool if json.dumps(s["prompt"], sort_keys=True) not in held]
    by_ref: dict[str, list[dict]] = {}
    for s in pool:
        by_ref.setdefault(s["reference"], []).append(s)
    shots: list[dict] = []
    while len(shots) < min(k, len(pool)):
        for group in by_ref.values():
            if group and len(shots) < k:
                shots.append(group.pop(0))
    demo = []
    for s in shots:
        demo += [m for m in s["prompt"] if m["role"] != "system"] + [
            {"role": "assistant", "content": s["reference"]}
        ]
    out = []
    for e in examples:
        system = [m for m in e["prompt"] if m["role"] == "system"]
        out.append(system + demo + [m for m in e["prompt"] if m["role"] != "system"])
    return out


# ---------------------------------------------------------------- metrics: per-example stats + aggregate
def norm_label(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip().strip(".").lower() if lines else ""


def macro_f1(pairs: list[tuple[str, str]], labels: list[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over the gold labels (or the configured label set)."""
    classes = sorted(set(labels) if labels else {g for g, _ in pairs})
    f1s = []
    for c in classes:
        tp = sum(1 for g, p in pairs if g == c and p == c)
        fp = sum(1 for g, p in pairs if g != c and p == c)
        fn = sum(1 for g, p in pairs if g == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(f1s) / len(f1s) if f1s else 0.0


def rouge_l(hyp: str, ref: str) -> float:
    """ROUGE-L F1 from the longest common subsequence of lowercase word tokens (Lin 2004, ACL workshop)."""
    h, r = re.findall(r"\w+", hyp.lower()), re.findall(r"\w+", ref.lower())
    if not h or not r:
        return float(h == r)
    prev = [0] * (len(r) + 1)
    for tok in h:
        cur = [0]
        for j, rt in enumerate(r):
            cur.append(prev[j] + 1 if tok == rt else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    return 0.0 if lcs == 0 else 2 * lcs / (len(h) + len(r))


def chrf_stats(hyp: str, ref: str) -> list[int]:
    """Character n-gram (hyp count, ref count, matches) for n = 1..6, whitespace removed (sacrebleu)."""
    h, r = "".join(hyp.split()), "".join(ref.split())
    stats = []
    for n in range(1, CHRF_CHAR_ORDER + 1):
        hc = Counter(h[i : i + n] for i in range(len(h) - n + 1))
        rc = Counter(r[i : i + n] for i in range(len(r) - n + 1))
        stats += [sum(hc.values()), sum(rc.values()), sum((hc & rc).values())]
    return stats


def chrf(stats: list[list[int]]) -> float:
    """Corpus chrF (beta 2) from summed statistics; per-order F averaged as sacrebleu 2.x does."""
    total = [sum(col) for col in zip(*stats, strict=True)] if stats else [0] * 3 * CHRF_CHAR_ORDER
    score, order, b2 = 0.0, 0, CHRF_BETA**2
    for n in range(CHRF_CHAR_ORDER):
        n_hyp, n_ref, n_match = total[3 * n : 3 * n + 3]
        if n_hyp and n_ref:
            order += 1
            p, r = n_match / n_hyp, n_match / n_ref
            score += (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0
    return score / order if order else 0.0


def parse_json(text: str) -> Any:
    text = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        return None


def flat_fields(obj: Any, prefix: str = "") -> set[tuple[str, str]]:
    if isinstance(obj, dict):
        return {kv for k, v in obj.items() for kv in flat_fields(v, f"{prefix}{k}.")}
    if isinstance(obj, list):
        return {kv for i, v in enumerate(obj) for kv in flat_fields(v, f"{prefix}{i}.")}
    return {(prefix.rstrip("."), json.dumps(obj).lower())}


def field_counts(hyp: str, ref: str) -> tuple[int, int, int]:
    gold, pred = flat_fields(parse_json(ref)), parse_json(hyp)
    pred_f = flat_fields(pred) if pred is not None else set()
    return len(gold & pred_f), len(pred_f - gold), len(gold - pred_f)


def exact(hyp: str, ref: str, task: str) -> float:
    if task == "extraction":
        pr = parse_json(ref)
        if pr is not None:
            return float(parse_json(hyp) == pr)
    return float(" ".join(hyp.split()) == " ".join(ref.split()))


def mean(xs: list) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def micro_f1(counts: list[tuple[int, int, int]]) -> float:
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


# name -> (per-example stat(hyp, ref, cfg), aggregate(stats, cfg), binary?)  binary -> McNemar
METRICS: dict[str, tuple[Callable, Callable, bool]] = {
    "accuracy": (lambda h, r, c: float(norm_label(h) == norm_label(r)), lambda s, c: mean(s), True),
    "macro_f1": (
        lambda h, r, c: (norm_label(r), norm_label(h)),
        lambda s, c: macro_f1(s, [norm_label(x) for x in c.get("labels") or []]),
        False,
    ),
    "json_validity": (lambda h, r, c: float(parse_json(h) is not None), lambda s, c: mean(s), True),
    "field_f1": (lambda h, r, c: field_counts(h, r), lambda s, c: micro_f1(s), False),
    "exact_match": (lambda h, r, c: exact(h, r, c["task_type"]), lambda s, c: mean(s), True),
    "rouge_l": (lambda h, r, c: rouge_l(h, r), lambda s, c: mean(s), False),
    "chrf": (lambda h, r, c: chrf_stats(h, r), lambda s, c: chrf(s), False),
}


def probe_correct(hyp: str, ref: str) -> float:
    """Right if the answer's first line is the reference or contains it as a whole word."""
    line, want = norm_label(hyp), norm_label(ref)
    return float(line == want or re.search(rf"(?<!\w){re.escape(want)}(?!\w)", line) is not None)


# ---------------------------------------------------------------- paired statistics
def mcnemar(base: list[float], tuned: list[float]) -> float:
    """Two-sided McNemar p-value; exact binomial on the discordant pairs when b + c is small."""
    b = sum(1 for x, y in zip(base, tuned, strict=True) if x and not y)
    c = sum(1 for x, y in zip(base, tuned, strict=True) if y and not x)
    if b + c == 0:
        return 1.0
    if b + c < MCNEMAR_EXACT_BELOW:
        tail = sum(math.comb(b + c, i) for i in range(min(b, c) + 1)) / 2 ** (b + c)
        return min(1.0, 2 * tail)
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)  # with continuity correction
    return math.erfc(math.sqrt(chi2 / 2))  # survival function of chi-square, 1 degree of freedom


def paired_stats(base: list, tuned: list, agg: Callable, binary: bool, resamples: int, seed: int) -> dict:
    """Delta, percentile 95% CI by paired bootstrap, and a p-value (McNemar or approximate randomization)."""
    n, rng = len(base), random.Random(seed)
    b_val, t_val = agg(base), agg(tuned)
    deltas = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        deltas.append(agg([tuned[i] for i in idx]) - agg([base[i] for i in idx]))
    deltas.sort()
    ci = [deltas[int(0.025 * (resamples - 1))], deltas[math.ceil(0.975 * (resamples - 1))]]
    if binary:
        p = mcnemar(base, tuned)
    else:  # sign-flip permutation: swap the two systems' outputs per example (Noreen 1989)
        observed, hits = abs(t_val - b_val), 0
        for _ in range(resamples):
            swap = [rng.random() < 0.5 for _ in range(n)]
            a = [t if s else b for b, t, s in zip(base, tuned, swap, strict=True)]
            z = [b if s else t for b, t, s in zip(base, tuned, swap, strict=True)]
            hits += abs(agg(z) - agg(a)) >= observed - 1e-12
        p = (hits + 1) / (resamples + 1)
    return {"base": b_val, "tuned": t_val, "delta": t_val - b_val, "ci95": ci, "p_value": p}


def compare(cfg: dict, refs: list[str], base_out: list[str], tuned_out: list[str]) -> dict[str, dict]:
    boot = cfg.get("bootstrap") or {}
    result = {}
    for name in cfg["metrics"]:
        stat, agg, binary = METRICS[name]
        b = [stat(h, r, cfg) for h, r in zip(base_out, refs, strict=True)]
        t = [stat(h, r, cfg) for h, r in zip(tuned_out, refs, strict=True)]
        result[name] = paired_stats(
            b,
            t,
            lambda s, agg=agg: agg(s, cfg),
            binary,
            int(boot.get("resamples", 1000)),
            int(boot.get("seed", 0)),
        )
    return result


# ---------------------------------------------------------------- generation backends and cache
class Cache:
    """Append-only JSONL of generations; a line cut by a kill is ignored."""

    def __init__(self, path: Path) -> None:
        self.path, self.data = path, {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self.data[row["key"]] = row["output"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def put_many(self, items: dict[str, str]) -> None:
        self.data.update(items)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps({"key": k, "output": v}) + "\n" for k, v in items.items())


class LocalBackend:
    """transformers generation; tuned = base + PEFT adapter, or the folder of a full fine-tune."""

    def __init__(self, cfg: dict) -> None:
        self.cfg, self.models, self.tok, self.peft = cfg, {}, None, False
        self.adapter = Path(cfg["adapter"]) if cfg.get("adapter") else None
        meta = {}
        for name in ("run_metadata.json", "adapter_config.json"):
            if self.adapter and (self.adapter / name).exists():
                meta.update(json.loads((self.adapter / name).read_text(encoding="utf-8")))
        self.qlora = meta.get("method") == "qlora" or bool(meta.get("load_in_4bit"))
        self.full = bool(
            self.adapter
            and not (self.adapter / "adapter_config.json").exists()
            and (self.adapter / "config.json").exists()
        )
        has_tok = self.adapter is not None and (self.adapter / "tokenizer_config.json").exists()
        self.tok_src = str(self.adapter if has_tok else cfg["base_model"])  # the tokenizer training saved
        self.tags = {
            "base": f"{cfg['base_model']}|4bit={self.qlora}|tok={self.tok_src}",
            "tuned": f"{cfg['base_model']}|{self._weights_digest()}|tok={self.tok_src}",
        }

    def _weights_digest(self) -> str:
        """Identifies the tuned weights, so a retrained adapter is never served from the cache."""
        if not self.adapter or not self.adapter.exists():
            return "none"
        adapter = sorted(self.adapter.glob("adapter_model.*"))
        if adapter:
            return hashlib.sha256(adapter[0].read_bytes()).hexdigest()[:16]
        stamp = [
            (f.name, f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(self.adapter.glob("*.safetensors"))
        ]
        return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]

    def _from_pretrained(self, path: str) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if self.device == "cuda" else torch.float32}
        if self.qlora:  # the adapter was trained against the 4-bit base: evaluate it on the same base
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=kwargs["dtype"],
            )
            if self.device != "cpu":  # bitsandbytes quantizes while placing the weights on the GPU
                kwargs["device_map"] = {"": self.device}
        try:
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        except OSError as exc:
            raise ConfigError(
                f"base_model/adapter: cannot load {path} ({exc}) — pass a Hub id or a local "
                "folder with --base-model / --adapter"
            ) from None
        return (model if self.qlora else model.to(self.device)).eval()

    def load(self, which: str) -> None:
        import torch
        from transformers import AutoTokenizer

        if self.tok is None:
            device = self.cfg.get("device") or "auto"
            self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
            torch.manual_seed(int((self.cfg.get("bootstrap") or {}).get("seed", 0)))
            try:
                self.tok = AutoTokenizer.from_pretrained(self.tok_src)
            except OSError as exc:
                raise ConfigError(
                    f"base_model: cannot load the tokenizer of {self.tok_src} ({exc})"
                ) from None
            if not self.tok.chat_template:
                raise ConfigError(
                    f"base_model: tokenizer of {self.tok_src} has no chat template — use an instruct "
                    "model or add a chat_template to its tokenizer_config.json"
                )
            self.tok.padding_side = "left"  # decoder-only models continue from the right edge
            if self.tok.pad_token is None:
                self.tok.pad_token = self.tok.eos_token
        if which in self.models:
            return
        if which == "tuned" and self.full:
            self.models["tuned"] = self._from_pretrained(str(self.adapter))
            return
        if "base" not in self.models:
            self.models["base"] = self._from_pretrained(self.cfg["base_model"])
        if which == "tuned":
            from peft import PeftModel

            if not self.adapter or not (self.adapter / "adapter_config.json").exists():
                raise ConfigError(
                    f"adapter: no PEFT adapter in {self.adapter} — train first or pass --adapter DIR"
                )
            # PEFT injects the adapter into the base in place; base answers then run with it disabled
            self.models["tuned"] = PeftModel.from_pretrained(self.models["base"], str(self.adapter)).eval()
            self.models["base"], self.peft = self.models["tuned"], True

    def generate(self, which: str, prompts: list[list[dict]]) -> list[str]:
        import contextlib

        import torch

        self.load(which)
        model = self.models[which]
        texts = [self.tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        off = model.disable_adapter() if self.peft and which == "base" else contextlib.nullcontext()
        with torch.no_grad(), off:
            out = model.generate(
                **enc,
                do_sample=False,
                max_new_tokens=int(self.cfg["max_new_tokens"]),
                pad_token_id=self.tok.pad_token_id,
            )
        return self.tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


class EndpointBackend:
    """An OpenAI-compatible /v1/chat/completions server; the key is read from the env, never stored."""

    def __init__(self, cfg: dict) -> None:
        self.cfg, url = cfg, cfg["endpoint"].rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.names = {"base": cfg["base_model"], "tuned": cfg.get("endpoint_model")}
        self.tags = {k: f"endpoint|{self.url}|{v}" for k, v in self.names.items()}
        self.key = os.environ.get(str(cfg.get("api_key_env") or "OPENAI_API_KEY"), "")

    def _one(self, model: str, messages: list[dict]) -> str:
        body = {
            "model": model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": int(self.cfg["max_new_tokens"]),
            "seed": int((self.cfg.get("bootstrap") or {}).get("seed", 0)),
        }
        headers = {
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {self.key}"} if self.key else {}),
        }
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(req, timeout=float(self.cfg.get("endpoint_timeout_s", 120))) as resp:
                return json.loads(resp.read())["choices"][0]["message"]["content"] or ""
        except (urllib.error.URLError, TimeoutError, KeyError, IndexError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"--endpoint: {self.url} with model {model!r} failed ({exc}) — check the URL, the model "
                f"name and the key in ${self.cfg.get('api_key_env') or 'OPENAI_API_KEY'}"
            ) from None

    def load(self, which: str) -> None:
        if not self.names[which]:
            raise ConfigError("--endpoint-model: name the tuned model served by the endpoint")

    def generate(self, which: str, prompts: list[list[dict]]) -> list[str]:
        with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
            return list(pool.map(lambda p: self._one(self.names[which], p), prompts))


def run_pass(
    backend: Any, which: str, prompts: list[list[dict]], cache: Cache, cfg: dict, timings: dict, name: str
) -> list[str]:
    """Generate for every prompt not yet in the cache, batch by batch, saving each batch."""
    settings = json.dumps({"max_new_tokens": cfg["max_new_tokens"], "greedy": True})
    keys = [
        hashlib.sha256(
            f"{backend.tags[which]}|{json.dumps(p, sort_keys=True)}|{settings}".encode()
        ).hexdigest()
        for p in prompts
    ]
    todo = [i for i, k in enumerate(keys) if k not in cache.data]
    loaded = time.perf_counter()
    if todo:
        backend.load(which)  # model loading is timed apart from generation
    start, bs = time.perf_counter(), int(cfg["batch_size"])
    for s in range(0, len(todo), bs):
        chunk = todo[s : s + bs]
        cache.put_many(
            dict(
                zip(
                    [keys[i] for i in chunk],
                    backend.generate(which, [prompts[i] for i in chunk]),
                    strict=True,
                )
            )
        )
    secs = time.perf_counter() - start
    timings[name] = {
        "generated": len(todo),
        "cached": len(prompts) - len(todo),
        "load_seconds": round(start - loaded, 3),
        "seconds": round(secs, 3),
        "examples_per_s": round(len(todo) / secs, 3) if todo and secs else None,
    }
    return [cache.data[k] for k in keys]


# ---------------------------------------------------------------- error analysis
def as_score(stat: Any) -> float:
    """One example's score in [0, 1] from any metric's per-example statistic."""
    if isinstance(stat, float):
        return stat
    if len(stat) == 2:  # (gold, predicted) label
        return float(stat[0] == stat[1])
    return micro_f1([stat]) if len(stat) == 3 else chrf([stat])


def error_analysis(cfg: dict, examples: list[dict], base_out: list[str], tuned_out: list[str]) -> dict:
    """What the tuned model still gets wrong, and what data would fix it."""
    task, primary, refs = cfg["task_type"], cfg["primary_metric"], [e["reference"] for e in examples]
    stat, agg, _ = METRICS[primary]
    score = METRICS["accuracy"][0] if task == "classification" else stat
    per_ex = [as_score(score(h, r, cfg)) for h, r in zip(tuned_out, refs, strict=True)]
    order = sorted(range(len(refs)), key=lambda i: per_ex[i])
    worst = [
        {
            "index": i,
            "input": e["prompt"][-1]["content"][:300],
            "reference": refs[i],
            "base": base_out[i],
            "tuned": tuned_out[i],
            "score": per_ex[i],
        }
        for i in order
        if per_ex[i] < 1.0
        for e in [examples[i]]
    ][: int(cfg.get("max_error_examples", 20))]
    out: dict[str, Any] = {"wrong_examples": worst, "n_wrong": sum(v < 1.0 for v in per_ex), "advice": []}
    if task == "classification":
        labels = sorted({norm_label(x) for x in (cfg.get("labels") or [])} | {norm_label(r) for r in refs})
        matrix = {g: dict.fromkeys(labels + [OTHER_LABEL], 0) for g in labels}
        for r, h in zip(refs, tuned_out, strict=True):
            p = norm_label(h)
            matrix[norm_label(r)][p if p in labels else OTHER_LABEL] += 1
        out["confusion_matrix"] = matrix
        pairs = Counter({(g, p): n for g, row in matrix.items() for p, n in row.items() if p != g and n})
        for (g, p), n in pairs.most_common(3):
            out["advice"].append(
                f"{n} '{g}' examples were labelled '{p}': add examples that contrast "
                f"'{g}' with '{p}', and check the guidelines for the boundary between them"
                if p != OTHER_LABEL
                else f"{n} '{g}' examples got an answer outside the label set: add more '{g}' "
                "examples and keep the answer format to exactly one label"
            )
    elif task == "extraction":
        missing = Counter(
            k
            for h, r in zip(tuned_out, refs, strict=True)
            for k, _ in flat_fields(parse_json(r))
            - (flat_fields(parse_json(h)) if parse_json(h) is not None else set())
        )
        invalid = sum(parse_json(h) is None for h in tuned_out)
        out["missed_fields"] = dict(missing.most_common(10))
        if invalid:
            out["advice"].append(f"{invalid} outputs were not valid JSON: add examples with the exact schema")
        for k, n in missing.most_common(3):
            out["advice"].append(
                f"field '{k}' was wrong or missing {n} times: add examples where it is filled"
            )
    slices = sorted({e["slice"] for e in examples if e.get("slice")})
    if slices:
        out["slices"] = {}
        for s in slices:
            idx = [i for i, e in enumerate(examples) if e.get("slice") == s]
            b = agg([stat(base_out[i], refs[i], cfg) for i in idx], cfg)
            t = agg([stat(tuned_out[i], refs[i], cfg) for i in idx], cfg)
            out["slices"][s] = {"n": len(idx), "base": b, "tuned": t}
        weakest = min(slices, key=lambda s: out["slices"][s]["tuned"])
        if len(slices) > 1 and out["slices"][weakest]["tuned"] < max(
            v["tuned"] for v in out["slices"].values()
        ):
            out["advice"].append(
                f"weakest slice '{weakest}' ({primary} {out['slices'][weakest]['tuned']:.3f} on "
                f"{out['slices'][weakest]['n']} examples): collect more examples from it"
            )
    if not out["advice"] and worst:
        out["advice"].append(f"add examples like the {len(worst)} lowest-scoring ones listed below")
    if not worst:
        out["advice"].append(
            "the tuned model gets every held-out example right: add harder and rarer cases to the held-out "
            "set before trusting the gates"
        )
    return out


# ---------------------------------------------------------------- report
def gate_results(cfg: dict, metrics: dict, probe: dict | None) -> list[dict]:
    results = []
    for g in cfg.get("gates") or []:
        if g["metric"] == "forgetting_probe":
            value = probe["drop"] if probe else None
        elif g["op"] == ">=":
            value = metrics[g["metric"]]["tuned"]
        else:
            value = metrics[g["metric"]]["ci95"][0]
        passed = value is not None and (
            value >= g["threshold"]
            if g["op"] == ">="
            else value > g["threshold"]
            if g["op"] == "delta_ci_low>"
            else value <= g["threshold"]
        )
        results.append(
            {
                "metric": g["metric"],
                "op": g["op"],
                "threshold": g["threshold"],
                "value": value,
                "passed": passed,
                "reason": g.get("reason", ""),
            }
        )
    return results


def markdown(report: dict, a: str, b: str) -> str:
    lines = [
        f"# {'Baseline' if report['baseline_only'] else 'Evaluation'} report",
        "",
        f"{report['n_examples']} held-out examples, task `{report['task_type']}`, primary metric "
        f"`{report['primary_metric']}`. Paired comparison: {a} vs {b}.",
        "",
        f"| metric | {a} | {b} | delta | 95% CI | p |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in report["metrics"].items():
        lines.append(
            f"| {name} | {m['base']:.4f} | {m['tuned']:.4f} | {m['delta']:+.4f} | "
            f"[{m['ci95'][0]:+.4f}, {m['ci95'][1]:+.4f}] | {m['p_value']:.4g} |"
        )
    if report.get("probe"):
        p = report["probe"]
        lines += [
            "",
            f"Forgetting probe ({p['n']} items): base {p['base']:.3f}, tuned {p['tuned']:.3f}, "
            f"drop {p['drop']:+.3f} (p {p['p_value']:.3g}).",
        ]
    if report.get("prompting_meets_target") is not None:
        lines += [
            "",
            "Prompting already meets the target: fine-tuning may not be needed (see STRATEGY.md)."
            if report["prompting_meets_target"]
            else "Prompting does not meet the target on this held-out set: the baseline to beat is above.",
        ]
    vs_few = (report.get("tuned_vs_few_shot") or {}).get(report["primary_metric"])
    if vs_few:
        lines += [
            "",
            f"Tuned vs few-shot prompting on {report['primary_metric']}: {vs_few['delta']:+.4f} "
            f"(95% CI [{vs_few['ci95'][0]:+.4f}, {vs_few['ci95'][1]:+.4f}], p {vs_few['p_value']:.3g}).",
        ]
    if report.get("gates"):
        lines += ["", "| gate | value | result |", "|---|---|---|"]
        for g in report["gates"]:
            v = "n/a" if g["value"] is None else f"{g['value']:.4f}"
            lines.append(
                f"| {g['metric']} {g['op']} {g['threshold']} | {v} | {'PASS' if g['passed'] else 'FAIL'} |"
            )
        lines += ["", f"**Overall: {'PASS' if report['passed'] else 'FAIL'}**"]
    ea = report.get("error_analysis") or {}
    if ea.get("advice"):
        lines += ["", "## What data to add next", ""] + [f"- {x}" for x in ea["advice"]]
    if ea.get("confusion_matrix"):
        cols = list(next(iter(ea["confusion_matrix"].values())))
        lines += [
            "",
            "## Confusion matrix (rows: reference, columns: tuned answer)",
            "",
            "| | " + " | ".join(cols) + " |",
            "|---" * (len(cols) + 1) + "|",
        ]
        lines += [
            f"| {g} | " + " | ".join(str(row[c]) for c in cols) + " |"
            for g, row in ea["confusion_matrix"].items()
        ]
    if ea.get("wrong_examples"):
        lines += [
            "",
            f"## Examples the {b} model gets wrong (first {len(ea['wrong_examples'])})",
            "",
            f"| input | reference | {a} | {b} |",
            "|---|---|---|---|",
        ]
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")[:120]  # noqa: E731
        lines += [
            f"| {cell(w['input'])} | {cell(w['reference'])} | {cell(w['base'])} | {cell(w['tuned'])} |"
            for w in ea["wrong_examples"]
        ]
    return "\n".join(lines) + "\n"


def main(cfg: dict) -> int:
    out_dir = Path(cfg["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    cache, timings = Cache(out_dir / "generations.jsonl"), {}
    backend = EndpointBackend(cfg) if cfg.get("endpoint") else LocalBackend(cfg)
    limit = cfg.get("limit")
    examples = load_examples(cfg["heldout"], "heldout")[:limit]
    refs, zero = [e["reference"] for e in examples], [e["prompt"] for e in examples]
    shots_file = cfg.get("few_shot_examples")
    shots = load_examples(shots_file, "few_shot_examples") if shots_file else []
    started = time.perf_counter()
    base_out = run_pass(backend, "base", zero, cache, cfg, timings, "zero_shot")
    few_out = (
        run_pass(
            backend,
            "base",
            few_shot_prompts(examples, shots, int(cfg.get("few_shot_k", 4))),
            cache,
            cfg,
            timings,
            "few_shot",
        )
        if shots
        else None
    )
    report: dict[str, Any] = {
        "task_type": cfg["task_type"],
        "primary_metric": cfg["primary_metric"],
        "n_examples": len(examples),
        "baseline_only": bool(cfg.get("baseline_only")),
    }
    if cfg.get("baseline_only"):
        report["metrics"] = (
            compare(cfg, refs, base_out, few_out) if few_out else compare(cfg, refs, base_out, base_out)
        )
        report["baselines"] = {
            k: {m: v["base" if k == "zero_shot" else "tuned"] for m, v in report["metrics"].items()}
            for k in (["zero_shot", "few_shot"] if few_out else ["zero_shot"])
        }
        best = max(v[cfg["primary_metric"]] for v in report["baselines"].values())
        targets = [
            g["threshold"]
            for g in cfg.get("gates") or []
            if g["op"] == ">=" and g["metric"] == cfg["primary_metric"]
        ]
        report["prompting_meets_target"] = best >= max(targets) if targets else None
        report["passed"], names = True, ("zero-shot", "few-shot")
    else:
        tuned_out = run_pass(backend, "tuned", zero, cache, cfg, timings, "tuned")
        report["metrics"] = compare(cfg, refs, base_out, tuned_out)
        report["baselines"] = {"zero_shot": {m: v["base"] for m, v in report["metrics"].items()}}
        if few_out:
            vs_few = compare(cfg, refs, few_out, tuned_out)
            report["baselines"]["few_shot"] = {m: v["base"] for m, v in vs_few.items()}
            report["tuned_vs_few_shot"] = vs_few
        probe = None
        if cfg.get("probe"):
            items = load_examples(cfg["probe"], "probe")[:limit]
            pb = run_pass(backend, "base", [e["prompt"] for e in items], cache, cfg, timings, "probe_base")
            pt = run_pass(backend, "tuned", [e["prompt"] for e in items], cache, cfg, timings, "probe_tuned")
            sb = [probe_correct(h, e["reference"]) for h, e in zip(pb, items, strict=True)]
            st = [probe_correct(h, e["reference"]) for h, e in zip(pt, items, strict=True)]
            probe = {
                "n": len(items),
                "base": mean(sb),
                "tuned": mean(st),
                "drop": mean(sb) - mean(st),
                "p_value": mcnemar(sb, st),
            }
        report["probe"] = probe
        report["gates"] = gate_results(cfg, report["metrics"], probe)
        report["passed"] = all(g["passed"] for g in report["gates"])
        report["error_analysis"] = error_analysis(cfg, examples, base_out, tuned_out)
        names = ("base", "tuned")
    report["timings"] = {"total_seconds": round(time.perf_counter() - started, 3), **timings}
    report["config"] = {k: v for k, v in cfg.items() if k != "api_key"}
    stem = "baseline_report" if cfg.get("baseline_only") else "eval_report"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out_dir / f"{stem}.md").write_text(markdown(report, *names), encoding="utf-8")
    print(markdown(report, *names).split("\n## ")[0])
    print(f"wrote {out_dir / stem}.json and .md")
    return 0 if report["passed"] else 1


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/eval.yaml")
    ap.add_argument("--profile", help="apply this section's overrides, e.g. smoke")
    ap.add_argument("--baseline-only", action="store_true", help="zero-shot and few-shot base model only")
    for flag in ("base-model", "adapter", "heldout", "probe", "output-dir", "endpoint", "endpoint-model"):
        ap.add_argument(f"--{flag}")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--limit", type=int, help="evaluate only the first N examples (the cache keeps them)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    over = {k: v for k, v in vars(args).items() if k not in ("config", "profile", "batch_size")}
    cfg = load_config(args.config, args.profile, over)
    gen = cfg.get("generation") or {}
    cfg["max_new_tokens"] = gen.get("max_new_tokens", 32)
    cfg["batch_size"] = args.batch_size or gen.get("batch_size", 16)
    return cfg


if __name__ == "__main__":
    try:
        sys.exit(main(parse_args()))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
