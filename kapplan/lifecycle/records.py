"""Plans are records (SPEC §14): a new plan written over an old one keeps what
calendars and people rely on.

Pure: both plans are arguments and a new Plan is returned. A calendar app
matches events by UID and applies an update only when SEQUENCE grows, so a
re-plan of the same client under the same protocol keeps the old ``series``
(hence every UID), bumps ``sequence`` exactly where a session's time or
status changed, and keeps a session that no longer exists as ``cancelled``
(so the calendar removes it instead of leaving a stale event behind).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kapplan.models.plan import Plan, PlannedSession


@dataclass(frozen=True)
class Replan:
    """A re-plan over an earlier plan: the plan to write and what it carried over."""

    plan: Plan
    series_kept: bool
    changed: list[str] = field(default_factory=list)  # keys whose sequence grew
    cancelled: list[str] = field(default_factory=list)  # keys kept only as cancelled


def has_history(plan: Plan) -> bool:
    """Whether the plan records anything that happened (a mark, a reschedule, a decision)."""
    return bool(plan.history)


def same_record(old: Plan, new: Plan) -> bool:
    """The same client under the same protocol: the calendar series continues."""
    return old.client.get("id") == new.client.get("id") and old.protocol.id == new.protocol.id


def carry_over(old: Plan, new: Plan, *, new_series: bool = False) -> Replan:
    """``new`` as the continuation of ``old``: same series, grown sequences,
    vanished sessions cancelled. A different client or protocol (or
    ``new_series``) starts a new series, and nothing is carried over."""
    if new_series or not same_record(old, new):
        return Replan(new, series_kept=False)
    before = {s.key: s for s in old.sessions}
    sessions: list[PlannedSession] = []
    changed: list[str] = []
    for session in new.sessions:
        previous = before.get(session.key)
        if previous is None:
            sessions.append(session)
            continue
        bump = _differs(previous, session)
        sessions.append(session.model_copy(update={"sequence": previous.sequence + bump}))
        if bump:
            changed.append(session.key)
    keys = {s.key for s in new.sessions}
    cancelled: list[str] = []
    for previous in old.sessions:
        if previous.key in keys:
            continue
        if previous.status != "cancelled":
            previous = previous.model_copy(update={"status": "cancelled", "sequence": previous.sequence + 1})
            cancelled.append(previous.key)
        sessions.append(previous.model_copy(update={"deviations": []}))
    sessions.sort(key=lambda s: (s.start, s.key))
    plan = new.model_copy(update={"series": old.series, "sessions": sessions})
    return Replan(plan, series_kept=True, changed=changed, cancelled=cancelled)


def _differs(old: PlannedSession, new: PlannedSession) -> int:
    """1 when a calendar must update the event: its time, status or planned dose changed."""
    return int((old.start, old.end, old.status, old.dose) != (new.start, new.end, new.status, new.dose))
