"""Models of the knowledge base in `configs/` and their loader.

Every entry carries `source` and `as_of`: a number in a plan is a formula applied to one of these.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Linear modules of a decoder layer, as PEFT names them in Llama-style models.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
ALL_LINEAR = ATTENTION_MODULES + MLP_MODULES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(Strict):
    """The numbers the memory and compute math needs, as in a Hugging Face `config.json`."""

    hidden_size: int = Field(gt=0, description="d_model")
    num_layers: int = Field(gt=0, description="num_hidden_layers")
    num_attention_heads: int = Field(gt=0)
    num_kv_heads: int = Field(gt=0, description="num_key_value_heads (GQA); equals heads without GQA")
    head_dim: int | None = Field(default=None, description="defaults to hidden_size / num_attention_heads")
    intermediate_size: int = Field(gt=0, description="MLP width (per expert for MoE)")
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool = False
    gated_mlp: bool = Field(default=True, description="gate/up/down (SwiGLU/GeGLU) rather than up/down")
    num_experts: int = Field(default=1, ge=1, description="MoE experts per layer; 1 for dense")
    num_experts_per_tok: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> Architecture:
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        return self

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def linear_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Per decoder layer: module name -> (d_in, d_out, copies). MoE experts count as copies."""
        h, q, kv, ffn = (
            self.hidden_size,
            self.num_attention_heads * self.dim_head,
            self.num_kv_heads * self.dim_head,
            self.intermediate_size,
        )
        shapes = {
            "q_proj": (h, q, 1),
            "k_proj": (h, kv, 1),
            "v_proj": (h, kv, 1),
            "o_proj": (q, h, 1),
            "up_proj": (h, ffn, self.num_experts),
            "down_proj": (ffn, h, self.num_experts),
        }
        if self.gated_mlp:
            shapes["gate_proj"] = (h, ffn, self.num_experts)
        return shapes

    def linear_params_per_layer(self) -> int:
        return sum(i * o * n for i, o, n in self.linear_shapes().values())

    def embedding_params(self) -> int:
        """Input embeddings plus the LM head when it is not tied."""
        n = self.vocab_size * self.hidden_size
        return n if self.tie_word_embeddings else 2 * n

    def param_count(self) -> int:
        """Linear layers + embeddings + norms (2 per layer and a final one); biases ignored."""
        norms = (2 * self.num_layers + 1) * self.hidden_size
        return self.num_layers * self.linear_params_per_layer() + self.embedding_params() + norms

    def active_param_count(self) -> int:
        """Parameters used per token (MoE routes each token through num_experts_per_tok experts)."""
        if self.num_experts == 1:
            return self.param_count()
        per_expert = sum(i * o for name, (i, o, _) in self.linear_shapes().items() if name in MLP_MODULES)
        idle = (self.num_experts - self.num_experts_per_tok) * per_expert * self.num_layers
        return self.param_count() - idle

    @classmethod
    def from_hf_config(cls, config: dict) -> Architecture:
        """Read a Hugging Face `config.json` (Llama, Qwen, Mistral, Gemma, Phi-3, Mixtral, gpt-oss ...)."""
        cfg = dict(config.get("text_config") or config)
        heads = int(cfg["num_attention_heads"])
        act = str(cfg.get("hidden_act") or cfg.get("hidden_activation") or "silu")
        experts = int(cfg.get("num_local_experts") or cfg.get("num_experts") or 1)
        return cls(
            hidden_size=int(cfg["hidden_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_attention_heads=heads,
            num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
            head_dim=cfg.get("head_dim"),
            intermediate_size=int(cfg.get("moe_intermediate_size") or cfg["intermediate_size"])
            if experts > 1
            else int(cfg["intermediate_size"]),
            vocab_size=int(cfg["vocab_size"]),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            gated_mlp=act not in ("gelu_new", "gelu", "relu") or "gate" in str(cfg.get("mlp_type", "gate")),
            num_experts=experts,
            num_experts_per_tok=int(cfg.get("num_experts_per_tok") or cfg.get("experts_per_token") or 1),
        )
