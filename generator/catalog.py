"""Models of the knowledge base in `configs/` and their loader.

Every entry carries `source` and `as_of`: a number in a plan is a formula applied to one of these.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import json
import os
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from generator import __version__
from generator.errors import CatalogError, Problem, UserError
from generator.paths import configs_dir

if typing.TYPE_CHECKING:
    from typing_extensions import Self

# Linear modules of a decoder layer, as PEFT names them in Llama-style models.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
ALL_LINEAR = ATTENTION_MODULES + MLP_MODULES

# `model_type`s whose MLP is a plain up/down pair (no gate), read from their transformers modeling code.
# Activation names alone cannot tell: Gemma's GeGLU uses gelu_pytorch_tanh, StarCoder2's plain MLP too.
UNGATED_MODEL_TYPES = frozenset(
    {"gpt2", "gpt_neox", "gptj", "gpt_bigcode", "phi", "falcon", "starcoder2", "opt", "bloom", "mpt"}
)


class Strict(BaseModel):
    # defer_build: the validation schema is built on first validation, not at import, so a run that reads
    # the already-validated bundled catalog (see _bundled) never pays for it. NaN and infinity are never a
    # price, a size or a rate: reject them where they are written rather than let them reach the arithmetic.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)


# Upper bounds that no real model, GPU or price reaches: a value beyond them is a typo (an extra digit run,
# a number pasted into the wrong field) and would otherwise overflow or dwarf every figure of the plan.
MAX_DIM = 1 << 20  # hidden / MLP widths, head sizes
MAX_COUNT = 1 << 24  # layers, heads, experts, vocabulary entries
MAX_TOKENS = 1 << 30  # context windows and example lengths


class Architecture(Strict):
    """The numbers the memory and compute math needs, as in a Hugging Face `config.json`."""

    hidden_size: int = Field(gt=0, le=MAX_DIM, description="d_model")
    num_layers: int = Field(gt=0, le=MAX_COUNT, description="num_hidden_layers")
    num_attention_heads: int = Field(gt=0, le=MAX_COUNT)
    num_kv_heads: int = Field(gt=0, le=MAX_COUNT, description="num_key_value_heads (GQA); equals heads without GQA")
    head_dim: int | None = Field(
        default=None, gt=0, le=MAX_DIM, description="defaults to hidden_size / num_attention_heads"
    )
    intermediate_size: int = Field(gt=0, le=MAX_DIM, description="MLP width (per expert for MoE)")
    vocab_size: int = Field(gt=0, le=MAX_COUNT)
    tie_word_embeddings: bool = False
    gated_mlp: bool = Field(default=True, description="gate/up/down (SwiGLU/GeGLU) rather than up/down")
    num_experts: int = Field(default=1, ge=1, le=MAX_COUNT, description="MoE experts per layer; 1 for dense")
    num_experts_per_tok: int = Field(default=1, ge=1, le=MAX_COUNT)

    @model_validator(mode="after")
    def _heads_divide(self) -> Architecture:
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_kv_heads")
        return self

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    # The counts below are read thousands of times by one plan's search (every model x GPU x shape), so each is
    # computed once per instance; `model_copy` drops them, so a copy with other numbers recomputes its own.
    _DERIVED = ("_shapes", "_per_layer", "_params", "_active_params")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copy = super().model_copy(update=update, deep=deep)
        for name in self._DERIVED:
            copy.__dict__.pop(name, None)
        return copy

    def linear_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Per decoder layer: module name -> (d_in, d_out, copies). MoE experts count as copies. Do not mutate."""
        return self._shapes

    @functools.cached_property
    def _shapes(self) -> dict[str, tuple[int, int, int]]:
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
        return self._per_layer

    @functools.cached_property
    def _per_layer(self) -> int:
        return sum(i * o * n for i, o, n in self.linear_shapes().values())

    def embedding_params(self) -> int:
        """Input embeddings plus the LM head when it is not tied."""
        n = self.vocab_size * self.hidden_size
        return n if self.tie_word_embeddings else 2 * n

    def param_count(self) -> int:
        """Linear layers + embeddings + norms (2 per layer and a final one); biases ignored."""
        return self._params

    @functools.cached_property
    def _params(self) -> int:
        norms = (2 * self.num_layers + 1) * self.hidden_size
        return self.num_layers * self.linear_params_per_layer() + self.embedding_params() + norms

    def active_param_count(self) -> int:
        """Parameters used per token (MoE routes each token through num_experts_per_tok experts)."""
        return self._active_params

    @functools.cached_property
    def _active_params(self) -> int:
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
            gated_mlp=_gated_mlp(cfg, act),
            num_experts=experts,
            num_experts_per_tok=int(cfg.get("num_experts_per_tok") or cfg.get("experts_per_token") or 1),
        )


