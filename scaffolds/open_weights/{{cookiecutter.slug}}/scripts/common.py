"""What every script shares: the one user-error type, schema-checked config loading, JSONL reading, the exit.

A `UserError` is something the user can fix; its message is `file: key: what is wrong — how to fix`, printed
without a traceback, exit code 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import schemas
from inputs import file_problem, output_problem, read_bytes, read_text, shown  # noqa: F401 - re-exported


class UserError(Exception):
    """Bad input the user can fix: each line of the message printed as `error: <line>`, exit code 1.

    Put file names in a message through `shown()`: a line break in a name then cannot split the message."""


def load_config(kind: str, path: str | Path, profile: str | None = None) -> dict[str, Any]:
    """Read and validate one config file (for eval with `profile` applied); every problem at once."""
    problems = schemas.validate_file(kind, path, profile)
    if problems:
        raise UserError("\n".join(problems))
    data, _ = schemas.read_yaml(Path(path))
    return schemas.apply_profile(data, profile) if kind == "eval" else data


def load_examples(path: str | Path, field: str) -> list[dict[str, Any]]:
    """Chat or prompt/completion JSONL -> [{prompt: [messages], reference, slice}]; the reference is the answer."""
    try:
        lines = read_text(path).split("\n")
    except ValueError as exc:
        raise UserError(f"{field}: {exc} (check the path in the config)") from None
    examples = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{field}: {shown(path)} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: not JSON ({exc.msg}) — one JSON object per line") from None
        except (RecursionError, ValueError) as exc:  # nested thousands deep; an integer of thousands of digits
            why = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())[:120]
            raise UserError(f"{where}: not usable JSON ({why}) — one flat JSON object per line") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: a JSON {type(row).__name__}, not an object (see data/FORMAT.md)")
        if "\\ud" in line.lower() and _lone_surrogate(row):  # only a \uD800-\uDFFF escape can make one
            raise UserError(f"{where}: a \\uD800-\\uDFFF escape without its pair is not a character — fix or drop it")
        if "messages" in row:
            msgs = row["messages"]
            if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict) \
                    or msgs[-1].get("role") != "assistant":
                raise UserError(f"{where}: messages must end with the assistant turn (the reference)")
            prompt, reference = msgs[:-1], msgs[-1].get("content")
        elif "prompt" in row and "completion" in row:
            prompt = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
            comp = row["completion"]
            reference = comp[-1].get("content") if isinstance(comp, list) and comp else comp
        else:
            raise UserError(f"{where}: needs `messages` or `prompt` + `completion` (see data/FORMAT.md)")
        examples.append({"prompt": prompt, "reference": str(reference), "slice": row.get("slice"), "row": row})
    if not examples:
        raise UserError(f"{field}: {shown(path)} has no examples — add one JSON object per line")
    return examples


def _lone_surrogate(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def data_files(named: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """(present, missing) lines for a dry run: each input file the step would read."""
    present, missing = [], []
    for field, path in named.items():
        if path:
            problem = file_problem(path)
            if problem is None:
                present.append(f"{field}: {shown(path)}")
            else:
                what = "" if problem.startswith("file not found") else f" ({problem.split(' — ')[0]})"
                missing.append(f"{field}: {shown(path)}{what}")
    return present, missing


def report_dry_run(what: str, named: dict[str, str | None]) -> int:
    """Print which inputs exist; missing data is reported, never fatal (exit 0)."""
    present, missing = data_files(named)
    print(f"dry run: {what} is valid; no model loaded")
    for line in present:
        print(f"  found    {line}")
    for line in missing:
        print(f"  missing  {line} — create it before the real run (see data/FORMAT.md)")
    return 0


def _same_file(a: Path, b: Path) -> bool:
    """True when a and b are one file: the same resolved path, or the same device and inode (a hard link)."""
    try:
        if a.resolve() == b.resolve():
            return True
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, RuntimeError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_overwrite(output: str | Path | None, inputs: list[str | Path | None] | tuple, flag: str) -> None:
    """The one guard for "an output must not be an input": raises UserError when `output` is any of `inputs`,
    compared by resolved path and by (st_dev, st_ino), so a symlink or a hard link to an input is caught."""
    if not output or not isinstance(output, (str, Path)):
        return
    out = Path(output)
    for item in inputs:
        if not item or not isinstance(item, (str, Path)):
            continue
        if _same_file(out, Path(item)):
            raise UserError(f"{flag} {shown(output)} is the input file {shown(item)}: this script never overwrites "
                            "its inputs — write the output somewhere else")


def check_output(output: str | Path | None, flag: str, folder: bool = False) -> None:
    """A UserError when `output` cannot be written: a folder for a file (or a file for a folder), a FIFO, a
    dangling link, a parent that is a file, a name the file system refuses."""
    problem = output_problem(output, folder) if output else None
    if problem:
        raise UserError(f"{flag} {shown(output)}: {problem}")


def check_device(device: str | None, flag: str = "--device") -> None:
    """`cuda` on a machine without CUDA is a user error, not a torch traceback."""
    if device != "cuda":
        return
    try:
        import torch
    except ImportError:
        raise UserError(f"{flag} cuda: torch is not installed — install it or use {flag} cpu") from None
    if not torch.cuda.is_available():
        raise UserError(f"{flag} cuda: CUDA is not available on this machine — use {flag} cpu or {flag} auto")


def debug_requested() -> bool:
    """`--debug` on the command line (removed before argparse sees it) or FTPLAN_DEBUG=1 in the environment."""
    if "--debug" in sys.argv[1:]:
        sys.argv[1:] = [a for a in sys.argv[1:] if a != "--debug"]
        return True
    return os.environ.get("FTPLAN_DEBUG", "") not in ("", "0")


def run(main: Callable[[], int | None]) -> None:
    """Call a script's entry point and exit with its status; a UserError is one `error:` line per problem.

    Anything unexpected is one `error: internal: ...` line, exit 1; the traceback only with --debug or
    FTPLAN_DEBUG=1."""
    debug = debug_requested()
    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 is printed escaped, never a crash
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    try:
        status = main()
    except UserError as err:
        print("\n".join(f"error: {shown(line)}" for line in str(err).split("\n")), file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    except SystemExit:
        raise
    except OSError as exc:  # a path the operating system refuses: too long, no permission, a folder, a full disk
        if debug:
            traceback.print_exc()
        print(f"error: {os_error(exc)}", file=sys.stderr)
        status = 1
    except BaseException as exc:  # noqa: BLE001 - the last line of defence: never a bare traceback
        if debug:
            traceback.print_exc()
        detail = " ".join(str(exc).split())[:300]
        print(f"error: internal: {type(exc).__name__}: {detail} — rerun with --debug (or FTPLAN_DEBUG=1) "
              "for the traceback and report it", file=sys.stderr)
        status = 1
    sys.exit(status or 0)


def os_error(exc: OSError) -> str:
    """`file: what the system said — fix`, one line."""
    what = exc.strerror or " ".join(str(exc).split())[:200] or type(exc).__name__
    names = " -> ".join(shown(n) for n in (exc.filename, exc.filename2) if n is not None)
    if names:
        return f"{names}: {what} — check the path, its permissions and the free disk space"
    return f"{type(exc).__name__}: {shown(what)} — check the paths, permissions, free disk space and network"


# Library messages that do not concern the user of this repository (kernel hubs, renamed arguments).
QUIET_WARNINGS = [r".*kernels-community", r".*`torch_dtype` is deprecated",
                  r".*is deprecated and will be removed", r".*The tokenizer has new PAD/BOS/EOS tokens"]


def quiet_libraries() -> None:
    """Filter the QUIET_WARNINGS from warnings and the ML libraries' loggers; hide their one-off progress bars."""
    import logging
    import warnings

    for pattern in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)

    class Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            text = record.getMessage()
            return not any(re.match(pattern, text) for pattern in QUIET_WARNINGS)

    # Records of child loggers (bitsandbytes.backends...) meet only handlers' filters, not their parents'.
    handlers = [logging.lastResort, *logging.getLogger().handlers]
    for name in ("bitsandbytes", "transformers", "kernels", "peft", "trl"):
        logging.getLogger(name).addFilter(Drop())
        handlers += logging.getLogger(name).handlers
    for handler in handlers:
        if handler is not None:
            handler.addFilter(Drop())
    # Bars for the one-off steps (splits, tokenizing, loading weights) would bury the one that matters.
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
