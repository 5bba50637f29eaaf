"""``decide``: record a decision and plan what it chooses (SPEC §13).

A decision is made after its session took place, once: ``decide`` refuses
an unknown key, an unknown option, a decision session not yet marked done,
and a decision already recorded. The choice extends the plan's path (the
chosen branch's steps right after the decision step, then the schedule steps
that follow it), and the sessions not yet taken place are re-planned along
it exactly as ``reschedule`` does: done sessions stay where they happened,
every existing session keeps its key (so its calendar UID), new ones are
added, and the history records the decision and every change.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kapplan.lifecycle.reschedule import RescheduleOutcome, SessionChange, reschedule_plan
from kapplan.models.booking import Booking
from kapplan.models.errors import InputError
from kapplan.models.plan import Change, DecisionPoint, HistoryEntry, Plan
from kapplan.planning.embedded import client_of, clinic_of


@dataclass(frozen=True)
class DecideOutcome:
    """The plan with the decision recorded, and the sessions it placed or moved."""

    plan: Plan
    decision: DecisionPoint
    changes: list[SessionChange] = field(default_factory=list)
    note: str | None = None


def decide_plan(plan: Plan, key: str, option: str, *, now: datetime, allow_deviations: bool = False,
                command: str | None = None, bookings: Sequence[Booking] = ()) -> DecideOutcome:
    """Record ``option`` for the decision of session ``key`` and plan what follows."""
    decision = _open_decision(plan, key, option)
    chosen = decision.model_copy(update={"chosen": option, "at": now})
    command = command or f"decide {key} {option}"
    recorded = plan.model_copy(update={
        "decisions": [chosen if d.key == key else d for d in plan.decisions],
        "history": [*plan.history, HistoryEntry(at=now, command=command, changes=[
            Change(key=key, from_={"decision": None}, to={"decision": option})])],
    })
    outcome: RescheduleOutcome = reschedule_plan(recorded, now=now, client=client_of(plan), clinic=clinic_of(plan),
                                                 allow_deviations=allow_deviations, command=command,
                                                 bookings=bookings)
    result = outcome.plan if outcome.changed else recorded
    return DecideOutcome(_one_entry(result, len(plan.history)), chosen, outcome.changes, outcome.note)


def _open_decision(plan: Plan, key: str, option: str) -> DecisionPoint:
    """The decision of session ``key``, if it may be made now with ``option``."""
    decision = plan.decision(key)
    if decision is None:
        keys = [d.key for d in plan.decisions]
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
        listed = f"the plan's decisions: {', '.join(keys)}" if keys else "this plan has no decisions"
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError([], f"no decision '{key}' in this plan ({hint}{listed})")
    if decision.chosen is not None:
        when = f" on {decision.at:%Y-%m-%d}" if decision.at else ""
        raise InputError([], f"{key} is already decided: '{decision.chosen}'{when}; a decision is recorded once "
                             "(the plan's history keeps it)")
    if option not in decision.options:
        close = difflib.get_close_matches(option, decision.options, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InputError([], f"'{option}' is not an option of {key} ({hint}options: {', '.join(decision.options)})")
    session = plan.session(key)
    if session is None or session.status != "done":
        status = session.status if session is not None else "missing"
        raise InputError([], f"{key} is {status}: a decision is recorded after its session took place "
                             f"(kapplan mark PLAN.json {key} done)")
    return decision


def _one_entry(plan: Plan, before: int) -> Plan:
    """The decision and the re-plan it caused as one history entry, newest last."""
    added = plan.history[before:]
    if len(added) < 2:
        return plan
    merged = added[0].model_copy(update={"changes": [c for entry in added for c in entry.changes]})
    return plan.model_copy(update={"history": [*plan.history[:before], merged]})


__all__ = ["DecideOutcome", "decide_plan"]
