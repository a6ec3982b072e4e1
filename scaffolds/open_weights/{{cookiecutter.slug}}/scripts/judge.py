"""Pairwise win rate of the tuned model over the base model, decided by an LLM judge (Zheng et al. 2023,
"Judging LLM-as-a-judge"): any OpenAI-compatible endpoint, configured in configs/eval.yaml

    judge:
      endpoint: https://api.openai.com/v1   # only from this file or --judge-endpoint: never a default
      model: gpt-4o-mini
      api_key_env: OPENAI_API_KEY           # the key is read from this variable, never written anywhere
      rubric: "..."                         # what a better answer is, for this task
      prompt: "... {rubric} {question} {reference} {answer_a} {answer_b} ..."   # ends asking for A, B or TIE

Each pair is judged twice with the answers' positions swapped (position bias, Wang et al. 2023). The tuned
answer scores 1 when it wins in both orders, 0 when it loses in both, and 0.5 otherwise (a tie, or the judge
changed its mind with the order). The base model compared with itself is 0.5 by construction, so the report
shows base 0.5, tuned = the win rate, and the interval of the win rate minus 0.5 (sign-flip test against 0.5).
Verdicts are cached in <output_dir>/judgments.jsonl, so an interrupted run does not pay for them twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import UserError

VERDICT = re.compile(r"\b(A|B|TIE)\b", re.IGNORECASE)
JUDGE_MAX_TOKENS = 8  # the verdict is one word
FIELDS = ("question", "reference", "answer_a", "answer_b", "rubric")


def settings(cfg: dict) -> dict:
    """The judge section, checked: what win_rate needs before any request is sent."""
    judge = dict(cfg.get("judge") or {})
    missing = [k for k in ("endpoint", "model", "prompt", "rubric") if not judge.get(k)]
    if missing:
        raise UserError(f"judge.{missing[0]}: win_rate needs an LLM judge — set judge.endpoint (an "
                        "OpenAI-compatible URL, or --judge-endpoint), judge.model, judge.prompt and judge.rubric "
                        "in configs/eval.yaml")
    try:
        str(judge["prompt"]).format(**dict.fromkeys(FIELDS, ""))
    except (KeyError, IndexError, ValueError) as exc:
        raise UserError(f"judge.prompt: bad placeholder {exc} — use only {{{'}, {'.join(FIELDS)}}}; "
                        "double literal braces") from None
    return judge


def verdict(text: str) -> str:
    """'A', 'B' or 'TIE' from the judge's answer (anything else counts as a tie)."""
    m = VERDICT.search(text or "")
    return m.group(1).upper() if m else "TIE"


def combine(first: str, second: str) -> float:
    """Tuned answer's score from both orders: first has tuned as A, second has tuned as B."""
    if first == "A" and second == "B":
        return 1.0
    if first == "B" and second == "A":
        return 0.0
    return 0.5


def win_rate(preds: list[str], against: list[str], refs: list[str], rows: list[dict], prompts: list[str],
             cfg: dict) -> list[float]:
    """Per example: 1 / 0.5 / 0 for preds over `against` (the base answers); identical answers tie unjudged."""
    from generation import Cache, ChatClient, seed_of

    judge = settings(cfg)
    client = ChatClient(str(judge["endpoint"]), str(judge.get("api_key_env") or "OPENAI_API_KEY"), "judge.endpoint",
                        int(judge.get("retries", 5)), float(judge.get("timeout_s", 120)))
    out_dir = Path(str(cfg.get("output_dir") or "."))
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = Cache(out_dir / "judgments.jsonl")
    jobs: dict[str, list[dict]] = {}
    pairs = []
    for i, (hyp, base) in enumerate(zip(preds, against, strict=True)):
        keys = []
        for a, b in ((hyp, base), (base, hyp)):
            fields = {"question": prompts[i], "reference": refs[i], "answer_a": a, "answer_b": b,
                      "rubric": str(judge["rubric"])}
            message = [{"role": "user", "content": str(judge["prompt"]).format(**fields)}]
            key = hashlib.sha256(f"{client.url}|{judge['model']}|{json.dumps(message)}".encode()).hexdigest()
            keys.append(key)
            if hyp != base and key not in cache.data:
                jobs[key] = message
        pairs.append((hyp == base, keys))
    workers = max(1, min(int(judge.get("concurrency", 8)), len(jobs) or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = pool.map(lambda m: client.complete(str(judge["model"]), m, JUDGE_MAX_TOKENS, seed_of(cfg)),
                           jobs.values())
        cache.put_many(dict(zip(jobs, answers, strict=True)))
    return [0.5 if same else combine(verdict(cache.data[k1]), verdict(cache.data[k2])) for same, (k1, k2) in pairs]
