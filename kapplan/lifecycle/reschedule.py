"""A plan's life after `plan`: record what happened, re-plan what remains.

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

import difflib
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from kapplan.engine.deviations import describe_deviation
from kapplan.engine.layout import range_text
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import Explanation, InfeasibleError, InputError, KapplanError, UsageError
from kapplan.models.plan import Change, Deviation, HistoryEntry, Plan, PlannedSession, Status
from kapplan.models.protocol import Protocol
from kapplan.models.values import Duration, Range, format_minutes

Rule = Literal["gap", "after", "offset", "within"]
MARKABLE: tuple[Status, ...] = ("done", "missed", "cancelled")
_AT_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$", re.IGNORECASE)
AT_HELP = (
    "expected the actual start as ISO 8601 with an offset (2026-12-14T10:30-05:00) "
    "or a local time in the client's zone (2026-12-14 10:30)"
)


# --------------------------------------------------------------------------- time helpers


def plan_zone(plan: Plan) -> ZoneInfo:
    """The client's zone: every local date and time of the plan is read in it."""
    return ZoneInfo(str(plan.client.get("timezone") or "UTC"))


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone)


def later_by(moment: datetime, elapsed: timedelta, zone: ZoneInfo) -> datetime:
    """``moment + elapsed`` on instants (aware arithmetic would add wall-clock time)."""
    return (moment.astimezone(UTC) + elapsed).astimezone(zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``zone`` (a midnight lost to DST moves to 01:00)."""
    return strict_local(datetime.combine(day, time(0)), zone, lenient=True)


def strict_local(naive: datetime, zone: ZoneInfo, *, lenient: bool = False) -> datetime:
    """A wall-clock time in ``zone``; one that does not exist or occurs twice is an error."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    exists = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive
    if lenient:  # fold=0 of a skipped time is the instant the clocks jump to
        return first.astimezone(UTC).astimezone(zone)
    shown = naive.strftime("%Y-%m-%d %H:%M")
    if not exists:
        raise UsageError(
            f"--at: {shown} does not exist in {zone.key} (the clocks skip that hour); "
            "give the actual start with its UTC offset"
        )
    raise UsageError(
        f"--at: {shown} occurs twice in {zone.key} (the clocks go back); give the actual start "
        f"with its UTC offset, e.g. {first.isoformat(timespec='minutes')} or "
        f"{second.isoformat(timespec='minutes')}"
    )


def parse_actual_start(text: str, zone: ZoneInfo) -> datetime:
    """``--at``: ISO 8601 with an offset, or a local date and time read in ``zone``."""
    value = text.strip()
    if not _AT_FORM.match(value):
        raise UsageError(f"--at: {AT_HELP}")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(f"--at: no such date or time ({AT_HELP})") from None
    if moment.tzinfo is not None:
        return moment.astimezone(zone)
    return strict_local(moment, zone)


def when(moment: datetime, zone: ZoneInfo) -> str:
    """``Mon 2026-12-14 09:00``: how a session time is shown to the user."""
    return local(moment, zone).strftime("%a %Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- mark


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
    before = _state(session)
    updated = session.model_copy(update={"status": status, "start": start, "end": end})
    after = _state(updated)
    if _calendar_changed(session, updated):
        # Calendars apply an update only when SEQUENCE grows (RFC 5545 / 5546).
        updated = updated.model_copy(update={"sequence": session.sequence + 1})
    if before == after:
        return MarkOutcome(plan, False, f"{key} is already {status} at {when(start, zone)}; nothing changed")
    changes = [Change(key=key, from_=_diff(before, after), to=_diff(after, before))]
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
    return MarkOutcome(new_plan, True, message, _deviations_of(new_plan, key) if status == "done" else [])


def _deviations_of(plan: Plan, key: str) -> list[str]:
    """What the session just marked done broke, so the person marking it sees it at once."""
    protocol = _readable_protocol(plan)
    if protocol is None:
        return []
    happened = {s.key: s for s in plan.sessions if s.status == "done"}
    found, safety = actual_deviations(protocol, happened, plan_zone(plan))
    return [describe_deviation(d) for d in found if d.key == key] + [n for n in safety if key in n.split()]


def _calendar_changed(old: PlannedSession, new: PlannedSession) -> bool:
    """Would the exported event differ: a new time, or a cancellation (missed/cancelled)?"""
    cancelled = {"missed", "cancelled"}
    return (old.start, old.end) != (new.start, new.end) or (old.status in cancelled) != (new.status in cancelled)


def _state(session: PlannedSession) -> dict[str, Any]:
    return {"status": session.status, "start": session.start.isoformat(), "end": session.end.isoformat()}


def _diff(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in mine.items() if other.get(name) != value}


# --------------------------------------------------------------------------- status


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
    protocol = _readable_protocol(plan)
    actual, safety = actual_deviations(protocol, happened, zone) if protocol else ([], [])
    pending = {s.key for s in plan.sessions if s.status != "done"}
    planned = [d for d in plan.deviations if d.key in pending]
    return StatusReport(upcoming[0] if upcoming else None, unmarked, counts, actual, planned, safety)


def _readable_protocol(plan: Plan) -> Protocol | None:
    """Status is a read-only view: a plan without a usable protocol still shows its sessions."""
    try:
        return protocol_of(plan)
    except InputError:
        return None


def protocol_of(plan: Plan) -> Protocol:
    """The embedded protocol; a plan whose protocol no longer validates is bad input."""
    from pydantic import ValidationError

    try:
        return Protocol.model_validate(plan.protocol.definition)
    except ValidationError:
        raise InputError([], "the plan's embedded protocol is not valid; re-create the plan") from None


def embedded_client(plan: Plan) -> Client:
    """The client the plan was made for; a damaged record is bad input, not a crash."""
    from pydantic import ValidationError

    from kapplan.planning.build import client_from_plan

    try:
        return client_from_plan(plan)
    except ValidationError:
        raise InputError([], "the plan's client record is not valid; re-create the plan") from None


def embedded_clinic(plan: Plan) -> Clinic | None:
    from pydantic import ValidationError

    from kapplan.planning.build import clinic_from_plan

    try:
        return clinic_from_plan(plan)
    except ValidationError:
        raise InputError([], "the plan's clinic record is not valid; re-create the plan") from None


# --------------------------------------------------------------------------- actual deviations


def _measure(rule: Range, earlier: datetime, later: datetime, zone: ZoneInfo) -> tuple[int, str, int] | None:
    """(lateness in minutes, actual text) when outside ``rule``, else None.

    Calendar ranges compare local dates; others elapsed minutes. Earliness is
    negative lateness: a dose given too soon is a deviation too.
    """
    if rule.calendar:
        days = (local(later, zone).date() - local(earlier, zone).date()).days
        value, actual = days * 1440, f"{days}d"
    else:
        value = int((later - earlier).total_seconds() // 60)
        actual = format_minutes(value) if value >= 0 else f"-{format_minutes(-value)}"
    if value < rule.min.minutes:
        return value - rule.min.minutes, actual, -1
    if rule.max is not None and value > rule.max.minutes:
        return value - rule.max.minutes, actual, 1
    return None


def actual_deviations(
    protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo
) -> tuple[list[Deviation], list[str]]:
    """Deviations between sessions that took place, and minimum-interval breaches.

    Only pairs whose both ends happened are judged: the future is the engine's job.
    """
    found: list[Deviation] = []

    def judge(key: str, rule_name: Rule, rule: Range, earlier: datetime, later: datetime) -> None:
        result = _measure(rule, earlier, later, zone)
        if result is not None:
            found.append(
                Deviation(key=key, rule=rule_name, allowed=range_text(rule), actual=result[1], lateness_min=result[0])
            )

    for position, step in enumerate(protocol.schedule):
        occurrences = [happened.get(f"{step.key}-{n}") for n in range(1, step.count + 1)]
        first = occurrences[0]
        reference = _after_reference(protocol, position, happened)
        if first is not None and reference is not None:
            judge(first.key, "after", step.after, reference, first.start)
        for n, current in enumerate(occurrences, start=1):
            if current is None:
                continue
            previous = occurrences[n - 2] if n > 1 else None
            if previous is not None:
                judge(current.key, "gap", step.gap, previous.start, current.start)
            if first is not None and step.within is not None and n > 1:
                judge(current.key, "within", up_to(step.within), first.start, current.start)
            for follow in step.followed_by:
                attached = happened.get(f"{current.key}.{follow.key}")
                if attached is not None and follow.applies_to(n):
                    judge(attached.key, "offset", follow.offset, current.start, attached.start)
    found += _span_deviation(protocol, happened, zone)
    return found, _interval_breaches(protocol, happened, zone)


def _after_reference(protocol: Protocol, position: int, happened: dict[str, PlannedSession]) -> datetime | None:
    """Latest start of the step ``after`` is measured from, once all of it happened."""
    step = protocol.schedule[position]
    if position == 0:
        return None
    reference = protocol.step(step.from_) if step.from_ else protocol.schedule[position - 1]
    if reference is None:
        return None
    keys = step_keys(reference)
    if not keys or any(k not in happened for k in keys):
        return None
    return max(happened[k].start for k in keys)


def up_to(limit: Duration) -> Range:
    """``..limit`` in the limit's own mode (calendar days or elapsed time)."""
    return Range(Duration(0, limit.calendar), limit)


def step_keys(step: Any) -> list[str]:
    """Every session key a step places, follow-ups included."""
    keys = []
    for n in range(1, step.count + 1):
        keys.append(f"{step.key}-{n}")
        keys += [f"{step.key}-{n}.{f.key}" for f in step.followed_by if f.applies_to(n)]
    return keys


def _span_deviation(protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo) -> list[Deviation]:
    limit = protocol.constraints.max_span
    if limit is None or len(happened) < 2:
        return []
    ordered = sorted(happened.values(), key=lambda s: s.start)
    rule = up_to(limit)
    result = _measure(rule, ordered[0].start, ordered[-1].start, zone)
    if result is None or result[2] < 0:
        return []
    return [
        Deviation(key=ordered[-1].key, rule="max_span", allowed=str(limit), actual=result[1], lateness_min=result[0])
    ]


def _interval_breaches(protocol: Protocol, happened: dict[str, PlannedSession], zone: ZoneInfo) -> list[str]:
    """Dosing sessions that took place closer together than ``min_dosing_interval``."""
    interval = protocol.constraints.min_dosing_interval
    if interval is None:
        return []
    doses = sorted((s for s in happened.values() if s.kind == "dosing"), key=lambda s: s.start)
    rule = Range(interval)
    notes = []
    for earlier, later in pairwise(doses):
        result = _measure(rule, earlier.start, later.start, zone)
        if result is not None and result[2] < 0:
            notes.append(
                f"{earlier.key} and {later.key} took place {result[1]} apart; the protocol's "
                f"minimum dosing interval is {interval}"
            )
    return notes


# --------------------------------------------------------------------------- reschedule


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
) -> RescheduleOutcome:
    """Re-plan every session that has not happened, relative to those that did.

    Done sessions are fixed where they happened; planned sessions before
    ``from_date`` (when it lies in the future) are kept; everything else,
    missed and cancelled occurrences included, is placed again from
    ``max(from_date, client start)`` and never before ``now``.
    """
    protocol = protocol_of(plan)
    zone = ZoneInfo(client.timezone or plan_zone(plan).key)
    refuse_unmarked(plan, now)
    first_day = max(from_date or local(now, zone).date(), client.start or date.min)
    cutoff = local_midnight(first_day, zone)
    fixed = {
        s.key: (s.start, s.end)
        for s in plan.sessions
        if s.status == "done" or (s.status == "planned" and s.start < cutoff)
    }
    if all(s.key in fixed for s in plan.sessions):
        kept = sum(s.status == "planned" for s in plan.sessions)
        why = f"; {kept} planned session(s) before {first_day} are kept" if kept else ""
        return RescheduleOutcome(plan, [], f"nothing to re-plan: every session is done{why}")
    result = _schedule(protocol, client, clinic, fixed, max(cutoff, now), first_day, allow_deviations)
    from kapplan.planning.build import sessions_from_placements

    replanned = sessions_from_placements(list(result.placements), protocol, client, list(result.deviations))
    sessions, changes = _merge(plan, replanned, fixed, protocol, client, clinic, zone)
    happened = {s.key: s for s in sessions if s.status == "done"}
    deviations = _combine(list(result.deviations), actual_deviations(protocol, happened, zone)[0])
    sessions = [s.model_copy(update={"deviations": [d for d in deviations if d.key == s.key]}) for s in sessions]
    if not changes:
        return RescheduleOutcome(plan, [], "no changes: the remaining sessions keep their times")
    history = HistoryEntry(
        at=now,
        command=command,
        changes=[_history_change(c) for c in changes],
    )
    from kapplan.planning.build import client_record

    new_plan = plan.model_copy(
        update={
            "sessions": sessions,
            "deviations": deviations,
            "client": client_record(_without_repeats(client)),
            "clinic": clinic.model_dump(mode="json", exclude_none=True) if clinic else None,
            "history": [*plan.history, history],
        }
    )
    return RescheduleOutcome(new_plan, changes)


def _without_repeats(client: Client) -> Client:
    """``--unavailable`` adds to the list: giving the same week twice records it once."""
    unique = list(dict.fromkeys(client.unavailable))
    return client if unique == client.unavailable else client.model_copy(update={"unavailable": unique})


def refuse_unmarked(plan: Plan, now: datetime) -> None:
    """A session that started and is still `planned` may have happened: never re-plan it."""
    zone = plan_zone(plan)
    unmarked = [s for s in plan.sessions if s.status == "planned" and s.start < now]
    if unmarked:
        listed = ", ".join(f"{s.key} ({when(s.start, zone)})" for s in unmarked)
        raise InputError(
            [],
            f"{len(unmarked)} session(s) started before now but are not marked: {listed}. "
            "Mark each done, missed or cancelled first ('kapplan mark PLAN.json KEY done'), "
            "so a session that took place is never planned again",
        )


def _schedule(
    protocol: Protocol,
    client: Client,
    clinic: Clinic | None,
    fixed: dict[str, tuple[datetime, datetime]],
    not_before: datetime,
    first_day: date,
    allow_deviations: bool,
) -> Any:
    """Strict first; when only deviations would help, say which instead of applying them."""
    from kapplan.engine import schedule
    from kapplan.planning.build import build_request

    def run(relaxed: bool) -> Any:
        request = build_request(
            protocol,
            client,
            clinic,
            fixed=fixed,
            not_before=not_before,
            allow_deviations=relaxed,
            start_date=first_day,
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
    order = {key: n for n, key in enumerate(k for step in protocol.schedule for k in step_keys(step))}
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
        moved = (old.start, old.end) != (new.start, new.end) or old.status != "planned"
        if not moved and old.dose == new.dose:
            sessions.append(new.model_copy(update={"sequence": old.sequence}))
            continue
        updated = new.model_copy(update={"sequence": old.sequence + 1})
        sessions.append(updated)
        reason = _reason(old, causes, order, plan, protocol) if moved else _dose_reason(old, new)
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
        elif s.status == "planned":
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
    return step_keys(reference)[-1] if reference is not None else None


def binding_rule(session: PlannedSession, protocol: Protocol) -> str | None:
    """The protocol rule that ties a session to the one before it, in words."""
    step = protocol.step(session.step)
    if step is None:
        return None
    if session.follows is not None:
        follow_key = session.key.rsplit(".", 1)[-1]
        follow = next((f for f in step.followed_by if f.key == follow_key), None)
        return f"{session.key} must fall {range_text(follow.offset)} after {session.follows}" if follow else None
    if session.index > 1:
        return f"{session.key} must follow {step.key}-{session.index - 1} by {range_text(step.gap)}"
    position = protocol.schedule.index(step)
    if position == 0:
        return None
    reference = step.from_ or protocol.schedule[position - 1].key
    return f"{session.key} must start {range_text(step.after)} after the {reference} step"


def _combine(engine: list[Deviation], actual: list[Deviation]) -> list[Deviation]:
    """The engine's deviations plus those among sessions that happened, once each."""
    seen = {(d.key, d.rule) for d in engine}
    return engine + [d for d in actual if (d.key, d.rule) not in seen]


def _dose_reason(old: PlannedSession, new: PlannedSession) -> str:
    return f"planned dose recomputed: {_dose_text(old)} -> {_dose_text(new)}"


def _dose_text(session: PlannedSession) -> str:
    if session.dose is None or session.dose.amount_mg is None:
        return "set by the prescriber"
    return f"{session.dose.amount_mg:g} mg"


def _history_change(change: SessionChange) -> Change:
    before = _state(change.old) if change.old is not None else {}
    after = _state(change.new)
    if change.old is not None and change.old.dose != change.new.dose:
        before["planned_dose"], after["planned_dose"] = _dose_text(change.old), _dose_text(change.new)
    return Change(key=change.key, from_=_diff(before, after), to=_diff(after, before), reason=change.reason)
