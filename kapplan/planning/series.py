"""What SPEC §13 adds to a plan besides dated sessions: the decisions along its
path, the tentative status of gated sessions, and questionnaire tasks.

Pure functions of the protocol, the choices made and the sessions placed, so
``plan``, ``mark``, ``reschedule`` and ``decide`` recompute them alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from kapplan.models.branches import ProtocolPath, decision_key, follow
from kapplan.models.plan import DecisionPoint, Plan, PlannedSession, Task
from kapplan.models.protocol import Measure, Protocol

LIVE = ("planned", "tentative", "done")
"""Statuses of sessions that take (or took) place where the plan has them: tasks follow them."""


def plan_path(protocol: Protocol, plan: Plan | None = None) -> ProtocolPath:
    """The steps the plan places: its protocol followed along the choices recorded."""
    return follow(protocol, plan.choices() if plan is not None else {})


def decision_points(path: ProtocolPath, protocol: Protocol, previous: Iterable[DecisionPoint] = ()) -> list[
        DecisionPoint]:
    """One entry per decision step on the path, keeping the choices already recorded."""
    known = {d.key: d for d in previous}
    out = []
    for step_key in path.decisions:
        step = protocol.step(step_key)
        assert step is not None
        assert step.decision is not None
        key = decision_key(step)
        out.append(known.get(key) or DecisionPoint(key=key, prompt=step.decision.prompt,
                                                   options=list(step.decision.options)))
    return out


def gate_of(session: PlannedSession, path: Protocol) -> str | None:
    """The key of the session a gated occurrence (or a follow-up of one) waits for."""
    step = path.step(session.step)
    if step is None:
        return None
    gate = step.gate_for(session.index)
    if gate is None:
        return None
    named = path.step(gate.step)
    return f"{named.key}-{named.count}" if named is not None else None


def apply_gates(sessions: list[PlannedSession], path: Protocol, *, bump: bool = True,
                done: set[str] | None = None) -> list[PlannedSession]:
    """Planned sessions whose gate is not done yet are tentative; once it is, planned again
    (with ``bump``, SEQUENCE grows where the status a calendar shows changes). ``done``:
    the keys of the sessions that took place, when ``sessions`` do not say it."""
    if done is None:
        done = {s.key for s in sessions if s.status == "done"}
    out = []
    for session in sessions:
        gate = gate_of(session, path) if session.status in ("planned", "tentative") else None
        wanted = session.status if gate is None else ("planned" if gate in done else "tentative")
        if wanted != session.status:
            session = session.model_copy(update={"status": wanted, "sequence": session.sequence + bump})
        out.append(session)
    return out


# --------------------------------------------------------------------------- tasks


def compute_tasks(protocol: Protocol, path: ProtocolPath, sessions: list[PlannedSession], zone: ZoneInfo,
                  previous: Iterable[Task] = ()) -> list[Task]:
    """Every measure's tasks from the sessions as placed; done and skipped tasks stay."""
    earlier = {t.key: t for t in previous}
    kept = {key: t for key, t in earlier.items() if t.status != "due"}
    days = _occurrence_days(sessions, zone)
    series = sorted(s.start.astimezone(zone).date() for s in sessions if s.status in LIVE)
    fresh: list[Task] = []
    for measure in protocol.measures:
        for n, (due, start) in enumerate(_due_dates(measure, path, days, series), start=1):
            fresh.append(Task(key=f"{measure.key}-{n}", measure=measure.key, instrument=measure.instrument,
                              due=due, window_start=start))
    merged = {t.key: kept.get(t.key) or _versioned(t, earlier.get(t.key)) for t in fresh}
    merged.update({key: task for key, task in kept.items() if key not in merged})
    return sorted(merged.values(), key=lambda t: (t.due, t.key))


def _versioned(task: Task, old: Task | None) -> Task:
    """A recomputed task keeps its sequence, one higher when its dates moved."""
    if old is None:
        return task
    moved = (old.due, old.window_start) != (task.due, task.window_start)
    return task.model_copy(update={"sequence": old.sequence + moved})


def refresh_tasks(plan: Plan, protocol: Protocol, sessions: list[PlannedSession], zone: ZoneInfo) -> list[Task]:
    """The plan's tasks after its sessions changed (``protocol``: the embedded one, as written)."""
    return compute_tasks(protocol, plan_path(protocol, plan), sessions, zone, plan.tasks)


def _occurrence_days(sessions: list[PlannedSession], zone: ZoneInfo) -> dict[str, list[date]]:
    """Local dates of each step's occurrences (not their follow-ups) that take place."""
    days: dict[str, list[date]] = {}
    for session in sessions:
        if session.follows is None and session.status in LIVE:
            days.setdefault(session.step, []).append(session.start.astimezone(zone).date())
    return {step: sorted(found) for step, found in days.items()}


def _due_dates(measure: Measure, path: ProtocolPath, days: dict[str, list[date]],
               series: list[date]) -> list[tuple[date, date]]:
    """(due, window start) of each task of one measure, in order."""
    window = timedelta(days=measure.window.days if measure.window is not None else 0)
    on_path = {step.key for step in path.protocol.schedule}
    if measure.at is not None:
        due = sorted({day for name in measure.at for day in days.get(name, [])})
    else:
        bounds = _every_bounds(measure, path, on_path, days, series)
        if bounds is None or measure.every is None or measure.every.days < 1:
            return []
        first, last = bounds
        step = timedelta(days=measure.every.days)
        due = []
        while first <= last:
            due.append(first)
            first += step
    return [(day, day - window) for day in due]


def _every_bounds(measure: Measure, path: ProtocolPath, on_path: set[str], days: dict[str, list[date]],
                  series: list[date]) -> tuple[date, date] | None:
    """First and last possible due date of an ``every`` measure; None when it has none (yet).

    A ``from`` step not placed (yet) starts nothing. An ``until`` step beyond an open
    decision ends the tasks, for now, at the end of what is planned; one on a branch not
    taken drops the measure."""
    if not series:
        return None
    if measure.from_ is not None:
        if not days.get(measure.from_):
            return None
        first = days[measure.from_][0]
    else:
        first = series[0]
    if measure.until is None:
        last = series[-1]
    elif days.get(measure.until):
        last = days[measure.until][-1]
    elif measure.until not in on_path and path.open is not None:
        last = series[-1]
    else:
        return None
    return first, last


__all__ = ["apply_gates", "compute_tasks", "decision_points", "gate_of", "plan_path", "refresh_tasks"]