def _gated_mlp(cfg: dict, act: str) -> bool:
    """Gated (gate/up/down) unless the model type is known to use a plain MLP."""
    model_type = str(cfg.get("model_type", ""))
    if model_type in UNGATED_MODEL_TYPES:
        return False
    if model_type:
        return True
    # Unknown config without model_type: the classic plain-MLP activations suggest no gate.
    return act not in ("gelu_new", "gelu", "relu")


# Relative difference allowed between a model's stated size and the size its architecture implies:
# the architecture ignores biases, routers and vision towers, so it lands within a few percent.
PARAM_TOLERANCE = 0.10

ProviderId = Literal["openai", "anthropic", "google", "cohere"]
Audience = Literal["all", "new_orgs", "inactive_orgs", "active_orgs"]
_ISO_LANGUAGE = r"[a-z]{2,3}"


class Sourced(Strict):
    """Where a number comes from and when it was true; every catalog entry carries both."""

    source: str = Field(min_length=8, description="URL and title of the page the numbers come from")
    as_of: dt.date = Field(description="the date the source was read")


def _within(actual: float, stated: float, tolerance: float = PARAM_TOLERANCE) -> bool:
    return abs(actual - stated) <= tolerance * stated


class BaseModelEntry(Sourced):
    """An open-weight base model the planner can pick, with its license and its architecture."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$", description="catalog id, e.g. llama-3.1-8b-instruct")
    hf_id: str = Field(pattern=r"^[\w.\-]+/[\w.\-]+$", description="Hugging Face repo id")
    family: str = Field(min_length=1, description="e.g. llama-3, qwen3, gemma-3")
    params_b: float = Field(gt=0, le=1e5, description="total parameters of the text model, billions")
    active_params_b: float | None = Field(default=None, gt=0, le=1e5, description="MoE: parameters used per token")
    context_length: int = Field(gt=0, le=MAX_TOKENS, description="max_position_embeddings / the card's context window")
    license: str = Field(min_length=1, description="Hugging Face license tag (SPDX id where one exists)")
    commercial_use: bool
    license_notes: str = ""
    license_mau_limit: int | None = Field(
        default=None, ge=1, le=10**12,
        description="monthly active users above which the licence needs a separate grant (license_notes say so)",
    )
    languages: list[str] = Field(
        min_length=1,
        description="ISO 639-1 codes the card names; 'multilingual:<n>' when it claims n languages unnamed",
    )
    strengths: list[str] = Field(min_length=1, description="task types of configs/tasks.yaml it is good at")
    released: dt.date
    instruct: bool = Field(description="instruction/chat tuned (has a chat template)")
    architecture: Architecture

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(rf"{_ISO_LANGUAGE}|multilingual:[1-9]\d*", v)]
        if bad:
            raise ValueError(f"{bad} are not ISO 639-1 codes (e.g. 'en') or 'multilingual:<n>'")
        return value

    @field_validator("strengths")
    @classmethod
    def _task_types(cls, value: list[str]) -> list[str]:
        from generator.tasks import load_tasks  # tasks.py builds on this module's machinery

        known = load_tasks().task_types
        bad = [v for v in value if v not in known]
        if bad:
            raise ValueError(f"{bad} are not task types of tasks.yaml ({', '.join(known)})")
        return value

    @model_validator(mode="after")
    def _sizes_match_architecture(self) -> BaseModelEntry:
        implied = self.architecture.param_count() / 1e9
        if not _within(implied, self.params_b):
            raise ValueError(
                f"params_b {self.params_b} but the architecture implies {implied:.2f}B parameters: "
                "check hidden_size, num_layers, intermediate_size and vocab_size against config.json"
            )
        moe = self.architecture.num_experts > 1
        if moe != (self.active_params_b is not None):
            raise ValueError("active_params_b is required for MoE models (num_experts > 1) and only for them")
        if self.active_params_b is not None:
            # Model cards differ on whether the input embedding (a lookup, no FLOPs) counts as active:
            # gpt-oss's card leaves it out. Accept either convention.
            active = self.architecture.active_param_count() / 1e9
            lookup = self.architecture.vocab_size * self.architecture.hidden_size / 1e9
            if not (_within(active, self.active_params_b) or _within(active - lookup, self.active_params_b)):
                raise ValueError(
                    f"active_params_b {self.active_params_b} but the architecture implies "
                    f"{active:.2f}B active parameters"
                )
        return self

    @property
    def multilingual_count(self) -> int:
        """Languages the card claims without naming them (0 when it names them all)."""
        return max((int(v.split(":")[1]) for v in self.languages if v.startswith("multilingual:")), default=0)

    def covers_language(self, code: str) -> bool:
        """True when the card names the language, or claims broad multilingual support."""
        return code in self.languages or self.multilingual_count > 0


class GpuPrice(Sourced):
    """One provider's on-demand price for one GPU (volatile: dated, overridable)."""

    provider: str = Field(min_length=1)
    usd_per_hour: float = Field(gt=0, le=1e4, description="on-demand $ per GPU-hour")


