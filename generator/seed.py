"""Moved to `generator.answers.seed`; this alias keeps `from generator.seed import fill` (cli.py) working
until that import is updated, then this file goes."""

from generator.answers.seed import FIELDS, OUTPUT_SECTIONS, fill, parse, parse_with_problems, template

__all__ = ["FIELDS", "OUTPUT_SECTIONS", "fill", "parse", "parse_with_problems", "template"]
