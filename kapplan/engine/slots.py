"""Local wall-clock time and the static slots a session may use.

The engine works on integers: an *instant* is whole minutes since the Unix
epoch (UTC), a *day* is a local date's proleptic ordinal in the client's zone.
A slot is the instant of a permitted start. Which starts are permitted depends
only on the session's shape (duration, weekdays, start-time window, whether the
clinic binds it) and on the calendars (availability, unavailable dates,
holidays, clinic hours): never on other sessions. That is computed here, once
per shape and day, so the search only filters.

Local times that do not exist (the spring-forward gap) or exist twice (the
fall-back hour) are never starts: a grid slot there is skipped.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from kapplan.models.values import MINUTES_PER_DAY, DateRange, WeeklyWindow

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
DST_SLACK = 180
"""Minutes by which a day may be shorter or longer than 24 h (any zone's DST shift)."""


def instant_of(moment: datetime) -> int:
    """Whole minutes since the epoch (floor), for an aware datetime."""
    return (moment - _EPOCH) // _MINUTE


def instant_ceil(moment: datetime) -> int:
    return -((_EPOCH - moment) // _MINUTE)


def moment_of(instant: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(minutes=instant)).astimezone(zone)


class LocalClock:
    """Converts between local dates/minutes of one zone and instants.

    Days with a constant UTC offset (all but a few a year) map local minute m
    to ``midnight + m``; transition days are resolved minute by minute.
    """

    def __init__(self, zone: ZoneInfo, first: int, last: int) -> None:
        self.zone = zone
        self.first = first
        self.last = last
        self._midnights = _midnights(zone, first, last + 1)
        # A day is uniform when it lasts exactly 24 h: any transition inside it,
        # or at its midnight (skipped or repeated), changes its length.
        self._uniform = [
            self._midnights[i + 1] - self._midnights[i] == MINUTES_PER_DAY for i in range(last - first + 1)
        ]
        epoch = date(1970, 1, 1).toordinal()
        offsets = [(first + i - epoch) * MINUTES_PER_DAY - m for i, m in enumerate(self._midnights)]
        self.slack = max(offsets) - min(offsets)
        """Largest change of UTC offset (minutes) between any two days of the table."""
        self.irregular = tuple(first + i for i, uniform in enumerate(self._uniform) if not uniform)
        """Days that are not 24 h long (DST changes), in order."""

    def boundary(self, day: int, minute: int) -> int:
        """The instant of a window edge (first reading of a repeated or missing time)."""
        naive = datetime.combine(date.fromordinal(day), time()) + timedelta(minutes=minute)
        return instant_of(naive.replace(tzinfo=self.zone))

    def edge(self, day: int, minute: int) -> int:
        """``boundary`` without the zone lookup on days of constant offset
        (the slot grid asks this for every window of every day of the horizon)."""
        if self.uniform(day):
            return self._midnights[day - self.first] + minute
        return self.boundary(day, minute)

    def midnight(self, day: int) -> int:
        """First instant of local date ``day`` (clamped to the table for far dates)."""
        if self.first <= day <= self.last + 1:
            return self._midnights[day - self.first]
        return self.boundary(day, 0)

    def uniform(self, day: int) -> bool:
        return self.first <= day <= self.last and self._uniform[day - self.first]

    def local_instant(self, day: int, minute: int) -> int | None:
        """The instant of a local time, or None when it is skipped or repeated."""
        if self.uniform(day):
            return self._midnights[day - self.first] + minute
        return _changing_instant(self.zone, day, minute)

    def day_of(self, instant: int) -> int:
        """The local date (ordinal) of an instant."""
        index = bisect_right(self._midnights, instant) - 1
        if 0 <= index <= self.last - self.first:
            return self.first + index
        return moment_of(instant, self.zone).date().toordinal()


@lru_cache(maxsize=64)
def local_clock(zone: ZoneInfo, first: int, last: int) -> LocalClock:
    """A shared, read-only clock: every search of a plan, and every staff member in one
    zone, asks for the same one (a batch asks for few different ones)."""
    return LocalClock(zone, first, last)


@lru_cache(maxsize=1 << 16)
def _changing_instant(zone: ZoneInfo, day: int, minute: int) -> int | None:
    """:meth:`LocalClock.local_instant` on a day the clocks change: every client's search
    in the zone asks about the same few days, and the zone lookups are dear."""
    naive = datetime.combine(date.fromordinal(day), time()) + timedelta(minutes=minute)
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        return None
    return instant_of(early)


def _midnights(zone: ZoneInfo, first: int, last: int) -> list[int]:
    """Instants of the local midnights of days ``first..last``, from per-year tables."""
    out: list[int] = []
    day = first
    while day <= last:
        year = date.fromordinal(day).year
        start = date(year, 1, 1).toordinal()
        table = _year_midnights(zone, year)
        stop = min(last, start + len(table) - 1)
        out += table[day - start : stop - start + 1]
        day = stop + 1
    return out


@lru_cache(maxsize=128)
def _year_midnights(zone: ZoneInfo, year: int) -> tuple[int, ...]:
    """One zone's midnights for a whole year: a batch of clients in a few zones
    asks for the same ones again and again."""
    start, end = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
    return tuple(
        instant_of(datetime.combine(date.fromordinal(day), time(), tzinfo=zone)) for day in range(start, end + 1)
    )


def blocked_days(ranges: Iterable[DateRange], extra: Iterable[date], first: int, last: int) -> frozenset[int]:
    """Ordinals in [first, last] covered by any range or listed date."""
    out = {d.toordinal() for d in extra if first <= d.toordinal() <= last}
    for blocked in ranges:
        out.update(range(max(first, blocked.start.toordinal()), min(last, blocked.end.toordinal()) + 1))
    return frozenset(out)


class ClinicHours:
    """The clinic's open intervals as instants (closed dates and holidays removed)."""

    def __init__(
        self,
        zone: ZoneInfo,
        hours: Iterable[WeeklyWindow],
        closed: Iterable[DateRange],
        holidays: Mapping[date, str],
        first: int,
        last: int,
    ) -> None:
        clock = local_clock(zone, first - 2, last + 2)
        shut = blocked_days(closed, holidays, first - 2, last + 2)
        self.clock = clock
        self._unusual = shut | set(clock.irregular)  # days whose hours are not their weekday's
        by_weekday: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for window in hours:
            for weekday in window.days:
                by_weekday[weekday].append((window.start_minute, window.end_minute))
        spans: list[tuple[int, int]] = []
        for day in range(first - 2, last + 3):
            if day not in shut:
                windows = by_weekday[date.fromordinal(day).weekday()]
                spans += [(clock.edge(day, a), clock.edge(day, b)) for a, b in windows]
        spans.sort()
        self._starts = [s for s, _ in spans]
        self._spans = spans

    def unusual_near(self, clock: LocalClock, first: int, last: int) -> set[int]:
        """Days of ``first..last`` (dates on ``clock``, the client's) that share an instant
        with a clinic day that is shut or changes offset."""
        out: set[int] = set()
        for day in self._unusual:
            start, end = self.clock.midnight(day), self.clock.midnight(day + 1)
            out.update(d for d in range(clock.day_of(start), clock.day_of(end - 1) + 1) if first <= d <= last)
        return out

    def fit(self, start: int, end: int) -> list[tuple[int, int]]:
        """Parts of [start, end) that lie in one open interval each."""
        out = []
        index = bisect_left(self._starts, start - MINUTES_PER_DAY)
        while index < len(self._spans) and self._spans[index][0] < end:
            lo, hi = max(start, self._spans[index][0]), min(end, self._spans[index][1])
            if lo < hi:
                out.append((lo, hi))
            index += 1
        return out


@dataclass(frozen=True)
class Shape:
    """What decides a session's static slots."""

    duration: int
    weekdays: frozenset[int] | None
    earliest: int  # first allowed local start minute
    latest: int  # last allowed local start minute (inclusive)
    clinic: bool  # bound by the clinic's hours


class SlotTable:
    """Permitted start instants of one shape, per local day (computed lazily)."""

    def __init__(self, shape: Shape, calendar: Calendar) -> None:
        self.shape = shape
        self.calendar = calendar
        self._days: dict[int, list[int]] = {}
        self._mask: int | None = None
        self._spread = (0, MINUTES_PER_DAY - 1)

    def slots(self, day: int) -> list[int]:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = self._compute(day)
        return found

    def _compute(self, day: int) -> list[int]:
        cal, shape = self.calendar, self.shape
        if not cal.first <= day <= cal.last or day in cal.blocked:
            return []
        weekday = date.fromordinal(day).weekday()
        if shape.weekdays is not None and weekday not in shape.weekdays:
            return []
        runs: list[range] = []
        extra: list[int] = []
        for window in cal.windows[weekday]:
            first_minute = max(window[0], shape.earliest)
            last_minute = min(window[1], shape.latest)
            if first_minute > last_minute:
                continue
            w0, w1 = cal.clock.edge(day, window[0]), cal.clock.edge(day, window[1])
            fits = cal.clinic.fit(w0, w1) if shape.clinic and cal.clinic else [(w0, w1)]
            for lo, hi in fits:
                if cal.clock.uniform(day):
                    runs.append(self._uniform_run(day, lo, hi, first_minute, last_minute))
                else:
                    extra += self._irregular_run(day, lo, hi, first_minute, last_minute)
        if len(runs) == 1 and not extra:
            return list(runs[0])
        return sorted(set().union(*runs, extra))

    def _uniform_run(self, day: int, lo: int, hi: int, first_minute: int, last_minute: int) -> range:
        grid = self.calendar.grid
        midnight = self.calendar.clock.midnight(day)
        low = max(first_minute, lo - midnight)
        low += -low % grid
        high = min(last_minute, hi - self.shape.duration - midnight)
        return range(midnight + low, midnight + high + 1, grid)

    def _irregular_run(self, day: int, lo: int, hi: int, first_minute: int, last_minute: int) -> list[int]:
        grid = self.calendar.grid
        out = []
        for minute in range(first_minute + (-first_minute % grid), last_minute + 1, grid):
            start = self.calendar.clock.local_instant(day, minute)
            if start is not None and lo <= start and start + self.shape.duration <= hi:
                out.append(start)
        return out

    def mask(self) -> int:
        """Bit (day - first) set when the day has at least one slot."""
        if self._mask is None:
            cal = self.calendar
            single = self._special()
            if self.shape.clinic and cal.clinic:
                single = sorted(set(single) | cal.clinic.unusual_near(cal.clock, cal.first, cal.last))
                patterns = self._clinic_patterns(cal.clinic, single)
            else:
                patterns = [(day, bits) for day, bits, _ in _weekday_bits(cal.first, cal.last, single)]
            bits, found = 0, []
            for day, pattern in [(day, 1 << (day - cal.first)) for day in single] + patterns:
                span = self._day_span(day)
                if span is not None:
                    bits |= pattern
                    found.append(span)
            self._mask = bits
            if found:
                self._spread = (min(s[0] for s in found), max(s[1] for s in found))
        return self._mask

    def _special(self) -> list[int]:
        """Days whose slots differ from their weekday's: blocked, or with an offset change."""
        cal = self.calendar
        days = [day for day in cal.blocked if cal.first <= day <= cal.last]
        return days + [day for day in cal.clock.irregular if day not in cal.blocked]

    def _clinic_patterns(self, clinic: ClinicHours, special: list[int]) -> list[tuple[int, int]]:
        """As :func:`_weekday_bits`, for a shape bound by the clinic's hours: ordinary
        days of one weekday have the same slots when the clinic's zone is as many minutes
        from the client's on each (the clinic's days near them being ordinary too).

        That distance changes only after a day that is not 24 hours long in one of
        the two zones, so it is read once per stretch between such days."""
        cal = self.calendar
        changes = (*cal.clock.irregular, *clinic.clock.irregular)
        cuts = sorted({cal.first, cal.last + 1} | {day + 1 for day in changes if cal.first <= day < cal.last})
        groups: dict[tuple[int, int], tuple[int, int]] = {}  # (weekday, offset) -> (first day, bits)
        for low, high in zip(cuts, cuts[1:], strict=False):
            offset = clinic.clock.midnight(low) - cal.clock.midnight(low)
            for day, bits, weekday in _weekday_bits(low, high - 1, special, cal.first):
                first, found = groups.get((weekday, offset), (day, 0))
                groups[(weekday, offset)] = (first, found | bits)
        return list(groups.values())

    def _day_span(self, day: int) -> tuple[int, int] | None:
        """First and last slot of ``day`` in minutes after its midnight, or None."""
        found = self.slots(day)
        midnight = self.calendar.clock.midnight(day)
        return (found[0] - midnight, found[-1] - midnight) if found else None

    def spread(self) -> tuple[int, int]:
        """(earliest, latest) start, in minutes after local midnight, over all days."""
        self.mask()
        return self._spread


def _weekday_bits(low: int, high: int, special: Iterable[int], origin: int | None = None
                  ) -> Iterator[tuple[int, int, int]]:
    """Per weekday of days ``low..high`` but the ``special`` ones: (its first day, the bits
    of its days counted from ``origin`` (default ``low``), the weekday).

    Ordinary days (unblocked, constant offset) of one weekday have the same
    slots, so a mask computes each weekday once, not 52 times."""
    origin = low if origin is None else origin
    width = high - low + 1
    if width <= 0:
        return
    ordinary = (1 << width) - 1
    for day in special:
        if low <= day <= high:
            ordinary &= ~(1 << (day - low))
    every_seventh = ((1 << (7 * (width // 7 + 1))) - 1) // 127  # bits 0, 7, 14, ...
    for shift in range(7):
        pattern = (every_seventh << shift) & ordinary
        if pattern:
            first = low + (pattern & -pattern).bit_length() - 1
            yield first, pattern << (low - origin), date.fromordinal(first).weekday()


class Calendar:
    """Everything static about when the client (and clinic) can be seen."""

    def __init__(
        self,
        zone: ZoneInfo,
        availability: Iterable[WeeklyWindow],
        blocked: frozenset[int],
        clinic: ClinicHours | None,
        first: int,
        last: int,
        grid: int,
    ) -> None:
        self.zone = zone
        self.first = first
        self.last = last
        self.grid = grid
        self.clock = local_clock(zone, first, last)
        self.blocked = blocked
        self.clinic = clinic
        self.windows: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for window in availability:
            for weekday in window.days:
                self.windows[weekday].append((window.start_minute, window.end_minute))
        self._tables: dict[Shape, SlotTable] = {}

    def table(self, shape: Shape) -> SlotTable:
        found = self._tables.get(shape)
        if found is None:
            found = self._tables[shape] = SlotTable(shape, self)
        return found

    def bit(self, day: int) -> int:
        return day - self.first


# --------------------------------------------------------------------------- day sets


def spread_forward(bits: int, low: int, high: int | None, width: int) -> int:
    """Days reachable from ``bits`` by moving ``low..high`` days later."""
    if not bits:
        return 0
    full = (1 << width) - 1
    if high is None:
        lowest = (bits & -bits).bit_length() - 1 + low
        return full & ~((1 << lowest) - 1) if lowest < width else 0
    return _smear(bits << low, high - low) & full


def spread_backward(bits: int, low: int, high: int | None) -> int:
    """Days from which some day in ``bits`` lies ``low..high`` days later."""
    if not bits:
        return 0
    if high is None:
        top = bits.bit_length() - 1 - low
        return (1 << (top + 1)) - 1 if top >= 0 else 0
    return _smear_down(bits >> low, high - low)


def _smear(bits: int, span: int) -> int:
    """OR of ``bits << k`` for k in 0..span."""
    covered = 1
    while covered <= span:
        step = min(covered, span + 1 - covered)
        bits |= bits << step
        covered += step
    return bits


def _smear_down(bits: int, span: int) -> int:
    covered = 1
    while covered <= span:
        step = min(covered, span + 1 - covered)
        bits |= bits >> step
        covered += step
    return bits


def day_span(low: int, high: int) -> int:
    """Bits low..high inclusive (empty when high < low)."""
    if high < low:
        return 0
    low = max(low, 0)
    return ((1 << (high + 1)) - 1) & ~((1 << low) - 1)
