"""catalog.load_once: ftplan's own YAML is parsed and validated once per content; later start-ups read the JSON
the marker keeps, and get exactly the data YAML gives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from generator import catalog, tasks
from generator.paths import configs_dir
from generator.plan import settings as settings_module


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "ftplan"


def _load(kind: str, file: Path, calls: list[str]) -> object:
    def read() -> object:
        calls.append("read")
        return yaml.safe_load(file.read_text(encoding="utf-8"))

    return catalog.load_once(kind, [file], read, lambda data: calls.append("validate"))


def test_second_load_reads_the_marker_not_the_yaml(cache: Path, tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("a: {value: 1.5, source: x}\nb: [1, 2, null, true]\nc: 'ü'\n", encoding="utf-8")
    calls: list[str] = []
    first = _load("t", file, calls)
    second = _load("t", file, calls)
    assert first == second == yaml.safe_load(file.read_text(encoding="utf-8"))
    assert calls == ["read", "validate"]
    file.write_text("a: 2\n", encoding="utf-8")  # new content: read and validated again
    assert _load("t", file, calls) == {"a": 2} and calls[2:] == ["read", "validate"]


@pytest.mark.parametrize("text", ["500: five hundred\n", "x: .inf\n", "at: 2026-11-25 10:00:00\n",
                                  "x: {$date: '2026-11-25'}\n"])
def test_data_json_cannot_keep_is_read_from_yaml_each_time_but_validated_once(cache: Path, tmp_path: Path,
                                                                              text: str) -> None:
    file = tmp_path / "t.yaml"
    file.write_text(text, encoding="utf-8")
    calls: list[str] = []
    expected = yaml.safe_load(text)
    assert _load("t", file, calls) == expected
    assert _load("t", file, calls) == expected
    assert calls == ["read", "validate", "read"]


def test_dates_survive_the_marker(cache: Path, tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("as_of: 2026-11-25\nrows: [{retires: 2027-01-14, id: a}]\n", encoding="utf-8")
    calls: list[str] = []
    _load("t", file, calls)
    warm = _load("t", file, calls)
    assert warm == {"as_of": dt.date(2026, 11, 25), "rows": [{"retires": dt.date(2027, 1, 14), "id": "a"}]}
    assert calls == ["read", "validate"]


def test_a_damaged_marker_is_read_around(cache: Path, tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text("a: 1\n", encoding="utf-8")
    calls: list[str] = []
    _load("t", file, calls)
    (marker,) = cache.glob("t-validated-*")
    marker.write_text("{not json", encoding="utf-8")
    assert _load("t", file, calls) == {"a": 1}
    assert calls == ["read", "validate", "read"]
    assert _load("t", file, calls) == {"a": 1} and len(calls) == 3  # the marker was mended


def test_bundled_planning_and_tasks_come_back_identical_from_the_marker(cache: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def fresh() -> tuple[object, object]:
        settings_module._load.cache_clear()
        tasks.load_tasks.cache_clear()
        try:
            return settings_module.load_settings().data, tasks.load_tasks()
        finally:
            settings_module._load.cache_clear()
            tasks.load_tasks.cache_clear()

    cold = fresh()
    assert cold[0] == yaml.safe_load((configs_dir() / "planning.yaml").read_text(encoding="utf-8"))
    assert list(cache.glob("planning-validated-*")) and list(cache.glob("tasks-validated-*"))
    monkeypatch.setattr(yaml, "load", lambda *a, **k: pytest.fail("YAML parsed although the marker holds it"))
    warm = fresh()
    assert warm == cold
