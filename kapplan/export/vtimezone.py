"""VTIMEZONE blocks that every calendar client reads the same way.

Outlook reads only DTSTART, RRULE, TZOFFSETFROM and TZOFFSETTO of a
VTIMEZONE and ignores RDATE lists (which is what icalendar generates), so a
zone with daylight-saving rules is written as one yearly RRULE per
observance, derived from the zone's real transitions and checked against
them for every year covered. Where no such rule reproduces the transitions
(the rules changed within the span, or they follow no weekday pattern) each
transition becomes its own observance, DTSTART only; a zone without
transitions gets a single STANDARD block.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TIEBREAK_YEARS = 4  # later years consulted when two weekday rules fit the covered ones


@dataclass(frozen=True)
class Transition:
    """One change of a zone's UTC offset, at ``at`` (UTC)."""

    at: datetime
    offset_from: timedelta
    offset_to: timedelta
    name: str
    dst: bool

    @property
    def onset(self) -> datetime:
        """Local wall time of the change, read on the clock before it (RFC 5545 DTSTART)."""
        return (self.at + self.offset_from).replace(tzinfo=None)


@dataclass(frozen=True)
class Observance:
    """A STANDARD or DAYLIGHT sub-component."""

    daylight: bool
    start: datetime  # naive local onset
    offset_from: timedelta
    offset_to: timedelta
    name: str
    rrule: str | None = None


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # zoneinfo always knows the offset of an instant
    return offset


def find_transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """Every offset change between two UTC instants, to the second (daily scan + bisection)."""
    found: list[Transition] = []
    moment, before = start, _offset(zone, start)
    while moment < end:
        later = min(moment + _DAY, end)
        after = _offset(zone, later)
        if after != before:
            low, high = moment, later
            while high - low > _SECOND:
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if _offset(zone, middle) == before:
                    low = middle
                else:
                    high = middle
            local = high.astimezone(zone)
            found.append(Transition(high, before, after, local.tzname() or "", bool(local.dst())))
        moment, before = later, after
    return found