class GpuEntry(Sourced):
    """A GPU's memory, peak dense throughput and prices.

    A card with no rental price (`prices: []`, board power and launch price set) is *owned-only*: its hourly
    cost is what owning it costs, which needs planning.yaml's electricity price and lifetime, so the planner
    prices it (`owned_priced`) before anything reads `usd_per_hour`."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]*$", description="e.g. A100-80GB, H100-SXM, L4")
    name: str
    aliases: list[str] = Field(
        default_factory=list,
        description="other spellings of the GPU ('A100', 'H100 80GB'); matched ignoring case, spaces, dashes",
    )
    memory_gb: float = Field(gt=0, le=1e5)
    bf16_tflops: float | None = Field(default=None, ge=0, le=1e6, description="peak dense bf16; None without bf16")
    fp16_tflops: float = Field(gt=0, le=1e6, description="peak dense fp16 tensor-core TFLOPS")
    supports_bf16: bool
    memory_bandwidth_gbs: float = Field(gt=0, le=1e6)
    prices: list[GpuPrice] = Field(default_factory=list,
                                   description="at least two providers; one, or none (owned-only), for a GPU "
                                               "people own (board_power_w and purchase_usd set)")
    supports_fp8: bool = Field(default=False, description="FP8 tensor cores (Ada Lovelace, Hopper, Blackwell): "
                                                          "FP8 serving at ~2x the bf16 rate")
    board_power_w: float | None = Field(default=None, gt=0, le=1e5,
                                        description="board power (TDP) in watts: what an owned GPU draws")
    purchase_usd: float | None = Field(default=None, gt=0, le=1e7,
                                       description="purchase price (launch MSRP): an owned GPU's amortisation")
    owned_source: str | None = Field(default=None, min_length=3,
                                     description="where board_power_w and purchase_usd come from")
    # (usd per hour, how) of an owned-only card, set by `owned_priced` from planning.yaml: never read from YAML.
    _owned_hourly: tuple[float, str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _bf16_consistent(self) -> GpuEntry:
        if self.supports_bf16 != bool(self.bf16_tflops):
            raise ValueError("supports_bf16 must be true exactly when bf16_tflops is set and above 0")
        # Consumer cards are mostly owned (priced by power and amortisation) and rarely rented: one dated quote,
        # or none, is enough for them; a GPU priced only by rental needs two providers to show a range.
        if len(self.prices) < 2 and not (self.board_power_w and self.purchase_usd):
            raise ValueError("prices: give at least two providers' prices, or board_power_w and purchase_usd "
                             "(a GPU people own) with one or none")
        return self

    @property
    def training_tflops(self) -> float:
        """Peak dense TFLOPS in the dtype training would use (bf16, else fp16)."""
        return self.bf16_tflops if self.supports_bf16 and self.bf16_tflops else self.fp16_tflops

    @property
    def owned_only(self) -> bool:
        """No rental price: the card is planned only as one you own (or name), at what owning it costs."""
        return not self.prices

    def owned_priced(self, usd_per_hour: float, how: str) -> GpuEntry:
        """A copy of an owned-only card whose hourly cost is `usd_per_hour` (power + amortisation, `how`).
        The entry itself is left as it is: the bundled catalog is cached and shared."""
        if not self.owned_only:
            return self
        priced = self.model_copy()
        priced._owned_hourly = (usd_per_hour, how)
        return priced

    @property
    def owned_how(self) -> str | None:
        """How an owned-only card's hourly cost was reached (None: rented, or not priced yet)."""
        return self._owned_hourly[1] if self._owned_hourly else None

    def _owned_rate(self) -> float:
        if self._owned_hourly is None:
            raise ValueError(f"{self.id} has no rental price: its hourly cost is what owning it costs, known only "
                             "once priced with planning.yaml's owned_gpu settings (GpuEntry.owned_priced)")
        return self._owned_hourly[0]

    @property
    def usd_per_hour(self) -> float:
        """The lowest listed price; for an owned-only card, what an hour of owning it costs."""
        if self.owned_only:
            return self._owned_rate()
        return min(p.usd_per_hour for p in self.prices)

    @property
    def usd_per_hour_range(self) -> tuple[float, float]:
        if self.owned_only:
            rate = self._owned_rate()
            return rate, rate
        prices = [p.usd_per_hour for p in self.prices]
        return min(prices), max(prices)

    @property
    def price_quote(self) -> tuple[str, str, str]:
        """(provider, source, as of) of the price `usd_per_hour` is: the cheapest listing, or owning the card."""
        if self.owned_only:
            self._owned_rate()
            return "your own card (power + amortisation)", str(self.owned_how), self.as_of.isoformat()
        cheapest = min(self.prices, key=lambda p: p.usd_per_hour)
        return cheapest.provider, cheapest.source, cheapest.as_of.isoformat()

    @property
    def cloud_listed(self) -> bool:
        """Rented from at least two providers: a GPU the plan may pick for cloud training and serving on its own.
        A card with one quote (mostly owned, often a preemptible marketplace tier) or none (owned-only) is
        planned only when the user names it (`facts.gpu`) or owns it."""
        return len(self.prices) >= 2


