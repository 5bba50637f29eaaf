"""Why a session could not be placed, in words a coordinator can act on.

The search remembers the deepest position it could not place and the placed
positions at that moment. This module puts that state back and reads, day by
day over the session's allowed interval, what ruled each day out: the rules
tying it to other sessions, the client's week, dates off, holidays, the clinic,
and sessions already in the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING

from kapplan.engine.bounds import INF
from kapplan.engine.slots import day_span, moment_of
from kapplan.models.errors import Explanation
from kapplan.models.values import WEEKDAYS, DateRange, format_minutes

if TYPE_CHECKING:
    from kapplan.engine import ScheduleRequest
    from kapplan.engine.search import Engine

MAX_DATED = 6
NAMED_HOLIDAYS_WITHIN = 42
"""Days: over a longer stretch single holidays are not what blocks a session; they are counted."""


def explain(engine: Engine, request: ScheduleRequest, search_limit: bool = False) -> Explanation:
    position = max(engine.deepest, 0)
    engine.cfg.budget = INF  # putting the snapshot back is not search: nothing may cut it short
    engine.clear()
    _restore(engine, engine.snapshot)
    entry = engine.layout.entries[position]
    notes: list[tuple[str, str]] = []
    if _ready(engine, position):
        w = engine.window(position, notes)
        lo_day, hi_day = engine.day_range(w)
        notes += _series_rules(engine, position)
    else:
        lo_day, hi_day = _projected_range(engine, position)
        notes = _step_rules(engine, position)
    blockers = list(dict.fromkeys(text for _, text in notes))
    if lo_day > hi_day:
        blockers.append("these rules leave no date at all")
    else:
        blockers += _day_blockers(engine, request, position, lo_day, hi_day)
    if hi_day >= engine.cfg.last_day:
        blockers.append(f"the planning horizon ends {date.fromordinal(engine.cfg.last_day).isoformat()}")
    return Explanation(session=entry.key, blockers=blockers, search_limit=search_limit)


def _restore(engine: Engine, snapshot: list[int | None]) -> None:
    for p, start in enumerate(snapshot):
        if p in engine.cfg.fixed:
            engine._pass_fixed(p)
        elif start is None or engine.placed[p]:
            break
        else:
            engine._place(p, start)


def _ready(engine: Engine, position: int) -> bool:
    """Every position the session's rules refer to is placed."""
    return all(engine.placed[p] for p in range(position))


def _projected_range(engine: Engine, position: int) -> tuple[int, int]:
    entry = engine.layout.entries[position]
    step = engine.layout.steps[entry.step]
    placed = [engine.day[p] for p in range(step.first, position) if engine.placed[p]]
    low = max(placed) if placed else engine.cfg.start_day
    return low, engine.cfg.last_day


def _step_rules(engine: Engine, position: int) -> list[tuple[str, str]]:
    entry = engine.layout.entries[position]
    model = engine.layout.steps[entry.step].model
    first_key = f"{model.key}-1"
    out = []
    if entry.index > 1 and model.gap.max is not None:
        out.append(("gap", f"{model.key} sessions must fall {model.gap} apart"))
    if model.within is not None:
        out.append(("within", f"{entry.key} must start within {model.within} of {first_key}"))
    if model.per_week is not None:
        out.append(("per_week", f"{model.key} takes exactly {model.per_week} per treatment week"))
    if engine.cfg.max_span is not None:
        out.append(("max_span", f"the whole plan must fit in {engine.cfg.max_span}"))
    return out


def _series_rules(engine: Engine, position: int) -> list[tuple[str, str]]:
    """For a step's first session: the rules its later ones must keep, which the
    look-ahead checks from the first one's day on."""
    entry = engine.layout.entries[position]
    model = engine.layout.steps[entry.step].model
    if not entry.is_occurrence or entry.index != 1 or model.count < 2:
        return []
    out = [("gap", f"{model.key} sessions must fall {model.gap} apart")]
    if model.within is not None:
        out.append(("within", f"all {model.key} sessions must start within {model.within} of {entry.key}"))
    if model.per_week is not None:
        out.append(("per_week", f"{model.key} takes exactly {model.per_week} per treatment week"))
    return out


