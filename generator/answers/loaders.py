"""Reading an answers file: YAML, JSON or a filled seed template, into validated `LoadedAnswers`.

Loading reports every problem at once as a `UserError`. Nothing from the file is ever evaluated: YAML is read
by a SafeLoader without anchors or aliases, with a size and a nesting cap; `{{ }}` in a value is plain text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from generator.answers.inference import DataStats, Inferred, infer_facts
from generator.answers.rules import Adjustment, apply_rules
from generator.answers.schema import Answers, EffectiveFacts
from generator.answers.translate import MISSING, kind_of, suggested_key, translate
from generator.errors import Problem, UserError
from generator.record import Record
from generator.safety import UTF8_FIX, display_path, not_utf8

# Loader guards: an answers file is a few kilobytes; these stop hostile or accidental huge inputs. 1 MB of
# YAML already takes PyYAML's pure-Python loader (needed to refuse aliases) a few seconds.
MAX_FILE_BYTES = 1024 * 1024
MAX_NESTING_DEPTH = 20


class LoadedAnswers(Record):
    """Validated answers plus everything ftplan concluded about them; the plan reports all of it.

    The facts are inferred once, when the answers are loaded (or measured data is added), and stored:
    `facts` is what the planner reads and `inferred` says where each filled-in value came from.
    """

    answers: Answers
    warnings: list[Problem]
    adjustments: list[Adjustment]
    inferred: list[Inferred]
    source: str
    facts: EffectiveFacts
    data: DataStats | None = None

    def effective_facts(self) -> EffectiveFacts:
        return self.facts

    def with_data(self, stats: DataStats) -> LoadedAnswers:
        """The same answers with measured figures from `--data` (they replace estimates, not given facts)."""
        facts, inferred = infer_facts(self.answers, stats)
        return LoadedAnswers(self.answers, self.warnings, self.adjustments, inferred, self.source, facts, stats)


def parse_answers(data: Any, source: str) -> LoadedAnswers:
    """Validate already-parsed data (a dict from YAML, JSON or the seed template); all problems at once."""
    return _validate(data, source, [])


def _validate(data: Any, source: str, earlier: list[Problem]) -> LoadedAnswers:
    problems = list(earlier)
    if not isinstance(data, dict):
        problems.append(
            Problem(
                "(top level)",
                f"must be a mapping of keys to values, got {kind_of(data)}",
                "start from configs/examples/support_triage.yaml or run `ftplan init`",
            )
        )
        raise UserError(problems)
    structural = _check_keys(data, "")
    if structural:
        raise UserError(problems + structural)
    try:
        answers = Answers.model_validate(data)
    except ValidationError as exc:
        found = translate(exc.errors(include_url=False))
        # A misspelled key already says "did you mean 'budget'?": don't also call budget missing.
        suggested = {suggested_key(p) for p in found} - {None}
        reported = {p.field for p in problems}
        problems += [
            p for p in found if p.field not in reported and not (p.message == MISSING and p.field in suggested)
        ]
        raise UserError(problems) from None
    except (RecursionError, ValueError, TypeError) as exc:  # pathological values pydantic cannot even inspect
        raise UserError(problems + [Problem("(top level)", f"cannot be validated: {exc}", "")]) from None
    if problems:
        raise UserError(problems)
    answers, adjustments, errors, warnings = apply_rules(answers)
    if errors:
        raise UserError(errors)
    facts, inferred = infer_facts(answers, None)
    return LoadedAnswers(answers, warnings, adjustments, inferred, source, facts)


def _check_keys(data: Any, path: str, depth: int = 0) -> list[Problem]:
    """Keys must be text and nesting shallow; pydantic would otherwise report these confusingly."""
    here = path or "(top level)"
    if depth > MAX_NESTING_DEPTH:
        return [Problem(here, f"is nested more than {MAX_NESTING_DEPTH} levels deep", "flatten the value")]
    problems: list[Problem] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        here,
                        f"key {key!r} is {kind_of(key)}, not text",
                        "write keys as plain names such as use_case",
                    )
                )
                continue
            problems += _check_keys(value, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            problems += _check_keys(item, f"{here}[{index}]", depth + 1)
    return problems



_NO_REFERENCES = "write each value out in full (answers files need no YAML references)"


class _RefusedYaml(yaml.YAMLError):
    def __init__(self, message: str, mark: Any, fix: str = _NO_REFERENCES):
        super().__init__(message)
        self.message, self.mark, self.fix = message, mark, fix


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases/anchors (no billion-laughs), with a depth cap and no duplicate keys."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _RefusedYaml("anchors (&name) and aliases (*name) are not allowed", event.start_mark)
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise _RefusedYaml(f"nested more than {MAX_NESTING_DEPTH} levels deep", event.start_mark,
                               "flatten the value: answers are keys, text, numbers and short lists")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise _RefusedYaml("a key must be text, not a list or mapping", key_node.start_mark,
                                   "write keys as plain names such as use_case") from None
            if duplicate:
                raise _RefusedYaml(f"key {key!r} appears twice", key_node.start_mark, "keep one of them")
        return super().construct_mapping(node, deep=deep)


def _read_text(path: Path) -> str:
    """The file's text, or a UserError for every way a file can fail to be a readable text file."""
    name = display_path(path)
    try:
        if not path.exists():
            raise UserError(
                Problem(name, "file not found", "check the path, or run `ftplan init` to create one")
            )
        if path.is_dir():
            raise UserError(Problem(name, "is a directory, not a file", "give the answers file inside it"))
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(
            Problem(name, f"cannot be read: {exc.strerror or exc}", "check its permissions")
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(
            Problem(
                name,
                f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB",
                "an answers file is a few kilobytes; give the answers file, not the data",
            )
        )
    return _decode(raw, name)


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        raise UserError(Problem(name, "is not a text file (it holds NUL bytes)", "give the answers file"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(Problem(name, f"is not UTF-8 text ({not_utf8(exc)})", UTF8_FIX)) from None
    if not text.strip():
        raise UserError(
            Problem(
                name,
                "is empty",
                "fill it in, or start from configs/examples/support_triage.yaml (`ftplan init`)",
            )
        )
    return text


_SEED_TAGS = ("<personalization>", "<context>")
_SEED_SUFFIXES = (".md", ".txt", ".xml")
_YAML_SUFFIXES = (".yaml", ".yml")


def load_answers(path: Path) -> LoadedAnswers:
    """Read YAML, JSON or a filled seed template and validate it. Raises UserError listing every problem."""
    text = _read_text(path)
    return parse_text(text, display_path(path), suffix=path.suffix.lower())


def parse_text(text: str, source: str, suffix: str = "") -> LoadedAnswers:
    """Parse answers from text; the format comes from the suffix, else from the content."""
    if suffix == ".json":
        return parse_answers(_load_json(text, source), source)
    if suffix in _YAML_SUFFIXES:  # a YAML value may mention <context> without being a template
        return parse_answers(_load_yaml(text, source), source)
    if suffix in _SEED_SUFFIXES or any(tag in text for tag in _SEED_TAGS):
        from generator.answers.seed import parse_with_problems  # seed templates only (html, regexes)

        data, problems = parse_with_problems(text)
        return _validate(data, source, problems)
    return parse_answers(_load_yaml(text, source), source)


def _load_yaml(text: str, source: str) -> Any:
    if "\x00" in text:
        raise UserError(Problem(source, "is not a text file (binary content)", "save it as UTF-8 text"))
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _RefusedYaml as exc:
        raise UserError(Problem(f"{source}:{_where(exc.mark)}", f"refused: {exc.message}", exc.fix)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = exc.context or ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (started at {_where(exc.context_mark)})"
        what = "; ".join(filter(None, [context, exc.problem]))
        raise UserError(
            Problem(
                f"{source}:{_where(mark)}",
                f"is not valid YAML: {what}",
                "fix the line shown: check indentation, colons and quotes",
            )
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise UserError(
            Problem(source, f"is not valid YAML: {exc}", "check indentation, colons and quotes")
        ) from None


def _where(mark: Any) -> str:
    return f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "?"


def _load_json(text: str, source: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"key {key!r} appears twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise UserError(
            Problem(
                f"{source}:{exc.lineno}:{exc.colno}",
                f"is not valid JSON: {exc.msg}",
                "fix the spot shown: check commas, quotes and brackets",
            )
        ) from None
    except (ValueError, RecursionError) as exc:
        raise UserError(Problem(source, f"is not valid JSON: {exc}", "fix the JSON")) from None


class _Dumper(yaml.SafeDumper):
    """Double-quotes text holding line breaks that YAML would otherwise fold (NEL, CR, LS, PS)."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if any(ch in text for ch in "\x85\r\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def dump_answers(answers: Answers) -> str:
    """YAML in the schema's key order; unset facts are left out so the file stays short."""
    data = answers.model_dump(mode="json", exclude_none=True)
    if not data.get("facts"):
        data.pop("facts", None)
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
