"""The `ftplan` command line: the only layer that prints, reads and writes files, and sets exit codes.

Exit codes: 0 ok; 1 the input is wrong (every problem as `field: what — fix`, nothing written); 2 usage.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
import tempfile
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from generator.errors import FtplanError, Problem, UserError

# Metavars as people know them from other tools: `--format [md|json|html]`, `--seq-len INTEGER`, `ANSWERS`.
_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": "BOOLEAN"}


class _Argument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name says it (ANSWERS, DIR); the help text says the rest


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        desc = self.type_descriptor
        if desc.choices is not None:
            return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
        inner = get_args(desc.annotation) if desc.is_list else ()
        name = getattr(inner[0] if inner else desc.annotation, "__name__", "TEXT")
        return _TYPE_WORDS.get(name, name.upper())


def _readable(command: Any) -> Any:
    for param in getattr(command, "params", ()):
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option
    return command


class _Group(TyperGroup):
    """Every command's parameters get readable metavars, including commands added later."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        return _readable(super().get_command(ctx, cmd_name))


app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, cls=_Group,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Plan an LLM fine-tuning project and scaffold the repository that runs it.",
                  pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from generator import __version__

        typer.echo(f"ftplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Plan an LLM fine-tuning project and scaffold the repository that runs it."""


class Format(str, Enum):
    md = "md"
    json = "json"
    html = "html"


class TextFormat(str, Enum):
    text = "text"
    json = "json"


class Method(str, Enum):
    full = "full"
    lora = "lora"
    qlora = "qlora"


class Sharding(str, Enum):
    ddp = "ddp"
    fsdp = "fsdp"
    zero3 = "zero3"


TodayOpt = Annotated[str | None, typer.Option(
    "--today", metavar="DATE", help="Plan as of this date, YYYY-MM-DD (default: $FTPLAN_TODAY, else the system date). "
                    "Provider availability and prices depend on it.")]
CATALOG_HELP = ("A folder with your own models.yaml / gpus.yaml / providers.yaml / planning.yaml; entries there "
                "replace or extend the bundled knowledge base. Repeatable.")
DATA_HELP = "A JSONL file of your training examples: measures real counts and token lengths."
CatalogOpt = Annotated[list[Path] | None, typer.Option("--catalog-dir", metavar="DIR", help=CATALOG_HELP)]
DataOpt = Annotated[Path | None, typer.Option("--data", metavar="FILE", help=DATA_HELP)]


def _fail(problems: list[Problem]) -> None:
    typer.secho(f"ftplan: {len(problems)} problem(s) with the input:", fg=typer.colors.RED, err=True)
    for p in problems:
        typer.secho(f"  {p}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


_OS_ERRORS = {errno.ENOENT: ("no such file or folder", "check the path"),
              errno.EACCES: ("permission denied", "check the file's permissions"),
              errno.EPERM: ("operation not permitted", "check the file's permissions"),
              errno.EISDIR: ("is a folder, not a file", "give a file inside it"),
              errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
              errno.ENOSPC: ("no space left on the device", "free some space and rerun"),
              errno.EROFS: ("read-only file system", "write somewhere else")}


def _run(fn: Any) -> Any:
    try:
        return fn()
    except UserError as e:
        _fail(e.problems)
    except FtplanError as e:
        _fail([Problem("ftplan", str(e))])
    except BrokenPipeError:  # `ftplan models | head`: the reader has gone; stop quietly, as cat does
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        raise typer.Exit(1) from None
    except OSError as e:
        from generator.safety import display_path

        what, fix = _OS_ERRORS.get(e.errno or 0, (e.strerror or str(e), "check the path and its permissions"))
        _fail([Problem(display_path(getattr(e, "filename", "") or "file"), what, fix)])
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - issue 9: one line, never a traceback unless asked
        if os.environ.get("FTPLAN_DEBUG"):
            raise
        _fail([Problem("ftplan", f"internal error: {type(e).__name__}: {str(e)[:200]}",
                       "rerun with FTPLAN_DEBUG=1 for the traceback, and report it")])


def _today(value: str | None) -> date:
    raw, field = (value, "--today") if value else (os.environ.get("FTPLAN_TODAY"), "FTPLAN_TODAY")
    if not raw:
        return date.today()
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise UserError(Problem(field, f"{raw!r} is not a date", "write it as YYYY-MM-DD, e.g. 2026-11-25")) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write(path: Path, text: str) -> None:
    """Write atomically: a temp file beside the target, renamed into place."""
    path = path.expanduser()
    if path.is_dir():
        raise UserError(Problem("-o", f"{path} is a folder", "give a file name, e.g. STRATEGY.md"))
    if not path.parent.is_dir():
        raise UserError(Problem("-o", f"folder {path.parent} does not exist", "create it first"))
    if path.exists() and not path.is_file():
        # A device or pipe (/dev/stdout, /dev/null): write through it, never replace it.
        with path.open("w", encoding="utf-8") as fh:
            fh.write(text)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        # mkstemp makes the file 0600; the result gets the mode the shell would give it (or keeps the old one).
        os.fchmod(fd, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(answers: Path, data: Path | None) -> Any:
    from generator.answers import load_answers, measure_data

    loaded = load_answers(answers)
    if data is not None:
        loaded = loaded.with_data(measure_data(data))
    return loaded


def _make_plan(answers: Path, data: Path | None, today: str | None, catalog_dirs: list[Path] | None):
    from generator.catalog import load_catalog
    from generator.plan import build_plan
    from generator.plan.settings import load_settings

    when = _today(today)
    loaded = _load(answers, data)
    extra = tuple(catalog_dirs or ())
    return loaded, build_plan(loaded, load_catalog(extra), load_settings(extra), when,
                              catalog_dirs=[str(d) for d in extra])


def _html(plan: Any, answers: Any) -> str:
    from generator.render.html import render_html  # markdown-it-py only for --format html

    return render_html(plan, answers)


@app.command()
def plan(
    # Plain `str` options on the hottest command: typer builds a pydantic adapter per parameter, and str
    # ones are the cheapest (ftplan plan must start in about twice its libraries' import time).
    answers: Annotated[str, typer.Argument(help="The answers file: YAML, JSON, or the filled seed template.")],
    data: Annotated[str | None, typer.Option("--data", metavar="FILE", help=DATA_HELP)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="md (STRATEGY.md), json (stable keys), html (with "
                                        "charts)")] = Format.md,
    output: Annotated[str | None, typer.Option("-o", "--output", metavar="FILE",
                                               help="Write here instead of stdout.")] = None,
    today: TodayOpt = None,
    catalog_dir: Annotated[list[str] | None, typer.Option("--catalog-dir", metavar="DIR", help=CATALOG_HELP)]
    = None,
) -> None:
    """The fine-tuning strategy for your answers: should you fine-tune, with what, at what cost."""
    def go() -> None:
        from generator.render.strategy import render_json, render_markdown
        from generator.safety import refuse_overwrite

        dirs = [Path(d) for d in catalog_dir or ()]
        if output:
            refuse_overwrite(Path(output), [Path(answers), Path(data) if data else None, *dirs], "-o")
        loaded, p = _make_plan(Path(answers), Path(data) if data else None, today, dirs)
        text = {"md": lambda: render_markdown(p, loaded.answers), "json": lambda: render_json(p),
                "html": lambda: _html(p, loaded.answers)}[fmt.value]()
        if output:
            _write(Path(output), text)
            typer.echo(f"wrote {output}", err=True)
        else:
            sys.stdout.write(text)

    _run(go)


@app.command()
def scaffold(
    answers: Annotated[Path | None, typer.Argument(
        help="The answers file (default: the bundled example configs/examples/support_triage.yaml).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", metavar="DIR", help="The repository folder to create "
                                                "(default: ./<slug>).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the tree; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty target folder.")] = False,
    data: DataOpt = None,
    today: TodayOpt = None,
    catalog_dir: CatalogOpt = None,
) -> None:
    """STRATEGY.md plus a runnable training repository that carries out the plan."""

    def go() -> None:
        from generator.paths import DEFAULT_EXAMPLE, examples_dir
        from generator.render.scaffold import write_scaffold

        source = answers or examples_dir() / DEFAULT_EXAMPLE
        loaded, p = _make_plan(source, data, today, catalog_dir)
        target = (output or Path.cwd() / p.meta.slug).expanduser()
        if not dry_run:  # the target folder is replaced as a whole: nothing it holds may be an input
            from generator.safety import refuse_overwrite

            refuse_overwrite(target, [source, data, *(catalog_dir or ())], "-o")
        result = write_scaffold(loaded, p, target, force=force, dry_run=dry_run)
        if dry_run:
            typer.echo(f"would write {target}/ ({len(result)} files):")
            for rel in result:
                typer.echo(f"  {rel}")
            return
        typer.echo(f"wrote {target}/ ({len(result)} files)")
        typer.echo(f"  strategy: {target / 'STRATEGY.md'}")
        typer.echo(f"  next:     cd {target} && make smoke   (CPU, ~2 minutes: proves the pipeline end to end)")

    _run(go)


@app.command()
def update(
    repo: Annotated[Path, typer.Argument(metavar="DIR", help="A repository made by `ftplan scaffold`.")],
    answers: Annotated[Path | None, typer.Argument(
        metavar="ANSWERS", help="New answers (default: the repository's own .ftplan-answers.yml, edited).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would change; write nothing.")] = False,
    data: DataOpt = None,
    today: TodayOpt = None,
    catalog_dir: CatalogOpt = None,
) -> None:
    """Re-plan a repository in place: three-way merge of every file ftplan generated; your edits and your own
    files are kept. Exit 1 while merge conflicts remain (marked <<<<<<< in the files listed)."""

    def go() -> None:
        from generator.lifecycle.update import ACTIONS, ANSWERS_FILE, require_record, update_repo
        from generator.safety import display_path

        require_record(repo)
        source = answers or repo / ANSWERS_FILE
        if not source.is_file():
            raise UserError(Problem("ANSWERS", f"{display_path(source)} does not exist",
                                    f"pass the answers file, or restore {ANSWERS_FILE} in {display_path(repo)}"))
        dirs = list(catalog_dir or ())
        if not catalog_dir:  # the folders the last plan used, where they still exist
            try:
                meta = json.loads((repo / "plan.json").read_text(encoding="utf-8")).get("meta", {})
                dirs = [Path(d) for d in meta.get("catalog_dirs", [])]
            except (OSError, ValueError, AttributeError):
                dirs = []
            for d in [d for d in dirs if not d.is_dir()]:
                typer.secho(f"warning: --catalog-dir {display_path(d)} of the last plan is gone; planning without it",
                            fg=typer.colors.YELLOW, err=True)
            dirs = [d for d in dirs if d.is_dir()]
        loaded, p = _make_plan(source, data, today, dirs)
        result = update_repo(repo, loaded, p, dry_run=dry_run)
        verb = "would " if dry_run else ""
        if dry_run:
            typer.echo("dry run: nothing written")
        if result.headline:
            typer.echo("the plan's numbers:")
            for label, old, new in result.headline:
                typer.echo(f"  {label}: {old} -> {new}")
        else:
            typer.echo("the plan's headline numbers are unchanged")
        for c in result.changes:
            colour = typer.colors.RED if c.action == "conflict" else None
            typer.secho(f"  {c.action:<9} {display_path(c.path)}" + (f"  ({c.detail})" if c.detail else ""),
                        fg=colour)
        typer.echo(f"{len(result.changes)} file(s) {verb}change, {result.unchanged} unchanged; files ftplan did "
                   "not generate are untouched")
        for action in sorted({c.action for c in result.changes}):
            typer.echo(f"  {action}: {ACTIONS[action]}")
        if result.conflicts:
            typer.secho(f"ftplan update: {len(result.conflicts)} file(s) {'would have' if dry_run else 'have'} "
                        "conflicts: resolve the <<<<<<< markers, then run `ftplan check`", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(1)

    _run(go)


def _optimizers() -> list[str]:
    """The estimator's families and the transformers `optim` names the generated train.yaml uses."""
    from generator.render.trl import TRAINER_OPTIM, TRL_DEFAULTS

    return list(dict.fromkeys([*TRAINER_OPTIM, *TRAINER_OPTIM.values(), TRL_DEFAULTS["optim"]]))


def _check_optimizer(value: str) -> str:
    if value and value not in (names := _optimizers()):
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(names)}")
    return value


def _would_fit(arch: Any, cat: Any, settings: dict[str, Any], gpu: Any) -> list[str]:
    """One-change alternatives to a configuration that does not fit `gpu`, each as the flag that makes it fit."""
    from generator.plan.memory import estimate_memory

    def fits(**change: Any) -> float | None:
        peak = estimate_memory(arch, **{**settings, **change}).peak_memory_gb
        return peak if peak <= gpu.memory_gb else None

    out: list[str] = []
    if not settings["grad_ckpt"] and (peak := fits(grad_ckpt=True)):
        out.append(f"--grad-ckpt ({peak:.1f} GB)")
    if settings["method"] != "qlora" and (peak := fits(method="qlora", optimizer="paged_adamw_8bit")):
        out.append(f"--method qlora ({peak:.1f} GB)")
    if settings["batch_size"] > 1 and (peak := fits(batch_size=1)):
        out.append(f"--batch-size 1 ({peak:.1f} GB)")
    seq = settings["seq_len"] // 2
    while seq >= 128:
        if peak := fits(seq_len=seq):
            out.append(f"--seq-len {seq} ({peak:.1f} GB)")
            break
        seq //= 2
    for n in (2, 4, 8):
        if n > settings["gpus"] and (peak := fits(gpus=n, sharding="fsdp")):
            out.append(f"--gpus {n} --sharding fsdp ({peak:.1f} GB per GPU)")
            break
    if not out:  # no one change: the cheapest combination, changes added in this order until it fits
        combo: dict[str, Any] = {}
        flags: list[str] = []
        steps: list[tuple[str, dict[str, Any]]] = [
            ("--grad-ckpt", {"grad_ckpt": True}), ("--method qlora", {"method": "qlora",
                                                                     "optimizer": "paged_adamw_8bit"}),
            ("--batch-size 1", {"batch_size": 1}),
            *((f"--seq-len {n}", {"seq_len": n}) for n in (1024, 512) if n < settings["seq_len"]),
            *((f"--gpus {n} --sharding fsdp", {"gpus": n, "sharding": "fsdp"}) for n in (2, 4, 8)
              if n > settings["gpus"])]
        for flag, change in steps:
            if all(settings.get(k) == v or combo.get(k) == v for k, v in change.items()):
                continue
            combo.update(change)
            flags = [f for f in flags if not (f.startswith("--gpus") and flag.startswith("--gpus"))] + [flag]
            if peak := fits(**combo):
                out.append(f"{' '.join(flags)} ({peak:.1f} GB per GPU)")
                break
    need = estimate_memory(arch, **settings).peak_memory_gb
    bigger = sorted((g for g in cat.gpus if g.memory_gb >= need), key=lambda g: g.memory_gb)
    if bigger:
        out.append(f"--gpu {bigger[0].id} ({bigger[0].memory_gb:g} GB)")
    return out


@app.command()
def export(
    repo: Annotated[Path, typer.Argument(metavar="DIR", help="A repository made by `ftplan scaffold`.")],
    to: Annotated[str, typer.Option("--to", help="axolotl | llamafactory | torchtune")],
    show: Annotated[bool, typer.Option("--print", help="Print the config instead of writing it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier export you edited.")] = False,
) -> None:
    """The plan's model, method, data and hyperparameters as another trainer's config (configs/export/),
    every value with the plan's reason."""

    def go() -> None:
        from generator.lifecycle.export import export_files
        from generator.safety import display_path

        source = repo / "plan.json"
        try:
            plan_dict = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(Problem("DIR", f"{display_path(source)} is missing or not JSON ({type(e).__name__})",
                                    "pass a repository made by `ftplan scaffold` (or run `ftplan update` in it)")
                            ) from None
        files = export_files(plan_dict, to)
        if show:
            for text in files.values():
                sys.stdout.write(text)
            return
        for rel, text in files.items():
            path = repo / rel
            if path.exists() and path.read_text(encoding="utf-8", errors="replace") != text and not force:
                raise UserError(Problem("--to", f"{display_path(path)} exists and differs from this export",
                                        "pass --force to replace it (or move it away first)"))
        for rel, text in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            _write(repo / rel, text)
            typer.echo(f"wrote {display_path(repo / rel)}")

    _run(go)


@app.command()
def estimate(
    model: Annotated[str | None, typer.Argument(help="A catalog model id (see `ftplan models`).")] = None,
    config: Annotated[Path | None, typer.Option("--config", metavar="FILE",
                                                help="A Hugging Face config.json instead of MODEL.")] = None,
    method: Annotated[Method, typer.Option("--method", help="What is trained: every weight, or LoRA adapters "
                                           "(qlora: over 4-bit weights).")] = Method.lora,
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Tokens per sequence.")] = 2048,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Micro-batch per GPU.")] = 1,
    grad_ckpt: Annotated[bool, typer.Option("--grad-ckpt/--no-grad-ckpt", help="Activation checkpointing.")]
    = True,
    lora_r: Annotated[int, typer.Option("--lora-r", min=1, help="LoRA rank.")] = 16,
    lora_targets: Annotated[str, typer.Option("--lora-targets", metavar="MODULES",
                                              help="Comma-separated modules or all-linear.")] = "all-linear",
    optimizer: Annotated[str, typer.Option("--optimizer", metavar="NAME", callback=_check_optimizer,
                                           help="adamw | adamw_8bit | paged_adamw_8bit | sgd | adafactor, or the "
                                                "transformers name in train.yaml's optim (adamw_torch_fused, "
                                                "adamw_bnb_8bit, adamw_torch) (default: paged_adamw_8bit for "
                                                "qlora, else adamw)")] = "",
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs (memory is per GPU).")] = 1,
    sharding: Annotated[Sharding, typer.Option("--sharding", help="How several GPUs share the model (with "
                                               "--gpus > 1).")] = Sharding.ddp,
    gpu: Annotated[str | None, typer.Option("--gpu", metavar="ID", help="A catalog GPU id (see `ftplan gpus`): "
                                            "does it fit, tokens/s and hours.")] = None,
    tokens: Annotated[float, typer.Option("--tokens", min=1, help="Training tokens (dataset x epochs) for "
                                          "GPU-hours, with --gpu (default: 1,000,000).", show_default=False)] = 1e6,
    fmt: Annotated[TextFormat, typer.Option("--format")] = TextFormat.text,
    catalog_dir: CatalogOpt = None,
) -> None:
    """Peak GPU memory (with breakdown), tokens/s and hours for one training configuration.

    Exits 1 when the configuration does not fit the --gpu, after saying what would.
    """

    def go() -> None:
        from generator.catalog import Architecture, load_catalog
        from generator.plan.compute import estimate_compute
        from generator.plan.memory import estimate_memory, parse_choices
        from generator.render.trl import estimator_optimizer
        from generator.safety import display_path

        cat = load_catalog(tuple(catalog_dir or ()))
        if config is not None:
            try:
                raw = json.loads(config.read_text(encoding="utf-8"))
                if not isinstance(raw, dict):
                    raise TypeError(f"a JSON {type(raw).__name__}, not an object")
                arch, name = Architecture.from_hf_config(raw), display_path(config)
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
                why = " ".join(str(e).split())  # pydantic's errors span lines; a problem is one line
                raise UserError(Problem("--config", f"{display_path(config)} is not a usable Hugging Face "
                                        f"config.json ({why})",
                                        "pass the model's config.json (hidden_size, num_hidden_layers, ...)")) from e
        elif model:
            arch, name = cat.model(model, field="MODEL").architecture, model
        else:
            raise UserError(Problem("MODEL", "missing", "give a catalog id (ftplan models) or --config FILE"))
        opt = optimizer or ("paged_adamw_8bit" if method is Method.qlora else "adamw")
        kind, opt_kind, shard = parse_choices(method.value, estimator_optimizer(opt), sharding.value)
        targets = [t.strip() for t in lora_targets.split(",") if t.strip()]
        settings: dict[str, Any] = dict(method=kind, seq_len=seq_len, batch_size=batch_size, grad_ckpt=grad_ckpt,
                                        lora_r=lora_r, lora_targets=targets, optimizer=opt_kind, gpus=gpus,
                                        sharding=shard)
        mem = estimate_memory(arch, **settings)
        out: dict[str, Any] = {"model": name, "method": method.value, "seq_len": seq_len, "batch_size": batch_size,
                               "grad_ckpt": grad_ckpt, "optimizer": opt, "gpus": gpus, **mem.to_dict()}
        fits = True
        if gpu:
            g = cat.gpu(gpu, field="--gpu")
            comp = estimate_compute(arch, method=kind, tokens=tokens, seq_len=seq_len, grad_ckpt=grad_ckpt,
                                    peak_tflops=g.training_tflops, gpus=gpus)
            fits = mem.peak_memory_gb <= g.memory_gb
            out["gpu"] = {"id": g.id, "memory_gb": g.memory_gb, "fits": fits, "tokens": tokens, **comp.to_dict()}
            if not fits:
                out["gpu"]["would_fit"] = _would_fit(arch, cat, settings, g)
        if fmt is TextFormat.json:
            typer.echo(json.dumps(out, indent=2))
        else:
            typer.echo(f"{name}: {method.value}, seq {seq_len} x batch {batch_size}, "
                       f"checkpointing {'on' if grad_ckpt else 'off'}, {opt}, {gpus} GPU(s)")
            typer.echo(f"  peak memory per GPU: {mem.peak_memory_gb:.2f} GB")
            for key, val in mem.breakdown.items():
                typer.echo(f"    {key:<16} {val:8.2f} GB")
            typer.echo(f"  trainable params: {mem.trainable_params:,} of {mem.total_params:,}")
            if gpu and fits:
                info = out["gpu"]
                lo, hi = info["tokens_per_second"]
                typer.echo(f"  on {info['id']}: fits in {info['memory_gb']:g} GB; {lo:,.0f}-{hi:,.0f} tokens/s; "
                           f"GPU-hours {info['gpu_hours'][0]:.2f}-{info['gpu_hours'][1]:.2f} for {tokens:,.0f} "
                           "tokens")
            for a in mem.assumptions:
                typer.echo(f"  - {a}")
        if not fits:
            info = out["gpu"]
            typer.secho(f"ftplan: does not fit: {mem.peak_memory_gb:.1f} GB per GPU needed, {info['id']} has "
                        f"{info['memory_gb']:g} GB", fg=typer.colors.RED, err=True)
            if info["would_fit"]:
                typer.secho("  would fit: " + "; or ".join(info["would_fit"]), err=True)
            else:
                typer.secho("  nothing within these flags fits: try a smaller model (ftplan models)", err=True)
            raise typer.Exit(1)

    _run(go)