class HostedModel(Strict):
    """A model a provider fine-tunes for you; prices are $ per 1M tokens."""

    id: str = Field(min_length=1)
    training_usd_per_1m_tokens: float | None = Field(default=None, ge=0, le=1e5, description="None: not per-token")
    input_usd_per_1m: float | None = Field(default=None, ge=0, le=1e5, description="inference of the tuned model")
    output_usd_per_1m: float | None = Field(default=None, ge=0, le=1e5, description="inference of the tuned model")
    max_example_tokens: int | None = Field(default=None, gt=0, le=MAX_TOKENS)
    min_examples: int = Field(ge=1, le=MAX_COUNT)
    tuning_available_until: dt.date | None = Field(default=None, description="last day a job can start")
    retires: dt.date | None = Field(
        default=None, description="base-model retirement: the tuned model serves only before this day"
    )
    notes: str = ""

    def serves_on(self, on: dt.date) -> bool:
        return self.retires is None or on < self.retires

    def tunable_on(self, on: dt.date) -> bool:
        until_ok = self.tuning_available_until is None or on <= self.tuning_available_until
        return until_ok and self.serves_on(on)


class TuningWindow(Strict):
    """When an audience may create tuning jobs: open from `opens` (inclusive) to before `closes`."""

    audience: Audience = Field(description="'all' binds every organization")
    opens: dt.date | None = None
    closes: dt.date | None = Field(default=None, description="first day job creation is refused")
    note: str = ""

    def contains(self, on: dt.date) -> bool:
        return (self.opens is None or on >= self.opens) and (self.closes is None or on < self.closes)


