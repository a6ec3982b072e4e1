"""Peak GPU memory of one fine-tuning run, per GPU, from the model's architecture.

Why a physical model and not a rule of thumb: the rules (LoRA 2 GB per billion parameters ...) ignore
sequence length, batch size, vocabulary and checkpointing, which move the peak by tens of GB. Each term
below is one kind of tensor that lives on the GPU at the peak, with its byte count and where that count
comes from. The model describes a Hugging Face Transformers / PEFT / TRL run (the generated repository's
stack): bf16 autocast, PEFT adapters in fp32, the loss computed on full fp32 logits.

Other stacks (torchtune, litgpt, older bitsandbytes) differ in a few places, exposed as keyword arguments
so the same physics can be checked against their published peaks: bench/estimator_accuracy.py and
tests/fixtures/published_peaks.yaml (mean absolute error ~4% on the holdout rows).

Units: "GB" here means GiB (2**30 bytes), the unit `torch.cuda.max_memory_*` and nvidia-smi report.
Pure functions, no I/O, no torch.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal, get_args

from generator.catalog import ALL_LINEAR, MLP_MODULES, Architecture
from generator.errors import Problem, UserError
from generator.record import Record

Method = Literal["full", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "sgd", "adafactor"]
Sharding = Literal["ddp", "fsdp", "zero3"]
Attention = Literal["sdpa", "eager"]
Precision = Literal["amp", "bf16"]
Loss = Literal["fp32", "bf16", "chunked"]
Metric = Literal["allocated", "reserved", "nvidia-smi"]

METHODS: tuple[str, ...] = ("full", "lora", "qlora")
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw_8bit", "paged_adamw_8bit", "sgd", "adafactor")
SHARDINGS: tuple[str, ...] = ("ddp", "fsdp", "zero3")
ATTENTIONS: tuple[str, ...] = ("sdpa", "eager")
PRECISIONS: tuple[str, ...] = ("amp", "bf16")
LOSSES: tuple[str, ...] = ("fp32", "bf16", "chunked")

GIB = 2**30

# --- Bytes per parameter -------------------------------------------------------------------------------
# Transformers docs, "Model memory anatomy" (mixed-precision AdamW, 18 B/param): fp32 weights 4 + a 16-bit
# copy 2 (autocast caches the bf16 casts of the weights during forward), fp32 gradients 4, Adam moments 8.
FP32_BYTES = 4
HALF_BYTES = 2  # bf16 / fp16
AMP_WEIGHT_BYTES = FP32_BYTES + HALF_BYTES
# AdamW keeps two moments (exp_avg, exp_avg_sq) in the parameter's dtype (torch.optim.AdamW).
ADAM_STATES = 2
# bitsandbytes 8-bit Adam: two 1-byte states per parameter = 2 B/param (Dettmers et al. 2022, "8-bit
# Optimizers via Block-wise Quantization"; transformers docs "Model memory anatomy").
ADAM_8BIT_BYTES = 2
# Adafactor (Shazeer & Stern 2018) with transformers' defaults (beta1=None): no first moment; the second
# moment of a (d_in x d_out) matrix is factored into a row and a column vector, fp32.
# SGD as the Trainer builds it ("sgd": torch.optim.SGD, momentum 0) keeps no state.
# QLoRA paper (Dettmers et al. 2023, arXiv 2305.14314, section 2): NF4 with double quantization costs
# 4 + 0.127 bits per quantized parameter (block 64, fp8 second-level constants).
NF4_DQ_BITS = 4.127
# PEFT casts adapter weights to fp32 by default (`autocast_adapter_dtype=True` in get_peft_model; see
# peft/tuners/tuners_utils.py), so adapters, their gradients and Adam moments are fp32.
ADAPTER_BYTES = FP32_BYTES

# --- Activations (bytes per token, per decoder layer) ---------------------------------------------------
# Derived by listing the tensors autograd saves in a Transformers Llama-style decoder layer with SDPA
# (modeling_llama.py), in the spirit of Korthikanti et al. 2022 (arXiv 2205.05198), who count 34*s*b*h for
# GPT-3 layers with a 4h MLP and dropout. Always saved, whatever is trained:
# - each of the 2 norms (LlamaRMSNorm upcasts to fp32): fp32 input 4h + normalized bf16 2h = 6h bytes;
# - attention: rotated q 2q, k and v 2*kv each, SDPA output 2q (also o_proj's input) -> 4q + 4kv bytes
#   (q = heads*head_dim, kv = kv_heads*head_dim; SDPA's log-sum-exp is negligible);
# - gated MLP: gate output 2f (SiLU's input), SiLU output and up output 2f each (the product's inputs)
#   -> 6f bytes; an ungated MLP keeps the activation's input 2f.
NORM_BYTES_PER_H = 6
NORMS_PER_LAYER = 2
ATTN_BYTES_PER_Q = 4
ATTN_BYTES_PER_KV = 4
GATED_MLP_BYTES_PER_F = 6
PLAIN_MLP_BYTES_PER_F = 2
# A Linear keeps its bf16 input (2 bytes per input feature) only when it needs it for a weight gradient:
# every Linear in full fine-tuning; in LoRA only adapted ones (lora_A's input). q/k/v share one input,
# gate/up share one, o_proj's input is the SDPA output already counted, down_proj's is the MLP product.
LINEAR_INPUT_BYTES = HALF_BYTES
# PEFT applies a separate nn.Dropout per adapted module when lora_dropout > 0 (peft/tuners/lora/layer.py
# update_layer): each keeps its own dropped copy of the input (2 bytes) and a bool mask (1 byte).
DROPOUT_COPY_BYTES = HALF_BYTES + 1
# Eager attention also keeps the (heads x s x s) probabilities: Transformers' eager_attention_forward runs
# softmax in fp32 (4 bytes, saved by softmax's backward) and casts back to bf16 (2 bytes, saved by the
# matmul with V): 6 bytes per score. Korthikanti counts 5 (2 scores + 2 softmax + 1 dropout mask).
EAGER_SCORE_BYTES = 6
# Transformers' gradient checkpointing checkpoints each decoder layer: the layer's bf16 input (2h bytes per
# token) is kept for every layer, and one layer's full activations are rebuilt during its backward.
CKPT_BYTES_PER_H = 2
# Outside the layers at the peak (the start of backward): the final norm (6h + its output 2h) and the
# embedding output (2h). Small, listed so the sum is complete.
OUTSIDE_LAYERS_BYTES_PER_H = NORM_BYTES_PER_H + 2 * HALF_BYTES

# --- Logits and loss (bytes per token per vocabulary entry, at the start of backward) -------------------
# "fp32" (Transformers + TRL): ForCausalLMLoss upcasts the bf16 logits (`logits.float()`,
# transformers/loss/loss_utils.py); cross_entropy's log_softmax saves its fp32 output (4). The bf16 logits
# are freed once the loss is computed (the upcast saves nothing for backward). In backward nll_loss writes
# a dense fp32 gradient (4) and log_softmax's backward a second one (4) while the saved output is alive:
# 3 x 4 = 12. (REFERENCES.md: "b*s*V*4 bytes, and again for the loss, unless chunked".)
# "bf16": loss on bf16 logits (litgpt's chunked_cross_entropy in 2023): logits 2 + log_softmax output 2.
# "chunked": fused / chunked cross-entropy (torchtune CEWithChunkedOutputLoss, Liger) keeps only the bf16
# logits (2); its per-chunk fp32 temporaries are negligible.
LOGITS_BYTES = {"fp32": 3 * FP32_BYTES, "bf16": 2 * HALF_BYTES, "chunked": HALF_BYTES}
# Backward through one decoder layer holds gradients of its MLP intermediates at once: for a gated MLP the
# gradients w.r.t. the product (down_proj's input), the SiLU output and the up output, 3 x 2f bytes per
# token; ungated: the activation's output and input, 2 x 2f. (Same tensor list as above, in reverse.)
BACKWARD_GRAD_TENSORS_GATED = 3
BACKWARD_GRAD_TENSORS_PLAIN = 2

# --- Overheads ----------------------------------------------------------------------------------------
# CUDA context, cuBLAS/cuDNN workspaces and kernels: 0.5-1.5 GB (REFERENCES.md "Framework overhead"). Not
# in torch.cuda.max_memory_* figures but in nvidia-smi and in what the card must hold.
CUDA_CONTEXT_GB = 0.75
# The caching allocator reserves more than it hands out (block rounding, fragmentation between the many
# differently-sized activation tensors; PyTorch docs "CUDA semantics -> Memory management"). The size is an
# assumption, not a measurement: 8% of allocated memory. None of the published rows in
# tests/fixtures/published_peaks.yaml that are scored measures reserved memory, so it is not validated.
ALLOCATOR_FRAGMENTATION = 0.08
# FSDP / ZeRO-3 gather a layer's full weights before using it and prefetch the next one: two layers of
# unsharded 16-bit weights live at once (PyTorch FSDP docs, `forward_prefetch` / `backward_prefetch`;
# DeepSpeed's stage3_prefetch_bucket_size plays the same role).
FSDP_GATHERED_LAYERS = 2


class MemoryEstimate(Record):
    """Peak memory per GPU and the terms it is made of, so a plan can say why it needs the GPU it picks."""

    peak_memory_gb: float
    breakdown: dict[str, float]
    trainable_params: int
    total_params: int
    assumptions: list[str] = []


    def as_measured(self, metric: Metric) -> float:
        """What a given measurement would show, GB: torch.cuda.max_memory_allocated excludes the allocator's
        slack and the CUDA context, max_memory_reserved excludes the context, nvidia-smi shows all."""
        context = self.breakdown["overhead"] if metric == "allocated" else CUDA_CONTEXT_GB
        return self.peak_memory_gb - (0.0 if metric == "nvidia-smi" else context)


def _check(condition: bool, field_name: str, message: str, fix: str, problems: list[Problem]) -> None:
    if not condition:
        problems.append(Problem(field_name, message, fix))


def parse_choices(method: str, optimizer: str, sharding: str) -> tuple[Method, Optimizer, Sharding]:
    """Command-line words as the estimator's choices; every unknown one is reported at once, as in estimate_memory."""
    methods: dict[str, Method] = {v: v for v in get_args(Method)}
    optimizers: dict[str, Optimizer] = {v: v for v in get_args(Optimizer)}
    shardings: dict[str, Sharding] = {v: v for v in get_args(Sharding)}
    problems: list[Problem] = []
    for name, value, allowed in (("method", method, methods), ("optimizer", optimizer, optimizers),
                                 ("sharding", sharding, shardings)):
        _check(value in allowed, name, f"unknown {name} {value!r}", f"use one of {', '.join(allowed)}", problems)
    if problems:
        raise UserError(problems)
    return methods[method], optimizers[optimizer], shardings[sharding]