def _day_blockers(engine: Engine, request: ScheduleRequest, position: int, lo_day: int, hi_day: int) -> list[str]:
    entry = engine.layout.entries[position]
    shape = entry.shape
    session = request.protocol.sessions[entry.session]
    cal = engine.cal
    table = cal.table(shape)
    days = range(lo_day, hi_day + 1)
    out: list[str] = []
    weekdays_off = sorted({wd for wd in (date.fromordinal(d).weekday() for d in days) if not cal.windows[wd]})
    if weekdays_off:
        out.append(f"client unavailable {_day_list(weekdays_off)}")
    if shape.weekdays is not None:
        excluded = {date.fromordinal(d).weekday() for d in days} - shape.weekdays
        if excluded:
            out.append(f"{entry.session} sessions only on {_day_list(sorted(shape.weekdays))}")
    open_weekdays = {wd for wd in range(7) if cal.windows[wd]}
    out += _dated(days, request.unavailable, request.holidays, "client unavailable", "holiday", open_weekdays)
    if shape.clinic and request.clinic is not None:
        out += _dated(days, request.clinic.closed, request.clinic.holidays, "clinic closed", "clinic holiday")
    longest = max((b - a for windows in cal.windows for a, b in windows), default=0)
    if longest < shape.duration:
        out.append(f"session needs {session.duration} but the longest availability window is "
                   f"{format_minutes(longest)}")
    elif session.time is not None:
        out.append(f"{entry.session} sessions must start {session.time}")
    if shape.clinic and request.clinic is not None and not any(table.slots(d) for d in days):
        hours = ", ".join(f"{_day_list(sorted(h.days))} {str(h).split(' ', 1)[1]}" for h in request.clinic.hours)
        out.append(f"in-person sessions must also fit the clinic's hours ({hours}, {request.clinic.zone.key})")
    out += _followups_without_room(engine, position, lo_day, hi_day)
    out += _collisions(engine, position, lo_day, hi_day)
    out += _resource_blockers(engine, position, lo_day, hi_day)
    return list(dict.fromkeys(out))


def _resource_blockers(engine: Engine, position: int, lo_day: int, hi_day: int) -> list[str]:
    """The clinic's people and rooms that take the starts the client could use (first weeks
    of the interval): "no therapist (kim) free on Mon 2026-12-14, Tue 2026-12-15 09:00-11:00"."""
    resources = engine.resources
    if resources is None or not resources.involved(position):
        return []
    entry = engine.layout.entries[position]
    table = engine.cal.table(entry.shape)
    zone = engine.cal.zone
    found: dict[str, list[tuple[int, int, int]]] = {}  # reason -> (day, first start, last start)
    for d in range(lo_day, min(hi_day, lo_day + 62) + 1):
        for s in table.slots(d):
            for reason in resources.shortfalls(position, s):
                days = found.setdefault(reason, [])
                if days and days[-1][0] == d:
                    days[-1] = (d, days[-1][1], s)
                else:
                    days.append((d, s, s))
    out = []
    for reason, days in found.items():
        dated = [f"{moment_of(a, zone):%a %Y-%m-%d %H:%M}" + (f"-{moment_of(b, zone):%H:%M}" if b > a else "")
                 for _, a, b in days[:MAX_DATED]]
        more = f" and {len(days) - MAX_DATED} more days" if len(days) > MAX_DATED else ""
        out.append(f"{reason} at the times the client can come on {', '.join(dated)}{more}")
    return out


def _followups_without_room(engine: Engine, position: int, lo_day: int, hi_day: int) -> list[str]:
    """Follow-ups that rule out days on which the occurrence itself would fit
    (an assessment 24 h after an infusion needs the client the next day too)."""
    entry = engine.layout.entries[position]
    cal = engine.cal
    own = cal.table(entry.shape).mask() & day_span(cal.bit(lo_day), cal.bit(hi_day))
    out = []
    for sibling in entry.siblings:
        follow = engine.layout.entries[sibling]
        assert follow.followup is not None
        if own & ~engine.followup_days(entry, follow):
            out.append(f"{follow.key} must follow {entry.key} by {follow.followup.offset}, "
                       f"and finds no available time then")
    return out