class DatedNote(Strict):
    """A dated event (announcement, deprecation) that explains a window or a price."""

    date: dt.date
    text: str = Field(min_length=1)
    source: str = Field(min_length=8)


class ProviderEntry(Sourced):
    """A hosted fine-tuning offer: who may tune, which models, at what price, until when."""

    id: ProviderId
    name: str
    platform: str = Field(description="where tuning runs, e.g. 'OpenAI API', 'Vertex AI', 'Amazon Bedrock'")
    tuning_windows: list[TuningWindow] = Field(min_length=1)
    models: list[HostedModel] = Field(default_factory=list)
    notes: list[DatedNote] = Field(default_factory=list)

    def tuning_open(self, on: dt.date, audience: Audience = "all") -> bool:
        """Open when every window that binds the audience contains `on`.

        Windows for 'all' bind everyone; audience 'all' asks whether *every* organization may tune, so
        each window binds it.
        """
        binding = [w for w in self.tuning_windows if audience == "all" or w.audience in ("all", audience)]
        return bool(binding) and all(w.contains(on) for w in binding)

    def open_models(self, on: dt.date, audience: Audience = "all") -> list[HostedModel]:
        """Models a new tuning job can use on `on` (none while the provider is closed to the audience)."""
        if not self.tuning_open(on, audience):
            return []
        return [m for m in self.models if m.tunable_on(on)]

    def hosted_model(self, id: str, field: str = "model") -> HostedModel:
        return _find(self.models, id, field, f"model {self.name} tunes", [m.id for m in self.models])


