"""What the generated repository shows a person: the report charts (valid PNGs, or a clear note without
matplotlib), gate wording for humans, and smoke data that is clean under its own validator."""

from __future__ import annotations

import importlib
import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = ROOT / "scaffolds" / "open_weights" / "{{cookiecutter.slug}}" / "scripts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def scripts(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    for name in ("charts", "report"):
        sys.modules.pop(name, None)
    return SCRIPTS


def assert_png(path: Path, min_side: int = 200) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= min_side and height >= min_side // 2, (width, height)
    assert len(data) > 5000, "an empty picture"


REPORT = {
    "metrics": {"accuracy": {"base": 0.5, "tuned": 0.8, "delta": 0.3, "ci": [0.2, 0.4], "confidence": 0.95},
                "macro_f1": {"base": 0.5, "tuned": 0.45, "delta": -0.05, "ci": [-0.1, 0.02], "confidence": 0.95}},
    "error_analysis": {"confusion_matrix": {"billing": {"billing": 8, "bug": 2, "<other>": 0},
                                            "bug": {"billing": 1, "bug": 9, "<other>": 1}}},
}


def test_charts_are_valid_pngs(scripts, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    charts = importlib.import_module("charts")
    msg = charts.eval_deltas(REPORT, tmp_path / "eval.png")
    assert msg == f"chart: {tmp_path / 'eval.png'}"
    assert_png(tmp_path / "eval.png")
    charts.token_lengths({"train.jsonl": [10, 12, 30, 31, 80], "heldout.jsonl": [11, 40]}, 64, tmp_path / "len.png")
    assert_png(tmp_path / "len.png")
    history = [{"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.0, "eval_loss": 1.2}, {"step": 20, "eval_loss": 1.1}]
    charts.loss_curves(history, tmp_path / "loss.png")
    assert_png(tmp_path / "loss.png")
    assert "no chart" in charts.loss_curves([{"step": 1, "learning_rate": 1e-4}], tmp_path / "none.png")
    assert charts._per_class_f1(REPORT["error_analysis"]["confusion_matrix"])["billing"] == pytest.approx(16 / 19)
    # the command line the Makefile runs
    report = tmp_path / "eval_report.json"
    report.write_text(json.dumps(REPORT))
    out = subprocess.run([sys.executable, str(SCRIPTS / "charts.py"), str(report)], capture_output=True,
                         text=True, check=True)
    assert "chart:" in out.stdout
    assert_png(report.with_suffix(".png"))


def test_without_matplotlib_a_note_not_a_crash(scripts, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    charts = importlib.import_module("charts")
    assert "matplotlib is not installed" in charts.eval_deltas(REPORT, tmp_path / "x.png")
    assert "pip install matplotlib" in charts.token_lengths({"a": [1]}, None, tmp_path / "y.png")
    assert not list(tmp_path.iterdir())


def test_gates_and_advice_read_as_sentences(scripts) -> None:
    pytest.importorskip("numpy")
    report = importlib.import_module("report")
    assert report.gate_text({"metric": "accuracy", "op": ">", "threshold": 0.0}, "95%") == (
        "the lower end of the 95% CI of tuned − base accuracy must be above 0.0")
    assert report.gate_text({"metric": "macro_f1", "op": ">=", "threshold": 0.9}, "95%") == (
        "tuned macro_f1 must be at least 0.9")
    metrics = {k: {**v, "p_value": 0.01, "test": "mcnemar"} for k, v in REPORT["metrics"].items()}
    gate = {"metric": "accuracy", "op": ">", "threshold": 0.0, "value": 0.2, "passed": True}
    text = report.markdown({"baseline_only": False, "n_examples": 2, "task_type": "classification",
                            "primary_metric": "accuracy", "config": {"heldout": "smoke/heldout.jsonl"},
                            "metrics": metrics, "passed": True, "gates": [gate]}, "base", "tuned")
    assert "synthetic data" in text and "delta_ci_low" not in text and "| accuracy > 0.0 |" not in text
    assert "the lower end of the 95% CI of tuned − base accuracy must be above 0.0" in text


def test_smoke_data_is_clean_under_its_own_validator(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    subprocess.run([sys.executable, str(SCRIPTS / "make_tiny_model.py"), "--out", str(tmp_path / "smoke"),
                    "--method", "lora"], check=True, capture_output=True, cwd=tmp_path)
    out = subprocess.run([sys.executable, str(SCRIPTS / "validate_data.py"), "smoke/data/train.jsonl",
                          "--heldout", "smoke/heldout.jsonl", "--tokenizer", "smoke/model", "--max-seq-length",
                          "64", "--report", "report.json"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stats"]["errors"] == 0 and report["stats"]["warnings"] == 0, report["findings"][:5]
    assert ":0:" not in out.stdout and "synthetic" in out.stdout
    if importlib.util.find_spec("matplotlib"):
        assert_png(tmp_path / "report.png")
