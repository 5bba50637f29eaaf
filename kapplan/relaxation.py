"""Day-level look-ahead: can the rest of a step still be placed at all?

A relaxation of the real problem, used only to prune: each occurrence needs a
day on which its session type has some static slot, with every follow-up it
takes having a slot day within its offset, successive occurrences a ``gap``
apart, inside the step's ``per_week`` / ``within`` windows, the plan's
``max_span`` and the horizon. Interactions with other sessions are ignored and
elapsed bounds are widened to whole days (with DST slack), so "no" here means
no plan exists; "yes" promises nothing.

Day sets are Python ints used as bitsets (bit i = day ``first + i``), so one
step of the recurrence is a few big-integer operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import Duration, Range
from .slots import DST_SLACK, day_span, spread_backward, spread_forward
from .values import MINUTES_PER_DAY


def lower_days(bound: Duration) -> int:
    """Fewest calendar days between two starts that satisfy ``>= bound``."""
    if bound.calendar:
        return bound.days
    return max(0, -((MINUTES_PER_DAY + DST_SLACK - bound.minutes) // MINUTES_PER_DAY))


def upper_days(bound: Duration) -> int:
    """Most calendar days between two starts that satisfy ``<= bound``."""
    if bound.calendar:
        return bound.days
    return (bound.minutes + MINUTES_PER_DAY + DST_SLACK) // MINUTES_PER_DAY


def range_days(value: Range, relaxed: bool) -> tuple[int, int | None]:
    high = None if relaxed or value.max is None else upper_days(value.max)
    return lower_days(value.min), high


@dataclass(frozen=True)
class StepShape:
    """What the look-ahead needs to know about one step."""

    count: int
    allowed: tuple[int, ...]  # per occurrence (index 0 = occurrence 1): usable days
    gap_low: int
    gap_high: int | None
    per_week: int | None
    within_days: int | None

    @property
    def needs_first(self) -> bool:
        return self.per_week is not None or self.within_days is not None


class Lookahead:
    """Per step, the days from which each occurrence can still lead to a complete step."""

    def __init__(self, shapes: list[StepShape], first_day: int, low: int, high: int, width: int) -> None:
        self.shapes = shapes
        self.first_day = first_day  # ordinal of bit 0
        self.low = low  # bit index of the start date
        self.high = high  # bit index of the horizon's last day
        self.width = width
        self._tables: dict[tuple[int, int | None, int | None], list[int]] = {}

    def table(self, step: int, first: int | None, span_last: int | None) -> list[int]:
        """``table[n-1]``: bits of days on which occurrence n may fall (given the first's day)."""
        shape = self.shapes[step]
        key = (step, first if shape.needs_first else None, span_last)
        found = self._tables.get(key)
        if found is None:
            found = self._tables[key] = self._build(shape, key[1], span_last)
        return found

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

    def _build(self, shape: StepShape, first: int | None, span_last: int | None) -> list[int]:
        out = [0] * shape.count
        following = -1
        for n in range(shape.count, 0, -1):
            bits = shape.allowed[n - 1] & self._window(shape, n, first, span_last)
            if n < shape.count:
                bits &= spread_backward(following, shape.gap_low, shape.gap_high)
            out[n - 1] = following = bits
        return out

    def can_continue(self, step: int, n: int, day_bit: int, first: int, span_last: int | None) -> bool:
        return bool(self.table(step, first, span_last)[n - 1] >> day_bit & 1)

    def can_enter(self, step: int, low: int, high: int, span_last: int | None) -> bool:
        """Some first day in [low, high] (bit indexes) from which the whole step fits."""
        shape = self.shapes[step]
        low, high = max(low, self.low), min(high, self.high)
        if low > high:
            return False
        if not shape.needs_first:
            return bool(self.table(step, None, span_last)[0] & day_span(low, high))
        candidates = shape.allowed[0] & day_span(low, high)
        while candidates:
            bit = (candidates & -candidates).bit_length() - 1
            if self.table(step, bit, span_last)[0] >> bit & 1:
                return True
            candidates &= candidates - 1
        return False

    def stuck_at(self, step: int, n: int, day_bit: int, first: int, span_last: int | None) -> int:
        """The occurrence at which a forward walk from ``day_bit`` runs out of days."""
        shape = self.shapes[step]
        bits = 1 << day_bit
        for m in range(n + 1, shape.count + 1):
            bits = spread_forward(bits, shape.gap_low, shape.gap_high, self.width)
            bits &= shape.allowed[m - 1] & self._window(shape, m, first if shape.needs_first else None, span_last)
            if not bits:
                return m
        return shape.count