def _closest(name: str, valid: Sequence[str], noun: str = "ids") -> str:
    """A fix hint: the closest valid names, else the first few valid ones."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
    if close:
        quoted = [f"'{c}'" for c in close]
        return "did you mean " + " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted) + "?"
    return f"valid {noun}: " + (", ".join(sorted(valid)[:12]) or "none")


_ADD_IT = " (or add it with --catalog-dir)"


def _find(entries: Sequence[Any], key: str, field: str, what: str, ids: list[str], hint: str = "") -> Any:
    """Look an entry up by id (exact, then case-insensitive); unknown ids raise with the closest ones."""
    by_id = {e.id: e for e in entries}
    if key in by_id:
        return by_id[key]
    folded = {k.lower(): v for k, v in by_id.items()}
    if key.lower() in folded:
        return folded[key.lower()]
    raise UserError(Problem(field, f"'{key}' is not a {what}", _closest(key, ids) + hint))


def gpu_key(name: str) -> str:
    """The form GPU names and aliases are matched in: 'NVIDIA A100 80GB' and 'a100-80gb' are both a10080gb."""
    return re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("nvidia")


def _unique(ids: Sequence[str], what: str) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate {what} ids: {dupes}")


def _gpu_names_unique(gpus: Sequence[GpuEntry]) -> None:
    """Every id and alias names one GPU: no two spellings of different GPUs match the same key."""
    owner: dict[str, str] = {}
    for g in gpus:
        for name in (g.id, *g.aliases):
            key = gpu_key(name)
            if not key:
                raise ValueError(f"gpu '{g.id}': alias {name!r} has no letters or digits")
            if owner.setdefault(key, g.id) != g.id:
                raise ValueError(f"gpu '{g.id}': {name!r} also names gpu '{owner[key]}'")


class Catalog(Strict):
    """The whole knowledge base: base models, GPUs and hosted providers (bundled and the user's own)."""

    # Tuples: the bundled catalog is cached and shared, so it must not be mutated by a caller.
    models: tuple[BaseModelEntry, ...]
    gpus: tuple[GpuEntry, ...]
    providers: tuple[ProviderEntry, ...]

    @model_validator(mode="after")
    def _ids_unique(self) -> Catalog:
        _unique([m.id for m in self.models], "model")
        _unique([g.id for g in self.gpus], "gpu")
        _unique([p.id for p in self.providers], "provider")
        _gpu_names_unique(self.gpus)
        return self

    def model(self, id: str, field: str = "model") -> BaseModelEntry:
        """The base model with this catalog id; `field` names the input that held it, for the error."""
        return _find(self.models, id, field, "model in the catalog", [m.id for m in self.models], _ADD_IT)

    def gpu(self, name: str, field: str = "gpu") -> GpuEntry:
        """The GPU with this id or alias, ignoring case, spaces, dashes and a leading 'NVIDIA'.

        An id always wins over an alias (see load_catalog: aliases that collide with an id are dropped).
        """
        ids = {g.id: g for g in self.gpus}
        if name in ids:
            return ids[name]
        key = gpu_key(name)
        for g in self.gpus:
            if gpu_key(g.id) == key:
                return g
        for g in self.gpus:
            if any(gpu_key(a) == key for a in g.aliases):
                return g
        raise UserError(Problem(field, f"'{name}' is not a GPU in the catalog", _closest(name, list(ids)) + _ADD_IT))

    def provider(self, id: str, field: str = "provider") -> ProviderEntry:
        return _find(self.providers, id, field, "provider in the catalog", [p.id for p in self.providers])


# File name -> (Catalog field, entry model). Each file is a mapping with one key, `entries`, a list.
CATALOG_FILES: dict[str, tuple[str, type[Strict]]] = {
    "models.yaml": ("models", BaseModelEntry),
    "gpus.yaml": ("gpus", GpuEntry),
    "providers.yaml": ("providers", ProviderEntry),
}


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of `loc` (to suggest valid keys for a typo)."""
    current: Any = root
    skip_key = False  # the part after a dict-typed field is a key of that dict, not a field
    for part in loc[:-1]:
        if isinstance(part, int) or skip_key:
            skip_key = False
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        annotation = field.annotation
        args = typing.get_args(annotation)
        skip_key = typing.get_origin(annotation) is dict
        candidates = [a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return None
        current = candidates[0]
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validation_problems(
    error: ValidationError,
    root: type[BaseModel],
    where: Callable[[tuple[int | str, ...]], str],
    fix_for: Callable[[tuple[int | str, ...]], str] = lambda loc: "",
    note_for: Callable[[tuple[int | str, ...]], str] = lambda loc: "",
) -> list[Problem]:
    """Every validation error as `file: key.path: what — fix`, a misspelled key with the closest valid ones.

    `where(loc)` names the file that holds the key, `fix_for(loc)` says how to fix a wrong value (e.g. the
    bundled value), `note_for(loc)` adds context to the message (e.g. the entry's id).
    """
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ")
        fix = ""
        if kind == "extra_forbidden":
            message = "is not a key"
            owner = _model_at(root, loc)
            if owner is not None:
                fix = _closest(str(loc[-1]), list(owner.model_fields), noun="keys")
        elif kind == "missing":
            message, fix = "is missing", f"add `{loc[-1]}`"
        else:
            if message.startswith("Input should"):
                message = message.replace("Input should", "should", 1)
                if kind in ("model_type", "dict_type", "model_attributes_type"):
                    message = "should be a mapping of keys"
                if not isinstance(err.get("input"), dict | list):
                    message += f", not {_shown(err.get('input'))}"
            fix = fix_for(loc)
        problems.append(Problem(f"{where(loc)}: {_loc(loc) or '(top level)'}", message + note_for(loc), fix))
    return problems


def _problems(file: Path, raw: dict, error: ValidationError, holder: type[BaseModel]) -> list[Problem]:
    """One Problem per validation error, located as `file: entries[i].key.path`, naming the entry's id."""

    def note(loc: tuple[int | str, ...]) -> str:
        entry = raw["entries"][loc[1]] if len(loc) >= 2 and isinstance(loc[1], int) else None
        return f" (entry '{entry['id']}')" if isinstance(entry, dict) and isinstance(entry.get("id"), str) else ""

    return validation_problems(
        error, holder, lambda loc: str(file), lambda loc: f"see the bundled {file.name} for the shape", note
    )


# The safe loader only (plain data, no Python objects); libyaml's C build of it when present, because the
# pure-Python parser alone takes ~80 ms on the bundled files and loading should stay under 50 ms.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SHAPE_FIX = "write `entries:` and the entries below it, as in the bundled files"


def _read_entries(file: Path, entry_model: type[Strict]) -> list[Any]:
    """Validate one catalog file; raise CatalogError listing every problem in it."""
    try:
        raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(Problem(str(file), f"cannot read: {exc}", "check the path")) from exc
    except yaml.YAMLError as exc:
        raise CatalogError(Problem(str(file), f"not valid YAML: {exc}", "fix the YAML syntax")) from exc
    if not isinstance(raw, dict) or set(raw) != {"entries"} or not isinstance(raw["entries"], list):
        raise CatalogError(
            Problem(str(file), "must be a mapping with one key, `entries`, holding a list", _SHAPE_FIX)
        )
    holder = _entries_holder(entry_model)
    try:
        entries = holder.model_validate(raw).entries  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise CatalogError(_problems(file, raw, exc, holder)) from exc
    ids = [e.id for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise CatalogError(Problem(f"{file}: entries", f"duplicate ids {dupes}", "keep one entry per id"))
    return entries


@functools.cache
def _entries_holder(entry_model: type[Strict]) -> type[Strict]:
    holder: type[Strict] = create_model(
        f"{entry_model.__name__}File",
        __base__=Strict,
        entries=(list[entry_model], ...),  # type: ignore[valid-type]
    )
    return holder


def _load_dir(folder: Path, required: bool) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    problems: list[Problem] = []
    for name, (key, entry_model) in CATALOG_FILES.items():
        file = folder / name
        if not file.is_file():
            if required:
                problems.append(Problem(str(file), "missing bundled catalog file", "reinstall ftplan"))
            continue
        try:
            found[key] = _read_entries(file, entry_model)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CatalogError(problems)
    return found


def _construct(model: type[BaseModel], data: Any) -> Any:
    """Build `model` from data that already passed validation once, without validating it again."""
    values = {}
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        values[name] = _construct_value(info.annotation, data[name])
    return model.model_construct(**values)


def _construct_value(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _construct(annotation, value)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, tuple) and args:
        items = [_construct_value(args[0], v) for v in value]
        return tuple(items) if origin is tuple else items
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and isinstance(value, dict):
            return _construct(models[0], value)
        if dt.date in args and isinstance(value, str):
            return dt.date.fromisoformat(value)
        return value
    if annotation is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _marker(kind: str, files: Sequence[Path]) -> Path | None:
    """A marker named after the files' content: present once that exact content has validated."""
    digest = hashlib.sha256(f"{__version__}:{kind}".encode())
    for file in files:
        try:
            digest.update(file.read_bytes())
        except OSError:
            return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftplan"
    return base / f"{kind}-validated-{digest.hexdigest()[:32]}"


def _write_marker(marker: Path, text: str) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, marker)
    except OSError:
        pass  # a read-only cache only costs the next start-up a validation


def load_once(kind: str, files: Sequence[Path], read: Callable[[], Any], validate: Callable[[Any], object]) -> Any:
    """`read()` and `validate` its data, unless these bundled files, byte for byte, passed before: then the data
    comes back from the marker, as JSON (a tenth of the time YAML takes), and is not validated again.

    Only for ftplan's own files (a user's file is read and validated on every load). The marker keeps data that
    JSON gives back unchanged, dates included (`{"$date": "2026-11-25"}`); anything else (a non-string key, an
    infinite number) is read from the YAML every time.
    """
    marker = _marker(kind, files)
    if marker is not None and marker.is_file():
        try:
            text = marker.read_text(encoding="utf-8")
            if text:
                return json.loads(text, object_hook=_undate)
        except (OSError, ValueError):
            pass  # a damaged marker: read again below
        data = read()  # validated before; the marker was written without its data
    else:
        data = read()
        validate(data)
    if marker is not None:
        try:
            text = json.dumps(data, allow_nan=False, ensure_ascii=False, default=_date)
        except (TypeError, ValueError):
            text = ""
        _write_marker(marker, text if text and json.loads(text, object_hook=_undate) == data else "")
    return data


def _date(value: object) -> dict[str, str]:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not kept in a marker")


def _undate(obj: dict[str, Any]) -> Any:
    return dt.date.fromisoformat(obj["$date"]) if len(obj) == 1 and "$date" in obj else obj


def _bundled_files() -> list[Path]:
    # tasks.yaml too: model strengths are checked against its task types.
    folder = configs_dir() / "catalog"
    return [folder / name for name in sorted(CATALOG_FILES)] + [configs_dir() / "tasks.yaml"]


@functools.lru_cache(maxsize=1)
def _bundled() -> Catalog:
    """The bundled catalog. Validated in full the first time its content is seen (and in every test run);
    after that a marker in the user's cache lets start-up skip re-validating the identical files."""
    marker = _marker("catalog", _bundled_files())
    if marker is not None and marker.is_file():
        try:
            return _construct(Catalog, json.loads(marker.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged marker: validate again below
    catalog = Catalog.model_validate(_load_dir(configs_dir() / "catalog", required=True))
    if marker is not None:
        # The marker holds the validated data as JSON, which parses far faster than YAML.
        _write_marker(marker, json.dumps(catalog.model_dump(mode="json")))
    return catalog


def _merge_gpus(ranked: dict[str, tuple[int, GpuEntry]]) -> list[GpuEntry]:
    """GPUs of all sources: an id wins over any alias, and of two entries claiming one alias the later source's.

    `ranked` maps id -> (source rank: 0 bundled, then each user folder in order, entry). The dropped aliases
    are dropped for this load only; the bundled catalog keeps them.
    """
    ids = {gpu_key(gid): gid for gid in ranked}
    claims: dict[str, int] = {}
    for rank, g in ranked.values():
        for alias in g.aliases:
            claims[gpu_key(alias)] = max(rank, claims.get(gpu_key(alias), -1))
    out = []
    for rank, g in ranked.values():
        kept = [a for a in g.aliases if ids.get(gpu_key(a), g.id) == g.id and claims[gpu_key(a)] == rank]
        out.append(g if kept == g.aliases else g.model_copy(update={"aliases": kept}))
    return out


def load_catalog(extra_dirs: Sequence[Path | str] = ()) -> Catalog:
    """The bundled catalog, then the user's catalog folders in order (same id replaces, new id adds).

    A user folder holds any of models.yaml, gpus.yaml, providers.yaml (or none: the same folders may carry
    only planning.yaml), shaped like the bundled files; a replacing entry is complete (no field-by-field
    merge), so what the plan uses is what the file says. One exception: a replacing GPU that does not write
    `aliases:` keeps the bundled spellings. A user id always wins over a bundled alias (a user `A10` is that
    GPU, not A10G). Every problem in every file is reported at once as `file: entries[i].field: message`.
    """
    if isinstance(extra_dirs, str | Path):  # one folder, not a sequence of one-letter names
        extra_dirs = [extra_dirs]
    catalog = _bundled()
    if not extra_dirs:
        return catalog
    merged: dict[str, dict[str, tuple[int, Any]]] = {
        key: {e.id: (0, e) for e in getattr(catalog, key)} for key, _ in CATALOG_FILES.values()
    }
    problems: list[Problem] = []
    for rank, folder in enumerate(map(Path, extra_dirs), start=1):
        if not folder.is_dir():
            problems.append(Problem(str(folder), "catalog folder not found", "pass an existing folder"))
            continue
        try:
            for key, entries in _load_dir(folder, required=False).items():
                for e in entries:
                    before = merged[key].get(e.id)
                    if key == "gpus" and before is not None and "aliases" not in e.model_fields_set:
                        e = e.model_copy(update={"aliases": before[1].aliases})
                    merged[key][e.id] = (rank, e)
        except CatalogError as exc:
            problems.extend(exc.problems)
    if problems:
        raise CatalogError(problems)
    gpus = _merge_gpus(merged.pop("gpus"))
    try:
        return Catalog.model_validate({"gpus": gpus, **{k: [e for _, e in ids.values()] for k, ids in merged.items()}})
    except ValidationError as exc:  # a rule across entries, e.g. one alias for two of the user's GPUs
        where = ", ".join(str(d) for d in extra_dirs)
        fix = "give each id and alias to one entry"
        problems = [Problem(where, str(e["msg"]).removeprefix("Value error, "), fix) for e in exc.errors()]
        raise CatalogError(problems) from exc
