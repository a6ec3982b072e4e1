"""Generation backends of the evaluation, and the cache that makes an interrupted evaluation resumable.

- LocalBackend: transformers on this machine; "tuned" is the base plus the PEFT adapter (or the folder of
  a full fine-tune), evaluated on the same 4-bit base a QLoRA adapter was trained on.
- EndpointBackend: any OpenAI-compatible /v1/chat/completions server (vLLM, a provider) through ChatClient:
  retries with backoff on 429/5xx/connection errors, `endpoint_concurrency` requests at a time; the key is
  read from the environment variable `api_key_env`, never stored. The LLM judge (scripts/judge.py) uses it too.

Both generate greedily with a progress bar; every answer is cached under a key of model, prompt and settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from adapters import corrupt_adapter, detail, load_adapter, read_adapter_json
from common import UserError, check_device, read_bytes, shown


def seed_of(cfg: dict) -> int:
    return int((cfg.get("statistics") or {}).get("seed", 0))


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
                meta.update(read_adapter_json(self.adapter, name))
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
            try:
                return hashlib.sha256(read_bytes(adapter[0])).hexdigest()[:16]
            except ValueError as exc:  # a folder or a FIFO where the weights should be
                raise UserError(corrupt_adapter(self.adapter, exc)) from None
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
        except (OSError, ValueError, RuntimeError, KeyError) as exc:  # missing, not JSON, truncated, wrong shapes
            raise UserError(
                f"base_model/adapter: cannot load {shown(path)} ({detail(exc)}) — pass a Hub id or a local "
                "folder with --base-model / --adapter"
            ) from None
        return (model if self.qlora else model.to(self.device)).eval()

    def load(self, which: str) -> None:
        import torch
        from transformers import AutoTokenizer

        if self.tok is None:
            device = self.cfg.get("device") or "auto"
            check_device(device)
            self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
            torch.manual_seed(seed_of(self.cfg))
            try:
                self.tok = AutoTokenizer.from_pretrained(self.tok_src)
            except Exception as exc:  # noqa: BLE001 - missing files, bad JSON, a tokenizer.json the library rejects
                raise UserError(
                    f"base_model: cannot load the tokenizer of {shown(self.tok_src)} ({detail(exc)}) — pass a Hub id "
                    "or a local model folder with --base-model"
                ) from None
            if not self.tok.chat_template:
                raise UserError(
                    f"base_model: tokenizer of {shown(self.tok_src)} has no chat template — use an instruct "
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
            if not self.adapter or not (self.adapter / "adapter_config.json").exists():
                raise UserError(
                    f"adapter: no PEFT adapter in {shown(self.adapter)} — train first or pass --adapter DIR"
                )
            # PEFT injects the adapter into the base in place; base answers then run with it disabled
            self.models["tuned"] = load_adapter(self.models["base"], self.adapter, str(self.cfg["base_model"])).eval()
            self.models["base"], self.peft = self.models["tuned"], True

    def generate(self, which: str, prompts: list[list[dict]]) -> list[str]:
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


RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)  # rate limits, overload and server errors are worth a retry
DEFAULT_RETRIES, DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_S = 5, 8, 120.0
BACKOFF_S, BACKOFF_MAX_S = 0.5, 30.0  # exponential backoff between tries: 0.5, 1, 2, 4 ... seconds


class ChatClient:
    """POST /chat/completions with retries on 429/5xx/connection errors; one UserError line after the last try.

    Uses the `openai` client when it is installed (its own backoff honours Retry-After), else urllib with the
    same policy. The key is read from the environment variable `api_key_env` and never stored elsewhere.
    """

    def __init__(self, endpoint: str, api_key_env: str, what: str, retries: int = DEFAULT_RETRIES,
                 timeout_s: float = DEFAULT_TIMEOUT_S, use_openai: bool | None = None) -> None:
        base = endpoint.rstrip("/")
        self.base = base[: -len("/chat/completions")] if base.endswith("/chat/completions") else base
        self.url, self.what, self.env = self.base + "/chat/completions", what, api_key_env
        self.key, self.retries, self.timeout_s = os.environ.get(api_key_env, ""), retries, timeout_s
        if use_openai is None:
            try:
                import openai  # noqa: F401
                use_openai = True
            except ImportError:
                use_openai = False
        self.client = None
        if use_openai:
            import openai

            self.client = openai.OpenAI(base_url=self.base, api_key=self.key or "not-needed",
                                        max_retries=retries, timeout=timeout_s)

    def _fail(self, model: str, why: str) -> UserError:
        return UserError(f"{self.what}: {self.url} with model {model!r} failed after {self.retries + 1} tries "
                         f"({why}) — check the URL, the model name and the key in ${self.env}")

    def complete(self, model: str, messages: list[dict], max_tokens: int, seed: int) -> str:
        body = {"model": model, "messages": messages, "temperature": 0, "max_tokens": max_tokens, "seed": seed}
        if self.client is not None:
            import openai

            try:
                out = self.client.chat.completions.create(**body)
                return out.choices[0].message.content or ""
            except openai.APIStatusError as exc:
                raise self._fail(model, f"HTTP {exc.status_code}") from None
            except openai.APIError as exc:
                raise self._fail(model, type(exc).__name__) from None
            except (AttributeError, IndexError, TypeError, ValueError) as exc:
                raise self._fail(model, f"not a chat completion: {type(exc).__name__}") from None
        return self._urllib(model, body)

    def _urllib(self, model: str, body: dict) -> str:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.key}"} if self.key else {})}
        why = ""
        for attempt in range(self.retries + 1):
            wait = min(BACKOFF_S * 2**attempt, BACKOFF_MAX_S)
            req = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as exc:
                why = f"HTTP {exc.code}"
                if exc.code not in RETRY_STATUS:
                    raise self._fail(model, why) from None
                with contextlib.suppress(TypeError, ValueError):
                    wait = min(float(exc.headers.get("Retry-After", wait)), BACKOFF_MAX_S)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                why = f"connection error: {type(exc).__name__}"
            else:
                try:
                    return json.loads(raw)["choices"][0]["message"]["content"] or ""
                except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as exc:
                    raise self._fail(model, f"not a chat completion: {type(exc).__name__}") from None
            if attempt < self.retries:
                time.sleep(wait)
        raise self._fail(model, why)


class EndpointBackend:
    """An OpenAI-compatible /v1/chat/completions server (vLLM, a provider), `endpoint_concurrency` at a time."""

    def __init__(self, cfg: dict, use_openai: bool | None = None) -> None:
        self.cfg = cfg
        self.names = {"base": cfg["base_model"], "tuned": cfg.get("endpoint_model")}
        self.client = ChatClient(cfg["endpoint"], str(cfg.get("api_key_env") or "OPENAI_API_KEY"), "--endpoint",
                                 int(cfg.get("endpoint_retries", DEFAULT_RETRIES)),
                                 float(cfg.get("endpoint_timeout_s", DEFAULT_TIMEOUT_S)), use_openai)
        self.tags = {k: f"endpoint|{self.client.url}|{v}" for k, v in self.names.items()}

    def load(self, which: str) -> None:
        if not self.names[which]:
            raise UserError("--endpoint-model: name the tuned model served by the endpoint")

    def generate(self, which: str, prompts: list[list[dict]]) -> list[str]:
        workers = max(1, min(int(self.cfg.get("endpoint_concurrency", DEFAULT_CONCURRENCY)), len(prompts)))
        tokens, seed = int(self.cfg["max_new_tokens"]), seed_of(self.cfg)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda p: self.client.complete(self.names[which], p, tokens, seed), prompts))


class Progress:
    """tqdm on stderr when installed, else one self-overwriting `name: done/total` line."""

    def __init__(self, total: int, name: str) -> None:
        self.total, self.name, self.done, self.bar = total, name, 0, None
        if total:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=name, unit="ex", file=sys.stderr, leave=True)
            except ImportError:
                self._print()

    def _print(self) -> None:
        end = "\n" if self.done >= self.total else ""
        print(f"\r{self.name}: {self.done}/{self.total}", end=end, file=sys.stderr, flush=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            if self.done >= self.total:
                self.bar.close()
        elif self.total:
            self._print()


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
    bar = Progress(len(todo), f"{name} ({which})")
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
        bar.update(len(chunk))
    secs = time.perf_counter() - start
    timings[name] = {
        "generated": len(todo),
        "cached": len(prompts) - len(todo),
        "load_seconds": round(start - loaded, 3),
        "seconds": round(secs, 3),
        "examples_per_s": round(len(todo) / secs, 3) if todo and secs else None,
    }
    return [cache.data[k] for k in keys]

