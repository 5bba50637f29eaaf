"""``status``: what is next, what awaits a mark, and deviations so far vs still planned."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kapplan.lifecycle.actuals import actual_deviations
from kapplan.lifecycle.mark import MARKABLE
from kapplan.lifecycle.times import plan_zone
from kapplan.models.plan import DecisionPoint, Deviation, Plan, PlannedSession, Task
from kapplan.planning.embedded import readable_protocol

WAITING = ("planned", "tentative")


@dataclass(frozen=True)
class StatusReport:
    """What `kapplan status` shows besides the table."""

    next: PlannedSession | None
    unmarked: list[PlannedSession]
    counts: dict[str, int]
    so_far: list[Deviation]
    planned: list[Deviation]
    safety: list[str]
    due: list[Task] = field(default_factory=list)  # open tasks whose window has begun (today included)
    overdue: list[Task] = field(default_factory=list)  # open tasks past their due date
    decision: DecisionPoint | None = None  # the open decision: nothing after it is planned yet
    tentative: list[PlannedSession] = field(default_factory=list)  # waiting for their gate


def plan_status(plan: Plan, now: datetime) -> StatusReport:
    """Next session, sessions awaiting a mark, and deviations so far vs still planned."""
    zone = plan_zone(plan)
    upcoming = [s for s in plan.sessions if s.status in WAITING and s.start >= now]
    unmarked = [s for s in plan.sessions if s.status in WAITING and s.start < now]
    counts: dict[str, int] = {
        status: sum(s.status == status for s in plan.sessions) for status in ("planned", "tentative", *MARKABLE)
    }
    if not counts["tentative"]:
        del counts["tentative"]  # only plans with gates (SPEC §13) have any
    happened = {s.key: s for s in plan.sessions if s.status == "done"}
    protocol = readable_protocol(plan)
    actual, safety = actual_deviations(protocol, happened, zone) if protocol else ([], [])
    pending = {s.key for s in plan.sessions if s.status != "done"}
    planned = [d for d in plan.deviations if d.key in pending]
    today = now.astimezone(zone).date()
    open_tasks = [t for t in plan.tasks if t.status == "due"]
    return StatusReport(
        upcoming[0] if upcoming else None, unmarked, counts, actual, planned, safety,
        due=[t for t in open_tasks if t.window_start <= today <= t.due],
        overdue=[t for t in open_tasks if t.due < today],
        decision=plan.open_decision,
        tentative=[s for s in plan.sessions if s.status == "tentative"],
    )
