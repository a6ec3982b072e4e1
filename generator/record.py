"""Frozen value records that cost nothing to define: the planner's internal results (fits, estimates, facts read
from text, problems).

`@dataclass(frozen=True)` writes and compiles `__init__`, `__eq__`, `__hash__`, `__repr__`, `__setattr__` and
`__delattr__` for every class: about 1 ms per class on this project's 2-core machines, ~20 ms for the ~20 records
the planner imports, a tenth of its start-up budget (`ftplan plan` must start in at most twice the time its
libraries take to import). A `Record` reads its annotations once, when the class is created, and shares one
generic implementation of those methods. `dataclass_transform` makes mypy check every construction as it would
a frozen dataclass's: positional or keyword arguments, a misspelled or missing field, an assignment to a field.

Defaults follow the dataclass rules (a field with a default may not precede one without). A list, dict or set
default is copied for every instance, as `field(default_factory=...)` would be.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # pydantic depends on typing_extensions
    from typing_extensions import dataclass_transform

_MISSING = object()
_MUTABLE = (list, dict, set)


@dataclass_transform(frozen_default=True)
class Record:
    """Base of a frozen record: subclass it and annotate the fields."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _field_set: ClassVar[frozenset[str]] = frozenset()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        defaults: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if name.startswith("_") or str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                    continue
                if name not in names:
                    names.append(name)
                if name in klass.__dict__:
                    defaults[name] = klass.__dict__[name]
                else:
                    defaults.pop(name, None)
        seen_default = ""
        for name in names:
            if name in defaults:
                seen_default = name
            elif seen_default:
                raise TypeError(f"{cls.__name__}: field {name!r} without a default follows {seen_default!r}")
        cls._fields = tuple(names)
        cls._field_set = frozenset(names)
        cls._defaults = defaults

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)} positional")
        values = dict(zip(fields, args, strict=False))  # the rest by keyword or default
        for name, value in kwargs.items():
            if name in values:
                raise TypeError(f"{type(self).__name__} got two values for {name!r}")
            values[name] = value
        if len(values) != len(fields) or not values.keys() <= self._field_set:
            unknown = sorted(set(values) - self._field_set)
            if unknown:
                raise TypeError(f"{type(self).__name__} has no field(s) {unknown}")
            for name in fields:
                if name not in values:
                    default = self._defaults.get(name, _MISSING)
                    if default is _MISSING:
                        raise TypeError(f"{type(self).__name__} needs {name!r}")
                    values[name] = type(default)(default) if isinstance(default, _MUTABLE) else default
        object.__setattr__(self, "__dict__", values)

    def _values(self) -> tuple[Any, ...]:
        d = self.__dict__
        return tuple(d[name] for name in self._fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot assign {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, self._values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain data, recursively (like `dataclasses.asdict`)."""
        return {name: _plain(self.__dict__[name]) for name in self._fields}


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
