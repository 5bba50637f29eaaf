"""Day-level look-ahead: can the rest of the plan still be placed at all?

A relaxation of the real problem, used only to prune: each occurrence needs a
day on which its session type has some static slot, with every follow-up it
takes having a slot day within its offset, successive occurrences a ``gap``
apart, inside the step's ``per_week`` / ``within`` windows, the plan's
``max_span`` and the horizon; and a step's last occurrence must leave room to
enter the next step (when that step follows on rather than being tied to an
earlier one with ``from``), so a plan that cannot fit before the horizon is
seen from its first session. Interactions between sessions are ignored and
elapsed bounds are widened to whole days (with DST slack), so "no" here means
no plan exists; "yes" promises nothing.

Day sets are Python ints used as bitsets (bit i = day ``first + i``), so one
step of the recurrence is a few big-integer operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from kapplan.engine.slots import DST_SLACK, day_span, spread_backward, spread_forward
from kapplan.models.protocol import Duration, Range
from kapplan.models.values import MINUTES_PER_DAY

ROWS_PER_NODE = 8
"""Rows (one occurrence's days: a table row, or one step of ``stuck_at``'s walk)
worked out in about the time of one search node. The search charges them to its
node budget: a step with ``per_week`` or ``within`` builds a table of up to 100
rows for each first day it tries, and a walk may cross 500 sessions."""

Spread = tuple[int, int]
"""Earliest and latest local start minute a session type ever gets."""
ANY_TIME: Spread = (0, MINUTES_PER_DAY - 1)


def lower_days(bound: Duration, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
               slack: int = DST_SLACK) -> int:
    """Fewest calendar days between two starts that can satisfy ``>= bound``.

    An elapsed bound of m minutes between a start at local minute a and one at
    minute b, D days later, reads D * 1440 + b - a (+ any change of UTC offset
    in between, at most ``slack``); so D >= (m - (latest b - earliest a) - slack) / 1440.
    """
    if bound.calendar:
        return bound.days
    return max(0, -((later[1] - earlier[0] + slack - bound.minutes) // MINUTES_PER_DAY))


def upper_days(bound: Duration, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
               slack: int = DST_SLACK) -> int:
    """Most calendar days between two starts that can satisfy ``<= bound``."""
    if bound.calendar:
        return bound.days
    return (bound.minutes + earlier[1] - later[0] + slack) // MINUTES_PER_DAY


def range_days(value: Range, earlier: Spread = ANY_TIME, later: Spread = ANY_TIME,
               slack: int = DST_SLACK) -> tuple[int, int | None]:
    """Fewest and most calendar days between two starts that ``value`` can allow (None: no most)."""
    high = None if value.max is None else upper_days(value.max, earlier, later, slack)
    return lower_days(value.min, earlier, later, slack), high


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class StepShape:
    """What the look-ahead needs to know about one step."""

    count: int
    allowed: tuple[int, ...]  # per occurrence (index 0 = occurrence 1): usable days
    gap_low: int
    gap_high: int | None
    per_week: int | None
    within_days: int | None
    after_low: int  # entering this step, from the previous step's latest session
    after_high: int | None
    follows_on: bool  # entered from the step before it (no ``from``, or ``from`` that step)
    trail: int | None  # most days from the last occurrence to the step's latest session (follow-ups)
    lead: int  # fewest days from the last occurrence to the step's latest session
    ends_dosing: bool  # the last occurrence is a dosing session (the next step needs a later day)

    @property
    def needs_first(self) -> bool:
        return self.per_week is not None or self.within_days is not None


class Lookahead:
    """Per step, the days from which each occurrence can still lead to a complete plan."""

    def __init__(self, shapes: list[StepShape], low: int, high: int, width: int) -> None:
        self.shapes = shapes
        self.low = low  # bit index of the start date
        self.high = high  # bit index of the horizon's last day
        self.width = width
        self._tables: dict[tuple[int, int | None, int | None, bool], list[int]] = {}
        self._finals: dict[tuple[int, int | None], int] = {}
        self._entries: dict[tuple[int, int | None], int] = {}
        self.rows = 0  # rows worked out and not yet charged to the search's node budget

    def table(self, step: int, first: int | None, span_last: int | None, loose: bool = False) -> list[int]:
        """``table[n-1]``: bits of days on which occurrence n may fall (given the first's day)."""
        shape = self.shapes[step]
        exact = shape.needs_first and not loose
        key = (step, first if exact else None, span_last, exact)
        found = self._tables.get(key)
        if found is None:
            found = self._tables[key] = self._build(step, key[1], span_last, exact)
        return found

    def _final(self, step: int, span_last: int | None) -> int:
        """Days the step's last occurrence may fall on and still let the next step in."""
        key = (step, span_last)
        found = self._finals.get(key)
        if found is None:
            found = -1
            if step + 1 < len(self.shapes) and self.shapes[step + 1].follows_on:
                found = spread_backward(self.entries(step + 1, span_last), *self._handover(step))
            self._finals[key] = found
        return found

    def _handover(self, step: int) -> tuple[int, int | None]:
        """Days from a step's last occurrence to the next step's first (which follows on)."""
        shape, nxt = self.shapes[step], self.shapes[step + 1]
        low = shape.lead + nxt.after_low
        if shape.ends_dosing:
            low = max(low, 1)
        return low, _add(shape.trail, nxt.after_high)

    def _window(self, shape: StepShape, n: int, first: int | None, span_last: int | None) -> int:
        low, high = self.low, self.high
        if span_last is not None:
            high = min(high, span_last)
        if first is not None and shape.per_week is not None:
            week = (n - 1) // shape.per_week
            low, high = max(low, first + 7 * week), min(high, first + 7 * week + 6)
        if first is not None and shape.within_days is not None and n > 1:
            high = min(high, first + shape.within_days)
        return day_span(low, high)

    def _build(self, step: int, first: int | None, span_last: int | None, exact: bool) -> list[int]:
        shape = self.shapes[step]
        out = [0] * shape.count
        self.rows += shape.count
        following = self._final(step, span_last)
        for n in range(shape.count, 0, -1):
            bits = shape.allowed[n - 1] & self._window(shape, n, first if exact else None, span_last)
            if n < shape.count:
                bits &= spread_backward(following, shape.gap_low, shape.gap_high)
            else:
                bits &= following
            out[n - 1] = following = bits
        return out

    def _past_horizon(self, bits: int, low: int) -> bool:
        """Even the earliest day reachable from ``bits`` lies after the horizon."""
        return bool(bits) and (bits & -bits).bit_length() - 1 + low > self.high

    def can_continue(self, step: int, n: int, day_bit: int, first: int, span_last: int | None) -> bool:
        return bool(self.table(step, first, span_last)[n - 1] >> day_bit & 1)

    def entries(self, step: int, span_last: int | None) -> int:
        """Days the step's first occurrence may fall on, the rest of the plan still fitting.

        For steps whose windows hang on their first day (``per_week``, ``within``)
        this ignores those windows: checking each first day costs more than the
        pruning saves (measured on the bundled protocols and bench/cases.py);
        ``can_enter`` checks the days a search actually reaches.
        """
        key = (step, span_last)
        found = self._entries.get(key)
        if found is None:
            found = self._entries[key] = self.table(step, None, span_last, loose=True)[0]
        return found

    def can_enter(self, step: int, low: int, high: int, span_last: int | None) -> bool:
        """Some first day in [low, high] (bit indexes) from which the rest fits."""
        low, high = max(low, self.low), min(high, self.high)
        if low > high:
            return False
        days = self.entries(step, span_last) & day_span(low, high)
        if not self.shapes[step].needs_first:
            return bool(days)
        while days:
            bit = (days & -days).bit_length() - 1
            if self.table(step, bit, span_last)[0] >> bit & 1:
                return True
            days &= days - 1
        return False

    def stuck_at(self, step: int, n: int, day_bit: int, first: int, span_last: int | None) -> tuple[int, int, bool]:
        """(step, occurrence, past the horizon) where a forward walk from ``day_bit``
        runs out of days; the flag when even its earliest reachable day is too late."""
        bits = 1 << day_bit
        while True:
            shape = self.shapes[step]
            for m in range(n + 1, shape.count + 1):
                self.rows += 1
                if self._past_horizon(bits, shape.gap_low):
                    return step, m, True
                bits = spread_forward(bits, shape.gap_low, shape.gap_high, self.width)
                bits &= shape.allowed[m - 1] & self._window(shape, m, first if shape.needs_first else None, span_last)
                if not bits:
                    return step, m, False
            if step + 1 >= len(self.shapes) or not self.shapes[step + 1].follows_on:
                return step, shape.count, False
            nxt = self.shapes[step + 1]
            low, high = self._handover(step)
            if self._past_horizon(bits, low):
                return step + 1, 1, True
            bits = spread_forward(bits, low, high, self.width)
            bits &= nxt.allowed[0] & self._window(nxt, 1, None, span_last)
            step, n = step + 1, 1
            if not bits:
                return step, 1, False
            first = (bits & -bits).bit_length() - 1
