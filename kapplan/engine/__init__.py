"""The scheduling engine: a protocol and a client's calendar in, dated sessions out.

Pure and deterministic: no I/O, no clock; the caller passes the start date,
the zone, expanded holidays and (for a reschedule) the sessions that already
happened. This module is the engine's one public interface (nothing outside
``kapplan.engine`` imports the modules below) and its deviation policy:

- layout.py: the sessions in placement order and the references between them;
- slots.py: local time, DST, the static grid of permitted starts per day;
- bounds.py: the window each rule gives a session, from the placed ones;
- modes.py: strict search or deviation search, everything that differs;
- search.py: the depth-first search (look-ahead from lookahead.py,
  backjumping and learned nogoods from blame.py, a node budget);
- times.py: the second pass, times of day on the dates the search fixed
  (SPEC §12's ranking, each candidate checked by a search with dates pinned);
- infeasibility.py: why a session could not be placed, in words;
- deviations.py: what a relaxed plan breaks;
- resources.py: a clinic's people and rooms, and who fills each session;
- continuity.py: one person per continuity role for the whole series.

Budgets: ``budget`` nodes per search (about 10 microseconds each); the
strict search, then for deviations the relaxed search and its narrowing, each
get one. The scan for a later start date has its own, larger, budget.

Deviations (``allow_deviations``): only when no strict plan exists. Upper
bounds (gap, after and offset maxima, ``within``, ``max_span``) become
lateness, ``per_week`` becomes "at most N per week"; minimum gaps, the dosing
interval, availability and the dosing-day rule stay hard. The plan returned
has the least total lateness (minutes; a calendar bound counts whole days of
1440 minutes) when the searches finish within their budget, and among those
plans it is the best in the usual order. The narrowing (a binary search on the
lateness allowed) has its own node budget, a quarter of it per trial; a trial
that runs out counts as "no plan that late", so when budgets run out the
least-late plan found is returned, not necessarily the least late there is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from kapplan.engine.layout import Layout
from kapplan.engine.resources import BusyIndex, CapacityRules, Dropped, Resources
from kapplan.engine.search import INF, BudgetExhausted, Engine, Settings
from kapplan.engine.slots import Calendar, ClinicHours, blocked_days, instant_ceil, instant_of, moment_of
from kapplan.engine.times import Preference
from kapplan.models.booking import Assignment
from kapplan.models.errors import Explanation, InfeasibleError
from kapplan.models.plan import Deviation
from kapplan.models.protocol import Protocol
from kapplan.models.values import DateRange, WeeklyWindow

if TYPE_CHECKING:
    from kapplan.engine.choices import Delay

DEFAULT_BUDGET = 40_000
CONTINUITY_CONFIRMATIONS = 4
"""Later start dates the scan confirms with the full choice of one person per
continuity role (each a few searches) before it gives up, as when its budget runs out."""
SCAN_BUDGET = 200_000
"""Search nodes for the scan for a later start date: about 2 s on the reference
machine at the dearest nodes measured (7 microseconds each, bench/cases.py and
harder variants; most scans' nodes cost 1-2). Nodes, not seconds, so the answer
is the same on every machine and for every ``--jobs``. On the bundled protocols
with 139 hard clients it finds every date that 2,000,000 nodes find (and leaves
4 of their "none" undecided)."""


@dataclass(frozen=True)
class Placement:
    key: str
    step: str
    session: str
    index: int
    count: int
    follows: str | None
    start: datetime
    end: datetime
    assigned: tuple[Assignment, ...] | None = None  # None: the clinic lists no staff
    room: str | None = None


@dataclass(frozen=True)
class ClinicRules:
    zone: ZoneInfo
    hours: tuple[WeeklyWindow, ...]
    closed: tuple[DateRange, ...] = ()
    holidays: Mapping[date, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScheduleRequest:
    protocol: Protocol
    zone: ZoneInfo
    start_date: date
    availability: tuple[WeeklyWindow, ...]
    unavailable: tuple[DateRange, ...] = ()
    holidays: Mapping[date, str] = field(default_factory=dict)
    clinic: ClinicRules | None = None
    capacity: CapacityRules | None = None  # the clinic's people and rooms (SPEC §11)
    fixed: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    not_before: datetime | None = None
    allow_deviations: bool = False
    horizon_days: int = 365
    grid_minutes: int = 15
    budget: int = DEFAULT_BUDGET
    prefer: Preference | None = None  # None: Mon-Fri 09:00-17:00 in the client's zone (SPEC §12)
    times: bool = True  # False: the first pass only (every session at its earliest time)


@dataclass
class ScheduleResult:
    placements: list[Placement]
    deviations: list[Deviation]
    notes: list[str] = field(default_factory=list)  # planning notes (a preferred person not kept, ...)


def placement_order(protocol: Protocol) -> list[tuple[str, str, str, int, str | None]]:
    """(key, step, session, index, follows) of every session, in placement order."""
    layout = Layout(protocol, clinic=False)
    return [(e.key, layout.steps[e.step].key, e.session, e.index, e.follows) for e in layout.entries]


class _Context:
    """What every search for one request shares: positions and the slot calendar."""

    def __init__(self, request: ScheduleRequest, extra_days: int = 0, calendar: Calendar | None = None) -> None:
        """``calendar``: the slot calendar of an earlier context whose request differs from
        this one in nothing the calendar reads (its slots and masks are then worked out once)."""
        self.request = request
        first, last = _days(request, extra_days)
        self.calendar = calendar or calendar_of(request, extra_days)
        self.layout = Layout(request.protocol, clinic=request.clinic is not None)
        self.fixed = {
            self.layout.by_key[key]: (instant_of(s), max(instant_of(s), instant_ceil(e)))
            for key, (s, e) in request.fixed.items()
            if key in self.layout.by_key
        }
        capacity = request.capacity
        self.resources = None
        if capacity is not None and (capacity.clinic.staff or capacity.clinic.rooms):
            self.resources = Resources(capacity, self.layout, first, last)
        self.people: Resources | None = self.resources  # the continuity choice searches start from

    def engine(self, start: date, *, relaxed: bool = False, cap: int | None = None,
               budget: int | None = None, prune: bool = True, people: Resources | None = None,
               pins: dict[int, tuple[int, int]] | None = None, explain: bool = True) -> Engine:
        request = self.request
        constraints = request.protocol.constraints
        settings = Settings(
            start_day=start.toordinal(),
            last_day=start.toordinal() + request.horizon_days,
            not_before=instant_ceil(request.not_before) if request.not_before else -INF,
            fixed=self.fixed,
            min_dosing=constraints.min_dosing_interval,
            max_span=constraints.max_span,
            dosing_alone=constraints.dosing_day == "alone",
            relaxed=relaxed,
            lateness_cap=cap,
            budget=request.budget if budget is None else budget,
            prune=prune,
            pins=pins or {},
            explain=explain,
        )
        people = people or self.people
        return Engine(self.layout, self.calendar, settings, people.fork(people.fixed, frozenset(people.sticky))
                      if people is not None else None)

    def placements(self, engine: Engine) -> list[Placement]:
        zone = self.request.zone
        out = []
        for entry in self.layout.entries:
            given = self.request.fixed.get(entry.key)
            if given is not None:
                start, end = given[0].astimezone(zone), given[1].astimezone(zone)
            else:
                start, end = moment_of(engine.start[entry.pos], zone), moment_of(engine.end[entry.pos], zone)
            assigned, room = _assignments(engine.resources, entry.pos, start, end)
            out.append(Placement(entry.key, self.layout.steps[entry.step].key, entry.session, entry.index,
                                 entry.count, entry.follows, start, end, assigned, room))
        return out


def _days(request: ScheduleRequest, extra_days: int = 0) -> tuple[int, int]:
    """The first and last day (ordinals) a request's searches may look at."""
    if request.grid_minutes <= 0 or request.horizon_days < 0:
        raise ValueError("grid_minutes must be positive and horizon_days not negative")
    start = request.start_date.toordinal()
    return start - 2, start + request.horizon_days + extra_days + 1


def calendar_of(request: ScheduleRequest, extra_days: int = 0) -> Calendar:
    """The slot calendar of a request (``extra_days``: past its horizon, for the scan)."""
    first, last = _days(request, extra_days)
    clinic = None
    if request.clinic is not None:
        rules = request.clinic
        clinic = ClinicHours(rules.zone, rules.hours, rules.closed, rules.holidays, first, last)
    blocked = blocked_days(request.unavailable, request.holidays, first, last)
    return Calendar(request.zone, request.availability, blocked, clinic, first, last, request.grid_minutes)


def _assignments(people: Resources | None, pos: int, start: datetime, end: datetime
                 ) -> tuple[tuple[Assignment, ...] | None, str | None]:
    """Who fills each role of a placed session, and its room (None where the clinic lists none)."""
    if people is None:
        return None, None
    choice = people.choice.get(pos)
    assigned: tuple[Assignment, ...] | None = None
    if people.clinic.staff:
        assigned = ()
        if choice is not None:
            assigned = tuple(
                Assignment(need.role, people.members[person].id,
                           None if need.minutes is None or start + timedelta(minutes=need.minutes) >= end
                           else start + timedelta(minutes=need.minutes))
                for need, person in zip(people.needs[pos], choice.people, strict=True))
    room = None
    if choice is not None and choice.room is not None:
        room = people.rooms[choice.room].id
    return assigned, room


def _run(engine: Engine) -> bool | None:
    """True: plan found; False: none exists; None: the budget ran out."""
    try:
        return engine.run()
    except BudgetExhausted:
        return None


def _failure(context: _Context, engine: Engine, outcome: bool | None) -> InfeasibleError:
    from kapplan.engine.infeasibility import explain

    return InfeasibleError(explain(engine, context.request, search_limit=outcome is None))


def schedule(request: ScheduleRequest) -> ScheduleResult:
    """The best plan, or InfeasibleError explaining what blocks it."""
    context = _Context(request)
    if context.resources is not None:
        never = context.resources.unstaffable()
        if never:
            pos, why = never[0]
            raise InfeasibleError(Explanation(session=context.layout.entries[pos].key, blockers=[why]))
    if context.resources is not None and context.resources.continuity_roles():
        from kapplan.engine.continuity import schedule_with_continuity

        return schedule_with_continuity(context)
    return plain_schedule(context)


def plain_schedule(context: _Context) -> ScheduleResult:
    """The best plan with the people the context starts from (no continuity choice left)."""
    request = context.request
    engine = context.engine(request.start_date)
    outcome = _run(engine)
    if outcome:
        return _timed(context, engine, ScheduleResult(context.placements(engine), []))
    if not request.allow_deviations:
        raise _failure(context, engine, outcome)
    return _least_late(context)


def _least_late(context: _Context) -> ScheduleResult:
    """Relaxed search, then narrow the total lateness allowed (see module docstring)."""
    from kapplan.engine.deviations import deviations, lateness_unit

    request = context.request
    start = request.start_date
    best = context.engine(start, relaxed=True)
    outcome = _run(best)
    if not outcome:
        raise _failure(context, best, outcome)
    unit = lateness_unit(request.protocol)
    low, high = 0, best.late // unit
    room = request.budget  # all the narrowing together
    while low < high and room > 0:
        middle = (low + high) // 2
        trial = context.engine(start, relaxed=True, cap=middle * unit, budget=min(room, request.budget // 4))
        found = _run(trial)
        room -= trial.nodes
        if found:
            best, high = trial, trial.late // unit
        else:
            low = middle + 1  # none, or none found within the trial's budget
    placements = context.placements(best)
    return _timed(context, best, ScheduleResult(placements, deviations(context.layout, best, request)))


def _timed(context: _Context, dated: Engine, earliest: ScheduleResult, people: Resources | None = None
           ) -> ScheduleResult:
    """The second pass (times.py): times of day on the dates of ``dated``'s plan (``people``:
    the clinic's people as that search had them, when not the context's).

    Its budget is what the first pass left of one search's, and at least a
    quarter of one. A relaxed plan keeps its first-pass times should the times
    chosen add lateness (only bounds in hours or minutes can)."""
    from kapplan.engine.times import DEFAULT_PREFERENCE, Preference, PreferredHours, TimePass, day_pins

    request = context.request
    if not request.times:
        return earliest
    witness = list(dated.start)
    relaxed = dated.cfg.relaxed
    engine = context.engine(request.start_date, relaxed=relaxed, pins=day_pins(dated, witness), people=people)
    hours = PreferredHours(request.prefer or Preference(request.zone, DEFAULT_PREFERENCE), request.zone)
    budget = max(request.budget - dated.nodes, request.budget // 4)
    timed = TimePass(engine, witness, hours, request.protocol, budget, request.budget).run()
    found = earliest.deviations
    if relaxed:
        from kapplan.engine.deviations import deviations

        found = deviations(context.layout, timed, request)
        if sum(d.lateness_min for d in found) > sum(d.lateness_min for d in earliest.deviations):
            return earliest
    return ScheduleResult(context.placements(timed), found, list(earliest.notes))


def explain_delay(request: ScheduleRequest, found: date, allowed: date) -> Delay:
    """Why the first dose falls on ``found`` rather than near ``allowed``: each cause class
    removed alone, and the dose-sooner search (choices.py)."""
    from kapplan.engine.choices import delay

    return delay(request, found, allowed)


def regular_plan(request: ScheduleRequest, strict: ScheduleResult) -> ScheduleResult | None:
    """Each step on its first occurrence's weekday and time, where a plan allows (choices.py)."""
    from kapplan.engine.choices import regular

    return regular(request, strict)


def first_dose(result: ScheduleResult, dosing: set[str]) -> date | None:
    """The date of a result's first session of a dosing type (``dosing``: their names)."""
    days = [p.start.date() for p in result.placements if p.session in dosing]
    return min(days) if days else None


def preferred(request: ScheduleRequest) -> Callable[[datetime, datetime], bool]:
    """Whether a session (start, end) lies inside one of the request's preferred windows."""
    from kapplan.engine.times import DEFAULT_PREFERENCE, PreferredHours

    hours = PreferredHours(request.prefer or Preference(request.zone, DEFAULT_PREFERENCE), request.zone)

    def inside(start: datetime, end: datetime) -> bool:
        first = instant_of(start)
        return hours.inside(start.astimezone(request.zone).date().toordinal(), first, instant_of(end) - first)

    return inside


def earliest_workable_start(request: ScheduleRequest, limit_days: int = 365, budget: int = SCAN_BUDGET) -> date | None:
    """The nearest later start date with a plan; None when no start within ``limit_days`` has one.

    Raises BudgetExhausted when the scan's ``budget`` runs out before it knows
    either. The budget counts nodes, never seconds, so the answer is the same
    on every machine: each date tried costs its search's nodes and one per
    session (building the date's search is work too), and the searches skip
    noting where a plan gets stuck, which no one reads here.

    A plan from a later start can only use the horizon's extra days, so most
    dates fail fast. A start on a day no session can use has no plan the next
    start tried lacks (every session falls on a later day, and that start's
    horizon ends later), so such days are searched only once the next one has
    a plan.
    """
    context = _Context(request, extra_days=limit_days)
    if context.resources is not None and context.resources.unstaffable():
        return None  # no start date helps a session no one can serve
    calendar = context.calendar
    masks = [calendar.table(entry.shape).mask() for entry in context.layout.entries if entry.pos not in context.fixed]
    if not all(masks):
        return None
    usable = 0
    for mask in masks:
        usable |= mask
    spent = 0

    continuity = context.resources is not None and bool(context.resources.continuity_roles())
    confirmations = CONTINUITY_CONFIRMATIONS

    def works(day: date) -> bool | None:
        nonlocal spent, confirmations
        engine = context.engine(day, relaxed=request.allow_deviations, explain=False,
                                budget=max(0, min(request.budget, budget - spent)))
        found = _run(engine)
        spent += engine.nodes + engine.n
        if found and continuity:  # that search let any holder serve each session: confirm one person can
            if confirmations == 0:
                return None
            confirmations -= 1
            try:
                schedule(replace(request, start_date=day))
            except InfeasibleError as err:
                return None if err.explanation.search_limit else False
        return found

    waiting: list[date] = []
    unknown = False  # a date whose search was cut short, or left untried
    for offset in range(1, limit_days + 1):
        day = request.start_date + timedelta(days=offset)
        if offset < limit_days and not usable >> calendar.bit(day.toordinal()) & 1:
            waiting.append(day)
            continue
        found = works(day)
        if found:
            return _first_that_works(waiting, works, day)
        unknown = unknown or found is None or (spent >= budget and offset < limit_days)
        if spent >= budget:
            break
        waiting = []
    if unknown:
        raise BudgetExhausted
    return None


def _first_that_works(waiting: list[date], works: Callable[[date], bool | None], known: date) -> date:
    """The earliest of ``waiting`` (days before ``known``, which works, that no session
    can use) that works. Their plans are plans of every later one too, so those that
    work are the last few: a binary search. A search cut short keeps the later date."""
    low, high = 0, len(waiting)  # waiting[high:] and known work
    while low < high:
        middle = (low + high) // 2
        found = works(waiting[middle])
        if found is None:
            break
        if found:
            high = middle
        else:
            low = middle + 1
    return waiting[high] if high < len(waiting) else known


__all__ = [
    "BudgetExhausted",
    "BusyIndex",
    "CapacityRules",
    "ClinicRules",
    "Dropped",
    "Explanation",
    "InfeasibleError",
    "Placement",
    "Preference",
    "ScheduleRequest",
    "ScheduleResult",
    "earliest_workable_start",
    "explain_delay",
    "first_dose",
    "placement_order",
    "preferred",
    "regular_plan",
    "schedule",
]