def nth_weekday(year: int, month: int, weekday: int, ordinal: int) -> date:
    """The ``ordinal``-th ``weekday`` (Mon=0) of a month; ordinal -1 is the last one."""
    if ordinal > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (ordinal - 1))
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _ordinals(day: date) -> set[int]:
    """Which RRULE ordinals (1-4 or -1 for last) name this weekday of its month."""
    out = {(day.day - 1) // 7 + 1} if day.day <= 28 else set()
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        out.add(-1)
    return out


def _occurs(zone: ZoneInfo, onset: datetime, offset_from: timedelta, offset_to: timedelta) -> bool:
    """Whether the zone really changes from ``offset_from`` to ``offset_to`` at local ``onset``."""
    instant = (onset - offset_from).replace(tzinfo=UTC)
    return _offset(zone, instant - _SECOND) == offset_from and _offset(zone, instant) == offset_to


def _yearly_rule(zone: ZoneInfo, changes: list[Transition], last_year: int) -> Observance | None:
    """One RRULE observance reproducing ``changes`` (one per covered year), or None."""
    first = changes[0]
    onsets = [c.onset for c in changes]
    same = {(o.month, o.weekday(), o.time()) for o in onsets}
    shape = {(c.offset_from, c.offset_to, c.name) for c in changes}
    if len(same) != 1 or len(shape) != 1:
        return None
    fitting = set.intersection(*(_ordinals(o.date()) for o in onsets))
    if not fitting:
        return None
    month, weekday, clock = same.pop()

    def later_fits(ordinal: int) -> int:
        years = range(last_year + 1, last_year + 1 + _TIEBREAK_YEARS)
        return sum(
            _occurs(zone, datetime.combine(nth_weekday(y, month, weekday, ordinal), clock),
                    first.offset_from, first.offset_to)
            for y in years
        )

    ordinal = max(sorted(fitting), key=lambda o: (later_fits(o), o == -1))
    if any(nth_weekday(o.year, month, weekday, ordinal) != o.date() for o in onsets):
        return None  # the rule must reproduce every covered transition exactly
    rule = f"FREQ=YEARLY;BYMONTH={month};BYDAY={ordinal}{_WEEKDAYS[weekday]}"
    daylight = first.offset_to > first.offset_from
    return Observance(daylight, first.onset, first.offset_from, first.offset_to, first.name, rule)


def _rule_observances(
    zone: ZoneInfo, changes: list[Transition], years: range
) -> list[Observance] | None:
    """Two yearly rules (daylight and standard) when every covered year fits them."""
    by_year: dict[int, list[Transition]] = {year: [] for year in years}
    for change in changes:
        by_year.setdefault(change.onset.year, []).append(change)
    if set(by_year) != set(years) or any(len(found) != 2 for found in by_year.values()):
        return None
    forward = [c for c in changes if c.offset_to > c.offset_from]
    back = [c for c in changes if c.offset_to < c.offset_from]
    if len(forward) != len(years) or len(back) != len(years):
        return None
    daylight, standard = _yearly_rule(zone, forward, years[-1]), _yearly_rule(zone, back, years[-1])
    if daylight is None or standard is None:
        return None
    if daylight.offset_to != standard.offset_from or standard.offset_to != daylight.offset_from:
        return None
    return sorted((daylight, standard), key=lambda r: r.start)


def _state_at(zone: ZoneInfo, year: int) -> Observance:
    """What the zone observes at local midnight on 1 January (a no-change observance)."""
    local = datetime(year, 1, 1, tzinfo=zone)
    offset = _offset(zone, local)
    return Observance(bool(local.dst()), local.replace(tzinfo=None), offset, offset, local.tzname() or "")


def _explicit_observances(zone: ZoneInfo, changes: list[Transition], year: int) -> list[Observance]:
    """The state on 1 January of ``year`` plus one DTSTART-only observance per transition."""
    out = [_state_at(zone, year)]
    out += [Observance(c.dst, c.onset, c.offset_from, c.offset_to, c.name) for c in changes]
    return out


def observances(tzid: str, first_year: int, last_year: int) -> list[Observance]:
    """The observances covering ``first_year - 1`` through ``last_year``.

    The year before the first is included so that events early in the first
    year fall after an observance's onset.
    """
    zone = ZoneInfo(tzid)
    years = range(first_year - 1, last_year + 1)
    start = datetime(years[0], 1, 1, tzinfo=UTC) - _DAY
    end = datetime(years[-1] + 1, 1, 1, tzinfo=UTC) + _DAY
    changes = [c for c in find_transitions(zone, start, end) if c.onset.year in years]
    if not changes:
        state = _state_at(zone, years[0])
        epoch = datetime.combine(date(1970, 1, 1), time())
        return [Observance(False, epoch, state.offset_from, state.offset_to, state.name)]
    ruled = _rule_observances(zone, changes, years)
    return ruled if ruled is not None else _explicit_observances(zone, changes, years[0])


def _format_offset(offset: timedelta) -> str:
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


@lru_cache(maxsize=256)
def vtimezone_lines(tzid: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """The VTIMEZONE as unfolded content lines (every line is short: no folding needed)."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    for obs in observances(tzid, first_year, last_year):
        kind = "DAYLIGHT" if obs.daylight else "STANDARD"
        lines += [f"BEGIN:{kind}", f"DTSTART:{obs.start:%Y%m%dT%H%M%S}"]
        if obs.rrule:
            lines.append(f"RRULE:{obs.rrule}")
        lines += [
            f"TZOFFSETFROM:{_format_offset(obs.offset_from)}",
            f"TZOFFSETTO:{_format_offset(obs.offset_to)}",
        ]
        if obs.name:
            lines.append(f"TZNAME:{_escape(obs.name)}")
        lines.append(f"END:{kind}")
    lines.append("END:VTIMEZONE")
    return tuple(lines)


__all__ = ["Observance", "Transition", "find_transitions", "nth_weekday", "observances", "vtimezone_lines"]