@app.command()
def prompt(answers: Annotated[Path, typer.Argument(help="The answers file.")]) -> None:
    """The seed template filled with your answers, for anyone who also wants an LLM's opinion."""

    def go() -> None:
        from generator.seed import fill

        sys.stdout.write(fill(_load(answers, None).answers))

    _run(go)


def _table(columns: list[tuple[str, str]], rows: list[list[str]]) -> None:
    """A table as wide as its content: on a terminal the last column wraps, never an id; piped, nothing wraps."""
    import io
    import shutil

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, (name, justify) in enumerate(columns):
        table.add_column(name, justify=justify, no_wrap=i < len(columns) - 1,  # type: ignore[arg-type]
                         min_width=24 if i == len(columns) - 1 else None)
    for row in rows:
        table.add_row(*row)
    tty = sys.stdout.isatty()
    buf = io.StringIO()
    Console(file=buf, width=shutil.get_terminal_size().columns if tty else 100_000, force_terminal=tty,
            highlight=False).print(table)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines()))


@app.command()
def models(catalog_dir: CatalogOpt = None) -> None:
    """The base models in the knowledge base."""

    def go() -> None:
        from generator.catalog import load_catalog

        cat = load_catalog(tuple(catalog_dir or ()))
        _table([("id", "left"), ("params", "right"), ("context", "right"), ("license", "left"),
                ("commercial", "left"), ("strengths", "left")],
               [[m.id, f"{m.params_b:g}B", f"{m.context_length:,}", m.license, "yes" if m.commercial_use else "no",
                 ", ".join(m.strengths)] for m in sorted(cat.models, key=lambda m: m.params_b)])

    _run(go)