def _resolve_targets(arch: Architecture, targets: Sequence[str]) -> tuple[str, ...]:
    """Expand "all-linear" (PEFT's name for every Linear in the decoder layers, LM head excluded)."""
    return _resolved(arch, tuple(targets))


@functools.lru_cache(maxsize=256)  # one entry per model and target list: the planner's search repeats them
def _resolved(arch: Architecture, targets: tuple[str, ...]) -> tuple[str, ...]:
    known = set(arch.linear_shapes())
    names: list[str] = []
    for target in targets:
        expanded = [m for m in ALL_LINEAR if m in known] if target == "all-linear" else [target]
        names.extend(m for m in expanded if m not in names)
    unknown = [n for n in names if n not in known and n != "lm_head"]
    if unknown:
        raise UserError(
            Problem(
                "lora_targets",
                f"unknown module(s) {', '.join(unknown)} for this architecture",
                f"use 'all-linear', 'lm_head' or some of: {', '.join(sorted(known))}",
            )
        )
    if not names:
        raise UserError(Problem("lora_targets", "no module to adapt", "pass e.g. ['all-linear']"))
    return tuple(names)


def lora_trainable_params(arch: Architecture, r: int, targets: Sequence[str]) -> int:
    """LoRA adds A (r x d_in) and B (d_out x r) to each adapted Linear: r * (d_in + d_out) per copy."""
    if r <= 0:
        raise UserError(Problem("lora_r", f"must be a positive integer, got {r}", "use e.g. 16"))
    shapes = arch.linear_shapes()
    total = 0
    for name in _resolve_targets(arch, targets):
        if name == "lm_head":
            total += r * (arch.hidden_size + arch.vocab_size)
            continue
        d_in, d_out, copies = shapes[name]
        total += arch.num_layers * copies * r * (d_in + d_out)
    return total


