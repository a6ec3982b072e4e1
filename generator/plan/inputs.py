"""What the planning functions read: the answers, every fact (given, measured, inferred or defaulted),
the catalog, the planning settings and the plan's date. Built once by `generator.plan.build_plan`."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from generator.plan.records import Assumption
from generator.record import Record

if TYPE_CHECKING:
    from generator.answers import Answers, EffectiveFacts
    from generator.catalog import Catalog
    from generator.plan.settings import Settings


class Inputs(Record):
    answers: Answers
    facts: EffectiveFacts
    catalog: Catalog
    settings: Settings
    today: date
    assumptions: list[Assumption] = []

    def text(self) -> str:
        """All free text of the answers, lower-cased, for keyword criteria."""
        a = self.answers
        parts = [a.use_case, a.current_approach, a.current_limitations, a.training_data, a.success_criteria]
        return " ".join(str(p or "") for p in parts).lower()
