"""generator.record.Record behaves like the frozen dataclass it replaces (checked against `dataclasses` itself)."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from generator.record import Record


class Point(Record):
    x: int
    y: int = 0
    tags: list[str] = []


@dataclasses.dataclass(frozen=True)
class PointDC:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


class Outer(Record):
    inner: Point
    pair: tuple[Point, ...]
    table: dict[str, Point]


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, 2), {}), ((), {"x": 3, "y": 4}), ((5,), {"tags": ["a"]})])
def test_construction_matches_a_frozen_dataclass(args, kwargs) -> None:
    ours, theirs = Point(*args, **kwargs), PointDC(*args, **kwargs)
    assert ours.to_dict() == dataclasses.asdict(theirs)
    assert repr(ours) == repr(theirs).replace("PointDC", "Point")
    assert ours == Point(*args, **kwargs) and ours != Point(99)


@pytest.mark.parametrize("call, message", [
    (lambda: Point(), "needs 'x'"),
    (lambda: Point(1, 2, [], 4), "takes 3 fields"),
    (lambda: Point(1, x=2), "two values for 'x'"),
    (lambda: Point(1, z=2), "no field(s) ['z']"),
])
def test_wrong_construction_is_a_type_error_like_dataclasses(call, message) -> None:
    with pytest.raises(TypeError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        call()


def test_frozen_and_hashable() -> None:
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del p.x  # type: ignore[misc]
    frozen = Outer(Point(1), (Point(2),), {})
    assert frozen.inner.x == 1
    assert {Point(1, 2, ()): "a"}[Point(1, 2, ())] == "a"  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # a list field makes it unhashable, as with a frozen dataclass
        hash(Point(1))


def test_mutable_defaults_are_fresh_per_instance() -> None:
    a, b = Point(1), Point(2)
    a.tags.append("x")
    assert b.tags == [] and Point.__dict__["tags"] == []


def test_to_dict_is_recursive_like_asdict() -> None:
    o = Outer(Point(1, 2), (Point(3),), {"k": Point(4)})
    assert o.to_dict() == {"inner": {"x": 1, "y": 2, "tags": []}, "pair": ({"x": 3, "y": 0, "tags": []},),
                           "table": {"k": {"x": 4, "y": 0, "tags": []}}}


def test_pickle_and_copy_round_trip() -> None:
    p = Point(1, 2, ["t"])
    for clone in (pickle.loads(pickle.dumps(p)), copy.copy(p), copy.deepcopy(p)):
        assert clone == p and clone is not p


def test_a_field_without_default_after_one_with_default_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="'b' without a default follows 'a'"):
        class Bad(Record):  # noqa: F841 - defined only to fail
            a: int = 0
            b: int


def test_subclass_adds_fields_after_the_parents() -> None:
    class Point3(Point):
        z: int = 0

    assert Point3._fields == ("x", "y", "tags", "z")
    assert Point3(1, z=5).to_dict() == {"x": 1, "y": 0, "tags": [], "z": 5}


def test_the_planners_modules_define_no_dataclass() -> None:
    """`ftplan plan` imports no module that builds a dataclass at import (1 ms each): records are Records."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys, generator.cli, generator.render.strategy, generator.plan;"
            "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items() if n.startswith('generator'))))")
    files = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                           check=True).stdout.split()
    assert len(files) > 20
    decorator = re.compile(r"^\s*@(?:dataclasses\.)?dataclass\b(?!_)", re.MULTILINE)
    offenders = [f for f in files if decorator.search(Path(f).read_text(encoding="utf-8"))]
    assert offenders == []