def _adafactor_state_bytes(arch: Architecture, method: Method, r: int, targets: Sequence[str]) -> float:
    """Factored second moment: (rows + cols) fp32 values per matrix."""
    shapes = arch.linear_shapes()
    if method == "full":
        per_layer = sum((i + o) * n for i, o, n in shapes.values())
        embed_mats = 1 if arch.tie_word_embeddings else 2
        return FP32_BYTES * (arch.num_layers * per_layer + embed_mats * (arch.vocab_size + arch.hidden_size))
    total = 0
    for name in _resolve_targets(arch, targets):
        d_in, d_out, copies = (
            (arch.hidden_size, arch.vocab_size, 1) if name == "lm_head" else shapes[name]
        )
        layers = 1 if name == "lm_head" else arch.num_layers
        total += layers * copies * ((d_in + r) + (r + d_out))
    return FP32_BYTES * total


def _saved_inputs(method: Method, adapted: Sequence[str], lora_dropout: float, quant_saves_inputs: bool
                  ) -> set[str]:
    """Linear modules whose own bf16 input stays alive until backward."""
    if method == "full" or (method == "qlora" and quant_saves_inputs):
        return set(ALL_LINEAR)
    # LoRA: lora_A of an adapted module saves its input; with dropout it saves the dropped copy instead.
    return set() if lora_dropout > 0 else set(adapted)


