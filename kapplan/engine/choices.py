"""Plans beside the best one: why the first dose comes late, and plans to choose from (SPEC §12).

- ``delay``: each cause class (the client's absences, holidays, weekly
  windows, clinic resources) removed alone, and the first dosing date that
  gives; then the dose-sooner search, a binary search on the first dosing
  date whose trials are relaxed searches (as ``allow_deviations``) with the
  first dosing session held to that date, refusing a plan with a third
  deviation. Every search here shares one node budget (``Pool``); when it
  runs out the answer says so.
- ``regular``: each step's later occurrences held to its first occurrence's
  weekday and time of day, trying up to 20 starts of that first occurrence.

Dates here are the first pass's (earliest times): removing a cause or
holding a date never needs the time pass to say which date results. The
plans offered (sooner, regular) do get their times from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

from kapplan.engine.bounds import INF
from kapplan.engine.resources import Answers
from kapplan.engine.search import BudgetExhausted, Engine
from kapplan.engine.slots import Calendar, Shape
from kapplan.models.plan import Deviation
from kapplan.models.values import parse_weekly_window

if TYPE_CHECKING:
    from kapplan.engine import ScheduleRequest, ScheduleResult, _Context

MOST_DEVIATIONS = 2  # the dose-sooner trials refuse a third
REGULAR_TRIES = 20
ALL_WEEK = (parse_weekly_window("Mon-Sun 00:00-24:00"),)
CAUSES = ("absences", "holidays", "windows", "resources")


@dataclass
class Pool:
    """The node budget every search of one analysis shares."""

    left: int
    cut_short: bool = False

    def take(self, most: int) -> int:
        return max(0, min(most, self.left))

    def spend(self, engine: Engine) -> None:
        self.left -= engine.nodes
        if self.left <= 0:
            self.cut_short = True


@dataclass
class Delay:
    """What pushed the first dose back, and how soon it could be with deviations."""

    first_dose: date
    without: dict[str, date | None] = field(default_factory=dict)  # cause -> first dose without it
    sooner: ScheduleResult | None = None
    sooner_date: date | None = None
    complete: bool = True  # False: the budget ran out ("not searched to the end")


def delay(request: ScheduleRequest, found: date, allowed: date) -> Delay:
    """Causes and the dose-sooner search for a plan whose first dose is ``found``
    (``allowed``: the earliest the protocol's shape allows)."""
    from kapplan.engine import calendar_of

    pool = Pool(request.budget)
    out = Delay(found)
    calendar = calendar_of(request)  # the same for every search here but those removing a cause of it
    for cause in CAUSES:
        changed = _without(request, cause)
        if changed is not None:
            out.without[cause] = _first_dose_date(changed, pool, calendar if cause == "resources" else None)
    out.sooner, out.sooner_date = _sooner(request, found, allowed, pool, calendar)
    out.complete = not pool.cut_short
    return out


def _without(request: ScheduleRequest, cause: str) -> ScheduleRequest | None:
    """The request with one cause class removed (None: the request has none of it)."""
    clinic = request.clinic
    if cause == "absences":
        return replace(request, unavailable=()) if request.unavailable else None
    if cause == "holidays":
        if not request.holidays and not (clinic and clinic.holidays):
            return None
        capacity = request.capacity  # the clinic's holidays are its staff's days off too
        return replace(request, holidays={}, clinic=replace(clinic, holidays={}) if clinic else None,
                       capacity=replace(capacity, holidays={}, answers=Answers()) if capacity else None)
    if cause == "windows":
        return replace(request, availability=ALL_WEEK, clinic=replace(clinic, hours=ALL_WEEK) if clinic else None)
    if getattr(request, "capacity", None) is None:
        return None
    return replace(request, capacity=None)


def _dosing_positions(context: _Context) -> list[int]:
    return [e.pos for e in context.layout.entries if e.dosing and e.pos not in context.fixed]


def _first_dose_date(request: ScheduleRequest, pool: Pool, calendar: Calendar | None) -> date | None:
    """The first pass's first dosing date (None: no plan, or the budget ran out)."""
    from kapplan.engine import _Context

    context = _Context(request, calendar=calendar)
    engine = context.engine(request.start_date, budget=pool.take(request.budget // 4))
    found = _run(engine)
    pool.spend(engine)
    if not found:
        return None
    return min((date.fromordinal(engine.day[p]) for p in _dosing_positions(context)), default=None)


def _run(engine: Engine) -> bool:
    try:
        return engine.run()
    except BudgetExhausted:
        return False


def _sooner(request: ScheduleRequest, found: date, allowed: date, pool: Pool, calendar: Calendar
            ) -> tuple[ScheduleResult | None, date | None]:
    """Binary search for the earliest first dosing date a relaxed plan with at most two
    deviations reaches (a trial cut short by the budget counts as "not that early").
    The day before ``found`` is tried first: most delayed plans have no sooner one,
    and a binary search whose every trial fails ends with that day anyway, after
    trying all the others. Only the plan kept gets its times of day."""
    from kapplan.engine import ScheduleResult, _Context, _timed

    low, high = allowed.toordinal(), found.toordinal() - 1
    best: tuple[Dated, date] | None = None
    relaxed = _Context(replace(request, allow_deviations=True), calendar=calendar)  # every trial's
    middle = high
    while low <= high and pool.left > 0:
        dated = _dose_by(relaxed, middle, pool)
        if dated is not None:
            best, high = (dated, date.fromordinal(middle)), middle - 1
        elif best is None:
            break  # not even the day before: no earlier one is tried
        else:
            low = middle + 1
        middle = (low + high) // 2
    if best is None:
        return None, None
    (context, engine, broken), day = best
    return _timed(context, engine, ScheduleResult(context.placements(engine), broken)), day


Dated = tuple["_Context", Engine, list[Deviation]]
"""A trial's plan before its times of day: its context, its search and its deviations."""


def _dose_by(context: _Context, day: int, pool: Pool) -> Dated | None:
    """A relaxed plan (``context``: the relaxed request's) with the first dosing session on
    or before ``day`` and at most two deviations, dated (None: none found)."""
    from kapplan.engine.deviations import deviations

    request = context.request
    dosing = _dosing_positions(context)
    if not dosing:
        return None
    first = dosing[0]
    pins = {first: (-INF, context.calendar.clock.midnight(day + 1) - 1)}
    engine = context.engine(request.start_date, relaxed=True, pins=pins, budget=pool.take(request.budget // 4))
    found = _run(engine)
    pool.spend(engine)
    if not found or min(engine.day[p] for p in dosing) > day:
        return None
    broken = deviations(context.layout, engine, request)
    if len(broken) > MOST_DEVIATIONS:
        return None
    return context, engine, broken


# --------------------------------------------------------------------------- regular


def regular(request: ScheduleRequest, strict: ScheduleResult) -> ScheduleResult | None:
    """Each step's occurrences on its first occurrence's weekday and time of day, where a
    plan allows it (up to 20 starts of that first occurrence per step); None when no step
    could be held so."""
    from kapplan.engine import _Context

    context = _Context(request)
    layout = context.layout
    starts = {p.key: p.start for p in strict.placements}
    held: dict[int, Shape] = {}  # position -> its regular shape
    pinned: dict[int, tuple[int, int]] = {}
    pool = Pool(request.budget)
    result = None
    for step in layout.steps:
        if len(step.occurrences) < 2 or any(p in context.fixed for p in step.occurrences):
            continue
        first = layout.entries[step.first]
        table = context.calendar.table(first.shape)
        strict_start = _instant(starts[first.key])
        day = context.calendar.clock.day_of(strict_start)
        tries = [s for d in range(day, day + 28) for s in table.slots(d) if s >= strict_start][:REGULAR_TRIES]
        for start in tries:
            shapes = dict(held) | _held_shapes(context, step.occurrences, start)
            found = _plan_with(request, shapes, pinned | {step.first: (start, start)}, pool, context.calendar)
            if found is not None:
                held, pinned, result = shapes, pinned | {step.first: (start, start)}, found
                break
            if pool.left <= 0:
                return result
    return result


def _instant(moment: object) -> int:
    from kapplan.engine.slots import instant_of

    return instant_of(moment)  # type: ignore[arg-type]


def _held_shapes(context: _Context, occurrences: tuple[int, ...], start: int) -> dict[int, Shape]:
    """Occurrences 2.. of a step held to the weekday and local time of ``start``."""
    moment = context.calendar.clock
    day = moment.day_of(start)
    minute = start - moment.midnight(day) if moment.uniform(day) else None
    if minute is None:
        from kapplan.engine.slots import moment_of

        local = moment_of(start, context.calendar.zone)
        minute = local.hour * 60 + local.minute
    weekday = date.fromordinal(day).weekday()
    out = {}
    for p in occurrences[1:]:
        shape = context.layout.entries[p].shape
        out[p] = Shape(shape.duration, frozenset({weekday}), minute, minute, shape.clinic)
    return out


def _plan_with(request: ScheduleRequest, shapes: dict[int, Shape], pins: dict[int, tuple[int, int]],
               pool: Pool, calendar: Calendar) -> ScheduleResult | None:
    """The strict plan with some positions' shapes replaced and some pinned (None: none)."""
    from kapplan.engine import ScheduleResult, _Context, _timed

    context = _Context(request, calendar=calendar)
    for p, shape in shapes.items():
        context.layout.entries[p] = replace(context.layout.entries[p], shape=shape)
    engine = context.engine(request.start_date, pins=pins, budget=pool.take(request.budget // 4))
    found = _run(engine)
    pool.spend(engine)
    if not found:
        return None
    return _timed(context, engine, ScheduleResult(context.placements(engine), []))
