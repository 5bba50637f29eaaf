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
from datetime import datetime
from typing import Literal

from kapplan.models.client import Client, Clinic
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


def carry_over(old: Plan, new: Plan, *, new_series: bool = False, keep_series: bool = False) -> Replan:
    """``new`` as the continuation of ``old``: same series, grown sequences,
    vanished sessions cancelled. A different client or protocol (or
    ``new_series``) starts a new series, and nothing is carried over, unless
    ``keep_series`` (a batch record is one series whatever its protocol)."""
    if new_series or not (keep_series or same_record(old, new)):
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


RecordOutcome = Literal["new", "kept", "replanned"]


def inputs_changed(old: Plan, new: Plan) -> bool:
    """Whether a fresh plan was made from other inputs than the recorded one:
    the protocol's bytes (sha256), the resolved client, the clinic."""
    return (old.protocol.sha256, old.client, old.clinic) != (new.protocol.sha256, new.client, new.clinic)


def continue_record(
    old: Plan | None, new: Plan, *, now: datetime, client: Client, clinic: Clinic | None
) -> tuple[Plan, RecordOutcome]:
    """A batch record over the plan a previous run wrote (SPEC §14).

    No earlier plan: ``new``. Same inputs: the earlier plan as it is (series,
    history, sequences untouched). Changed inputs: the earlier plan goes on
    under the new protocol, client and clinic; before anything happened (no
    history, nothing started) that is the fresh plan in the old series, else
    only the unmarked sessions from today on are planned again, as
    ``reschedule`` does, and the history records it."""
    if old is None:
        return new, "new"
    if not inputs_changed(old, new):
        return old, "kept"
    if not has_history(old) and all(s.start >= now for s in old.sessions):
        return carry_over(old, new, keep_series=True).plan, "replanned"
    from kapplan.lifecycle.reschedule import reschedule_plan

    moved = old.model_copy(update={"protocol": new.protocol, "warnings": new.warnings})
    outcome = reschedule_plan(moved, now=now, client=client, clinic=clinic,
                              command="batch: the record's protocol, client or clinic changed")
    plan = outcome.plan.model_copy(update={"client": new.client, "clinic": new.clinic})
    return plan, "replanned"
