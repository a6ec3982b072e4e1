"""The knowledge base: every bundled entry validates and is sourced, lookups help, user catalogs merge."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from generator import catalog as cat
from generator.catalog import (
    Architecture,
    BaseModelEntry,
    Catalog,
    GpuEntry,
    load_catalog,
)
from generator.errors import CatalogError, UserError

TODAY = dt.date(2026, 11, 25)
READ_ON = dt.date(2026, 12, 1)  # the latest day a bundled source was read
REQUIRED_GPUS = {
    "A100-80GB",
    "A100-40GB",
    "H100-SXM",
    "H200",
    "L4",
    "L40S",
    "A10G",
    "T4",
    "RTX-4090",
    "RTX-3090",
    "RTX-3060",
    "RTX-5090",
    "B200",
}
TASK_TYPES = {
    "classification",
    "extraction",
    "summarization",
    "generation",
    "chat",
    "code",
    "translation",
    "qa",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _bundled_entry(kind: str, entry_id: str) -> dict:
    """A bundled entry as raw YAML data, to build user files from."""
    raw = yaml.safe_load((cat.configs_dir() / "catalog" / f"{kind}.yaml").read_text(encoding="utf-8"))
    return next(e for e in raw["entries"] if e["id"] == entry_id)


def _write(folder: Path, name: str, entries: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump({"entries": entries}, sort_keys=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the bundled catalog


def test_bundled_catalog_covers_the_required_range(catalog: Catalog) -> None:
    sizes = [m.params_b for m in catalog.models]
    assert len(catalog.models) >= 16
    assert min(sizes) <= 0.6 and max(sizes) >= 70
    assert REQUIRED_GPUS <= {g.id for g in catalog.gpus}
    assert {p.id for p in catalog.providers} == {"openai", "anthropic", "google", "cohere"}


def test_every_entry_is_sourced_and_dated(catalog: Catalog) -> None:
    sourced = [*catalog.models, *catalog.gpus, *catalog.providers]
    sourced += [price for g in catalog.gpus for price in g.prices]
    sourced += [note for p in catalog.providers for note in p.notes]
    for item in sourced:
        assert "https://" in item.source, item
        date = item.as_of if hasattr(item, "as_of") else item.date
        assert dt.date(2024, 1, 1) <= date <= READ_ON, item


def test_models_are_consistent(catalog: Catalog) -> None:
    for m in catalog.models:
        assert abs(m.architecture.param_count() / 1e9 - m.params_b) <= cat.PARAM_TOLERANCE * m.params_b, m.id
        assert set(m.strengths) <= TASK_TYPES
        assert m.architecture.num_attention_heads % m.architecture.num_kv_heads == 0
        assert (m.active_params_b is not None) == (m.architecture.num_experts > 1), m.id
        assert "/" in m.hf_id and m.context_length >= 4096  # OLMo 2's window is 4,096 tokens


@pytest.mark.parametrize(
    ("model_id", "billions"),
    # Published sizes: Llama 3.1 8B card 8.03B; Qwen3-8B card 8.2B; Mistral 7B v0.3 7.25B;
    # Gemma 3 4B text decoder 0.675B embedding + 3.209B non-embedding (Gemma 3 report, Table 1);
    # gpt-oss-20b 20.91B total (gpt-oss model card); Qwen3-30B-A3B 30.5B (card); SmolLM3-3B 3.08B (card);
    # OLMo 2 7B 7.3B (card); OLMo 2 1B 1.48B (card).
    [
        ("llama-3.1-8b-instruct", 8.03),
        ("qwen3-8b", 8.19),
        ("mistral-7b-instruct-v0.3", 7.25),
        ("gemma-3-4b-it", 3.88),
        ("gpt-oss-20b", 20.91),
        ("qwen3-30b-a3b", 30.5),
        ("smollm3-3b", 3.08),
        ("olmo-2-1124-7b-instruct", 7.3),
        ("olmo-2-0425-1b-instruct", 1.48),
    ],
)
def test_architectures_reproduce_published_sizes(catalog: Catalog, model_id: str, billions: float) -> None:
    assert catalog.model(model_id).architecture.param_count() / 1e9 == pytest.approx(billions, rel=0.005)


def test_licenses_flag_their_conditions(catalog: Catalog) -> None:
    for m in catalog.models:
        if m.license.startswith("llama"):
            assert m.commercial_use and "700 million" in m.license_notes
        if m.license == "gemma":
            assert m.commercial_use and "Prohibited Use Policy" in m.license_notes
    assert catalog.model("phi-4").license == "mit"
    assert catalog.model("qwen3-1.7b").license == "apache-2.0"


def test_gpu_prices_and_throughput(catalog: Catalog) -> None:
    for g in catalog.gpus:
        assert len(g.prices) >= 2 or (g.board_power_w and g.purchase_usd), g.id
        assert g.training_tflops > 0 and g.memory_bandwidth_gbs > 0
        if g.owned_only:  # no rental price: priced by the planner at power + amortisation (tests/knowledge)
            continue
        low, high = g.usd_per_hour_range
        assert g.usd_per_hour == low <= high
    t4 = catalog.gpu("T4")
    assert not t4.supports_bf16 and t4.bf16_tflops is None and t4.training_tflops == t4.fp16_tflops
    h100 = catalog.gpu("H100-SXM")
    assert h100.bf16_tflops == 989 and h100.memory_gb == 80


def test_bundled_catalog_loads_fast() -> None:
    # Target: < 50 ms for the bundled files. The bound is looser because other test runs share the CPUs.
    cat._bundled.cache_clear()
    start = time.perf_counter()
    load_catalog()
    assert time.perf_counter() - start < 0.25
    assert load_catalog() is load_catalog()


# ------------------------------------------------------------------ schema rules


def _model_data(**changes: object) -> dict:
    data = _bundled_entry("models", "llama-3.1-8b-instruct")
    data.update(changes)
    return data


def test_param_count_typo_is_caught() -> None:
    arch = {**_model_data()["architecture"], "intermediate_size": 1436}
    with pytest.raises(ValidationError, match="architecture implies"):
        BaseModelEntry.model_validate(_model_data(architecture=arch))


def test_moe_needs_active_params() -> None:
    data = _bundled_entry("models", "gpt-oss-20b")
    data.pop("active_params_b")
    with pytest.raises(ValidationError, match="active_params_b is required"):
        BaseModelEntry.model_validate(data)
    with pytest.raises(ValidationError, match="active_params_b 9.0"):
        BaseModelEntry.model_validate({**data, "active_params_b": 9.0})


def test_dense_model_rejects_active_params() -> None:
    with pytest.raises(ValidationError, match="only for them"):
        BaseModelEntry.model_validate(_model_data(active_params_b=8.0))


def test_languages_and_strengths_are_checked() -> None:
    with pytest.raises(ValidationError, match="ISO 639-1"):
        BaseModelEntry.model_validate(_model_data(languages=["english"]))
    with pytest.raises(ValidationError, match="strengths"):
        BaseModelEntry.model_validate(_model_data(strengths=["poetry"]))
    broad = BaseModelEntry.model_validate(_model_data(languages=["en", "multilingual:140"]))
    assert broad.covers_language("sw") and broad.multilingual_count == 140
    narrow = BaseModelEntry.model_validate(_model_data())
    assert narrow.covers_language("de") and not narrow.covers_language("sw")


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError, match="hf_idd"):
        BaseModelEntry.model_validate(_model_data(hf_idd="x/y"))


def test_gpu_rules() -> None:
    data = _bundled_entry("gpus", "L4")
    with pytest.raises(ValidationError, match="supports_bf16"):
        GpuEntry.model_validate({**data, "supports_bf16": False})
    with pytest.raises(ValidationError, match="prices"):
        GpuEntry.model_validate({**data, "prices": data["prices"][:1]})
    with pytest.raises(ValidationError, match="prices"):
        GpuEntry.model_validate({**data, "prices": []})
    # A card people own (power and purchase price given) may carry a single rental quote.
    owned = {**data, "prices": data["prices"][:1], "board_power_w": 72, "purchase_usd": 2500}
    assert GpuEntry.model_validate(owned).usd_per_hour == data["prices"][0]["usd_per_hour"]
    with pytest.raises(ValidationError, match="prices"):
        GpuEntry.model_validate({**owned, "purchase_usd": None})


@pytest.mark.parametrize(
    ("config", "gated"),
    [
        ({"model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh"}, True),
        ({"model_type": "starcoder2", "hidden_act": "gelu_pytorch_tanh"}, False),
        ({"model_type": "gpt2", "hidden_act": "gelu_new"}, False),
        ({"model_type": "llama", "hidden_act": "silu"}, True),
        ({"hidden_act": "gelu"}, False),
        ({"hidden_act": "silu"}, True),
    ],
)
def test_from_hf_config_gated_mlp(config: dict, gated: bool) -> None:
    base = {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 100,
    }
    assert Architecture.from_hf_config({**base, **config}).gated_mlp is gated


def test_from_hf_config_matches_catalog(catalog: Catalog) -> None:
    # Llama-3.1-8B-Instruct config.json, the fields from_hf_config reads.
    config = {
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "intermediate_size": 14336,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
    }
    assert Architecture.from_hf_config(config) == catalog.model("llama-3.1-8b-instruct").architecture


# ------------------------------------------------------------------ lookups


def test_lookup_exact_and_case_insensitive(catalog: Catalog) -> None:
    assert catalog.model("qwen3-1.7b").hf_id == "Qwen/Qwen3-1.7B"
    assert catalog.gpu("h100-sxm").id == "H100-SXM"
    assert catalog.provider("openai").name == "OpenAI"
    assert catalog.provider("openai").hosted_model("gpt-4o-mini").training_usd_per_1m_tokens == 3.0


@pytest.mark.parametrize(
    ("lookup", "key", "field", "suggested"),
    [
        ("model", "llama-3.1-8b", "model", "llama-3.1-8b-instruct"),
        ("gpu", "A100-90GB", "gpu", "A100-80GB"),
        ("provider", "openia", "provider", "openai"),
    ],
)
def test_unknown_ids_suggest_close_ones(
    catalog: Catalog, lookup: str, key: str, field: str, suggested: str
) -> None:
    with pytest.raises(UserError) as info:
        getattr(catalog, lookup)(key)
    (problem,) = info.value.problems
    assert problem.field == field and key in problem.message and suggested in problem.fix


def test_lookup_names_the_callers_field(catalog: Catalog) -> None:
    with pytest.raises(UserError) as info:
        catalog.gpu("B300", field="facts.gpu")
    assert info.value.problems[0].field == "facts.gpu"


# ------------------------------------------------------------------ provider windows


@pytest.mark.parametrize(
    ("provider", "on", "audience", "is_open"),
    [
        ("openai", TODAY, "active_orgs", True),
        ("openai", TODAY, "new_orgs", False),  # closed to new organizations since 2026-05-07
        ("openai", TODAY, "inactive_orgs", False),  # since 2026-07-02
        ("openai", TODAY, "all", False),  # not open to every organization any more
        ("openai", dt.date(2026, 5, 6), "all", True),
        ("openai", dt.date(2027, 1, 5), "active_orgs", True),
        ("openai", dt.date(2027, 1, 6), "active_orgs", False),  # `closes` is the first closed day
        ("openai", dt.date(2027, 1, 7), "all", False),
        ("anthropic", TODAY, "all", False),
        ("anthropic", dt.date(2026, 9, 9), "all", True),
        ("google", TODAY, "all", True),
        ("google", TODAY, "new_orgs", True),
        ("cohere", TODAY, "all", False),
    ],
)
def test_tuning_windows(catalog: Catalog, provider: str, on: dt.date, audience: str, is_open: bool) -> None:
    assert catalog.provider(provider).tuning_open(on, audience) is is_open  # type: ignore[arg-type]


def test_open_models_follow_windows_and_retirements(catalog: Catalog) -> None:
    openai = catalog.provider("openai")
    ids = {m.id for m in openai.open_models(TODAY, "active_orgs")}
    assert ids == {"gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini"}  # gpt-4.1-nano retired 2026-10-23
    assert openai.open_models(TODAY) == []
    assert openai.open_models(dt.date(2027, 1, 7), "active_orgs") == []
    gpt4o = openai.hosted_model("gpt-4o")
    assert gpt4o.serves_on(dt.date(2027, 1, 13)) and not gpt4o.serves_on(dt.date(2027, 1, 14))
    google = {m.id: m for m in catalog.provider("google").open_models(TODAY)}
    assert set(google) == {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"}
    assert all(m.max_example_tokens == 131072 for m in google.values())


def test_openai_training_prices_match_references(catalog: Catalog) -> None:
    # REFERENCES.md, "Hosted fine-tuning availability (as found in November 2026)".
    prices = {m.id: m.training_usd_per_1m_tokens for m in catalog.provider("openai").models}
    assert prices == {"gpt-4.1": 25, "gpt-4.1-mini": 5, "gpt-4.1-nano": 1.5, "gpt-4o": 25, "gpt-4o-mini": 3}


# ------------------------------------------------------------------ user catalogs


def test_user_dir_overrides_and_extends(tmp_path: Path, catalog: Catalog) -> None:
    h100 = _bundled_entry("gpus", "H100-SXM")
    h100["prices"] = [
        {
            "provider": "our cluster",
            "usd_per_hour": 1.10,
            "source": "https://intranet.example/rates — rates",
            "as_of": "2026-11-01",
        },
        {
            "provider": "backup cloud",
            "usd_per_hour": 2.00,
            "source": "https://backup.example/pricing — pricing",
            "as_of": "2026-11-01",
        },
    ]
    a6000 = {**_bundled_entry("gpus", "L40S"), "id": "RTX-A6000", "name": "NVIDIA RTX A6000 48GB"}
    _write(tmp_path / "mine", "gpus.yaml", [h100, a6000])

    merged = load_catalog([tmp_path / "mine"])
    assert merged.gpu("H100-SXM").usd_per_hour == 1.10
    assert merged.gpu("RTX-A6000").memory_gb == 48
    assert len(merged.gpus) == len(catalog.gpus) + 1
    assert len(merged.models) == len(catalog.models)
    assert load_catalog().gpu("H100-SXM").usd_per_hour == catalog.gpu("H100-SXM").usd_per_hour


def test_later_user_dirs_win(tmp_path: Path) -> None:
    for name, price in (("first", 9.0), ("second", 7.0)):
        t4 = _bundled_entry("gpus", "T4")
        t4["prices"] = [{**p, "usd_per_hour": price} for p in t4["prices"]]
        _write(tmp_path / name, "gpus.yaml", [t4])
    assert load_catalog([tmp_path / "first", tmp_path / "second"]).gpu("T4").usd_per_hour == 7.0


def test_broken_user_file_names_file_and_fields(tmp_path: Path) -> None:
    bad_arch = _bundled_entry("models", "qwen3-1.7b")
    bad_arch["architecture"]["hidden_size"] = -1
    typo = {**_bundled_entry("models", "phi-4"), "licence": "mit"}
    path = _write(tmp_path / "mine", "models.yaml", [_bundled_entry("models", "qwen3-8b"), bad_arch, typo])

    with pytest.raises(CatalogError) as info:
        load_catalog([tmp_path / "mine"])
    problems = {p.field: p for p in info.value.problems}
    assert f"{path}: entries[1].architecture.hidden_size" in problems
    assert "qwen3-1.7b" in problems[f"{path}: entries[1].architecture.hidden_size"].message
    assert "license" in problems[f"{path}: entries[2].licence"].fix
    assert f"{path}: entries[1].architecture.hidden_size" in str(info.value)


def test_errors_in_several_files_are_reported_together(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    _write(folder, "gpus.yaml", [{**_bundled_entry("gpus", "L4"), "memory_gb": 0}])
    (folder / "providers.yaml").write_text("entries: [\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog([folder])
    fields = [p.field for p in info.value.problems]
    assert f"{folder / 'gpus.yaml'}: entries[0].memory_gb" in fields
    assert any(f == str(folder / "providers.yaml") for f in fields)
    assert any("not valid YAML" in p.message for p in info.value.problems)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- id: T4\n", "mapping with one key"),
        ("gpus:\n  - id: T4\n", "mapping with one key"),
        ("", "mapping with one key"),
    ],
)
def test_user_file_shape(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "gpus.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(CatalogError, match=message):
        load_catalog([tmp_path])


def test_duplicate_ids_in_a_user_file(tmp_path: Path) -> None:
    t4 = _bundled_entry("gpus", "T4")
    _write(tmp_path, "gpus.yaml", [t4, t4])
    with pytest.raises(CatalogError, match="duplicate ids"):
        load_catalog([tmp_path])


def test_missing_user_dir_fails_and_one_without_catalog_files_is_a_no_op(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog([tmp_path / "nope"])
    (tmp_path / "planning.yaml").write_text("{}\n", encoding="utf-8")  # another loader's file
    assert load_catalog([tmp_path]) == load_catalog()


def test_fast_path_equals_full_validation(tmp_path, monkeypatch):
    """Start-up skips re-validating bundled files it has validated before: it must build the same catalog."""
    import generator.catalog as cat

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cat._bundled.cache_clear()
    try:
        validated = cat._bundled()
        assert list(tmp_path.glob("ftplan/catalog-validated-*")), "the first load leaves its marker"
        cat._bundled.cache_clear()
        constructed = cat._bundled()
        assert constructed == validated
        pairs = zip(constructed.providers, validated.providers, strict=True)
        assert all(a.model_dump() == b.model_dump() for a, b in pairs)
    finally:
        cat._bundled.cache_clear()
