"""Compare the base and the tuned model on the same frozen held-out set, with paired statistics and gates.

Run from the repository root:

    python scripts/evaluate.py --config configs/eval.yaml --dry-run         # check config and inputs only
    python scripts/evaluate.py --config configs/eval.yaml --baseline-only   # is prompting enough?
    python scripts/evaluate.py --config configs/eval.yaml                   # base vs tuned, gates
    python scripts/evaluate.py --config configs/eval.yaml --profile smoke   # tiny local model, CPU
    python scripts/evaluate.py --config configs/eval.yaml --limit 50 --batch-size 8 --device cpu
    OPENAI_API_KEY=... python scripts/evaluate.py --config configs/eval.yaml \\
        --endpoint http://localhost:8000/v1 --endpoint-model my-adapter  # OpenAI-compatible server
    OPENAI_API_KEY=... python scripts/evaluate.py --config configs/eval.yaml \\
        --judge-endpoint https://api.openai.com/v1 --judge-model gpt-4o-mini  # win_rate's LLM judge

The metrics, the paired test of each and the statistics settings come from configs/eval.yaml (the plan);
scripts/metrics.py computes the built-in metrics and scripts/user_metrics.py yours; execution_accuracy
needs `sql:` (a database), json_schema_validity `json_schema:` (a schema file), pass_at_1
`allow_code_execution: true`, win_rate a `judge:`. `labels: auto` takes the label set from data/manifest.json
(make data). Writes <output_dir>/eval_report.json and eval_report.md (baseline_report.* with --baseline-only,
which also records the held-out set's sha256: `make eval` refuses a held-out set changed since). Every
generation is cached in <output_dir>/generations.jsonl, keyed by model, example and generation settings, so
an interrupted run continues where it stopped and gives the same report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import (  # noqa: E402
    UserError,
    check_device,
    check_output,
    load_config,
    load_examples,
    quiet_libraries,
    refuse_overwrite,
    report_dry_run,
    run,
    shown,
)

DEFAULT_MAX_NEW_TOKENS, DEFAULT_BATCH_SIZE = 32, 16


def metric_specs(cfg: dict) -> dict[str, dict]:
    """configs/eval.yaml `metrics:` as name -> {test, builtin}; a plain list of names takes the defaults."""
    raw = cfg.get("metrics") or {}
    return {str(k): dict(v or {}) for k, v in raw.items()} if isinstance(raw, dict) else {str(k): {} for k in raw}


def resolve_metrics(cfg: dict, path: str) -> dict[str, Any]:
    """Each configured metric's implementation: scripts/metrics.py, or scripts/user_metrics.py for the rest."""
    import user_metrics
    from metrics import METRICS, user_metric

    found, problems = {}, []
    for name, spec in metric_specs(cfg).items():
        builtin = spec.get("builtin")
        if builtin is not False and name in METRICS:
            metric = METRICS[name]
        elif builtin is True:
            problems.append(f"{path}: metrics.{name}: `builtin: true` but scripts/metrics.py has no {name!r} — "
                            f"set `builtin: false` and add it to scripts/user_metrics.py")
            continue
        elif callable(user_metrics.METRICS.get(name)):
            metric = user_metric(name, user_metrics.METRICS[name], str(spec.get("test") or "sign_flip"))
        else:
            problems.append(
                f"{path}: metrics.{name}: user metric {name!r} is not implemented — add "
                f"`METRICS[{name!r}] = score` with score(prediction, reference, example) -> float to "
                "scripts/user_metrics.py (its docstring shows how)")
            continue
        if spec.get("test") == "mcnemar" and metric.kind == "corpus":
            problems.append(f"{path}: metrics.{name}.test: mcnemar needs right/wrong answers per example but "
                            f"{name} is a corpus metric — use sign_flip")
        found[name] = metric
    problems += requirements(cfg, found)
    if problems:
        raise UserError("\n".join(problems))
    return found


