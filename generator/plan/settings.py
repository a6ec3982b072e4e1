"""The planning knowledge in `configs/planning.yaml`: defaults, thresholds and reference prices, each sourced."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from generator.errors import CatalogError, Problem
from generator.paths import configs_dir


@dataclass(frozen=True)
class Settings:
    """Read-only view of planning.yaml. `value("a.b")` unwraps `{value, source}` entries."""

    data: dict[str, Any]
    path: str

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
        node = self.raw(dotted)
        return node["value"] if isinstance(node, dict) and "value" in node else node

    def source(self, dotted: str) -> str:
        node = self.raw(dotted)
        return str(node.get("source", "")) if isinstance(node, dict) else ""

    def by_threshold(self, dotted: str, x: float, key: str) -> Any:
        """Pick from rows [{below: N|null, key: v}] the first row whose `below` exceeds x."""
        for row in self.raw(dotted)["rows"]:
            if row["below"] is None or x < row["below"]:
                return row[key]
        raise CatalogError(Problem(f"{self.path}: {dotted}", "no row matches", "end the rows with below: null"))


# The C build of PyYAML's safe loader, where present: same safety, several times faster.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, val in override.items():
        out[key] = _merge(out[key], val) if isinstance(val, dict) and isinstance(out.get(key), dict) else val
    return out


@lru_cache(maxsize=8)
def load_settings(extra_dirs: tuple[Path, ...] = ()) -> Settings:
    path = configs_dir() / "planning.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    for extra in extra_dirs:
        user = extra / "planning.yaml"
        if user.is_file():
            loaded = yaml.load(user.read_text(encoding="utf-8"), Loader=_SafeLoader)
            if not isinstance(loaded, dict):
                raise CatalogError(Problem(str(user), "must be a YAML mapping", "copy ftplan's planning.yaml"))
            data = _merge(data, loaded)
    return Settings(data=data, path=str(path))
