"""Each bundled example gets the call an expert would make, for reasons a reader can check."""

from __future__ import annotations

from datetime import date

from tests.conftest import plan_for


def test_six_or_more_examples(plans):
    assert len(plans) >= 6


def test_support_triage_fine_tunes_a_small_model_with_lora(plans):
    p = plans["support_triage.yaml"]
    assert p.decision.recommendation == "fine_tune"
    assert p.training.method == "lora"
    assert p.base_model.params_b <= 4  # a 4-label classifier needs no big model
    assert p.training.hardware.gpu_count == 1
    assert p.data.meets_minimum
    assert p.roi.break_even_month is not None and p.roi.break_even_month <= 12
    reasons = " ".join(r for row in p.decision.matrix if row.option == "fine_tune" for r in row.reasons)
    assert "300 ms" in reasons and "40,000" in reasons


def test_policy_assistant_gets_rag_not_fine_tuning(plans):
    p = plans["policy_assistant_rag.yaml"]
    assert p.decision.recommendation == "rag"
    assert p.training.method == "none"
    rag = next(r for r in p.decision.matrix if r.option == "rag")
    assert any("documents" in r for r in rag.reasons)
    assert any("Measure retrieval recall" in x for x in p.decision.proof_required)


def test_too_little_data_prompts_first_and_collects(plans):
    p = plans["too_little_data.yaml"]
    assert p.decision.recommendation in ("few_shot", "prompting")
    assert not p.decision.fine_tune_warranted
    assert not p.data.meets_minimum and p.data.to_collect == 460
    assert p.rollout.notes, "200 requests/month cannot power an A/B test: the plan must say so"
    e1 = next(r for r in p.risks if r.id == "E1")
    assert e1.level == "high"


def test_restricted_data_on_one_24gb_gpu_stays_local(plans):
    p = plans["clinical_extraction_local.yaml"]
    assert p.decision.recommendation == "fine_tune"
    hw = p.training.hardware
    assert hw.gpu == "RTX-4090" and hw.gpu_count == 1
    assert hw.peak_memory_gb <= 24 * 0.85
    assert p.training.method in ("lora", "qlora")
    assert any("Restricted data" in n for n in p.roi.notes)
    sens = next(r for r in p.decision.matrix if r.option == "prompting").scores["data_sensitivity"]
    assert sens == 0  # prompting an open model locally is allowed; only hosted prompting is penalised


def test_anthropic_tuning_ended_moves_to_open_weights(plans):
    p = plans["anthropic_tuning_ended.yaml"]
    assert not p.provider.fine_tuning_available
    assert "2026-09-10" in " ".join(p.provider.notes)
    assert p.provider.alternative
    assert p.training.method in ("lora", "qlora")  # not "hosted": nothing to host on
    assert "not usable" in p.training.why


def test_large_scale_uses_all_eight_gpus(plans):
    p = plans["code_assistant_multi_gpu.yaml"]
    hw = p.training.hardware
    assert hw.gpu == "H100-SXM" and hw.gpu_count == 8 and hw.strategy in ("ddp", "fsdp", "zero3")
    assert p.training.hyperparameters.epochs == 1  # 450k examples: one pass
    assert p.training.hyperparameters.effective_batch_size >= 64


def test_vertex_is_hosted_while_open(plans):
    p = plans["vertex_hosted_tuning.yaml"]
    assert p.provider.fine_tuning_available and p.provider.hosted_model.startswith("gemini-2.5")
    assert p.training.method == "hosted"
    assert p.cost.hosted_api_usd > 0 and p.cost.training_usd == 0
    assert p.training.open_weights_method in ("lora", "qlora")  # the migration path is planned too


def test_openai_availability_depends_on_the_date():
    _, before = plan_for("policy_assistant_rag.yaml", date(2026, 11, 25))
    _, after = plan_for("policy_assistant_rag.yaml", date(2027, 1, 7))
    assert before.provider.fine_tuning_available  # active organisations until 2027-01-06
    assert not after.provider.fine_tuning_available
    assert "2027-01-06" in " ".join(after.provider.notes)


def test_plans_are_reproducible():
    a = plan_for("support_triage.yaml")[1].to_json()
    b = plan_for("support_triage.yaml")[1].to_json()
    assert a == b


def test_every_example_quotes_its_own_text(plans):
    from generator.answers import load_answers
    from generator.render.strategy import render_markdown
    from tests.conftest import EXAMPLES

    for name, p in plans.items():
        answers = load_answers(EXAMPLES / name).answers
        md = render_markdown(p, answers)
        assert answers.example_pairs[0].output.replace("|", "\\|")[:30] in md
        assert " ".join(answers.success_criteria.split())[:40] in md
