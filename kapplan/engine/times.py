"""The second pass of SPEC §2: times of day on the dates the first pass fixed.

The first pass (search.py, earliest times) decides every session's date. This
pass then walks the sessions in placement order and gives each a time:

- a session with an h/min target: the feasible time on its date nearest that
  target, measured from the sessions already timed;
- any other: the first feasible time of the ranking of SPEC §12 (the previous
  time of its step if preferred, the earliest preferred time, the previous
  time anywhere, the earliest time from the day's first preferred window on,
  the earliest time).

A candidate stands when the sessions after it can still be placed on their
dates: a search with every later session pinned to its date (``Settings.pins``)
within a node budget; running out rejects the candidate. The pass keeps a
*witness*, a complete plan agreeing with every time chosen so far (at first
the first pass's plan), so a candidate equal to the witness's time stands
without a search and, when nothing else does, the witness's time (the earliest
that stands) is taken.

A check searches only the sessions whose times can interact with the one being
timed: rules read times only within ``reach_days`` (the largest h/min bound,
plus a day each side), so once every later session lies that many days past
all the sessions being searched, the witness's times of those later sessions
stay valid whatever times the searched ones take, and the check stops there.
This keeps the pass linear in the number of sessions on real protocols.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from kapplan.engine.bounds import INF, Window
from kapplan.engine.search import BudgetExhausted, Engine
from kapplan.engine.slots import instant_of, moment_of
from kapplan.models.protocol import Duration, Protocol
from kapplan.models.values import MINUTES_PER_DAY, WeeklyWindow, parse_weekly_window

if TYPE_CHECKING:
    from kapplan.engine.layout import Layout

DEFAULT_PREFERENCE: tuple[WeeklyWindow, ...] = (parse_weekly_window("Mon-Fri 09:00-17:00"),)
"""SPEC §12: with no client ``prefer`` and no clinic ``hours_preferred``, in the client's zone."""


@dataclass(frozen=True)
class Preference:
    """Weekly windows a client would rather be seen in, read in ``zone``."""

    zone: ZoneInfo
    windows: tuple[WeeklyWindow, ...]


class PreferredHours:
    """The preferred intervals (instants) that touch each local day of the client."""

    def __init__(self, preference: Preference, zone: ZoneInfo) -> None:
        self.preference = preference
        self.zone = zone
        self._days: dict[int, list[tuple[int, int]]] = {}

    def intervals(self, day: int) -> list[tuple[int, int]]:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = self._compute(day)
        return found

    def _compute(self, day: int) -> list[tuple[int, int]]:
        first = instant_of(datetime.combine(date.fromordinal(day), time(), tzinfo=self.zone))
        last = instant_of(datetime.combine(date.fromordinal(day + 1), time(), tzinfo=self.zone))
        out = []
        for other in range(day - 1, day + 2):  # the preference's zone may be a day ahead or behind
            local = date.fromordinal(other)
            for window in self.preference.windows:
                if local.weekday() in window.days:
                    lo = _instant(local, window.start_minute, self.preference.zone)
                    hi = _instant(local, window.end_minute, self.preference.zone)
                    if lo < last and hi > first:
                        out.append((lo, hi))
        return sorted(out)

    def inside(self, day: int, start: int, duration: int) -> bool:
        """Starts and ends inside one preferred window (SPEC §12)."""
        return any(lo <= start and start + duration <= hi for lo, hi in self.intervals(day))

    def opening(self, day: int) -> int | None:
        """The start of the day's first preferred window (not before the day's midnight)."""
        spans = self.intervals(day)
        if not spans:
            return None
        midnight = instant_of(datetime.combine(date.fromordinal(day), time(), tzinfo=self.zone))
        return max(spans[0][0], midnight)


def _instant(day: date, minute: int, zone: ZoneInfo) -> int:
    """A wall-clock minute of a local date (aware arithmetic in Python is wall-clock)."""
    return instant_of(datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=minute))


