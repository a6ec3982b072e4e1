"""The two ways a value may reach a generated file, as Jinja filters: `yaml` (a serialised value) and `comment`
(one line of prose for a `#` comment). Nothing else from the plan or the user's text is written into a config.

`comment` replaces every character that Unicode, Python's `str.splitlines` or YAML treats as a line break, so
no text can end a comment and start a key. `yaml` writes JSON with every non-ASCII character escaped: JSON is
valid YAML flow syntax, and escaping keeps U+2028/U+2029/NEL from breaking a line inside a quoted scalar.
Cookiecutter loads this module through `_extensions` in the baked context (generator/render/bake.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

# \n \r \v \f, the information separators str.splitlines breaks on, NEL, LINE and PARAGRAPH SEPARATOR.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = re.compile(f"[{re.escape(LINE_BREAKS)}]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def comment(value: Any) -> str:
    """One line of text, safe after `#`: line breaks become spaces, other control characters go."""
    return _CONTROL.sub("", _BREAKS.sub(" ", str(value))).strip()


def _float(x: float) -> str:
    """A float YAML 1.1 (PyYAML, TRL's parser) reads back as a float: `2e-05` is a string there, `2.0e-05` is not."""
    text = json.dumps(x, allow_nan=False)
    if "e" in text and "." not in text.split("e")[0]:
        mantissa, exp = text.split("e")
        text = f"{mantissa}.0e{exp}"
    if "e" in text and text.split("e")[1][0] not in "+-":
        text = text.replace("e", "e+")
    return text


def yaml_value(value: Any) -> str:
    """A YAML (flow) value equal to `value` whatever its characters: ASCII-escaped JSON, floats written so that
    YAML 1.1 reads them as floats."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_value(str(k))}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


class FtplanFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["comment"] = comment
        environment.filters["yaml"] = yaml_value