def layer_activation_bytes_per_token(
    arch: Architecture,
    seq_len: int,
    attention: Attention = "sdpa",
    *,
    method: Method = "full",
    adapted: Sequence[str] = (),
    lora_dropout: float = 0.0,
    quant_saves_inputs: bool = False,
) -> float:
    """Bytes one decoder layer saves for backward, per token (see the constants above)."""
    h = arch.hidden_size
    q = arch.num_attention_heads * arch.dim_head
    kv = arch.num_kv_heads * arch.dim_head
    # Tokens visit num_experts_per_tok experts in an MoE layer; a dense MLP is the one-expert case.
    per_tok_experts = arch.num_experts_per_tok if arch.num_experts > 1 else 1
    ffn = arch.intermediate_size * per_tok_experts
    mlp = (GATED_MLP_BYTES_PER_F if arch.gated_mlp else PLAIN_MLP_BYTES_PER_F) * ffn
    per_token = NORMS_PER_LAYER * NORM_BYTES_PER_H * h + ATTN_BYTES_PER_Q * q + ATTN_BYTES_PER_KV * kv + mlp
    saved = _saved_inputs(method, adapted, lora_dropout, quant_saves_inputs)
    if saved & {"q_proj", "k_proj", "v_proj"}:
        per_token += LINEAR_INPUT_BYTES * h
    if saved & {"gate_proj", "up_proj"}:
        per_token += LINEAR_INPUT_BYTES * h
    if "down_proj" in saved:
        per_token += LINEAR_INPUT_BYTES * ffn
    if method != "full" and lora_dropout > 0:
        shapes = arch.linear_shapes()
        for name in adapted:
            if name in shapes:
                d_in, _, copies = shapes[name]
                per_token += DROPOUT_COPY_BYTES * d_in * (per_tok_experts if copies > 1 else 1)
    if attention == "eager":
        per_token += EAGER_SCORE_BYTES * arch.num_attention_heads * seq_len
    return float(per_token)


