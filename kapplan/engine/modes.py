"""Strict search or deviation search: everything that differs between them, decided here.

The Engine (search.py) is given one mode when it is built and asks it, never
a flag: what a rule's upper bound does to a session's window, how
``per_week`` binds, which day ranges the look-ahead may prune with, and
(deviations only) what lateness a placed session is charged and whether a
cap on the total still admits a start.

Strict: every upper bound (gap, after and offset maxima, ``within``,
``max_span``) is a hard end of the window, and ``per_week`` fixes 7-day
treatment weeks from the step's first session.

Deviations (``allow_deviations``, once no strict plan exists): those upper
bounds become lateness instead, charged in minutes as sessions are placed (a
calendar bound in whole days of 1440); ``per_week`` only keeps each treatment
week to at most N. Minimum gaps, the dosing interval and the calendars stay
hard. The look-ahead, which may only rule out what no plan can do, then
prunes with lower bounds alone. The narrowing's trials add a cap on the total.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from kapplan.engine.lookahead import ANY_TIME, Spread, lower_days, range_days, upper_days
from kapplan.engine.slots import DST_SLACK
from kapplan.models.values import MINUTES_PER_DAY

if TYPE_CHECKING:
    from kapplan.engine.blame import Blame
    from kapplan.engine.bounds import Bounds, Settings, Upper, Window
    from kapplan.engine.layout import Entry
    from kapplan.models.protocol import Duration, Range

Charge = tuple[int, list[tuple[object, int]], bool, tuple[int, ...]]
"""What placing one position cost: (minutes, the running overruns it replaced, whether a
bound by the minute was passed (else only calendar ones), the positions those were measured from)."""

Admits = Callable[[int, int], bool]
"""Whether a start (instant, day) stays within the lateness cap."""


class Mode(Protocol):
    """What the search and the window computations ask instead of testing a flag."""

    @property
    def late(self) -> int:
        """Minutes of lateness charged to the positions placed so far."""

    @property
    def charged(self) -> Mapping[int, Charge]:
        """The positions charged lateness so far, with what each cost."""

    def upper(self, bounds: Bounds, w: Window, rule: str, calendar: bool, limit: int, running: object,
              refs: tuple[int, ...]) -> None:
        """Apply ``start <= limit`` (a day when ``calendar``, else an instant) to ``w``."""

    def per_week(self, bounds: Bounds, w: Window, entry: Entry, first: int, count: int,
                 text: Callable[[], str]) -> None:
        """Apply the step's ``per_week: count`` (``first``: the step's first position)."""

    def reach(self, value: Range, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
              slack: int = DST_SLACK) -> tuple[int, int | None]:
        """Fewest and most calendar days the look-ahead may assume ``value`` allows."""

    def most_days(self, bound: Duration | None, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
                  slack: int = DST_SLACK) -> int | None:
        """Most calendar days the look-ahead may assume ``start <= bound`` allows (None: no limit)."""

    def weekly(self, count: int | None) -> int | None:
        """The ``per_week`` the look-ahead may assume: exact 7-day weeks, or None."""

    def charge(self, k: int, s: int, d: int, uppers: list[Upper]) -> None:
        """Position k was placed at start s on day d, past none, some or all of ``uppers``."""

    def refund(self, k: int) -> None:
        """Position k (charged) is unplaced: undo its charge."""

    def cap(self, w: Window) -> Admits | None:
        """Narrow ``w`` to the lateness still allowed; the test each start must also pass (None: none)."""

    def blame_cap(self, blame: Blame, w: Window) -> None:
        """Blame, for a window's refusals, the positions that spent the lateness allowed."""

    def blame_entry(self, bounds: Bounds, blame: Blame, target: int) -> None:
        """Blame, when the look-ahead finds a step cannot be entered, what it did not look at."""


