"""The planning knowledge in `configs/planning.yaml`: defaults, thresholds and reference prices, each sourced.

A user's planning.yaml (in a `--catalog-dir` folder) is merged key by key over the bundled one and the result
is validated against one schema (`generator.planning`: `extra="forbid"`, strict types, finite bounded
numbers), so a misspelled key or a wrong value is `file: key.path: what — fix` before any number reaches the
plan. The bundled file is
validated once per content (the catalog's marker machinery), keeping start-up flat.

Plan code reads values by dotted path: `settings.value("evaluation.bootstrap_resamples")`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.catalog import load_once, validation_problems
from generator.errors import CatalogError, Problem
from generator.paths import configs_dir
from generator.record import Record

FILE = "planning.yaml"


class Settings(Record):
    """Read-only view of the validated planning.yaml. `value("a.b")` unwraps `{value, source}` entries."""

    data: dict[str, Any]
    path: str
    files: tuple[str, ...] = ()  # the user's planning.yaml files merged over `path`, in order

    def raw(self, dotted: str) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise CatalogError(
                    Problem(f"{self.path}: {dotted}", "missing", "restore it from ftplan's bundled planning.yaml")
                )
            node = node[part]
        return node

    def value(self, dotted: str) -> Any:
        # Memoized: the planner's search reads the same few settings thousands of times per plan. The cache sits
        # beside the fields (not one of them), so equality, hashing and repr ignore it.
        cache = self.__dict__.setdefault("_values_cache", {})
        if dotted not in cache:
            node = self.raw(dotted)
            cache[dotted] = node["value"] if isinstance(node, dict) and "value" in node else node
        return cache[dotted]

    def source(self, dotted: str) -> str:
        node = self.raw(dotted)
        return str(node.get("source", "")) if isinstance(node, dict) else ""

    def by_threshold(self, dotted: str, x: float, key: str) -> Any:
        """Pick from rows [{below: N|null, key: v}] the first row whose `below` exceeds x."""
        for row in self.raw(dotted)["rows"]:
            if row["below"] is None or x < row["below"]:
                return row[key]
        raise CatalogError(Problem(f"{self.path}: {dotted}", "no row matches", "end the rows with below: null"))


# ------------------------------------------------------------------ loading

# The C build of PyYAML's safe loader, where present: same safety, several times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, val in override.items():
        out[key] = _merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


def _read(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(Problem(str(path), f"cannot read: {exc}", "check the path")) from exc
    except yaml.YAMLError as exc:
        raise CatalogError(Problem(str(path), f"not valid YAML: {exc}", "fix the YAML syntax")) from exc


def _has(data: Any, loc: Sequence[int | str]) -> bool:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return False
    return True


def _at(data: Any, loc: Sequence[int | str]) -> Any:
    for part in loc:
        data = data[part]
    return data


def _validate(data: dict, bundled: Path, users: list[tuple[Path, dict]], bundled_data: dict) -> None:
    """Validate the merged settings; every problem names the file that wrote the key (the last user file
    that has it, else the bundled one) and, for a wrong value, ftplan's own value as the example."""

    def where(loc: tuple[int | str, ...]) -> str:
        for prefix in (loc, loc[:-1]):
            for path, raw in reversed(users):
                if prefix and _has(raw, prefix):
                    return str(path)
        return str(bundled)

    def fix_for(loc: tuple[int | str, ...]) -> str:
        if not _has(bundled_data, loc):
            return f"see ftplan's bundled {FILE}"
        example = _at(bundled_data, loc)
        shown = yaml.safe_dump(example, default_flow_style=True, sort_keys=False, width=10_000)
        shown = shown.strip().removesuffix("...").strip()
        return f"ftplan's {FILE} has {shown}"

    from generator.planning import planning_schema  # the schema's classes cost start-up time: only here

    schema = planning_schema()
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(validation_problems(exc, schema, where, fix_for)) from exc


def load_settings(extra_dirs: Sequence[Path | str] = ()) -> Settings:
    """The bundled planning.yaml with each user folder's planning.yaml merged over it, validated."""
    folders = [extra_dirs] if isinstance(extra_dirs, str | Path) else extra_dirs
    return _load(tuple(Path(d) for d in folders))


@functools.lru_cache(maxsize=8)
def _load(extra_dirs: tuple[Path, ...]) -> Settings:
    path = configs_dir() / FILE
    users: list[tuple[Path, dict]] = []
    for extra in extra_dirs:
        user = extra / FILE
        if not user.is_file():
            continue
        loaded = _read(user)
        if loaded is None:  # an empty file overrides nothing
            continue
        if not isinstance(loaded, dict):
            raise CatalogError(
                Problem(f"{user}: (top level)", f"must be a mapping of sections, not {type(loaded).__name__}",
                        f"copy the sections you change from ftplan's {FILE}, e.g. `hyperparameters:`")
            )
        users.append((user, loaded))
    if users:
        bundled = _read(path)
        data = bundled
        for _, loaded in users:
            data = _merge(data, loaded)
        _validate(data, path, users, bundled)
    else:
        data = load_once("planning", [path, configs_dir() / "tasks.yaml"], lambda: _read(path),
                         lambda d: _validate(d, path, [], d))
    return Settings(data=data, path=str(path), files=tuple(str(u) for u, _ in users))