def _raise_input_problems(method: str, seq_len: int, batch_size: int, optimizer: str, gpus: int, sharding: str,
                          attention: str, precision: str, loss: str, lora_dropout: float) -> None:
    """Every problem with estimate_memory's arguments at once, as one UserError."""
    problems: list[Problem] = []
    for name, value, allowed in (
        ("method", method, METHODS),
        ("optimizer", optimizer, OPTIMIZERS),
        ("sharding", sharding, SHARDINGS),
        ("attention", attention, ATTENTIONS),
        ("precision", precision, PRECISIONS),
        ("loss", loss, LOSSES),
    ):
        fix = f"use one of {', '.join(allowed)}"
        _check(value in allowed, name, f"unknown {name} {value!r}", fix, problems)
    _check(seq_len > 0, "seq_len", f"must be positive, got {seq_len}", "use e.g. 2048", problems)
    _check(batch_size > 0, "batch_size", f"must be positive, got {batch_size}", "use e.g. 4", problems)
    _check(0 <= lora_dropout < 1, "lora_dropout", f"must be in [0, 1), got {lora_dropout}", "use e.g. 0.05",
           problems)
    _check(gpus > 0, "gpus", f"must be positive, got {gpus}", "use 1 for a single GPU", problems)
    if problems:
        raise UserError(problems)