class StrictMode:
    """Every rule hard: upper bounds end the window, nothing is charged."""

    def __init__(self) -> None:
        self._charged: dict[int, Charge] = {}

    @property
    def late(self) -> int:
        return 0

    @property
    def charged(self) -> Mapping[int, Charge]:
        return self._charged

    def upper(self, bounds: Bounds, w: Window, rule: str, calendar: bool, limit: int, running: object,
              refs: tuple[int, ...]) -> None:
        if calendar:
            bounds.high_day(w, limit, refs)
        else:
            bounds.high(w, limit, refs)

    def per_week(self, bounds: Bounds, w: Window, entry: Entry, first: int, count: int,
                 text: Callable[[], str]) -> None:
        """Exactly ``count`` in each 7-day treatment week counted from the first session."""
        week_start = bounds.day[first] + 7 * ((entry.index - 1) // count)
        bounds.low_day(w, week_start, (first,))
        bounds.high_day(w, week_start + 6, (first,))
        w.note("per_week", text)

    def reach(self, value: Range, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
              slack: int = DST_SLACK) -> tuple[int, int | None]:
        return range_days(value, earlier, later, slack)

    def most_days(self, bound: Duration | None, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
                  slack: int = DST_SLACK) -> int | None:
        return None if bound is None else upper_days(bound, earlier, later, slack)

    def weekly(self, count: int | None) -> int | None:
        return count

    def charge(self, k: int, s: int, d: int, uppers: list[Upper]) -> None:
        """Never called: strict windows hold no lateness bounds."""

    def refund(self, k: int) -> None:
        """Never called: nothing is charged."""

    def cap(self, w: Window) -> Admits | None:
        return None

    def blame_cap(self, blame: Blame, w: Window) -> None:
        """No cap, nothing to blame."""

    def blame_entry(self, bounds: Bounds, blame: Blame, target: int) -> None:
        """The look-ahead saw every bound; what it blames already says why."""


class DeviationMode:
    """Upper bounds become lateness: the ledger of what the placed positions are charged.

    ``within`` and ``max_span`` are one bound per step / per plan that many
    sessions measure against: each running overrun is charged once, by the
    session that first goes past it, and only the part past the earlier ones.
    """

    def __init__(self, cap: int | None = None) -> None:
        self.most = cap  # total lateness allowed (minutes), for the narrowing's trials
        self.late = 0
        self.over: dict[object, int] = {}  # running-overrun key -> minutes past it so far
        self.charged: dict[int, Charge] = {}

    def upper(self, bounds: Bounds, w: Window, rule: str, calendar: bool, limit: int, running: object,
              refs: tuple[int, ...]) -> None:
        w.uppers.append((rule, calendar, limit, running, refs))

    def per_week(self, bounds: Bounds, w: Window, entry: Entry, first: int, count: int,
                 text: Callable[[], str]) -> None:
        """At most ``count`` in a treatment week: the week of the occurrence ``count`` back is
        full, so this one starts a later week."""
        if entry.index > count:
            earlier = bounds.layout.steps[entry.step].occurrences[entry.index - 1 - count]
            f = bounds.day[first]
            bounds.low_day(w, f + 7 * ((bounds.day[earlier] - f) // 7 + 1), (earlier,))
            w.general.append((first, False))  # moving the first moves every week's edges

    def reach(self, value: Range, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
              slack: int = DST_SLACK) -> tuple[int, int | None]:
        return lower_days(value.min, earlier, later, slack), None

    def most_days(self, bound: Duration | None, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
                  slack: int = DST_SLACK) -> int | None:
        return None

    def weekly(self, count: int | None) -> int | None:
        return None

    def charge(self, k: int, s: int, d: int, uppers: list[Upper]) -> None:
        """Charge the minutes s (on day d) lies past each bound; remember how to undo it."""
        extra, exact = 0, False
        undo: list[tuple[object, int]] = []
        sources: list[int] = []
        for _rule, calendar, limit, running, refs in uppers:
            past = (d - limit) * MINUTES_PER_DAY if calendar else s - limit
            if past > 0:
                exact = exact or not calendar
                sources += refs
            if running is None:
                extra += max(0, past)
                continue
            before = self.over.get(running, 0)
            if past > before:
                extra += past - before
                undo.append((running, before))
                self.over[running] = past
        if extra or undo:
            self.late += extra
            self.charged[k] = (extra, undo, exact, tuple(sources))

    def refund(self, k: int) -> None:
        """Take back k's minutes and put back the running overruns it replaced, latest first."""
        extra, undo, _, _ = self.charged.pop(k)
        self.late -= extra
        for running, old in reversed(undo):
            self.over[running] = old

    def cap(self, w: Window) -> Admits | None:
        most = self.most
        if most is None:
            return None
        room = most - self.late
        for _rule, calendar, limit, running, _refs in w.uppers:
            over = self.over.get(running, 0) if running is not None else 0
            if calendar:
                w.hi_day = min(w.hi_day, limit + (over + room) // MINUTES_PER_DAY)
            else:
                w.hi = min(w.hi, limit + over + room)
        return self._admits(w.uppers, most) if w.uppers else None

    def _admits(self, uppers: list[Upper], most: int) -> Admits:
        """The cap test for a window's starts: reads the ledger when called, as it stands then."""
        over = self.over

        def admits(s: int, d: int) -> bool:
            extra = 0
            for _rule, calendar, limit, running, _refs in uppers:
                past = (d - limit) * MINUTES_PER_DAY if calendar else s - limit
                gone = over.get(running, 0) if running is not None else 0
                extra += max(0, past - gone)
            return self.late + extra <= most

        return admits

    def blame_cap(self, blame: Blame, w: Window) -> None:
        """Every earlier charge narrowed this window (a later start of that position
        only more), and so did the positions this window's own lateness runs from."""
        if self.most is None:
            return
        for p, (_extra, _undo, exact, sources) in self.charged.items():
            blame.add(p, monotone=True, exact=exact)
            blame.update(sources, exact=exact)
        for _rule, calendar, _limit, _running, refs in w.uppers:
            blame.update(refs, exact=not calendar)

    def blame_entry(self, bounds: Bounds, blame: Blame, target: int) -> None:
        """The look-ahead ignored the upper bounds, so blame all the window depends on."""
        refs = bounds.window_refs(target)
        refs.update(self._own_refs(bounds, target))
        blame.update(refs)

    def _own_refs(self, bounds: Bounds, j: int) -> Iterable[int]:
        """What a window reads here beyond the rules' references: the earlier occurrences
        ``per_week`` counts, and under a cap, every position charged."""
        entry = bounds.layout.entries[j]
        step = bounds.layout.steps[entry.step]
        out: list[int] = []
        if entry.followup is None and entry.index > 1 and step.model.per_week:
            out += step.occurrences[:entry.index - 1]
        if self.most is not None:
            out += self.charged
        return out


def mode_for(settings: Settings) -> Mode:
    """The one place the search's mode is chosen (a cap only matters with deviations)."""
    return DeviationMode(settings.lateness_cap) if settings.relaxed else StrictMode()
