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
from kapplan.models.plan import Change, HistoryEntry, Plan, PlannedSession, Status, Task, TaskStatus
from kapplan.planning.embedded import readable_protocol
from kapplan.wording import describe_deviation, when

MARKABLE: tuple[Status, ...] = ("done", "missed", "cancelled")
TASK_MARKABLE: tuple[TaskStatus, ...] = ("done", "skipped")
REEXPORT = "the calendar changed: export it again (kapplan export PLAN.json -o FILE.ics) so it shows this"


def find_session(plan: Plan, key: str) -> PlannedSession:
    """The session with ``key``; an unknown key is an input error with a hint."""
    session = plan.session(key)
    if session is not None:
        return session
    keys = [s.key for s in plan.sessions] + [t.key for t in plan.tasks]
    close = difflib.get_close_matches(key.lower(), keys, n=1, cutoff=0.5)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    what = "session or task" if plan.tasks else "session"
    raise InputError([], f"no {what} '{key}' in this plan{hint}; 'kapplan status' lists the keys")


@dataclass(frozen=True)
class MarkOutcome:
    plan: Plan
    changed: bool
    message: str
    warnings: list[str] = field(default_factory=list)
    previous: Status | TaskStatus = "planned"  # the session's (or task's) status before the mark


def mark_session(
    plan: Plan, key: str, status: str, *, now: datetime, at: datetime | None = None, command: str
) -> MarkOutcome:
    """Record what happened to one session (or task); ``at`` is the actual start of a done one.

    Marking a gate session done confirms the sessions waiting for it (SPEC §13)."""
    if plan.session(key) is None and plan.task(key) is not None:
        return mark_task(plan, key, status, now=now, at=at, command=command)
    if status not in MARKABLE:
        raise UsageError("a session is marked done, missed or cancelled ('skipped' is for tasks)")
    session = find_session(plan, key)
    zone = plan_zone(plan)
    if at is not None and status != "done":
        raise UsageError("--at records when a session actually started; it applies to 'done' only")
    if status == "done" and session.status == "tentative":
        raise InputError([], _still_tentative(plan, session))
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
            "tasks": _tasks_after(plan, sessions),
            "history": [*plan.history, HistoryEntry(at=now, command=command, changes=changes)],
        }
    )
    message = f"{key}: {session.status} -> {status}"
    if (start, end) != (session.start, session.end):
        message += f", {when(session.start, zone)} -> {when(start, zone)}"
    warnings = [*_deviations_of(new_plan, key), *_overlaps(new_plan, updated, zone)] if status == "done" else []
    if status == "done":
        from kapplan.lifecycle.gates import release_gated

        new_plan, notes = release_gated(new_plan, key, now=now, command=command)
        message = "\n".join([message, *notes])
    return MarkOutcome(new_plan, True, message, warnings, previous=session.status)


def _tasks_after(plan: Plan, sessions: list[PlannedSession]) -> list[Task]:
    """Tasks follow the sessions they are due with (SPEC §13); unchanged without measures."""
    if not plan.tasks:
        return plan.tasks
    from kapplan.planning.embedded import full_protocol_of
    from kapplan.planning.series import refresh_tasks

    return refresh_tasks(plan, full_protocol_of(plan), sessions, plan_zone(plan))


def _still_tentative(plan: Plan, session: PlannedSession) -> str:
    """Why a tentative session cannot be marked done yet."""
    from kapplan.planning.series import gate_of

    protocol = readable_protocol(plan)
    gate = gate_of(session, protocol) if protocol is not None else None
    waits = f"it waits for {gate}, which is not marked done" if gate else "its gate is not marked done"
    return (f"{session.key} is tentative: {waits}. Mark {gate or 'the gate session'} done first "
            "(that confirms the sessions waiting for it), or mark this session missed or cancelled")


def mark_task(plan: Plan, key: str, status: str, *, now: datetime, at: datetime | None, command: str) -> MarkOutcome:
    """A questionnaire task: done or skipped (SEQUENCE bumped, so calendars update it)."""
    if status not in TASK_MARKABLE:
        raise UsageError(f"{key} is a task (a questionnaire): it is marked done or skipped")
    if at is not None:
        raise UsageError("--at records when a session actually started; tasks take no time")
    task = plan.task(key)
    assert task is not None
    if task.status == status:
        return MarkOutcome(plan, False, f"{key} is already {status}; nothing changed", previous=task.status)
    updated = task.model_copy(update={"status": status, "sequence": task.sequence + 1})
    change = Change(key=key, from_={"status": task.status}, to={"status": status})
    new_plan = plan.model_copy(update={
        "tasks": [updated if t.key == key else t for t in plan.tasks],
        "history": [*plan.history, HistoryEntry(at=now, command=command, changes=[change])],
    })
    return MarkOutcome(new_plan, True, f"{key}: {task.status} -> {status}", previous=task.status)


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
