"""The RAG baseline (scripts/rag.py, `make baseline` with configs/data.yaml `documents:`): BM25 equal to bm25s,
chunking, recall@k, and a RAG baseline that beats zero-shot on a tiny model's task whose answers are only in
the documents.

pytest tests/test_rag.py
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import rag  # noqa: E402
from common import UserError  # noqa: E402

KEYS = [f"k{i}" for i in range(40)]
ANSWERS = [f"a{i}" for i in range(40)]
FILLER = "the our of and a this manual says note that please".split()
COPY_STEPS, COPY_BATCH, COPY_LR = 150, 32, 3e-3  # the copy skill is learnt by ~150 steps (loss < 0.1)


def test_builtin_bm25_gives_bm25s_scores() -> None:
    bm25s = pytest.importorskip("bm25s")
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(60)]
    docs = [[rng.choice(vocab) for _ in range(rng.randint(3, 40))] for _ in range(80)]
    ref = bm25s.BM25(k1=1.2, b=0.6, method="lucene")
    ref.index(docs, show_progress=False)
    mine = rag.BM25(docs, k1=1.2, b=0.6)
    for _ in range(30):
        query = rng.sample(vocab, rng.randint(1, 5))
        assert mine.scores(query) == pytest.approx([float(x) for x in ref.get_scores(query)], rel=1e-5, abs=1e-6)


def test_chunks_overlap_and_name_their_file(tmp_path: Path) -> None:
    (tmp_path / "guide").mkdir()
    (tmp_path / "guide/a.md").write_text(" ".join(f"w{i}" for i in range(24)), encoding="utf-8")
    (tmp_path / "b.txt").write_text("short text", encoding="utf-8")
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    chunks = rag.load_chunks(tmp_path, words=10, overlap=3)
    assert [c.source for c in chunks] == ["b.txt", "guide/a.md", "guide/a.md", "guide/a.md"]
    assert chunks[1].text.split()[-3:] == chunks[2].text.split()[:3]  # neighbours share `overlap` words
    assert chunks[-1].text.split()[-1] == "w23"  # nothing lost at the end
    with pytest.raises(UserError, match="is not a folder"):
        rag.load_chunks(tmp_path / "nope", 10, 3)


def test_settings_reject_unknown_keys_and_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    assert rag.settings(path) == rag.DEFAULTS  # no file: the defaults
    for text, message in (("top_kk: 3", "is not a key"), ("top_k: three", "is not int"),
                          ("overlap_words: 500", "overlap_words < chunk_words"), ("retriever: dense", "use auto")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(UserError, match=message):
            rag.settings(path)
    path.write_text("k1: 2\ntop_k: 1", encoding="utf-8")
    assert rag.settings(path)["k1"] == 2 and rag.settings(path)["top_k"] == 1


def fact(rng: random.Random, key: str, answer: str) -> str:
    return " ".join([*rng.sample(FILLER, 4), "the", "code", "for", key, "is", answer, *rng.sample(FILLER, 3)])


def question(key: str) -> list[dict]:
    return [{"role": "user", "content": f"what is the code for {key} ?"}]


@pytest.fixture(scope="module")
def copier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model taught to copy the code from a retrieved chunk, with random key -> code pairings, so it knows
    no pairing by heart: only the chunk in its prompt can tell it the answer."""
    import torch
    from make_tiny_model import CHAT_TEMPLATE, MODEL_SIZES, ROLE_TOKENS, SPECIAL
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("copier")
    words = " ".join([*KEYS, *ANSWERS, *FILLER, "the code for is what ? [ ] . md"])
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk"]))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Whitespace(), decoders.WordPiece(prefix="##")
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=[*SPECIAL.values(), *ROLE_TOKENS]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=SPECIAL["pad"], unk_token=SPECIAL["unk"],
                                   bos_token=SPECIAL["bos"], eos_token=SPECIAL["eos"],
                                   additional_special_tokens=ROLE_TOKENS)
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id,
                                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                                         tie_word_embeddings=False, **MODEL_SIZES))
    opt = torch.optim.AdamW(model.parameters(), lr=COPY_LR)
    rng = random.Random(1)

    def encode(key: str, answer: str) -> tuple[list[int], int]:
        prompt = rag.with_chunks(question(key), [rag.Chunk(f"{key}.md", fact(rng, key, answer))], "{chunks}")
        full = fast.apply_chat_template([*prompt, {"role": "assistant", "content": answer}], tokenize=False)
        head = fast.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = fast(full, add_special_tokens=False)["input_ids"]
        return ids, len(fast(head, add_special_tokens=False)["input_ids"])

    for _ in range(COPY_STEPS):
        batch = [encode(rng.choice(KEYS), rng.choice(ANSWERS)) for _ in range(COPY_BATCH)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((COPY_BATCH, width), fast.pad_token_id)
        labels = torch.full((COPY_BATCH, width), -100)
        mask = torch.zeros((COPY_BATCH, width), dtype=torch.long)
        for row, (seq, start) in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, start : len(seq)] = torch.tensor(seq[start:])
            mask[row, : len(seq)] = 1
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(out / "model")
    fast.save_pretrained(out / "model")
    return out / "model"


