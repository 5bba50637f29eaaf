"""``reschedule``: re-plan what remains after what happened.

Pure: the clock (`now`), the client and the clinic are arguments, and every
function returns a new Plan instead of touching files. The rules of the game:

- `mark` records one session as done (optionally at its actual start), missed
  or cancelled; every change is appended to `plan.history`.
- `reschedule` keeps done sessions exactly where they happened and re-plans
  every other remaining session under the protocol, relative to them. A
  missed or cancelled occurrence is still owed by the protocol: it keeps its
  key (so its calendar UID), gets a new time, goes back to `planned` with
  `sequence + 1`; the miss stays in the history.
- A session that started before now and is still `planned` may have
  happened: reschedule refuses until it is marked, so a dose that was given
  but not marked is never planned again.
- A strict re-plan that cannot meet the protocol's bounds is never relaxed
  silently: it fails, naming the deviations `--allow-deviations` would accept.
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.engine import schedule
from kapplan.lifecycle.actuals import actual_deviations
from kapplan.lifecycle.mark import diff_states, session_state
from kapplan.lifecycle.times import local, local_midnight, plan_zone
from kapplan.models.booking import Booking
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import Explanation, InfeasibleError, InputError, KapplanError
from kapplan.models.plan import Change, Deviation, HistoryEntry, Plan, PlannedSession
from kapplan.models.protocol import Protocol
from kapplan.planning.build import build_request, sessions_from_placements
from kapplan.planning.embedded import client_record, clinic_record, full_protocol_of, protocol_of
from kapplan.planning.notes import refresh_notes, safety_notes
from kapplan.planning.series import apply_gates, decision_points, plan_path, refresh_tasks
from kapplan.wording import describe_deviation, planned_amount, when

WAITING = ("planned", "tentative")
"""Sessions that are still to come: planned, or tentative until their gate is done (SPEC §13)."""


@dataclass(frozen=True)
class SessionChange:
    """One session whose time or status a reschedule changed, and why."""

    key: str
    old: PlannedSession | None
    new: PlannedSession
    reason: str

    def line(self, zone: ZoneInfo) -> str:
        if self.old is None:
            return f"{self.key}: new session at {when(self.new.start, zone)} ({self.reason})"
        moved = (self.old.start, self.old.end) != (self.new.start, self.new.end)
        times = (
            f"{when(self.old.start, zone)} -> {when(self.new.start, zone)}"
            if moved
            else f"{when(self.new.start, zone)} (time unchanged)"
        )
        status = f", {self.old.status} -> {self.new.status}" if self.old.status != self.new.status else ""
        return f"{self.key}: {times}{status} ({self.reason})"


@dataclass(frozen=True)
class RescheduleOutcome:
    plan: Plan
    changes: list[SessionChange] = field(default_factory=list)
    note: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class DeviationsNeededError(InfeasibleError):
    """The strict re-plan failed, but one that records deviations exists."""

    def __init__(self, explanation: Explanation, deviations: list[Deviation]) -> None:
        super().__init__(explanation)
        lines = [
            "no feasible schedule without deviations: the remaining sessions can no longer meet "
            "the protocol's bounds relative to the sessions that took place",
            *[f"  - {b}" for b in explanation.blockers],
            "with --allow-deviations the plan would record:",
            *[f"  - {describe_deviation(d)}" for d in deviations],
            "rerun with --allow-deviations to accept them (status and every plan output show them)",
        ]
        KapplanError.__init__(self, "\n".join(lines))
        self.deviations = deviations


def reschedule_plan(
    plan: Plan,
    *,
    now: datetime,
    client: Client,
    clinic: Clinic | None,
    from_date: date | None = None,
    allow_deviations: bool = False,
    command: str = "reschedule",
    bookings: Sequence[Booking] = (),
) -> RescheduleOutcome:
    """Re-plan every session that has not happened, relative to those that did.

    Done sessions are fixed where they happened; planned sessions before
    ``from_date`` (when it lies in the future) are kept; everything else,
    missed and cancelled occurrences included, is placed again from
    ``max(from_date, client start)`` and never before ``now``. ``bookings``:
    other series' bookings in the clinic (busy time for its people and rooms).
    """
    protocol = protocol_of(plan)
    zone = ZoneInfo(client.timezone or plan_zone(plan).key)
    refuse_unmarked(plan, now)
    first_day = max(from_date or local(now, zone).date(), client.start or date.min)
    cutoff = local_midnight(first_day, zone)
    fixed = {
        s.key: (s.start, s.end)
        for s in plan.sessions
        if s.status == "done" or (s.status in WAITING and s.start < cutoff)
    }
    wanted = {key for step in protocol.schedule for key in step.session_keys()}
    if all(s.key in fixed for s in plan.sessions) and wanted <= fixed.keys():
        kept = sum(s.status in WAITING for s in plan.sessions)
        why = f"; {kept} planned session(s) before {first_day} are kept" if kept else ""
        return RescheduleOutcome(plan, [], f"nothing to re-plan: every session is done{why}")
    result = _schedule(protocol, client, clinic, fixed, max(cutoff, now), first_day, allow_deviations, bookings,
                       kept_people(plan, fixed, clinic))
    replanned = sessions_from_placements(list(result.placements), protocol, client, list(result.deviations))
    done = {s.key for s in plan.sessions if s.status == "done"}
    replanned = apply_gates(replanned, protocol, bump=False, done=done)  # tentative until the gate is done
    sessions, changes = _merge(plan, replanned, fixed, protocol, client, clinic, zone)
    happened = {s.key: s for s in sessions if s.status == "done"}
    deviations = _combine(list(result.deviations), actual_deviations(protocol, happened, zone)[0])
    deviations += out_of_order(sessions)
    sessions = [s.model_copy(update={"deviations": [d for d in deviations if d.key == s.key]}) for s in sessions]
    if not changes:
        return RescheduleOutcome(plan, [], "no changes: the remaining sessions keep their times")
    history = HistoryEntry(
        at=now,
        command=command,
        changes=[_history_change(c) for c in changes],
    )
    new_plan = plan.model_copy(
        update={
            "sessions": sessions,
            "tasks": refresh_tasks(plan, full_protocol_of(plan), sessions, zone),
            "decisions": decision_points(plan_path(full_protocol_of(plan), plan), full_protocol_of(plan),
                                         plan.decisions),
            "deviations": deviations,
            "warnings": refresh_notes(plan.warnings, safety_notes(protocol, client, sessions)),
            "client": client_record(_without_repeats(client)),
            "clinic": clinic_record(clinic),
            "history": [*plan.history, history],
        }
    )
    return RescheduleOutcome(new_plan, changes)


def out_of_order(sessions: Sequence[PlannedSession]) -> list[Deviation]:
    """A follow-up placed after the next occurrence of its step (SPEC §2 wants it
    before): possible only when that occurrence already took place and a
    relaxed re-plan had nowhere else to put it. Recorded as its own rule,
    ``order``, besides the ``offset`` it also breaks."""
    by_key = {s.key: s for s in sessions}
    occurrence = {(s.step, s.index): s for s in sessions if s.follows is None}
    found = []
    for session in sessions:
        parent = by_key.get(session.follows) if session.follows else None
        if parent is None or session.status in ("done", "missed", "cancelled"):
            continue
        following = occurrence.get((parent.step, parent.index + 1))
        if following is not None and following.status != "cancelled" and following.start < session.start:
            late = int((session.start - following.start).total_seconds() // 60)
            found.append(Deviation(key=session.key, rule="order", allowed=f"before {following.key}",
                                   actual=f"after {following.key}", lateness_min=late))
    return found


def _without_repeats(client: Client) -> Client:
    """``--unavailable`` adds to the list: giving the same week twice records it once."""
    unique = list(dict.fromkeys(client.unavailable))
    return client if unique == client.unavailable else client.model_copy(update={"unavailable": unique})


def refuse_unmarked(plan: Plan, now: datetime) -> None:
    """A session that started and is still `planned` may have happened: never re-plan it."""
    zone = plan_zone(plan)
    unmarked = [s for s in plan.sessions if s.status in WAITING and s.start < now]
    if unmarked:
        listed = ", ".join(f"{s.key} ({when(s.start, zone)})" for s in unmarked)
        raise InputError(
            [],
            f"{len(unmarked)} session(s) started before now but are not marked: {listed}. "
            "Mark each done, missed or cancelled first ('kapplan mark PLAN.json KEY done'), "
            "so a session that took place is never planned again",
        )


def _staff_reason(new: PlannedSession) -> str:
    """Same time, other people or room (SPEC §11): who serves it now."""
    people = ", ".join(f"{a.role} {a.id}" for a in new.assigned or ())
    room = f" in {new.room}" if new.room else ""
    return f"now with {people or 'no assigned staff'}{room}"


def kept_people(plan: Plan, fixed: dict[str, tuple[datetime, datetime]], clinic: Clinic | None
                ) -> dict[str, tuple[str, ...]]:
    """Continuity role -> who served it in the sessions that stay (SPEC §11: a re-plan keeps
    them, or hands the series over only as a deviation)."""
    if clinic is None or not clinic.staff:
        return {}
    out: dict[str, list[str]] = {}
    for session in plan.sessions:
        if session.key not in fixed:
            continue
        for person in session.assigned or ():
            if person.role in clinic.continuity and person.id not in out.setdefault(person.role, []):
                out[person.role].append(person.id)
    return {role: tuple(ids) for role, ids in out.items()}


def _schedule(
    protocol: Protocol,
    client: Client,
    clinic: Clinic | None,
    fixed: dict[str, tuple[datetime, datetime]],
    not_before: datetime,
    first_day: date,
    allow_deviations: bool,
    bookings: Sequence[Booking] = (),
    kept: dict[str, tuple[str, ...]] | None = None,
) -> Any:
    """Strict first; when only deviations would help, say which instead of applying them."""


    def run(relaxed: bool) -> Any:
        request = build_request(
            protocol,
            client,
            clinic,
            fixed=fixed,
            not_before=not_before,
            allow_deviations=relaxed,
            start_date=first_day,
            bookings=bookings,
            kept=kept,
        )
        return schedule(request)

    try:
        return run(allow_deviations)
    except InfeasibleError as err:
        if allow_deviations or err.explanation.search_limit:
            raise
        try:
            relaxed = run(True)
        except InfeasibleError:
            raise err from None
        raise DeviationsNeededError(err.explanation, list(relaxed.deviations)) from None


def _merge(
    plan: Plan,
    replanned: list[PlannedSession],
    fixed: dict[str, tuple[datetime, datetime]],
    protocol: Protocol,
    client: Client,
    clinic: Clinic | None,
    zone: ZoneInfo,
) -> tuple[list[PlannedSession], list[SessionChange]]:
    """New sessions keep their keys; sequence + 1 exactly where time, status or dose changed."""
    old_by_key = {s.key: s for s in plan.sessions}
    new_keys = {s.key for s in replanned}
    causes = _root_causes(plan, client, clinic, zone)
    order = {key: n for n, key in enumerate(k for step in protocol.schedule for k in step.session_keys())}
    sessions: list[PlannedSession] = []
    changes: list[SessionChange] = []
    for new in replanned:
        old = old_by_key.get(new.key)
        if old is not None and new.key in fixed:
            sessions.append(old)
            continue
        if old is None:
            sessions.append(new)
            changes.append(SessionChange(new.key, None, new, "the protocol places it"))
            continue
        moved = (old.start, old.end) != (new.start, new.end) or old.status != new.status
        restaffed = (old.assigned, old.room) != (new.assigned, new.room)
        if not moved and old.dose == new.dose and not restaffed:
            sessions.append(new.model_copy(update={"sequence": old.sequence}))
            continue
        updated = new.model_copy(update={"sequence": old.sequence + 1})
        sessions.append(updated)
        if moved:
            reason = _reason(old, causes, order, plan, protocol)
        else:
            reason = _dose_reason(old, new) if old.dose != new.dose else _staff_reason(new)
        changes.append(SessionChange(new.key, old, updated, reason))
    for old in plan.sessions:
        if old.key in new_keys:
            continue
        if old.status in ("cancelled", "done"):
            sessions.append(old)
            continue
        gone = old.model_copy(update={"status": "cancelled", "sequence": old.sequence + 1})
        sessions.append(gone)
        changes.append(SessionChange(old.key, old, gone, "no longer part of the protocol's plan"))
    sessions.sort(key=lambda s: (s.start, s.key))
    changes.sort(key=lambda c: (order.get(c.key, len(order)), c.key))
    return sessions, changes


def _root_causes(plan: Plan, client: Client, clinic: Clinic | None, zone: ZoneInfo) -> dict[str, str]:
    """What set the re-plan in motion, by session key: misses, off-plan sessions, new limits."""
    causes: dict[str, str] = {}
    for s in plan.sessions:
        day = local(s.start, zone).date()
        if s.status in ("missed", "cancelled"):
            causes[s.key] = f"{s.key} {s.status} on {day}"
        elif s.status == "done" and _was_moved_when_marked(plan, s.key):
            causes[s.key] = f"{s.key} took place on {day}, not as planned"
        elif s.status in WAITING:
            limit = _new_limit(s, client, clinic, zone)
            if limit is not None:
                causes[s.key] = limit
    return causes


def _new_limit(session: PlannedSession, client: Client, clinic: Clinic | None, zone: ZoneInfo) -> str | None:
    """Why a planned time no longer fits the client or the clinic, if it does not."""
    day = local(session.start, zone).date()
    blocked = next((r for r in client.unavailable if day in r), None)
    if blocked is not None:
        return f"client unavailable {blocked}"
    if not _inside(session, client.windows, zone):
        return "outside the client's availability (" + ", ".join(str(w) for w in client.windows) + ")"
    if clinic is None or session.setting != "in-person":
        return None
    clinic_zone = ZoneInfo(clinic.timezone)
    closed = next((r for r in clinic.closed if local(session.start, clinic_zone).date() in r), None)
    if closed is not None:
        return f"clinic closed {closed}"
    if not _inside(session, clinic.hours, clinic_zone):
        return "outside the clinic's hours"
    return None


def _inside(session: PlannedSession, windows: Any, zone: ZoneInfo) -> bool:
    """Whether the session lies within one weekly window, compared on the local clock."""
    start, end = local(session.start, zone), local(session.end, zone)
    first = start.hour * 60 + start.minute
    last = (end.date() - start.date()).days * 1440 + end.hour * 60 + end.minute
    return any(start.weekday() in w.days and w.start_minute <= first and last <= w.end_minute for w in windows)


def _was_moved_when_marked(plan: Plan, key: str) -> bool:
    return any(c.key == key and "start" in c.to for h in plan.history for c in h.changes)


def _reason(old: PlannedSession, causes: dict[str, str], order: dict[str, int], plan: Plan, protocol: Protocol) -> str:
    """``medicine-3 missed on 2026-12-14; medicine-4 must follow medicine-3 by 5d..14d``."""
    own = causes.get(old.key)
    if own is not None and old.status in ("missed", "cancelled"):
        return f"{own}; re-planned, the protocol still counts it"
    if own is not None:
        return own
    parts = [_inherited_cause(old, causes, order, plan, protocol)]
    parts.append(binding_rule(old, protocol))
    found = [part for part in parts if part is not None]
    return "; ".join(found) if found else "a better time is available"


def _inherited_cause(
    session: PlannedSession, causes: dict[str, str], order: dict[str, int], plan: Plan, protocol: Protocol
) -> str | None:
    """The cause up the chain of rules that binds this session, else the nearest earlier one."""
    current: PlannedSession | None = session
    while current is not None:
        before = predecessor(current, protocol)
        if before is None:
            break
        if before in causes:
            return causes[before]
        current = plan.session(before)
    position = order.get(session.key, len(order))
    earlier = [(order[k], text) for k, text in causes.items() if order.get(k, len(order)) < position]
    return max(earlier)[1] if earlier else None


def predecessor(session: PlannedSession, protocol: Protocol) -> str | None:
    """The key of the session a protocol rule measures this one from."""
    if session.follows is not None:
        return session.follows
    if session.index > 1:
        return f"{session.step}-{session.index - 1}"
    step = protocol.step(session.step)
    if step is None or protocol.schedule.index(step) == 0:
        return None
    reference = protocol.step(step.from_) if step.from_ else protocol.schedule[protocol.schedule.index(step) - 1]
    return reference.session_keys()[-1] if reference is not None else None


def binding_rule(session: PlannedSession, protocol: Protocol) -> str | None:
    """The protocol rule that ties a session to the one before it, in words."""
    step = protocol.step(session.step)
    if step is None:
        return None
    if session.follows is not None:
        follow_key = session.key.rsplit(".", 1)[-1]
        follow = next((f for f in step.followed_by if f.key == follow_key), None)
        return f"{session.key} must fall {follow.offset.as_written()} after {session.follows}" if follow else None
    if session.index > 1:
        return f"{session.key} must follow {step.key}-{session.index - 1} by {step.gap.as_written()}"
    position = protocol.schedule.index(step)
    if position == 0:
        return None
    reference = step.from_ or protocol.schedule[position - 1].key
    return f"{session.key} must start {step.after.as_written()} after the {reference} step"


def _combine(engine: list[Deviation], actual: list[Deviation]) -> list[Deviation]:
    """The engine's deviations plus those among sessions that happened, once each."""
    seen = {(d.key, d.rule) for d in engine}
    return engine + [d for d in actual if (d.key, d.rule) not in seen]


def _dose_reason(old: PlannedSession, new: PlannedSession) -> str:
    return f"planned dose recomputed: {planned_amount(old.dose)} -> {planned_amount(new.dose)}"


def _history_change(change: SessionChange) -> Change:
    before = session_state(change.old) if change.old is not None else {}
    after = session_state(change.new)
    if change.old is not None and change.old.dose != change.new.dose:
        before["planned_dose"], after["planned_dose"] = planned_amount(change.old.dose), planned_amount(change.new.dose)
    return Change(key=change.key, from_=diff_states(before, after), to=diff_states(after, before), reason=change.reason)
