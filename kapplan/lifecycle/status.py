"""``status``: what is next, what awaits a mark, and deviations so far vs still planned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kapplan.lifecycle.actuals import actual_deviations
from kapplan.lifecycle.mark import MARKABLE
from kapplan.lifecycle.times import plan_zone
from kapplan.models.plan import Deviation, Plan, PlannedSession
from kapplan.planning.embedded import readable_protocol


@dataclass(frozen=True)
class StatusReport:
    """What `kapplan status` shows besides the table."""

    next: PlannedSession | None
    unmarked: list[PlannedSession]
    counts: dict[str, int]
    so_far: list[Deviation]
    planned: list[Deviation]
    safety: list[str]


def plan_status(plan: Plan, now: datetime) -> StatusReport:
    """Next session, sessions awaiting a mark, and deviations so far vs still planned."""
    zone = plan_zone(plan)
    upcoming = [s for s in plan.sessions if s.status == "planned" and s.start >= now]
    unmarked = [s for s in plan.sessions if s.status == "planned" and s.start < now]
    counts: dict[str, int] = {
        status: sum(s.status == status for s in plan.sessions) for status in ("planned", *MARKABLE)
    }
    happened = {s.key: s for s in plan.sessions if s.status == "done"}
    protocol = readable_protocol(plan)
    actual, safety = actual_deviations(protocol, happened, zone) if protocol else ([], [])
    pending = {s.key for s in plan.sessions if s.status != "done"}
    planned = [d for d in plan.deviations if d.key in pending]
    return StatusReport(upcoming[0] if upcoming else None, unmarked, counts, actual, planned, safety)