def test_rag_baseline_finds_the_documents_and_beats_zero_shot(copier: Path, tmp_path: Path) -> None:
    rng = random.Random(7)
    truth = dict(zip(KEYS, rng.sample(ANSWERS, len(ANSWERS)), strict=True))  # the documents' own pairings
    docs = tmp_path / "docs"
    docs.mkdir()
    for key, answer in truth.items():
        (docs / f"{key}.md").write_text(fact(rng, key, answer), encoding="utf-8")
    held = [{"messages": [*question(k), {"role": "assistant", "content": truth[k]}], "source": f"{k}.md"}
            for k in KEYS[:30]]
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held), encoding="utf-8")
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"documents": str(docs)}), encoding="utf-8")
    (tmp_path / "rag.yaml").write_text(yaml.safe_dump({"top_k": 1, "prompt": "{chunks}"}), encoding="utf-8")
    cfg = {"base_model": str(copier), "adapter": None, "task_type": "qa", "heldout": str(tmp_path / "heldout.jsonl"),
           "metrics": {"exact_match": {"test": "mcnemar"}}, "primary_metric": "exact_match",
           "gates": [{"metric": "exact_match", "op": ">=", "threshold": 0.9}], "device": "cpu",
           "generation": {"max_new_tokens": 2, "batch_size": 16}, "output_dir": str(tmp_path / "reports"),
           "statistics": {"bootstrap_resamples": 500, "permutation_resamples": 500, "seed": 0},
           "data_config": str(tmp_path / "data.yaml"), "rag_config": str(tmp_path / "rag.yaml")}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    proc = subprocess.run([sys.executable, "scripts/evaluate.py", "--config", str(tmp_path / "eval.yaml"),
                           "--baseline-only"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "reports/baseline_report.json").read_text(encoding="utf-8"))
    retrieval, vs_zero = report["rag"]["retrieval"], report["rag"]["vs_zero_shot"]["exact_match"]
    assert retrieval["recall_at_1"] == 1.0 and retrieval["examples_with_sources"] == 30
    assert retrieval["files"] == 40 and retrieval["retriever"] in ("bm25s", "builtin BM25")
    zero, with_docs = report["baselines"]["zero_shot"]["exact_match"], report["baselines"]["rag"]["exact_match"]
    assert zero <= 0.2 and with_docs >= 0.6, (zero, with_docs)  # measured: 0.03 and 0.87
    assert vs_zero["test"] == "mcnemar" and vs_zero["p_value"] < 0.01 and vs_zero["ci"][0] > 0
    text = (tmp_path / "reports/baseline_report.md").read_text(encoding="utf-8")
    assert "## RAG baseline" in text and "recall@1 1.000" in text


def test_no_documents_means_no_rag_baseline(tmp_path: Path) -> None:
    assert rag.documents_folder(None) is None and rag.documents_folder(str(tmp_path / "none.yaml")) is None
    (tmp_path / "data.yaml").write_text("documents: null\n", encoding="utf-8")
    assert rag.documents_folder(str(tmp_path / "data.yaml")) is None
