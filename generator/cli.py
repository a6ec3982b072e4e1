"""The `ftplan` command line: the only layer that prints, reads and writes files, and sets exit codes.

Exit codes: 0 ok; 1 the input is wrong (every problem as `field: what — fix`, nothing written); 2 usage.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from generator.errors import FtplanError, Problem, UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Plan an LLM fine-tuning project and scaffold the repository that runs it.",
                  pretty_exceptions_enable=False)


class Format(str, Enum):
    md = "md"
    json = "json"
    html = "html"


TodayOpt = Annotated[str | None, typer.Option(
    "--today", help="Plan as of this date, YYYY-MM-DD (default: $FTPLAN_TODAY, else the system date). "
                    "Provider availability and prices depend on it.")]
CATALOG_HELP = ("A folder with your own models.yaml / gpus.yaml / providers.yaml / planning.yaml; entries there "
                "replace or extend the bundled knowledge base. Repeatable.")
DATA_HELP = "A JSONL file of your training examples: measures real counts and token lengths."
CatalogOpt = Annotated[list[Path] | None, typer.Option("--catalog-dir", help=CATALOG_HELP)]
DataOpt = Annotated[Path | None, typer.Option("--data", help=DATA_HELP)]


def _fail(problems: list[Problem]) -> None:
    typer.secho(f"ftplan: {len(problems)} problem(s) with the input:", fg=typer.colors.RED, err=True)
    for p in problems:
        typer.secho(f"  {p}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except UserError as e:
        _fail(e.problems)
    except FtplanError as e:
        _fail([Problem("ftplan", str(e))])
    except OSError as e:
        from generator.safety import display_path

        _fail([Problem(display_path(getattr(e, "filename", "") or "file"), e.strerror or str(e),
                       "check the path and its permissions")])
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


@app.command()
def plan(
    # Plain `str` options on the hottest command: typer builds a pydantic adapter per parameter, and str
    # ones are the cheapest (ftplan plan must start in about twice its libraries' import time).
    answers: Annotated[str, typer.Argument(help="The answers file: YAML, JSON, or the filled seed template.")],
    data: Annotated[str | None, typer.Option("--data", help=DATA_HELP)] = None,
    fmt: Annotated[str, typer.Option("--format", help="md (STRATEGY.md), json (stable keys), html")] = "md",
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write here instead of stdout.")] = None,
    today: TodayOpt = None,
    catalog_dir: Annotated[list[str] | None, typer.Option("--catalog-dir", help=CATALOG_HELP)] = None,
) -> None:
    """The fine-tuning strategy for your answers: should you fine-tune, with what, at what cost."""
    if fmt not in Format.__members__:
        raise typer.BadParameter(f"{fmt!r} is not one of md, json, html", param_hint="--format")

    def go() -> None:
        from generator.render.strategy import render_html, render_json, render_markdown
        from generator.safety import refuse_overwrite

        dirs = [Path(d) for d in catalog_dir or ()]
        if output:
            refuse_overwrite(Path(output), [Path(answers), Path(data) if data else None, *dirs], "-o")
        loaded, p = _make_plan(Path(answers), Path(data) if data else None, today, dirs)
        text = {"md": lambda: render_markdown(p, loaded.answers), "json": lambda: render_json(p),
                "html": lambda: render_html(p, loaded.answers)}[fmt]()
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
    output: Annotated[Path | None, typer.Option("-o", "--output", help="The repository folder to create "
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
def estimate(
    model: Annotated[str | None, typer.Argument(help="A catalog model id (see `ftplan models`).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A Hugging Face config.json instead of MODEL.")]
    = None,
    method: Annotated[str, typer.Option("--method", help="full | lora | qlora")] = "lora",
    seq_len: Annotated[int, typer.Option("--seq-len", min=1, help="Tokens per sequence.")] = 2048,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Micro-batch per GPU.")] = 1,
    grad_ckpt: Annotated[bool, typer.Option("--grad-ckpt/--no-grad-ckpt", help="Activation checkpointing.")]
    = True,
    lora_r: Annotated[int, typer.Option("--lora-r", min=1, help="LoRA rank.")] = 16,
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="Comma-separated modules or all-linear.")]
    = "all-linear",
    optimizer: Annotated[str, typer.Option("--optimizer", help="adamw | adamw_8bit | paged_adamw_8bit | sgd | "
                                           "adafactor (default: paged_adamw_8bit for qlora, else adamw)")] = "",
    gpus: Annotated[int, typer.Option("--gpus", min=1, help="GPUs (memory is per GPU).")] = 1,
    sharding: Annotated[str, typer.Option("--sharding", help="ddp | fsdp | zero3 (with --gpus > 1)")] = "ddp",
    gpu: Annotated[str | None, typer.Option("--gpu", help="A catalog GPU id for tokens/s and hours.")] = None,
    tokens: Annotated[float, typer.Option("--tokens", min=0, help="Training tokens (dataset x epochs) for "
                                          "GPU-hours.")] = 0.0,
    fmt: Annotated[str, typer.Option("--format", help="text | json")] = "text",
    catalog_dir: CatalogOpt = None,
) -> None:
    """Peak GPU memory (with breakdown), tokens/s and hours for one training configuration."""

    def go() -> None:
        from generator.catalog import Architecture, load_catalog
        from generator.plan.compute import estimate_compute
        from generator.plan.memory import estimate_memory, parse_choices
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
        opt = optimizer or ("paged_adamw_8bit" if method == "qlora" else "adamw")
        kind, opt_kind, shard = parse_choices(method, opt, sharding)
        targets = [t.strip() for t in lora_targets.split(",") if t.strip()]
        mem = estimate_memory(arch, method=kind, seq_len=seq_len, batch_size=batch_size, grad_ckpt=grad_ckpt,
                              lora_r=lora_r, lora_targets=targets, optimizer=opt_kind, gpus=gpus, sharding=shard)
        out: dict[str, Any] = {"model": name, "method": method, "seq_len": seq_len, "batch_size": batch_size,
                               "grad_ckpt": grad_ckpt, "optimizer": opt, "gpus": gpus, **mem.to_dict()}
        if gpu:
            g = cat.gpu(gpu, field="--gpu")
            comp = estimate_compute(arch, method=kind, tokens=tokens or 1e6 * gpus, seq_len=seq_len,
                                    grad_ckpt=grad_ckpt, peak_tflops=g.training_tflops, gpus=gpus)
            out["gpu"] = {"id": g.id, "memory_gb": g.memory_gb,
                          "fits": mem.peak_memory_gb <= g.memory_gb, **comp.to_dict()}
        if fmt == "json":
            typer.echo(json.dumps(out, indent=2))
            return
        typer.echo(f"{name}: {method}, seq {seq_len} x batch {batch_size}, "
                   f"checkpointing {'on' if grad_ckpt else 'off'}, {opt}, {gpus} GPU(s)")
        typer.echo(f"  peak memory per GPU: {mem.peak_memory_gb:.2f} GB")
        for key, val in mem.breakdown.items():
            typer.echo(f"    {key:<16} {val:8.2f} GB")
        typer.echo(f"  trainable params: {mem.trainable_params:,} of {mem.total_params:,}")
        if gpu:
            info = out["gpu"]
            lo, hi = info["tokens_per_second"]
            typer.echo(f"  on {info['id']}: {'fits' if info['fits'] else 'DOES NOT FIT'} in {info['memory_gb']} GB;"
                       f" {lo:,.0f}-{hi:,.0f} tokens/s; GPU-hours {info['gpu_hours'][0]:.2f}-"
                       f"{info['gpu_hours'][1]:.2f} for {tokens or 1e6 * gpus:,.0f} tokens")
        for a in mem.assumptions:
            typer.echo(f"  - {a}")

    _run(go)


@app.command()
def prompt(answers: Annotated[Path, typer.Argument(help="The answers file.")]) -> None:
    """The seed template filled with your answers, for anyone who also wants an LLM's opinion."""

    def go() -> None:
        from generator.seed import fill

        sys.stdout.write(fill(_load(answers, None).answers))

    _run(go)


