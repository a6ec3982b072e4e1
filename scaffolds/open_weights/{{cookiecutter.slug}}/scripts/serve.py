"""Serve the tuned model behind an OpenAI-compatible API: vLLM with the LoRA adapter on a GPU, a small
local server (transformers + PEFT, stdlib http.server) on a machine without one.

Run from the repository root:

    make serve                  # configs/eval.yaml's base_model + adapter on http://127.0.0.1:8000/v1
    make serve PROFILE=smoke    # the smoke model and adapter, on the CPU
    python scripts/serve.py --config configs/eval.yaml --dry-run        # the command it would run; no model
    python scripts/serve.py --config configs/eval.yaml --backend vllm   # = vllm serve BASE --enable-lora \\
        #   --lora-modules tuned=ADAPTER --max-lora-rank R  (R: the adapter's rank, rounded up to vLLM's)
    python scripts/serve.py --config configs/eval.yaml --backend local --port 8000 --name tuned

Then `make eval-endpoint` scores the served model with the same report as `make eval`. Two model names are
served, as vLLM does: the base under its `base_model` value (e.g. meta-llama/Llama-3.2-1B-Instruct or
smoke/model) and the adapter under --name (default `tuned`). The local server decodes greedily (temperature is
ignored) with the very code `make eval` uses (scripts/generation.py LocalBackend), one request at a time;
it is for checking and small loads — serve production traffic with vLLM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, check_device, load_config, run, shown  # noqa: E402

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM accepts for --max-lora-rank
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TOKENS = 1 << 16  # max_tokens of one request: past this it is a typo, not a request


def adapter_rank(adapter: Path) -> int | None:
    """The LoRA rank the adapter was trained with (adapter_config.json `r`); None for a full fine-tune."""
    from adapters import lora_ranks, read_adapter_json

    if not (adapter / "adapter_config.json").is_file():
        return None
    return max(lora_ranks(adapter, read_adapter_json(adapter, "adapter_config.json")))


def vllm_command(cfg: dict) -> list[str]:
    """`vllm serve` for the base + LoRA adapter (or the folder of a full fine-tune)."""
    adapter, name = Path(cfg["adapter"]), cfg["name"]
    rank = adapter_rank(adapter)
    common = ["--host", cfg["host"], "--port", str(cfg["port"]), "--seed", str(cfg["seed"])]
    if rank is None:  # a full fine-tune: the folder is the model
        return ["vllm", "serve", str(adapter), "--served-model-name", name, *common]
    max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
    return ["vllm", "serve", str(cfg["base_model"]), "--enable-lora", "--lora-modules", f"{name}={adapter}",
            "--max-lora-rank", str(max_rank), *common]


def choose_backend(cfg: dict) -> str:
    if cfg["backend"] != "auto":
        return cfg["backend"]
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    return "vllm" if gpu and shutil.which("vllm") else "local"


class Models:
    """The base and the tuned model, loaded once; generation one request at a time."""

    def __init__(self, cfg: dict) -> None:
        from generation import LocalBackend

        self.backend = LocalBackend({**cfg, "max_new_tokens": cfg["max_new_tokens"]})
        self.names = {str(cfg["base_model"]): "base", cfg["name"]: "tuned"}
        self.lock = threading.Lock()
        for which in ("base", "tuned"):
            self.backend.load(which)

    def complete(self, model: str, messages: list[dict], max_tokens: int) -> tuple[str, int, int]:
        which = self.names[model]
        with self.lock:
            self.backend.cfg["max_new_tokens"] = max_tokens
            text = self.backend.generate(which, [messages])[0]
            tok = self.backend.tok
            prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            counts = len(tok(prompt, add_special_tokens=False)["input_ids"]), len(tok(text)["input_ids"])
        return text, *counts


def make_handler(models: Models, default_max_tokens: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "ftplan-serve/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            if os.environ.get("SERVE_LOG"):
                super().log_message(format, *args)

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, code: str = "invalid_request") -> None:
            self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") in ("/health", ""):
                self._send(200, {"status": "ok"})
            elif self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [
                    {"id": name, "object": "model", "owned_by": "local"} for name in models.names]})
            else:
                self._error(404, f"no route {self.path}", "not_found")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._error(404, f"no route {self.path}; this server has /v1/chat/completions", "not_found")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._error(413, "request body too large")
                    return
                if length < 0:  # read(-1) would wait for the client to close the connection
                    raise ValueError(f"Content-Length {length}")
                body = json.loads(self.rfile.read(length))
                model, messages = body["model"], body["messages"]
                if not isinstance(model, str):
                    raise TypeError("model must be a name")
                if model not in models.names:
                    self._error(404, f"model {model!r} is not served; models: {sorted(models.names)}",
                                "model_not_found")
                    return
                if not isinstance(messages, list) or not messages or not all(
                        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                        for m in messages):
                    raise TypeError("messages must be a non-empty list of {role, content} with text content")
                max_tokens = int(body.get("max_completion_tokens") or body.get("max_tokens")
                                 or default_max_tokens)
                if not 1 <= max_tokens <= MAX_TOKENS:
                    raise ValueError(f"max_tokens {max_tokens} is outside [1, {MAX_TOKENS}]")
            except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
                self._error(400, f"not a chat completion request: {type(exc).__name__}: {str(exc)[:200]}")
                return
            try:
                text, prompt_tokens, completion_tokens = models.complete(model, messages, max_tokens)
            except Exception as exc:  # noqa: BLE001 - e.g. a chat template that rejects the roles: one line, not a
                # traceback, and the server keeps serving
                print(f"error: request failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
                      file=sys.stderr)
                self._error(400 if isinstance(exc, (ValueError, TypeError)) else 500,
                            f"the model could not answer: {type(exc).__name__}: {str(exc)[:200]}", "generation_failed")
                return
            self._send(200, {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "length" if completion_tokens >= max_tokens else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            })

    return Handler


def main(cfg: dict) -> int:
    backend = choose_backend(cfg)
    adapter = Path(cfg["adapter"])
    if cfg["dry_run"]:
        print(f"base model: {shown(cfg['base_model'])}; adapter: {shown(adapter)} "
              f"({'found' if adapter.is_dir() else 'missing — train first (make train)'})")
        if adapter.is_dir():
            print("vllm: " + " ".join(vllm_command(cfg)))
        print(f"backend here: {backend}")
        return 0
    if not adapter.is_dir():
        raise UserError(f"adapter: {shown(adapter)} is not a folder — train first (make train), or pass --adapter")
    if backend == "vllm":
        command = vllm_command(cfg)
        if not shutil.which("vllm"):
            raise UserError("--backend vllm: vllm is not installed — pip install vllm (on a GPU machine)")
        print(" ".join(command), flush=True)
        os.execvp(command[0], command)
    models = Models(cfg)
    try:
        server = ThreadingHTTPServer((cfg["host"], cfg["port"]), make_handler(models, cfg["max_new_tokens"]))
    except OSError as exc:  # the port is taken, the host is not this machine's
        raise UserError(f"--host {shown(cfg['host'])} --port {cfg['port']}: cannot listen there "
                        f"({exc.strerror or exc}) — pick a free port (--port 0: any) or another --host") from None
    host, port = server.server_address[:2]
    names = ", ".join(models.names)
    print(f"serving on http://{host}:{port}/v1 (models: {names}); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/eval.yaml")
    ap.add_argument("--profile", help="apply this section's overrides, e.g. smoke")
    ap.add_argument("--base-model")
    ap.add_argument("--adapter", help="the adapter folder (or a full fine-tune's model folder)")
    ap.add_argument("--name", default="tuned", help="the model name the adapter is served under")
    ap.add_argument("--backend", choices=["auto", "vllm", "local"], default="auto",
                    help="auto: vLLM when a GPU and vllm are present, else the local server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000, help="0: any free port (printed)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--dry-run", action="store_true", help="print what would be served; load no model")
    args = ap.parse_args(argv)
    cfg = load_config("eval", args.config, args.profile)
    cfg.update({k: v for k, v in vars(args).items() if v is not None and k not in ("config", "profile")})
    if not 0 <= args.port <= 65535:
        ap.error(f"--port {args.port}: a port is 0-65535 (0: any free port)")
    if not args.dry_run:
        check_device(cfg.get("device"))
    cfg["max_new_tokens"] = int((cfg.get("generation") or {}).get("max_new_tokens", 256))
    cfg["seed"] = int((cfg.get("statistics") or {}).get("seed", 0))
    return cfg


if __name__ == "__main__":
    run(lambda: main(parse_args()))