def requirements(cfg: dict, metrics: dict[str, Any]) -> list[str]:
    """What the metrics that run code or ask a judge, and lm_eval forgetting, need from the config."""
    import code_exec
    import forgetting
    import judge
    from metrics import require_schema

    checks = [check for name, check in (("pass_at_1", code_exec.require_opt_in), ("win_rate", judge.settings),
                                        ("json_schema_validity", require_schema)) if name in metrics]
    if (cfg.get("forgetting") or {}).get("lm_eval_tasks") and not cfg.get("baseline_only"):
        checks.append(lambda c: forgetting.require_lm_eval())
    problems = []
    for check in checks:
        try:
            check(cfg)
        except UserError as err:
            problems.append(str(err))
    return problems


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
        demo += [m for m in s["prompt"] if m["role"] != "system"] + [{"role": "assistant", "content": s["reference"]}]
    out = []
    for e in examples:
        system = [m for m in e["prompt"] if m["role"] == "system"]
        out.append(system + demo + [m for m in e["prompt"] if m["role"] != "system"])
    return out


def dry_run(cfg: dict, metrics: dict[str, Any]) -> int:
    import stats
    from report import test_of

    st = stats.settings(cfg)
    print(f"metrics: {', '.join(f'{n} ({m.kind}, {test_of(cfg, n, m)})' for n, m in metrics.items())}; "
          f"primary {cfg['primary_metric']}")
    print(f"statistics: {st['confidence']:.0%} paired bootstrap ({st['bootstrap_resamples']} resamples), "
          f"{st['permutation_resamples']} sign-flip permutations, seed {st['seed']}")
    inputs = {k: cfg.get(k) for k in ("heldout", "few_shot_examples")}
    if not cfg.get("baseline_only"):
        inputs["probe"] = cfg.get("probe")
    if "json_schema_validity" in metrics:
        inputs["json_schema"] = cfg.get("json_schema")
    if "execution_accuracy" in metrics:
        inputs["sql.database"] = (cfg.get("sql") or {}).get("database")
    named = {k: v for k, v in inputs.items() if v}
    if cfg.get("_labels_problem"):
        print(f"  missing  {cfg['_labels_problem']}")
    elif cfg.get("labels"):
        print(f"labels: {len(cfg['labels'])} from {cfg['_labels_source']}")
    if "pass_at_1" in metrics:
        from code_exec import WARNING

        print(WARNING, file=sys.stderr)
    status = report_dry_run("the evaluation config", named)
    if not cfg.get("endpoint") and not cfg.get("baseline_only") and cfg.get("adapter") \
            and not Path(cfg["adapter"]).is_dir():
        print(f"  missing  adapter: {shown(cfg['adapter'])} — train first (make train)")
    return status