@app.command()
def models(catalog_dir: CatalogOpt = None) -> None:
    """The base models in the knowledge base."""

    def go() -> None:
        from generator.catalog import load_catalog

        cat = load_catalog(tuple(catalog_dir or ()))
        typer.echo(f"{'id':<28} {'params':>7} {'context':>8}  {'license':<18} {'commercial':<10} strengths")
        for m in sorted(cat.models, key=lambda m: m.params_b):
            typer.echo(f"{m.id:<28} {m.params_b:>6g}B {m.context_length:>8}  {m.license:<18} "
                       f"{'yes' if m.commercial_use else 'no':<10} {', '.join(m.strengths)}")

    _run(go)


@app.command()
def gpus(catalog_dir: CatalogOpt = None) -> None:
    """The GPUs in the knowledge base, with prices."""

    def go() -> None:
        from generator.catalog import load_catalog

        cat = load_catalog(tuple(catalog_dir or ()))
        typer.echo(f"{'id':<12} {'memory':>7} {'TFLOPS':>7} {'$/h':>11}  providers (as of)")
        for g in sorted(cat.gpus, key=lambda g: g.memory_gb):
            lo, hi = g.usd_per_hour_range
            provs = ", ".join(f"{p.provider} ${p.usd_per_hour:g} ({p.as_of})" for p in g.prices)
            typer.echo(f"{g.id:<12} {g.memory_gb:>5g}GB {g.training_tflops:>7g} {lo:>5.2f}-{hi:<5.2f}  {provs}")

    _run(go)


@app.command()
def init(
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the answers.")] = Path(
        "answers.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Ask the questions one by one (with help and validation) and write an answers file."""

    def go() -> None:
        from generator.answers import QUESTIONS, dump_answers, parse_answers

        if output.exists() and not force:
            raise UserError(Problem("-o", f"{output} exists", "choose another name or pass --force"))
        data: dict[str, Any] = {}
        typer.echo("Answer each question; press Enter to accept the [default] or skip an optional fact.\n")
        for q in QUESTIONS:
            optional = q.field.startswith("facts.") or q.field == "project_name"
            values: list[Any] = []
            while True:
                suffix = f" ({len(values) + 1} of {q.min_count}-{q.max_count})" if q.repeat else ""
                text = typer.prompt(f"{q.field}{suffix}: {q.prompt}\n", default=q.default or "",
                                    show_default=bool(q.default))
                if not text.strip():
                    if (optional and not q.repeat) or (q.repeat and len(values) >= q.min_count):
                        break
                    typer.secho("  required", fg=typer.colors.YELLOW)
                    continue
                if err := q.validate(text):
                    typer.secho(f"  {err}", fg=typer.colors.YELLOW)
                    continue
                values.append(q.convert(text))
                if not q.repeat or len(values) >= q.max_count:
                    break
            if not values:
                continue
            value = values if q.repeat else values[0]
            if "." in q.field:
                head, key = q.field.split(".", 1)
                data.setdefault(head, {})[key] = value
            else:
                data[q.field] = value
        loaded = parse_answers(data, str(output))
        _write(output, dump_answers(loaded.answers))
        typer.echo(f"wrote {output}; next: ftplan plan {output}")

    _run(go)


@app.command()
def check(repo: Annotated[Path, typer.Argument(help="A repository made by `ftplan scaffold`.")]) -> None:
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
