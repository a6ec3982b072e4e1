"""The RAG baseline of `make baseline`: your documents chunked, BM25 retrieval, the base model answering with the
retrieved chunks in its prompt. Is retrieval enough, without fine-tuning?

    python scripts/rag.py --config configs/rag.yaml "how do I reset my password?"   # show what it retrieves

`make baseline` runs it when configs/data.yaml `documents:` names a folder of .txt/.md files: the same frozen
held-out set, the same metrics and paired statistics as zero-shot, and recall@k of the retriever when held-out
rows name their source document (a `source` or `sources` key: file names relative to the folder). Retrieval is
BM25 (Robertson & Zaragoza 2009): `bm25s` when installed (pip install bm25s), else the same Lucene BM25 here
(tests/test_rag.py checks both give the same scores).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared modules beside this script

from common import UserError, read_text, run, shown  # noqa: E402
from inputs import MAX_CONFIG_BYTES  # noqa: E402

SUFFIXES = (".txt", ".md", ".markdown", ".rst")
DEFAULTS: dict[str, Any] = {
    "chunk_words": 120, "overlap_words": 20, "top_k": 3, "k1": 1.5, "b": 0.75, "retriever": "auto",
    "prompt": "Answer using these excerpts of our documents where they help.\n\n{chunks}",
}
KEYS = {k: type(v) for k, v in DEFAULTS.items()}
MAX_DOCUMENT_BYTES = 64 << 20  # one document is read whole: past 64 MB it is an export to split, not a document
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern: words of two or more characters


@dataclass(frozen=True)
class Chunk:
    source: str  # the file, relative to the documents folder
    text: str


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def read_config(path: str | Path) -> Any:
    """A YAML file's data, or a UserError naming the file (not a file, too big, not UTF-8, not YAML)."""
    import yaml

    try:
        return yaml.safe_load(read_text(path, MAX_CONFIG_BYTES)) or {}
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except (yaml.YAMLError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else " ".join(str(exc).split())
        raise UserError(f"{shown(path)}: not valid YAML ({shown(why)})") from None


def settings(path: str | Path | None) -> dict[str, Any]:
    """configs/rag.yaml over the defaults; an unknown key, a wrong type or a value out of range names the key."""
    cfg = dict(DEFAULTS)
    if not path or not Path(path).exists():
        return cfg
    data = read_config(path)
    name = shown(path)
    if not isinstance(data, dict):
        raise UserError(f"{name}: expected key: value lines")
    for key, value in data.items():
        if key not in KEYS:
            raise UserError(f"{name}: {shown(key)}: is not a key — valid keys: {', '.join(KEYS)}")
        want = KEYS[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not (isinstance(value, want) and not isinstance(value, (bool, float)) or want is float and number):
            raise UserError(f"{name}: {key}: {shown(repr(value))[:80]} is not "
                            f"{'a finite number' if want is float else want.__name__}")
        cfg[key] = value
    if cfg["retriever"] not in ("auto", "bm25s", "builtin"):
        raise UserError(f"{name}: retriever: {shown(repr(cfg['retriever']))[:80]} — use auto, bm25s or builtin")
    if cfg["chunk_words"] < 1 or not 0 <= cfg["overlap_words"] < cfg["chunk_words"] or cfg["top_k"] < 1:
        raise UserError(f"{name}: need chunk_words >= 1, 0 <= overlap_words < chunk_words and top_k >= 1")
    if cfg["k1"] < 0 or not 0 <= cfg["b"] <= 1:
        raise UserError(f"{name}: need k1 >= 0 and 0 <= b <= 1 (BM25's usual values: k1 1.2-2.0, b 0.75)")
    return cfg


def load_chunks(folder: str | Path, words: int, overlap: int) -> list[Chunk]:
    """Every text/Markdown file under the folder, cut into windows of `words` words overlapping by `overlap`."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"documents: {shown(folder)} is not a folder — point configs/data.yaml `documents:` at your "
                        "folder of .txt/.md files, or set it to null")
    chunks = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()):
        try:  # undecodable bytes become U+FFFD: a document is searched, not parsed
            text = read_text(path, MAX_DOCUMENT_BYTES, "utf-8").split()
        except ValueError as exc:
            if "not UTF-8" not in str(exc):
                raise UserError(f"documents: {exc} (split a long document into several files)") from None
            text = path.read_bytes().decode("utf-8", "replace").split()
        source = shown(path.relative_to(root).as_posix())  # a name that is not UTF-8 could reach no tokenizer
        for start in range(0, max(len(text) - overlap, 1), words - overlap):
            piece = " ".join(text[start:start + words])
            if tokens(piece):  # a chunk without a word of two letters can never be retrieved (and BM25 divides by 0)
                chunks.append(Chunk(source, piece))
    if not chunks:
        raise UserError(f"documents: {shown(folder)} has no {'/'.join(SUFFIXES)} files with text")
    return chunks


class BM25:
    """Okapi BM25, Lucene variant (the scores bm25s's default method gives)."""

    def __init__(self, docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b, self.docs = k1, b, [Counter(d) for d in docs]
        self.lengths = [len(d) for d in docs]
        self.avgdl = sum(self.lengths) / max(len(docs), 1) or 1.0
        df = Counter(t for d in self.docs for t in d)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: list[str]) -> list[float]:
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.avgdl)
            out.append(sum(self.idf[t] * doc[t] / (doc[t] + norm) for t in query if t in doc))
        return out


class Retriever:
    """Top-k chunks for a query: bm25s when installed (and not turned off), else the BM25 above."""

    def __init__(self, chunks: list[Chunk], cfg: dict[str, Any]) -> None:
        import importlib.util

        self.chunks = chunks
        corpus = [tokens(c.text) for c in chunks]
        use_bm25s = cfg["retriever"] == "bm25s" or (
            cfg["retriever"] == "auto" and importlib.util.find_spec("bm25s") is not None)
        if cfg["retriever"] == "bm25s" and importlib.util.find_spec("bm25s") is None:
            raise UserError("configs/rag.yaml: retriever: bm25s but it is not installed — pip install bm25s")
        self.name = "bm25s" if use_bm25s else "builtin BM25"
        if use_bm25s:
            import bm25s

            self._bm25s = bm25s.BM25(k1=cfg["k1"], b=cfg["b"], method="lucene")
            self._bm25s.index(corpus, show_progress=False)
        else:
            self._own = BM25(corpus, cfg["k1"], cfg["b"])

    def scores(self, query: str) -> list[float]:
        q = tokens(query)
        if not q:
            return [0.0] * len(self.chunks)
        if self.name == "bm25s":
            return [float(x) for x in self._bm25s.get_scores(q)]
        return self._own.scores(q)

    def top(self, query: str, k: int) -> list[Chunk]:
        s = self.scores(query)
        order = sorted(range(len(s)), key=lambda i: (-s[i], i))
        return [self.chunks[i] for i in order[:k] if s[i] > 0]


def query_of(prompt: list[dict]) -> str:
    """The last user turn: what the retriever searches for."""
    users = [m.get("content", "") for m in prompt if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def with_chunks(prompt: list[dict], found: list[Chunk], template: str) -> list[dict]:
    """The prompt with the retrieved chunks in a system turn (after the task's own system prompt, if any)."""
    context = "\n\n".join(f"[{c.source}]\n{c.text}" for c in found) or "(nothing found)"
    note = template.replace("{chunks}", context)
    system = [m for m in prompt if m.get("role") == "system"]
    rest = [m for m in prompt if m.get("role") != "system"]
    if system:
        return [{"role": "system", "content": f"{system[0]['content']}\n\n{note}"}, *system[1:], *rest]
    return [{"role": "system", "content": note}, *rest]


def sources_of(row: dict) -> list[str]:
    value = row.get("sources", row.get("source"))
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def rag_prompts(examples: list[dict], documents: str, cfg: dict[str, Any]) -> tuple[list[list[dict]], dict]:
    """Each held-out prompt with its top-k chunks, and what the report says about retrieval (recall@k)."""
    chunks = load_chunks(documents, cfg["chunk_words"], cfg["overlap_words"])
    retriever, k = Retriever(chunks, cfg), cfg["top_k"]
    prompts, hits, named = [], 0, 0
    for e in examples:
        found = retriever.top(query_of(e["prompt"]), k)
        prompts.append(with_chunks(e["prompt"], found, cfg["prompt"]))
        wanted = set(sources_of(e.get("row") or {}))
        if wanted:
            named += 1
            hits += bool(wanted & {c.source for c in found})
    info = {"documents": str(documents), "chunks": len(chunks), "files": len({c.source for c in chunks}),
            "retriever": retriever.name, "top_k": k, "chunk_words": cfg["chunk_words"],
            "overlap_words": cfg["overlap_words"],
            f"recall_at_{k}": hits / named if named else None, "examples_with_sources": named}
    return prompts, info


def documents_folder(data_config: str | None) -> str | None:
    """configs/data.yaml `documents:` (a folder), or None when the file or the key is absent."""
    if not data_config or not Path(data_config).exists():
        return None
    data = read_config(data_config)
    folder = data.get("documents") if isinstance(data, dict) else None
    return str(folder) if folder else None


def baseline(cfg: dict, examples: list[dict], backend: Any, cache: Any, timings: dict, metrics: dict,
                 base_out: list[str], base_v: dict) -> dict | None:
    """With --baseline-only and configs/data.yaml `documents:`: the base model answering with BM25-retrieved
    chunks (scripts/rag.py), paired against zero-shot on the same held-out set and metrics."""
    import report as rp
    from generation import run_pass

    documents = documents_folder(cfg.get("data_config")) if cfg.get("baseline_only") else None
    if not documents:
        return None
    prompts, info = rag_prompts(examples, documents, settings(cfg.get("rag_config")))
    rag_out = run_pass(backend, "base", prompts, cache, cfg, timings, "rag")
    rag_v = rp.vectors(metrics, rag_out, examples, cfg, against=base_out)
    k, recall = info["top_k"], info.get(f"recall_at_{info['top_k']}")
    print(f"RAG baseline: {info['chunks']} chunks from {shown(documents)}, {info['retriever']}, top {k}"
          + (f"; recall@{k} {recall:.3f}" if recall is not None else ""))
    return {"retrieval": info, "vs_zero_shot": rp.compare(cfg, metrics, base_v, rag_v)}


def markdown(info: dict, comparison: dict) -> str:
    """The report's RAG section: retrieval, then the RAG baseline against zero-shot per metric."""
    k = info["top_k"]
    recall = info.get(f"recall_at_{k}")
    lines = ["", "## RAG baseline (retrieval, no fine-tuning)", "",
             f"{info['files']} document(s) from `{info['documents']}` in {info['chunks']} chunks of "
             f"{info['chunk_words']} words; {info['retriever']}, top {k} chunks in the prompt. "
             + (f"recall@{k} {recall:.3f} over the {info['examples_with_sources']} held-out rows that name their "
                "source." if recall is not None else "Held-out rows name no `source`, so recall@k is not measured."),
             "", "| metric | zero-shot | RAG | delta | CI | p | test |", "|---|---|---|---|---|---|---|"]
    for name, m in comparison.items():
        lines.append(f"| {name} | {m['base']:.4f} | {m['tuned']:.4f} | {m['delta']:+.4f} | "
                     f"[{m['ci'][0]:+.4f}, {m['ci'][1]:+.4f}] | {m['p_value']:.3g} | {m['test']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("query")
    ap.add_argument("--config", default="configs/rag.yaml")
    ap.add_argument("--data-config", default="configs/data.yaml")
    ap.add_argument("--documents", help="the folder (over configs/data.yaml `documents:`)")
    args = ap.parse_args(argv)
    cfg = settings(args.config)
    folder = args.documents or documents_folder(args.data_config)
    if not folder:
        raise UserError(f"{shown(args.data_config)}: documents: not set — name your folder of .txt/.md files")
    retriever = Retriever(load_chunks(folder, cfg["chunk_words"], cfg["overlap_words"]), cfg)
    for c in retriever.top(args.query, cfg["top_k"]):
        print(f"[{c.source}] {c.text[:200]}")
    return 0


if __name__ == "__main__":
    run(main)
