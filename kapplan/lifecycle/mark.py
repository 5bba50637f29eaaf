"""``mark``: record what happened to one session, appended to the plan's history.

Pure: the clock is an argument and a new Plan is returned. A change of time
or a cancellation bumps SEQUENCE, since calendars apply an update only when
it grows (RFC 5545 / 5546).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kapplan.lifecycle.actuals import actual_deviations
from kapplan.lifecycle.times import later_by, local, plan_zone
from kapplan.models.errors import InputError, UsageError
from kapplan.models.plan import Change, HistoryEntry, Plan, PlannedSession, Status
from kapplan.planning.embedded import readable_protocol
from kapplan.wording import describe_deviation, when

MARKABLE: tuple[Status, ...] = ("done", "missed", "cancelled")


def find_session(plan: Plan, key: str) -> PlannedSession:
    """The session with ``key``; an unknown key is an input error with a hint."""
    session = plan.session(key)
    if session is not None:
        return session
    keys = [s.key for s in plan.sessions]
    close = difflib.get_close_matches(key.lower(), keys, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InputError([], f"no session '{key}' in this plan{hint}; 'kapplan status' lists the keys")


@dataclass(frozen=True)
class MarkOutcome:
    plan: Plan
    changed: bool
    message: str
    warnings: list[str] = field(default_factory=list)
    previous: Status = "planned"  # the session's status before the mark


def mark_session(
    plan: Plan, key: str, status: str, *, now: datetime, at: datetime | None = None, command: str
) -> MarkOutcome:
    """Record what happened to one session; ``at`` is the actual start of a done one."""
    if status not in MARKABLE:
        raise UsageError("a session is marked done, missed or cancelled")
    session = find_session(plan, key)
    zone = plan_zone(plan)
    if at is not None and status != "done":
        raise UsageError("--at records when a session actually started; it applies to 'done' only")
    start, end = session.start, session.end
    if status == "done" and at is not None:
        start, end = local(at, zone), later_by(at, session.end - session.start, zone)
    if status == "done" and start > now:
        what = "the actual start" if at is not None else f"{key}'s planned start"
        raise UsageError(
            f"{what} ({when(start, zone)}) is after now; a session is marked done once it has "
            "started (give its actual start with --at)"
        )
    before = session_state(session)
    updated = session.model_copy(update={"status": status, "start": start, "end": end})
    after = session_state(updated)
    if _calendar_changed(session, updated):
        # Calendars apply an update only when SEQUENCE grows (RFC 5545 / 5546).
        updated = updated.model_copy(update={"sequence": session.sequence + 1})
    if before == after:
        return MarkOutcome(plan, False, f"{key} is already {status} at {when(start, zone)}; nothing changed",
                           previous=session.status)
    changes = [Change(key=key, from_=diff_states(before, after), to=diff_states(after, before))]
    sessions = sorted((updated if s.key == key else s for s in plan.sessions), key=lambda s: (s.start, s.key))
    new_plan = plan.model_copy(
        update={
            "sessions": sessions,
            "history": [*plan.history, HistoryEntry(at=now, command=command, changes=changes)],
        }
    )
    message = f"{key}: {session.status} -> {status}"
    if (start, end) != (session.start, session.end):
        message += f", {when(session.start, zone)} -> {when(start, zone)}"
    warnings = [*_deviations_of(new_plan, key), *_overlaps(new_plan, updated, zone)] if status == "done" else []
    return MarkOutcome(new_plan, True, message, warnings,
                       previous=session.status)


def _overlaps(plan: Plan, marked: PlannedSession, zone: Any) -> list[str]:
    """Sessions the marked one now overlaps in time (an ``--at`` typo, or a
    session that ran long into the next): said at once, never silently kept."""
    found = []
    for other in plan.sessions:
        if other.key == marked.key or other.status in ("missed", "cancelled"):
            continue
        if other.start < marked.end and marked.start < other.end:
            found.append(f"{marked.key} at {when(marked.start, zone)} overlaps {other.key} "
                         f"({other.status}, {when(other.start, zone)}-{other.end.astimezone(zone):%H:%M})")
    return found


def _deviations_of(plan: Plan, key: str) -> list[str]:
    """What the session just marked done broke, so the person marking it sees it at once."""
    protocol = readable_protocol(plan)
    if protocol is None:
        return []
    happened = {s.key: s for s in plan.sessions if s.status == "done"}
    found, safety = actual_deviations(protocol, happened, plan_zone(plan))
    return [describe_deviation(d) for d in found if d.key == key] + [n for n in safety if key in n.split()]


def _calendar_changed(old: PlannedSession, new: PlannedSession) -> bool:
    """Would the exported event differ: a new time, or a cancellation (missed/cancelled)?"""
    cancelled = {"missed", "cancelled"}
    return (old.start, old.end) != (new.start, new.end) or (old.status in cancelled) != (new.status in cancelled)


def session_state(session: PlannedSession) -> dict[str, Any]:
    return {"status": session.status, "start": session.start.isoformat(), "end": session.end.isoformat()}


def diff_states(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in mine.items() if other.get(name) != value}
