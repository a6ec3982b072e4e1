"""One exception hierarchy. The CLI catches `FtplanError` and prints each problem as `field: what — fix`."""

from __future__ import annotations

from generator.record import Record


class Problem(Record):
    """One thing wrong with the user's input: where it is, what is wrong and how to fix it."""

    field: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        return f"{text} — {self.fix}" if self.fix else text


class FtplanError(Exception):
    """Base of every error ftplan raises on purpose."""


class UserError(FtplanError):
    """The input is wrong (exit code 1). Carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class CatalogError(UserError):
    """A knowledge-base file (bundled or the user's own) does not validate."""
