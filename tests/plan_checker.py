"""An independent checker of placed sessions against SPEC §2 (shared by tests).

Written from the spec, not from the engine: it never imports kapplan.engine
or its search modules, works on datetimes and zoneinfo directly, and checks
every rule pair by pair. ``violations`` returns one line per broken rule (an
empty list means the plan is valid for the request).

With ``request.allow_deviations`` the upper bounds (gap/after/offset maxima,
``within``, ``max_span``) are not checked and ``per_week`` means "at most N per
treatment week"; everything else stays a hard rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.models.protocol import Duration, Protocol, Range


@dataclass(frozen=True)
class _At:
    """A session with its times as UTC instants."""

    key: str
    step: str
    session: str
    index: int
    follows: str | None
    start: datetime
    end: datetime


def expected_keys(protocol: Protocol) -> list[tuple[str, str, str, int, str | None]]:
    """(key, step, session, index, follows) in placement order, from the protocol alone."""
    out = []
    for step in protocol.schedule:
        for n in range(1, step.count + 1):
            out.append((f"{step.key}-{n}", step.key, step.session, n, None))
            for follow in step.followed_by:
                if follow.on is None or n in follow.on:
                    out.append((f"{step.key}-{n}.{follow.id or follow.session}", step.key, follow.session, n,
                                f"{step.key}-{n}"))
    return out


def _local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _clock(moment: time | None) -> int:
    return 1440 if moment is None else moment.hour * 60 + moment.minute


def _fits_weekly(start: datetime, end: datetime, windows: Any, zone: ZoneInfo) -> bool:
    day = start.astimezone(zone).date()
    for window in windows:
        if day.weekday() not in window.days:
            continue
        low = _local_instant(day, _clock(window.start), zone)
        high = _local_instant(day, _clock(window.end), zone)
        if low <= start and end <= high:
            return True
    return False


def _wall_time_ok(moment: datetime, zone: ZoneInfo) -> bool:
    naive = moment.astimezone(zone).replace(tzinfo=None)
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    return first.utcoffset() == second.utcoffset()


def _bound_ok(bound: Duration, ref: datetime, moment: datetime, zone: ZoneInfo, upper: bool) -> bool:
    if bound.calendar:
        days = (moment.astimezone(zone).date() - ref.astimezone(zone).date()).days
        return days <= bound.days if upper else days >= bound.days
    minutes = (moment.astimezone(UTC) - ref.astimezone(UTC)).total_seconds() / 60  # elapsed, not wall-clock
    return minutes <= bound.minutes if upper else minutes >= bound.minutes


def _range_problems(rng: Range, ref: datetime, moment: datetime, zone: ZoneInfo, relaxed: bool) -> list[str]:
    out = []
    if not _bound_ok(rng.min, ref, moment, zone, upper=False):
        out.append(f"before the minimum {rng.min}")
    if rng.max is not None and not relaxed and not _bound_ok(rng.max, ref, moment, zone, upper=True):
        out.append(f"after the maximum {rng.max}")
    return out


def violations(protocol: Protocol, request: Any, placements: list[Any]) -> list[str]:
    """Every broken rule of SPEC §2 in these placements, as readable lines."""
    expected = expected_keys(protocol)
    got = [(p.key, p.step, p.session, p.index, p.follows) for p in placements]
    if got != expected:
        return [f"sessions differ from the placement order: expected {expected}, got {got}"]
    return partial_violations(protocol, request, placements)


def partial_violations(protocol: Protocol, request: Any, placements: list[Any]) -> list[str]:
    """Like ``violations`` for some of the sessions: rules needing a missing session are skipped.

    Every rule only gets harder as sessions are added, so a broken rule here
    stays broken in any completion (what a brute-force search needs).
    """
    zone: ZoneInfo = request.zone
    relaxed = bool(request.allow_deviations)
    fixed = {key: (s.astimezone(UTC), e.astimezone(UTC)) for key, (s, e) in request.fixed.items()}
    out: list[str] = []
    for p in placements:
        if p.start.tzinfo is None or p.end.tzinfo is None:
            return [f"{p.key}: naive datetime"]
        if str(p.start.tzinfo) != str(zone) or str(p.end.tzinfo) != str(zone):
            out.append(f"{p.key}: not expressed in the client's zone")
    # Python compares and subtracts datetimes sharing a tzinfo by wall clock, which is
    # wrong across a DST change: every check below works on UTC instants.
    placements = [_At(p.key, p.step, p.session, p.index, p.follows, p.start.astimezone(UTC), p.end.astimezone(UTC))
                  for p in placements]
    by_key = {p.key: p for p in placements}
    for p in placements:
        out += [f"{p.key}: {problem}" for problem in _session_problems(protocol, request, p, fixed.get(p.key))]
    out += _pair_problems(protocol, request, placements, fixed)
    out += _step_problems(protocol, request, by_key, fixed, relaxed)
    span = protocol.constraints.max_span
    free = [p for p in placements if p.key not in fixed]
    if span is not None and not relaxed and free:
        first = min(placements, key=lambda p: p.start)
        last = max(placements, key=lambda p: p.start)
        if not _bound_ok(span, first.start, last.start, zone, upper=True):
            out.append(f"max_span: {first.key} to {last.key} exceeds {span}")
    return out


def _session_problems(protocol: Protocol, request: Any, p: Any, fixed: tuple[datetime, datetime] | None
                      ) -> list[str]:
    zone: ZoneInfo = request.zone
    session = protocol.sessions[p.session]
    out = []
    if fixed is not None:
        if (p.start, p.end) != fixed:
            out.append("a fixed session moved")
        return out
    if p.end.astimezone(UTC) - p.start.astimezone(UTC) != timedelta(minutes=session.duration.minutes):
        out.append("end is not start + duration")
    local = p.start.astimezone(zone)
    day = local.date()
    minute = local.hour * 60 + local.minute
    if local.second or local.microsecond or minute % request.grid_minutes:
        out.append("start is off the local grid")
    if not _wall_time_ok(p.start, zone):
        out.append("start is a skipped or repeated local time")
    if day < request.start_date or day > request.start_date + timedelta(days=request.horizon_days):
        out.append("outside the horizon")
    if request.not_before is not None and p.start < request.not_before:
        out.append("before not_before")
    if session.days is not None and day.weekday() not in session.days:
        out.append("on a weekday the session type does not allow")
    if session.time is not None and not (_clock(session.time.start) <= minute <= _clock(session.time.end)):
        out.append("start outside the session's time window")
    if any(r.start <= day <= r.end for r in request.unavailable):
        out.append("on an unavailable date")
    if day in request.holidays:
        out.append("on a client holiday")
    if not _fits_weekly(p.start, p.end, request.availability, zone):
        out.append("not inside one availability window")
    clinic = request.clinic
    if clinic is not None and session.setting == "in-person":
        clinic_day = p.start.astimezone(clinic.zone).date()
        if any(r.start <= clinic_day <= r.end for r in clinic.closed) or clinic_day in clinic.holidays:
            out.append("on a clinic closure or holiday")
        if not _fits_weekly(p.start, p.end, clinic.hours, clinic.zone):
            out.append("not inside the clinic's hours")
    return out


def _pair_problems(protocol: Protocol, request: Any, placements: list[Any], fixed: dict[str, Any]) -> list[str]:
    zone: ZoneInfo = request.zone
    interval = protocol.constraints.min_dosing_interval
    out = []
    for i, a in enumerate(placements):
        for b in placements[i + 1:]:
            if a.key in fixed and b.key in fixed:
                continue
            if a.start < b.end and b.start < a.end:
                out.append(f"{a.key} and {b.key} overlap")
            a_dosing = protocol.sessions[a.session].kind == "dosing"
            b_dosing = protocol.sessions[b.session].kind == "dosing"
            if a.start.astimezone(zone).date() == b.start.astimezone(zone).date():
                if (a_dosing and b.start > a.start) or (b_dosing and a.start > b.start):
                    out.append(f"{a.key} and {b.key}: a session starts later on a dosing day")
                if protocol.constraints.dosing_day == "alone" and (a_dosing or b_dosing):
                    out.append(f"{a.key} and {b.key}: share a dosing day (dosing_day: alone)")
            if a_dosing and b_dosing and interval is not None:
                early, late = sorted((a, b), key=lambda p: p.start)
                if not _bound_ok(interval, early.start, late.start, zone, upper=False):
                    out.append(f"{a.key} and {b.key}: closer than min_dosing_interval {interval}")
    return out


def _step_problems(protocol: Protocol, request: Any, by_key: dict[str, Any], fixed: dict[str, Any],
                   relaxed: bool) -> list[str]:
    zone: ZoneInfo = request.zone
    out: list[str] = []
    steps = protocol.schedule
    keys_of = {s.key: [k for k, st, *_ in expected_keys(protocol) if st == s.key] for s in steps}
    for i, step in enumerate(steps):
        first = by_key.get(f"{step.key}-1")
        if first is None:
            continue
        anchor_step = step.from_ or (steps[i - 1].key if i else None)
        if anchor_step is not None and all(k in by_key for k in keys_of[anchor_step]):
            anchor = max((by_key[k] for k in keys_of[anchor_step]), key=lambda p: p.start)
            if first.key not in fixed:
                out += [f"{first.key}: after {anchor.key} {m}" for m in
                        _range_problems(step.after, anchor.start, first.start, zone, relaxed)]
                if first.start <= anchor.start:
                    out.append(f"{first.key}: does not start after {anchor.key}")
                if step.from_ is None:
                    earlier = [by_key[k] for s in steps[:i] for k in keys_of[s.key] if k in by_key]
                    if any(first.start < p.end for p in earlier):
                        out.append(f"{first.key}: starts before an earlier step's session ended")
        out += _occurrence_problems(step, by_key, fixed, zone, relaxed)
        out += _gate_problems(step, steps, by_key)
    return out


def _gate_problems(step: Any, steps: list[Any], by_key: dict[str, Any]) -> list[str]:
    """SPEC §13 gates: an occurrence from ``from`` on starts after the named step's last
    occurrence has ended (whatever the order of ``requires`` entries)."""
    out: list[str] = []
    for gate in step.requires:
        named = next((s for s in steps if s.key == gate.step), None)
        if named is None:
            out.append(f"{step.key}: requires the unplaced step {gate.step}")
            continue
        last = by_key.get(f"{named.key}-{named.count}")
        for n in range(gate.from_, step.count + 1):
            occurrence = by_key.get(f"{step.key}-{n}")
            if occurrence is not None and last is not None and occurrence.start < last.end:
                out.append(f"{occurrence.key}: starts before its gate {last.key} ends")
    return out


def _occurrence_problems(step: Any, by_key: dict[str, Any], fixed: dict[str, Any], zone: ZoneInfo,
                         relaxed: bool) -> list[str]:
    out: list[str] = []
    first = by_key[f"{step.key}-1"]
    first_day = first.start.astimezone(zone).date()
    week_counts: dict[int, int] = {}
    for n in range(1, step.count + 1):
        occ = by_key.get(f"{step.key}-{n}")
        if occ is None:
            break
        specs = [f for f in step.followed_by if f.on is None or n in f.on]
        nxt = by_key.get(f"{step.key}-{n + 1}")
        for spec in specs:
            follow = by_key.get(f"{step.key}-{n}.{spec.id or spec.session}")
            if follow is None or follow.key in fixed:
                continue
            out += [f"{follow.key}: offset {m}" for m in
                    _range_problems(spec.offset, occ.start, follow.start, zone, relaxed)]
            if follow.start < occ.end:
                out.append(f"{follow.key}: starts before {occ.key} ends")
            if nxt is not None and nxt.key not in fixed and not follow.start < nxt.start:
                out.append(f"{follow.key}: not before {nxt.key}")
        week = (occ.start.astimezone(zone).date() - first_day).days // 7
        week_counts[week] = week_counts.get(week, 0) + 1
        if n == 1 or occ.key in fixed:
            continue
        prev = by_key[f"{step.key}-{n - 1}"]
        out += [f"{occ.key}: gap {m}" for m in _range_problems(step.gap, prev.start, occ.start, zone, relaxed)]
        if occ.start <= prev.start:
            out.append(f"{occ.key}: not after {prev.key}")
        if step.within is not None and not relaxed and not _bound_ok(step.within, first.start, occ.start, zone,
                                                                     upper=True):
            out.append(f"{occ.key}: not within {step.within} of {first.key}")
        if step.per_week is not None and not relaxed and week != (n - 1) // step.per_week:
            out.append(f"{occ.key}: in treatment week {week + 1}, expected {(n - 1) // step.per_week + 1}")
    if step.per_week is not None and relaxed and any(c > step.per_week for c in week_counts.values()):
        out.append(f"{step.key}: more than {step.per_week} in a treatment week")
    return out
