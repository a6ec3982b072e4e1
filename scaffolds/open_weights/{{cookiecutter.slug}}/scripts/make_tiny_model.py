"""Build a tiny local model and a synthetic task, so the whole pipeline runs on a CPU with no download.

    python scripts/make_tiny_model.py --out smoke
    python scripts/make_tiny_model.py --out smoke --method qlora --seed 0

Writes:
    <out>/model/              tiny LlamaForCausalLM + word-level tokenizer with a chat template
    <out>/data/train.jsonl    the synthetic task, chat format (`load_dataset` reads the folder as 2 splits)
    <out>/data/validation.jsonl
    <out>/heldout.jsonl       frozen held-out set for scripts/evaluate.py
    <out>/probe.jsonl         a second synthetic task the base model knows: the forgetting probe

The task: a sentence of filler words hides exactly one keyword; the answer is the keyword's topic, one word.
A randomly initialised model answers none of it; LoRA learns it in well under a minute on two CPU cores,
which is what `make smoke` needs: a real improvement to measure, not a loss that merely moves.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

# Topic -> keywords. Each word is one token of the word-level tokenizer, so every label is one token.
TOPICS: dict[str, list[str]] = {
    "sports": ["goal", "match", "team", "coach", "stadium", "referee"],
    "music": ["song", "guitar", "concert", "album", "drummer", "melody"],
    "food": ["pizza", "bread", "salad", "soup", "recipe", "dessert"],
    "travel": ["flight", "hotel", "passport", "luggage", "airport", "beach"],
}
FILLER = (
    "the a an this that my your our their some every today yesterday really quite very just also still "
    "people friend someone everybody talked wrote thought heard said about around near after before with "
    "was is were big small new old long short good nice strange loud quiet early late again"
).split()
# Probe: the colour of common objects. The tiny model is taught these facts before saving (its "pretraining"),
# so the base model knows them and the forgetting probe measures whether fine-tuning on TOPICS erases them.
PROBE_FACTS: dict[str, list[str]] = {
    "red": ["tomato", "strawberry", "cherry", "ruby", "brick", "lobster"],
    "green": ["grass", "leaf", "lime", "emerald", "frog", "cucumber"],
    "blue": ["sky", "ocean", "sapphire", "blueberry", "denim", "lagoon"],
    "white": ["snow", "milk", "cloud", "chalk", "salt", "swan"],
}
SYSTEM_PROMPT = "Classify the topic of the message. Answer with one word: sports, music, food or travel."
PROBE_PROMPT = "Answer with one word: the usual colour of"
SPECIAL = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]
# Chat template: one line per turn; the assistant turn ends with EOS so generation stops after the label.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|> ' + message['content'] }}"
    "{% if message['role'] == 'assistant' %}{{ ' ' + eos_token }}{% endif %}"
    "{{ ' ' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|> ' }}{% endif %}"
)
# Sizes are multiples of 64, the bitsandbytes 4-bit block size, so QLoRA can quantize every Linear layer.
MODEL_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 128,
}
# Output-layer init std. At the Llama default (0.02) the frozen head after RMSNorm moves logits by ~1, so LoRA
# cannot make any answer likely; at 1/sqrt(hidden_size) logits span a few units, like a trained model's.
LM_HEAD_STD = MODEL_SIZES["hidden_size"] ** -0.5
SPLIT_SIZES = {"train": 512, "validation": 64, "heldout": 200}  # the probe is every fact, once
# Share of replayed general data in training: configs/planning.yaml's data.forgetting_mix_fraction (5%,
# Biderman et al. 2024), the same mix the plan recommends for the real data.
FORGETTING_MIX = 0.05
# Teaching the probe facts: full-model AdamW on the 24 facts. 50 steps at 1e-3 reach 100% for seeds 0-3 in
# ~0.4 s of CPU (measured with this script). Harder teaching (3e-3) moved the weights so far that LoRA then
# failed to learn the topic task (validation loss stuck at ~1.1 instead of ~0.1).
PRETRAIN_STEPS, PRETRAIN_LR = 50, 1e-3
SENTENCE_WORDS = (4, 9)  # filler words around the keyword: min, max


def topic_example(rng: random.Random) -> dict:
    """One chat row: filler words with one keyword at a random position; the label is its topic."""
    label = rng.choice(sorted(TOPICS))
    words = rng.choices(FILLER, k=rng.randint(*SENTENCE_WORDS))
    words.insert(rng.randint(0, len(words)), rng.choice(TOPICS[label]))
    slice_name = "short" if len(words) <= 6 else "long"
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": " ".join(words)},
            {"role": "assistant", "content": label},
        ],
        "label": label,
        "slice": slice_name,
    }


def probe_rows() -> list[dict]:
    """Every colour fact as a chat row: the probe, and what the tiny model is taught before saving."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"{PROBE_PROMPT} {thing}"},
                {"role": "assistant", "content": colour},
            ],
            "label": colour,
            "slice": "probe",
        }
        for colour, things in sorted(PROBE_FACTS.items())
        for thing in things
    ]