def reach_days(protocol: Protocol, slack: int) -> int:
    """Days beyond which no rule between two sessions depends on their times of day."""
    longest = 0
    for bound in _minute_bounds(protocol):
        if not bound.calendar:
            longest = max(longest, bound.minutes)
    if longest == 0:
        return 0  # only sessions on one date interact (overlap, the dosing day); none crosses midnight
    return -(-(longest + slack) // MINUTES_PER_DAY) + 1


def _minute_bounds(protocol: Protocol) -> Iterable[Duration]:
    constraints = protocol.constraints
    for bound in (constraints.min_dosing_interval, constraints.max_span):
        if bound is not None:
            yield bound
    for step in protocol.schedule:
        ranges = [step.gap, step.after, *(f.offset for f in step.followed_by)]
        for rng in ranges:
            yield from (b for b in (rng.min, rng.max, rng.target) if b is not None)
        if step.within is not None:
            yield step.within


def previous_of(layout: Layout) -> list[int | None]:
    """Per position, the session whose time it copies first: the step's previous
    occurrence, or for a follow-up the previous follow-up of its ``followed_by`` entry."""
    out: list[int | None] = []
    last_follow: dict[tuple[int, str], int] = {}
    for entry in layout.entries:
        if entry.followup is None:
            out.append(entry.prev_occ)
            continue
        key = (entry.step, entry.followup.key)
        out.append(last_follow.get(key))
        last_follow[key] = entry.pos
    return out


def ranked(feasible: list[int], day: int, duration: int, previous: int | None,
           hours: PreferredHours) -> Iterator[int]:
    """SPEC §12's ranking of the feasible starts of one session on its day (ascending
    input), lazily: the first option usually stands, so the rest is rarely built."""
    seen: set[int] = set()
    for candidate in _options(feasible, day, duration, previous, hours):
        if candidate not in seen:
            seen.add(candidate)
            yield candidate


def _options(feasible: list[int], day: int, duration: int, previous: int | None,
             hours: PreferredHours) -> Iterator[int]:
    spans = hours.intervals(day)
    copied = [previous] if previous is not None and _contains(feasible, previous) else []
    yield from (s for s in copied if hours.inside(day, s, duration))  # (1)
    for lo, hi in spans:  # (2): each window's fitting starts, windows in order of their start
        yield from feasible[bisect_left(feasible, lo):bisect_right(feasible, hi - duration)]
    yield from copied  # (3)
    opening = hours.opening(day)
    if opening is not None:  # (4)
        yield from feasible[bisect_left(feasible, opening):]
    yield from feasible


def _contains(ordered: list[int], value: int) -> bool:
    i = bisect_left(ordered, value)
    return i < len(ordered) and ordered[i] == value


@lru_cache(maxsize=4096)
def _snap(minute: int, grid: int) -> int:
    """A copied time on the grid (nearest point; ties: the earlier)."""
    return (minute + (grid - 1) // 2) // grid * grid


class TimePass:
    """Times of day for one plan whose dates are fixed (see the module docstring)."""

    def __init__(self, engine: Engine, witness: list[int], hours: PreferredHours, protocol: Protocol,
                 budget: int, check_budget: int) -> None:
        self.engine = engine
        self.layout = engine.layout
        self.witness = list(witness)
        self.hours = hours
        self.remaining = budget
        self.check_budget = check_budget
        self.previous = previous_of(self.layout)
        self.fixed = engine.cfg.fixed
        self.reach = reach_days(protocol, engine.cal.clock.slack)
        n = len(self.layout)
        days = [INF if p in self.fixed else engine.cal.clock.day_of(witness[p]) for p in range(n)]
        self.days = days
        self.after_min = [INF] * (n + 1)  # earliest day of the positions from p on
        for p in range(n - 1, -1, -1):
            self.after_min[p] = min(days[p], self.after_min[p + 1])

    def run(self) -> Engine:
        """Place every position at its chosen time in ``engine``; return it."""
        for k in range(len(self.layout)):
            if k in self.fixed:
                self.engine._pass_fixed(k)
                continue
            self._time(k)
        return self.engine

    def _time(self, k: int) -> None:
        engine = self.engine
        w = engine.window(k)
        chosen = None
        if self.remaining > 0:
            chosen = self._choose(k, w)
        engine.cfg.budget = INF  # placing the chosen (or the witness's) time is no search
        engine._place(k, self.witness[k] if chosen is None else chosen, w)

    def _choose(self, k: int, w: Window) -> int | None:
        engine = self.engine
        entry = self.layout.entries[k]
        self._allow(self.remaining)
        before = engine.nodes
        try:
            order = self._ranked(k, w, entry.duration)
            for candidate in order:
                self.remaining -= engine.nodes - before
                if candidate == self.witness[k]:
                    return candidate
                if self.remaining <= 0:
                    return None
                if self._stands(k, candidate, w):
                    return candidate
                self._allow(self.remaining)
                before = engine.nodes
        except BudgetExhausted:
            self.remaining = 0
        return None

    def _ranked(self, k: int, w: Window, duration: int) -> Iterator[int]:
        """k's feasible starts in the order they are tried: nearest the target first, else
        SPEC §12's ranking of the day's slots, each tested for room only when reached."""
        engine = self.engine
        one_day = engine.day_starts(k, w)
        if one_day is None:
            feasible = list(engine.candidates(k, w, engine._blame()))
            if w.target_instant is not None:
                return iter(feasible)  # the engine yields them nearest the target first
            feasible.sort()
            return ranked(feasible, self.days[k], duration, self._copied(k), self.hours)
        slots, free = one_day  # ranked() yields each slot once: each is tested once
        return (s for s in ranked(slots, self.days[k], duration, self._copied(k), self.hours) if free(s))

    def _copied(self, k: int) -> int | None:
        """The previous session's local time on k's day, snapped to the grid."""
        previous = self.previous[k]
        if previous is None:
            return None
        engine = self.engine
        moment = moment_of(engine.start[previous], engine.cal.zone)
        minute = _snap(moment.hour * 60 + moment.minute, engine.cal.grid)
        if minute >= MINUTES_PER_DAY:
            return None
        return engine.cal.clock.local_instant(self.days[k], minute)

    def _settled(self, k: int, m: int) -> bool:
        """With k..m-1 placed: do the witness's times of positions m.. still stand?

        They do when each of k..m-1 is either out of reach of every later
        position (more than ``reach`` days before the earliest) or back at the
        witness's time: every rule between the two groups then reads what it
        read in the witness, or only dates."""
        near = self.after_min[m] - self.reach  # from this day on, a session is within reach
        if self.days[k] >= near:
            return False
        start, witness = self.engine.start, self.witness
        for p in range(m - 1, k, -1):
            if self.days[p] >= near and start[p] != witness[p] and p not in self.fixed:
                return False
        return True

    def _stands(self, k: int, candidate: int, w: Window) -> bool:
        """Can the positions after k still be placed on their dates with k at ``candidate``?"""
        engine = self.engine
        engine._place(k, candidate, w)
        self._allow(min(self.remaining, self.check_budget))
        before = engine.nodes
        try:
            found = engine.run(first=k + 1, done=lambda m: self._settled(k, m))
        except BudgetExhausted:
            found = False
        self.remaining -= engine.nodes - before
        searched = [p for p in range(k + 1, len(self.layout)) if p not in self.fixed and engine.placed[p]]
        if found:
            for p in searched:
                self.witness[p] = engine.start[p]
        for p in reversed(searched):
            engine._unplace(p)
        engine._unplace(k)
        return found

    def _allow(self, nodes: int) -> None:
        self.engine.cfg.budget = self.engine.nodes + max(0, nodes)


def day_pins(engine: Engine, witness: list[int]) -> dict[int, tuple[int, int]]:
    """Every searched position held to the local date the first pass gave it."""
    clock = engine.cal.clock
    pins = {}
    for p, start in enumerate(witness):
        if p in engine.cfg.fixed:
            continue
        day = clock.day_of(start)
        pins[p] = (clock.midnight(day), clock.midnight(day + 1) - 1)
    return pins