@app.command()
def gpus(catalog_dir: CatalogOpt = None) -> None:
    """The GPUs in the knowledge base, with prices."""

    def go() -> None:
        from generator.catalog import load_catalog

        cat = load_catalog(tuple(catalog_dir or ()))
        rows = []
        for g in sorted(cat.gpus, key=lambda g: g.memory_gb):
            if g.owned_only:  # no rental price: a plan prices it at power + amortisation (planning.yaml)
                rows.append([g.id, f"{g.memory_gb:g} GB", f"{g.training_tflops:g}", "owned",
                             f"none: owned only ({g.board_power_w:g} W, ${g.purchase_usd:,.0f} launch price)"])
                continue
            lo, hi = g.usd_per_hour_range
            rows.append([g.id, f"{g.memory_gb:g} GB", f"{g.training_tflops:g}", f"{lo:.2f}-{hi:.2f}",
                         ", ".join(f"{p.provider} ${p.usd_per_hour:g} ({p.as_of})" for p in g.prices)])
        _table([("id", "left"), ("memory", "right"), ("TFLOPS", "right"), ("$/hour", "right"),
                ("providers (price as of)", "left")], rows)

    _run(go)


def _partial_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.partial{output.suffix or '.yaml'}")


@app.command()
def init(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE", help="Where to write the answers.")]
    = Path("answers.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    resume: Annotated[Path | None, typer.Option("--resume", metavar="FILE", help="Answers to start from (e.g. "
                                                "the .partial.yaml an interrupted init left): each becomes "
                                                "the question's default.")] = None,
) -> None:
    """Ask the questions one by one (with help and validation) and write an answers file.

    Interrupted (Ctrl-C, Ctrl-D) or stopped by a problem, it keeps the answers so far in FILE's .partial.yaml
    twin; `ftplan init --resume` that file picks up from there.
    """

    def go() -> None:
        import yaml

        from generator.answers import dump_answers, parse_answers
        from generator.answers.questions import interview

        if output.exists() and not force:
            raise UserError(Problem("-o", f"{output} exists", "choose another name or pass --force"))
        if not output.expanduser().parent.is_dir():
            raise UserError(Problem("-o", f"folder {output.parent} does not exist", "create it first"))
        defaults: dict[str, Any] = {}
        if resume is not None:
            raw = yaml.safe_load(resume.read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise UserError(Problem("--resume", f"{resume} is not a mapping of answers", "pass an answers file"))
            defaults = {**{k: v for k, v in raw.items() if k != "facts"},
                        **{f"facts.{k}": v for k, v in (raw.get("facts") or {}).items()}}
        data: dict[str, Any] = {}
        partial = _partial_path(output)

        def keep(why: str) -> None:
            if data:
                _write(partial, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
                typer.secho(f"\n{why}: your answers so far are in {partial}; continue with "
                            f"`ftplan init -o {output} --resume {partial}`", fg=typer.colors.YELLOW, err=True)
            else:
                typer.secho(f"\n{why}: nothing answered, nothing written", fg=typer.colors.YELLOW, err=True)

        def ask(label: str, default: str | None) -> str:
            return str(typer.prompt(f"  {label}", default=default or "", show_default=default is not None))

        try:
            interview(ask, typer.echo, data, defaults)
        except (typer.Abort, KeyboardInterrupt, EOFError):
            keep("stopped")
            raise typer.Exit(130) from None
        try:
            loaded = parse_answers(data, str(output))
        except UserError:
            keep("not written")
            raise
        _write(output, dump_answers(loaded.answers))
        partial.unlink(missing_ok=True)
        typer.echo(f"wrote {output}; next: ftplan plan {output}")

    _run(go)


@app.command()
def check(repo: Annotated[Path, typer.Argument(metavar="DIR", help="A repository made by `ftplan scaffold`.")]) -> None:
    """Re-validate a generated repo after you edited its configs: schema, memory fit, cost drift."""

    def go() -> None:
        from generator.check import check_repo

        findings = check_repo(repo)
        errors = [f for f in findings if f.severity == "error"]
        for f in findings:
            colour = typer.colors.RED if f.severity == "error" else typer.colors.YELLOW if \
                f.severity == "warning" else None
            typer.secho(f"{f.severity}: {f.problem}", fg=colour, err=f.severity != "info")
        if errors:
            typer.secho(f"ftplan check: {len(errors)} error(s)", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        typer.echo("ftplan check: OK")

    _run(go)


def main() -> None:  # pragma: no cover - console entry for `python -m generator`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