def _day_list(weekdays: list[int]) -> str:
    """``Sat-Sun``, ``Mon,Wed``: runs of consecutive weekdays joined."""
    runs: list[list[int]] = []
    for day in weekdays:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(WEEKDAYS[r[0]] if len(r) == 1 else f"{WEEKDAYS[r[0]]}-{WEEKDAYS[r[-1]]}" for r in runs)


def _dated(days: range, ranges: Iterable[DateRange], holidays: Mapping[date, str], off: str,
           holiday: str, open_weekdays: set[int] | None = None) -> list[str]:
    """Ranges and holidays in ``days``; a holiday inside a listed range, or on a
    weekday that is never open anyway, blocks nothing more and is left out."""
    first, last = date.fromordinal(days.start), date.fromordinal(days.stop - 1)
    listed = [r for r in ranges if r.start <= last and r.end >= first]
    out = [f"{off} {r}" for r in listed]
    closed = [
        (d, name)
        for d, name in sorted(holidays.items())
        if first <= d <= last
        and not any(r.start <= d <= r.end for r in listed)
        and (open_weekdays is None or d.weekday() in open_weekdays)
    ]
    if len(days) > NAMED_HOLIDAYS_WITHIN and closed:
        out.append(f"{len(closed)} {holiday}(s) in that time")
    else:
        out += [f"{d.isoformat()} is a {holiday} ({name})" for d, name in closed]
    if len(out) > MAX_DATED:
        out = out[:MAX_DATED] + [f"and {len(out) - MAX_DATED} more such dates"]
    return out


def _collisions(engine: Engine, position: int, lo_day: int, hi_day: int) -> list[str]:
    """Sessions already placed that take the permitted slots (first weeks of the interval)."""
    entry = engine.layout.entries[position]
    table = engine.cal.table(entry.shape)
    md = engine.cfg.min_dosing
    reach = 1 + (md.minutes // 1440 + 1 if md is not None and entry.dosing else 0)
    placed = [p for p in range(engine.n) if engine.placed[p] and p != position]
    found: list[str] = []
    zone = engine.cal.zone
    for d in range(lo_day, min(hi_day, lo_day + 62) + 1):
        near = [p for p in placed if abs(engine.day[p] - d) <= reach]
        for s in table.slots(d) if near else ():
            for p in near:
                reason = _conflict(engine, entry.dosing, entry.duration, s, d, p)
                if reason:
                    other = engine.layout.entries[p].key
                    when = moment_of(engine.start[p], zone).strftime("%Y-%m-%d %H:%M")
                    found.append(reason.format(other=other, when=when))
    unique = list(dict.fromkeys(found))
    if len(unique) > MAX_DATED:
        unique = unique[:MAX_DATED] + [f"and {len(unique) - MAX_DATED} more sessions in the way"]
    return unique


def _conflict(engine: Engine, dosing: bool, duration: int, s: int, d: int, p: int) -> str | None:
    other = engine.layout.entries[p]
    start, end = engine.start[p], engine.end[p]
    if s < end and start < s + duration:
        return "{other} takes that time ({when})"
    if engine.day[p] == d and engine.cfg.dosing_alone and (dosing or other.dosing):
        return "a dosing day is kept free of other sessions (dosing_day: alone; {other}, {when})"
    if engine.day[p] == d and other.dosing and start < s:
        return "nothing may start after a dosing session on the same day ({other}, {when})"
    if engine.day[p] == d and dosing and start > s:
        return "a dosing session must be the day's last ({other} starts later, {when})"
    md = engine.cfg.min_dosing
    if dosing and other.dosing and md is not None:
        apart = abs(d - engine.day[p]) < md.days if md.calendar else abs(s - start) < md.minutes
        if apart:
            return f"dosing sessions must be at least {md} apart " + "({other}, {when})"
    return None