def corpus() -> list[str]:
    """Every text the task and the probe can produce, so the tokenizer never needs <unk>."""
    words = [
        *FILLER,
        *TOPICS,
        *PROBE_FACTS,
        *(w for kws in TOPICS.values() for w in kws),
        *(w for objs in PROBE_FACTS.values() for w in objs),
    ]
    return [SYSTEM_PROMPT, PROBE_PROMPT, " ".join(words)]


def build_tokenizer():
    """A word-level tokenizer trained in milliseconds: real models bring theirs, this one serves the API."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [SPECIAL["pad"], SPECIAL["unk"], SPECIAL["bos"], SPECIAL["eos"], *ROLE_TOKENS]
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL["unk"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # words and punctuation
    tok.decoder = decoders.WordPiece(prefix="##")  # joins word-level tokens with single spaces
    tok.train_from_iterator(corpus(), trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=SPECIAL["pad"],
        unk_token=SPECIAL["unk"],
        bos_token=SPECIAL["bos"],
        eos_token=SPECIAL["eos"],
        additional_special_tokens=ROLE_TOKENS,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, seed: int):
    """A randomly initialised LlamaForCausalLM small enough to train in seconds on a CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **MODEL_SIZES,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, LM_HEAD_STD)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def teach_probe_facts(model, tokenizer, rows: list[dict]) -> float:
    """Full-train the random model on the probe facts (loss on the answer only); return its probe accuracy."""
    import torch

    def ids(messages: list[dict], prompt: bool) -> list[int]:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=prompt, return_dict=True)[
            "input_ids"
        ]

    prompts = [ids(r["messages"][:-1], prompt=True) for r in rows]
    fulls = [ids(r["messages"], prompt=False) for r in rows]
    width = max(len(f) for f in fulls)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    for i, (prompt, full) in enumerate(zip(prompts, fulls, strict=True)):
        input_ids[i, : len(full)] = torch.tensor(full)
        labels[i, len(prompt) : len(full)] = torch.tensor(full[len(prompt) :])
    attention_mask = (input_ids != tokenizer.pad_token_id).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR)
    model.train()
    for _ in range(PRETRAIN_STEPS):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    answer_at = torch.tensor([len(p) for p in prompts])
    predicted = logits[torch.arange(len(rows)), answer_at - 1].argmax(-1)
    return (predicted == input_ids[torch.arange(len(rows)), answer_at]).float().mean().item()


def check_4bit(model_dir: Path) -> None:
    """QLoRA smoke runs need bitsandbytes 4-bit here: fail now, clearly, not halfway through training."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, quantization_config=quant, dtype=torch.bfloat16
        )
        model(torch.tensor([[1, 2, 3]]))
    except (ImportError, RuntimeError, ValueError) as exc:
        sys.exit(
            f"method=qlora: bitsandbytes could not load the tiny model in 4-bit ({exc}). "
            "Fix: `pip install bitsandbytes>=0.48` (it has CPU kernels), or use --method lora."
        )


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def main(out: Path, method: str, seed: int) -> None:
    rng = random.Random(seed)
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed)
    probe = probe_rows()
    probe_accuracy = teach_probe_facts(model, tokenizer, probe)
    model.save_pretrained(out / "model")
    tokenizer.save_pretrained(out / "model")
    if method == "qlora":
        check_4bit(out / "model")
    seen: set[str] = set()

    def fresh(n: int) -> list[dict]:
        """Rows whose user text is new, so no held-out sentence was trained on."""
        rows: list[dict] = []
        while len(rows) < n:
            row = topic_example(rng)
            text = row["messages"][1]["content"]
            if text not in seen:
                seen.add(text)
                rows.append(row)
        return rows

    train = fresh(SPLIT_SIZES["train"])
    # The plan's forgetting mix: replay a share of what the model already knew (its "general data") among
    # the task rows, so tuning on topics keeps the colour facts the probe asks about.
    # Past one replay of each fact the question is reworded, so the smoke data has no exact duplicate for the
    # validator to flag; replays carry no label, so the label balance is the task's own.
    reworded = PROBE_PROMPT.replace(" usual", "")
    replay = []
    for i in range(round(len(train) * FORGETTING_MIX)):
        question, answer = probe[i % len(probe)]["messages"]
        if i >= len(probe):
            question = {**question, "content": question["content"].replace(PROBE_PROMPT, reworded, 1)}
        replay.append({"messages": [question, answer], "slice": "replay"})
    train = train + replay
    rng.shuffle(train)
    write_jsonl(out / "data" / "train.jsonl", train)
    write_jsonl(out / "data" / "validation.jsonl", fresh(SPLIT_SIZES["validation"]))
    write_jsonl(out / "heldout.jsonl", fresh(SPLIT_SIZES["heldout"]))
    write_jsonl(out / "probe.jsonl", probe)
    print(
        f"tiny model ({model.num_parameters():,} parameters, vocab {len(tokenizer)}, probe accuracy "
        f"{probe_accuracy:.2f}) and data written to {out}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("smoke"), help="output folder (default: smoke)")
    parser.add_argument(
        "--method",
        choices=["lora", "qlora", "full"],
        default="lora",
        help="qlora also checks that bitsandbytes loads the model in 4-bit here",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the weights and the data")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from common import run

    def _entry() -> None:
        args = parse_args()
        main(args.out, args.method, args.seed)

    run(_entry)