def main(cfg: dict) -> int:
    """Generate (or read from the cache), compare, gate and write the reports; 0 when every gate passes."""
    import report as rp
    from generation import Cache, EndpointBackend, LocalBackend, run_pass
    from manifest import heldout_changed, sha256_file
    from rag import baseline as rag_baseline

    metrics = cfg["_metrics"]
    out_dir = Path(cfg["output_dir"])
    changed = heldout_changed(cfg["heldout"], None if cfg.get("baseline_only") else out_dir / "baseline_report.json")
    if changed and not cfg.get("baseline_only"):
        raise UserError("\n".join(changed))
    for line in changed:
        print(f"warning: {line}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache, timings = Cache(out_dir / "generations.jsonl"), {}
    if not cfg.get("endpoint"):
        quiet_libraries()  # before the local model loads: kernel-hub and renamed-argument notices are not the user's
    backend = EndpointBackend(cfg) if cfg.get("endpoint") else LocalBackend(cfg)
    limit = cfg.get("limit")
    examples = load_examples(cfg["heldout"], "heldout")[:limit]
    zero = [e["prompt"] for e in examples]
    shots = load_examples(cfg["few_shot_examples"], "few_shot_examples") if cfg.get("few_shot_examples") else []
    started = time.perf_counter()
    base_out = run_pass(backend, "base", zero, cache, cfg, timings, "zero_shot")
    few_out = run_pass(backend, "base", few_shot_prompts(examples, shots, int(cfg.get("few_shot_k", 4))), cache,
                       cfg, timings, "few_shot") if shots else None
    base_v = rp.vectors(metrics, base_out, examples, cfg, against=base_out)
    few_v = rp.vectors(metrics, few_out, examples, cfg, against=base_out) if few_out else None
    rag = rag_baseline(cfg, examples, backend, cache, timings, metrics, base_out, base_v)
    report: dict[str, Any] = {"task_type": cfg["task_type"], "primary_metric": cfg["primary_metric"],
                              "n_examples": len(examples), "baseline_only": bool(cfg.get("baseline_only")),
                              "heldout_sha256": sha256_file(cfg["heldout"]), "labels": cfg.get("labels"),
                              "labels_source": cfg.get("_labels_source")}
    if cfg.get("baseline_only"):
        report["metrics"] = rp.compare(cfg, metrics, base_v, few_v or base_v)
        report["baselines"] = {
            k: {m: v["base" if k == "zero_shot" else "tuned"] for m, v in report["metrics"].items()}
            for k in (["zero_shot", "few_shot"] if few_out else ["zero_shot"])
        }
        if rag:
            report["baselines"]["rag"] = {m: v["tuned"] for m, v in rag["vs_zero_shot"].items()}
            report["rag"] = rag
        best = max(v[cfg["primary_metric"]] for v in report["baselines"].values())
        targets = [g["threshold"] for g in cfg.get("gates") or []
                   if g["op"] == ">=" and g["metric"] == cfg["primary_metric"]]
        report["prompting_meets_target"] = best >= max(targets) if targets else None
        report["passed"], names = True, ("zero-shot", "few-shot")
    else:
        tuned_out = run_pass(backend, "tuned", zero, cache, cfg, timings, "tuned")
        tuned_v = rp.vectors(metrics, tuned_out, examples, cfg, against=base_out)
        report["metrics"] = rp.compare(cfg, metrics, base_v, tuned_v)
        report["baselines"] = {"zero_shot": {m: v["base"] for m, v in report["metrics"].items()}}
        if few_v:
            vs_few = rp.compare(cfg, metrics, few_v, tuned_v)
            report["baselines"]["few_shot"] = {m: v["base"] for m, v in vs_few.items()}
            report["tuned_vs_few_shot"] = vs_few
        report["probe"] = probe(cfg, backend, cache, timings) if cfg.get("probe") else None
        report["gates"] = rp.gate_results(cfg, report["metrics"], report["probe"])
        report["passed"] = all(g["passed"] for g in report["gates"])
        report["error_analysis"] = rp.error_analysis(cfg, metrics, examples, base_out, tuned_out, base_v, tuned_v)
        names = ("base", "tuned")
    report["timings"] = {"total_seconds": round(time.perf_counter() - started, 3), **timings}
    report["config"] = {k: v for k, v in cfg.items() if k != "api_key" and not k.startswith("_")}
    stem = "baseline_report" if cfg.get("baseline_only") else "eval_report"
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    extra = ""
    if rag:
        from rag import markdown as rag_markdown

        extra = rag_markdown(rag["retrieval"], rag["vs_zero_shot"])
    (out_dir / f"{stem}.md").write_text(rp.markdown(report, *names) + extra, encoding="utf-8")
    print(rp.markdown(report, *names).split("\n## ")[0])
    print(f"wrote {out_dir / stem}.json and .md")
    return 0 if report["passed"] else 1


def probe(cfg: dict, backend: Any, cache: Any, timings: dict) -> dict:
    """Forgetting, base vs tuned on general-capability items: the bundled probe (scored by its first line) or,
    with `forgetting.lm_eval_tasks`, lm-evaluation-harness tasks. Paired interval of the drop, McNemar."""
    import stats
    from generation import run_pass
    from report import probe_correct

    tasks = (cfg.get("forgetting") or {}).get("lm_eval_tasks") or []
    if tasks:
        from forgetting import lm_eval_scores

        sb, st_, source = *lm_eval_scores(cfg), "lm-evaluation-harness: " + ", ".join(tasks)
    else:
        items = load_examples(cfg["probe"], "probe")[: cfg.get("limit")]
        prompts = [e["prompt"] for e in items]
        pb = run_pass(backend, "base", prompts, cache, cfg, timings, "probe_base")
        pt = run_pass(backend, "tuned", prompts, cache, cfg, timings, "probe_tuned")
        sb = [probe_correct(h, e["reference"]) for h, e in zip(pb, items, strict=True)]
        st_ = [probe_correct(h, e["reference"]) for h, e in zip(pt, items, strict=True)]
        source = f"bundled probe {cfg['probe']}"
    test = "mcnemar" if set(sb) | set(st_) <= {0.0, 1.0} else "sign_flip"
    res = stats.paired([[x] for x in sb], [[x] for x in st_], lambda s, n: s[..., 0] / max(n, 1), test,
                       stats.settings(cfg))
    return {"n": len(sb), "base": res["base"], "tuned": res["tuned"], "drop": 0.0 - res["delta"],
            "drop_ci": [0.0 - res["ci"][1], 0.0 - res["ci"][0]], "p_value": res["p_value"], "test": test,
            "source": source}


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    """The flags over configs/eval.yaml (and its --profile section), checked; metrics resolved."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/eval.yaml")
    ap.add_argument("--profile", help="apply this section's overrides, e.g. smoke")
    ap.add_argument("--baseline-only", action="store_true", help="zero-shot and few-shot base model only")
    ap.add_argument("--dry-run", action="store_true", help="check the config and inputs; load no model")
    for flag in ("base-model", "adapter", "heldout", "probe", "output-dir", "endpoint", "endpoint-model"):
        ap.add_argument(f"--{flag}")
    ap.add_argument("--judge-endpoint", help="win_rate: the judge's OpenAI-compatible URL (over judge.endpoint)")
    ap.add_argument("--judge-model", help="win_rate: the judge model (over judge.model)")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--limit", type=int, help="evaluate only the first N examples (the cache keeps them)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args(argv)
    for name in ("batch_size", "limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    cfg = load_config("eval", args.config, args.profile)
    skip = ("config", "profile", "batch_size", "dry_run", "judge_endpoint", "judge_model")
    cfg.update({k: v for k, v in vars(args).items() if k not in skip and v is not None})
    if args.judge_endpoint or args.judge_model:
        cfg["judge"] = {**(cfg.get("judge") or {}), **({"endpoint": args.judge_endpoint} if args.judge_endpoint
                        else {}), **({"model": args.judge_model} if args.judge_model else {})}
    gen = cfg.get("generation") or {}
    cfg["max_new_tokens"] = gen.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    cfg["batch_size"] = args.batch_size or gen.get("batch_size", DEFAULT_BATCH_SIZE)
    cfg["_dry_run"] = args.dry_run
    if not args.dry_run:  # a dry run checks the config on any machine
        check_device(cfg.get("device"))
    inputs = [cfg.get("heldout"), cfg.get("probe"), args.config]
    check_output(cfg.get("output_dir"), "output_dir", folder=True)
    refuse_overwrite(cfg.get("output_dir"), inputs, "output_dir")
    for name in ("eval_report.json", "eval_report.md", "baseline_report.json", "baseline_report.md",
                 "generations.jsonl"):
        refuse_overwrite(Path(str(cfg.get("output_dir") or ".")) / name, inputs, "output_dir")
    cfg["_metrics"] = resolve_metrics(cfg, args.config)
    from manifest import resolve_labels

    cfg["labels"], cfg["_labels_source"], cfg["_labels_problem"] = resolve_labels(cfg.get("labels"), cfg["heldout"])
    if cfg["_labels_problem"] and not args.dry_run:
        raise UserError(f"{shown(args.config)}: {cfg['_labels_problem']}")
    return cfg


def cli(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    return dry_run(cfg, cfg["_metrics"]) if cfg["_dry_run"] else main(cfg)


if __name__ == "__main__":
    run(cli)