def estimate_memory(
    arch: Architecture,
    *,
    method: Method,
    seq_len: int,
    batch_size: int,
    grad_ckpt: bool = True,
    lora_r: int = 16,
    lora_targets: Sequence[str] = ("all-linear",),
    optimizer: Optimizer = "adamw",
    gpus: int = 1,
    sharding: Sharding = "ddp",
    attention: Attention = "sdpa",
    precision: Precision = "amp",
    loss: Loss = "fp32",
    lora_dropout: float = 0.05,
    quant_saves_inputs: bool = False,
) -> MemoryEstimate:
    """Peak training memory per GPU.

    The keyword arguments after `attention` describe the training stack; their defaults are the generated
    repository's (Transformers + PEFT + TRL, bitsandbytes 0.50). `precision="amp"`: bf16 autocast over fp32
    master weights (full fine-tuning); "bf16": pure bf16 training (weights, gradients, optimizer states and
    adapters in bf16), as torchtune and litgpt do. `loss`: see LOGITS_BYTES. `lora_dropout`: PEFT's; > 0
    costs a dropped copy of each adapted module's input. `quant_saves_inputs`: bitsandbytes <= 0.4x's
    MatMul4Bit saved each 4-bit matmul's input for backward (`ctx.tensors = (A, B)`); 0.50 saves
    `(None, B)` (bitsandbytes/autograd/_functions.py).
    """
    valid = (method in METHODS and optimizer in OPTIMIZERS and sharding in SHARDINGS and attention in ATTENTIONS
             and precision in PRECISIONS and loss in LOSSES and seq_len > 0 and batch_size > 0
             and 0 <= lora_dropout < 1 and gpus > 0)
    if not valid:  # the planner's search calls this hundreds of times: word the problems only when there are some
        _raise_input_problems(method, seq_len, batch_size, optimizer, gpus, sharding, attention, precision, loss,
                              lora_dropout)

    total_params = arch.param_count()
    linear_params = arch.num_layers * arch.linear_params_per_layer()
    other_params = total_params - linear_params  # embeddings, LM head, norms
    shard = gpus if sharding in ("fsdp", "zero3") and gpus > 1 else 1
    adapters = 0 if method == "full" else lora_trainable_params(arch, lora_r, lora_targets)
    trainable = total_params if method == "full" else adapters
    pure_bf16 = precision == "bf16"
    assumptions: list[str] = []

    # Weights. Full: fp32 master + autocast's bf16 cache (amp) or bf16 only. LoRA: frozen base in bf16.
    # QLoRA: Linear layers in NF4 + double quantization, embeddings / LM head / norms in bf16.
    weight_bytes: float
    if method == "full":
        weight_bytes = total_params * (HALF_BYTES if pure_bf16 else AMP_WEIGHT_BYTES)
        assumptions.append("weights: bf16 only" if pure_bf16 else "weights: fp32 master + bf16 autocast copy")
    elif method == "lora":
        weight_bytes = total_params * HALF_BYTES
        assumptions.append("base weights frozen in bf16")
    elif arch.num_experts > 1:
        # Transformers 5 keeps an MoE layer's experts as fused parameters (e.g. Qwen3MoeExperts.gate_up_proj),
        # not nn.Linear modules, and bitsandbytes quantizes only nn.Linear: the experts stay bf16.
        experts = arch.num_layers * sum(i * o * n for name, (i, o, n) in arch.linear_shapes().items()
                                        if name in MLP_MODULES)
        weight_bytes = (linear_params - experts) * NF4_DQ_BITS / 8 + (other_params + experts) * HALF_BYTES
        assumptions.append(f"attention Linear layers NF4 + double quant ({NF4_DQ_BITS} bits/param); the MoE "
                           "experts (fused parameters, not Linear layers), embeddings, LM head and norms bf16")
    else:
        weight_bytes = linear_params * NF4_DQ_BITS / 8 + other_params * HALF_BYTES
        assumptions.append(
            f"Linear layers NF4 + double quant ({NF4_DQ_BITS} bits/param); embeddings, LM head and norms bf16"
        )
    weight_bytes /= shard
    if shard > 1:
        # Two layers gathered at a time, in their storage format (bf16, or NF4 for QLoRA).
        stored_bytes = NF4_DQ_BITS / 8 if method == "qlora" else HALF_BYTES
        weight_bytes += FSDP_GATHERED_LAYERS * arch.linear_params_per_layer() * stored_bytes
        assumptions.append(f"{sharding}: weights, gradients and optimizer states sharded over {gpus} GPUs, "
                           f"{FSDP_GATHERED_LAYERS} layers gathered at a time")
    elif gpus > 1:
        assumptions.append(f"ddp: every one of the {gpus} GPUs holds a full replica")
    if sharding == "fsdp" and shard > 1:
        # FSDP does not reshard the root module's parameters after forward (torch/distributed/fsdp/
        # _runtime_utils.py: "Do not free the root's parameters in the post-forward for FULL_SHARD"); with
        # the usual transformer-layer auto-wrap the root holds the embeddings, LM head and final norm.
        root = arch.embedding_params() + arch.hidden_size
        weight_bytes += root * HALF_BYTES * (1 - 1 / shard)
    if method == "qlora":
        # One Linear is dequantized to bf16 for its matmul (bitsandbytes dequantize_4bit), plus the fp32
        # copy the backward of that Linear re-creates: budget the largest Linear once in bf16.
        weight_bytes += max(i * o for i, o, _ in arch.linear_shapes().values()) * HALF_BYTES

    # Trainable state: adapter weights (LoRA), gradients and optimizer moments of what is trained.
    adapter_dtype_bytes = HALF_BYTES if pure_bf16 else ADAPTER_BYTES
    adapter_bytes = adapters * adapter_dtype_bytes / shard
    state_dtype_bytes = (HALF_BYTES if pure_bf16 else FP32_BYTES) if method == "full" else adapter_dtype_bytes
    grad_bytes = trainable * state_dtype_bytes / shard
    optim_bytes: float
    if optimizer == "adamw":
        optim_bytes = trainable * ADAM_STATES * state_dtype_bytes
    elif optimizer in ("adamw_8bit", "paged_adamw_8bit"):
        optim_bytes = trainable * ADAM_8BIT_BYTES
    elif optimizer == "adafactor":
        optim_bytes = _adafactor_state_bytes(arch, method, lora_r, lora_targets)
    else:
        optim_bytes = 0.0
    optim_bytes /= shard
    assumptions.append(f"optimizer {optimizer}; trainable parameters in {'bf16' if pure_bf16 else 'fp32'}")
    if optimizer == "paged_adamw_8bit":
        assumptions.append("paged optimizer states counted on the GPU (they move to CPU only under pressure)")

    # Activations: per-layer saved tensors; checkpointing keeps layer inputs plus one rebuilt layer.
    tokens = seq_len * batch_size
    adapted = [] if method == "full" else [t for t in _resolve_targets(arch, lora_targets) if t != "lm_head"]
    layer = layer_activation_bytes_per_token(
        arch, seq_len, attention, method=method, adapted=adapted, lora_dropout=lora_dropout,
        quant_saves_inputs=quant_saves_inputs,
    )
    h = arch.hidden_size
    if grad_ckpt:
        act_per_token = arch.num_layers * CKPT_BYTES_PER_H * h + layer
        assumptions.append("gradient checkpointing per decoder layer")
    else:
        act_per_token = arch.num_layers * layer
        assumptions.append("no gradient checkpointing")
    per_tok_experts = arch.num_experts_per_tok if arch.num_experts > 1 else 1
    grad_tensors = BACKWARD_GRAD_TENSORS_GATED if arch.gated_mlp else BACKWARD_GRAD_TENSORS_PLAIN
    backward_workspace = grad_tensors * HALF_BYTES * arch.intermediate_size * per_tok_experts
    act_bytes = tokens * (act_per_token + backward_workspace + OUTSIDE_LAYERS_BYTES_PER_H * h)
    assumptions.append(f"{attention} attention; batch {batch_size} x {seq_len} tokens per GPU")

    logits_bytes = tokens * arch.vocab_size * LOGITS_BYTES[loss]
    assumptions.append({
        "fp32": "loss on full logits upcast to fp32 (Transformers ForCausalLMLoss)",
        "bf16": "loss on bf16 logits",
        "chunked": "chunked / fused cross-entropy: no full fp32 logits",
    }[loss])

    allocated = weight_bytes + adapter_bytes + grad_bytes + optim_bytes + act_bytes + logits_bytes
    overhead_bytes = allocated * ALLOCATOR_FRAGMENTATION + CUDA_CONTEXT_GB * GIB
    assumptions.append(f"overhead: CUDA context {CUDA_CONTEXT_GB} GB + allocator fragmentation "
                       f"{ALLOCATOR_FRAGMENTATION:.0%}; GB = GiB (2**30 bytes)")

    breakdown = {
        "weights": weight_bytes / GIB,
        "lora_adapters": adapter_bytes / GIB,
        "gradients": grad_bytes / GIB,
        "optimizer": optim_bytes / GIB,
        "activations": act_bytes / GIB,
        "logits": logits_bytes / GIB,
        "overhead": overhead_bytes / GIB,
    }
    breakdown = {k: round(v, 3) for k, v in breakdown.items()}
    return MemoryEstimate(
        peak_memory_gb=round((allocated + overhead_bytes) / GIB, 2),
        breakdown=breakdown,
        trainable_params=int(trainable),
        total_params=int(total_params),
        assumptions=assumptions,
    )


def weights_only_gb(arch: Architecture, method: Method) -> float:
    """The naive estimate a bench compares against: the weights at load precision, nothing else."""
    n = arch.param_count()
    if method == "qlora":
        linear = arch.num_layers * arch.linear_params_per_layer()
        return (linear * NF4_DQ_BITS / 8 + (n - linear) * HALF_BYTES) / GIB
    return n * HALF_BYTES / GIB


__all__ = [
    "MemoryEstimate",
    "Method",
    "Optimizer",
    "Sharding",
    "estimate_memory",
    "layer_activation_bytes_per_token",
    "lora_trainable_params",
    "weights_only_gb",
]
