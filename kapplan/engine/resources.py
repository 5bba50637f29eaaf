"""A clinic's people and rooms as the search sees them (SPEC §11).

Everything here is integers, as in the rest of the engine: instants are whole
minutes since the epoch, a person's day is a local date's ordinal in their
own zone. What other series hold (the ledger's active bookings) is static for
one search; what this client's own placed sessions hold changes as the search
places and unplaces them. A client's own sessions never overlap, so they only
count against ``max_per_day``.

For a candidate start the search asks :meth:`Resources.admit`: is there, for
every role the session lists, a distinct person (unless ``combine`` allows the
pair) who holds the role, works then (hours and days off in their zone; the
clinic's closures and holidays are days off for everyone) and has room under
``concurrent`` and ``max_per_day`` for the part of the session they are
needed; and, for an in-person session when the clinic lists rooms, a room
serving its kind with a free place for the whole session? The first such
assignment is kept when the session is placed: continuity roles take their
chosen person, any other role the free person with the fewest bookings that
day, then file order; rooms go in file order.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from kapplan.engine.layout import Layout
from kapplan.engine.slots import DST_SLACK, Calendar, blocked_days, instant_of, local_clock
from kapplan.models.booking import Booking
from kapplan.models.client import Clinic
from kapplan.models.protocol import Protocol
from kapplan.models.values import MINUTES_PER_DAY

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Answers:
    """What one request's searches learned of other series' holds and people's hours.

    Holds do not change while one request is planned, and one plan runs many
    searches (continuity candidates, the delay analysis, the scan for a later
    start) that ask the same questions again and again. Each question is filed
    under a number for what the session needs and who may fill each need
    (numbers hash faster than what they stand for, asked for on every start tried)."""

    numbers: dict[tuple[object, ...], int] = field(default_factory=dict)
    admitted: dict[tuple[int, int], bool] = field(default_factory=dict)  # (number, start) -> someone can serve it
    chosen: dict[tuple[int, int], Choice | None] = field(default_factory=dict)  # (number, start) -> whom, ranked
    resume: dict[tuple[int, int], int] = field(default_factory=dict)  # (number, refused start) -> next start
    open: dict[tuple[int, int], bool] = field(default_factory=dict)  # (number, client midnight) -> day_open
    open_days: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (number, first, days) -> days
    crowded: bool = False  # a search of the request took CROWDED_NODES (search.py)


@dataclass(frozen=True)
class CapacityRules:
    """What planning with a clinic's people and rooms needs besides the client.

    ``bookings``: other series' bookings (inactive ones are ignored), or a
    :class:`BusyIndex` of them made for this clinic;
    ``holidays``: the clinic's public holidays over the horizon (days off for
    everyone); ``preferred``: role -> the staff id the client asks for;
    ``kept``: for a re-plan, who already serves each continuity role."""

    clinic: Clinic
    bookings: Sequence[Booking] | BusyIndex = ()
    holidays: Mapping[date, str] = field(default_factory=dict)
    preferred: Mapping[str, str] = field(default_factory=dict)
    kept: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Continuity role -> the people who served the series' sessions that already happened."""
    answers: Answers = field(default_factory=Answers, compare=False, repr=False, hash=False)
    """What the searches of this request learned of other series' holds and people's hours."""


LONGEST_DAY = MINUTES_PER_DAY + DST_SLACK
"""Minutes one local day may last: starts further apart never share anyone's day."""
WEEK_AHEAD = 8
"""Days :meth:`Member.next_working` looks ahead for a person's next working time."""


class Holds:
    """Intervals other series hold on one person or room, sorted by start; new ones
    can be added as a batch books record after record."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.kinds: list[str] = []
        self.owners: list[str] = []  # series
        self.longest = 0
        self.per_day: dict[int, int] = {}  # local day (the person's zone) -> holds starting then

    def add(self, s: int, e: int, kind: str, series: str, day: int) -> None:
        i = bisect_right(self.starts, s)
        self.starts.insert(i, s)
        self.ends.insert(i, e)
        self.kinds.insert(i, kind)
        self.owners.insert(i, series)
        self.longest = max(self.longest, e - s)
        self.per_day[day] = self.per_day.get(day, 0) + 1

    def drop(self, series: str, day_of: Callable[[int], int]) -> list[tuple[int, int, str, int]]:
        """Forget one series' holds (its re-plan replaces them); returns them as (start,
        end, kind, day), for :meth:`add` should the re-plan fail."""
        out = []
        for i in range(len(self.starts) - 1, -1, -1):
            if self.owners[i] == series:
                day = day_of(self.starts[i])
                self.per_day[day] -= 1
                out.append((self.starts[i], self.ends[i], self.kinds[i], day))
                del self.starts[i], self.ends[i], self.kinds[i], self.owners[i]
        return out

    def overlapping(self, s: int, e: int) -> list[int]:
        """Indexes of the holds that overlap [s, e) (asked for every start tried: a list is
        quicker to make than a generator is to run)."""
        ends = self.ends
        return [i for i in range(bisect_right(self.starts, s - self.longest), bisect_left(self.starts, e))
                if ends[i] > s]

    def most_at_once(self, found: list[int], s: int, e: int) -> int:
        """The most of ``found`` running at one instant of [s, e)."""
        events = sorted([(max(self.starts[i], s), 1) for i in found] + [(min(self.ends[i], e), -1) for i in found])
        most = running = 0
        for _, step in events:
            running += step
            most = max(most, running)
        return most


def _gap(holds: Holds, lo: int, hi: int, last: int, minutes: int, blocks: Callable[[int], bool]) -> bool:
    """A stretch of ``minutes`` within [lo, hi), starting before ``last``, that no hold
    ``blocks`` (by index) overlaps."""
    if hi - lo < minutes:
        return False
    cursor = lo
    for i in holds.overlapping(lo, hi):
        if not blocks(i):
            continue
        if holds.starts[i] - cursor >= minutes:
            return cursor < last
        cursor = max(cursor, holds.ends[i])
        if cursor >= last:
            return False
    return cursor < last and hi - cursor >= minutes


class BusyIndex:
    """What other series hold on a clinic's people and rooms, by person and room.

    Built once from a ledger's bookings, or grown booking by booking as a batch
    books its roster, so no record's search re-reads every earlier booking."""

    def __init__(self, clinic: Clinic, bookings: Iterable[Booking] = ()) -> None:
        self.clinic = clinic
        self.people: dict[str, Holds] = {m.id: Holds() for m in clinic.staff}
        self.rooms: dict[str, Holds] = {r.id: Holds() for r in clinic.rooms}
        self._zones = {m.id: ZoneInfo(m.timezone or clinic.timezone) for m in clinic.staff}
        self.add(bookings)

    def add(self, bookings: Iterable[Booking]) -> None:
        for booking in bookings:
            if booking.active:
                self._add(booking)

    def _add(self, booking: Booking) -> None:
        s, e = instant_of(booking.start), instant_of(booking.end)
        ends: dict[str, int] = {}
        for a in booking.assigned:  # one person in two roles: held until the later end
            end = instant_of(booking.person_end(a))
            ends[a.person] = max(end, ends.get(a.person, end))
        for person, end in ends.items():
            holds = self.people.get(person)
            if holds is not None:
                day = booking.start.astimezone(self._zones[person]).date().toordinal()
                holds.add(s, end, booking.kind, booking.series, day)
        if booking.room is not None and booking.room in self.rooms:
            self.rooms[booking.room].add(s, e, booking.kind, booking.series, 0)

    def drop(self, series: str) -> Dropped:
        """Forget a series' bookings (before it is planned again); returns what they held,
        for :meth:`restore`."""
        people = {person: holds.drop(series, partial(_local_day, zone=self._zones[person]))
                  for person, holds in self.people.items()}
        rooms = {room: holds.drop(series, lambda s: 0) for room, holds in self.rooms.items()}
        return Dropped(series, {k: v for k, v in people.items() if v}, {k: v for k, v in rooms.items() if v})

    def restore(self, dropped: Dropped) -> None:
        """Put back what :meth:`drop` took."""
        for found, held in ((self.people, dropped.people), (self.rooms, dropped.rooms)):
            for key, holds in held.items():
                for s, e, kind, day in holds:
                    found[key].add(s, e, kind, dropped.series, day)


@dataclass(frozen=True)
class Dropped:
    """A series' holds taken out of a :class:`BusyIndex`, by person and by room: (start,
    end, kind, local day) each, no more than the index keeps of them."""

    series: str
    people: dict[str, list[tuple[int, int, str, int]]]
    rooms: dict[str, list[tuple[int, int, str, int]]]


def _local_day(instant: int, zone: ZoneInfo) -> int:
    return (_EPOCH + timedelta(minutes=instant)).astimezone(zone).date().toordinal()


class Member:
    """One staff member: roles, working time (lazily per local day), what others hold."""

    def __init__(self, index: int, clinic: Clinic, holidays: Mapping[date, str], first: int, last: int) -> None:
        member = clinic.staff[index]
        self.index = index
        self.id = member.id
        self.roles = frozenset(member.roles)
        self.concurrent = dict(member.concurrent)
        self.max_per_day = member.max_per_day
        self.clock = local_clock(ZoneInfo(member.timezone or clinic.timezone), first - 2, last + 2)
        self.windows: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for window in member.hours if member.hours is not None else clinic.hours:
            for weekday in window.days:
                self.windows[weekday].append((window.start_minute, window.end_minute))
        self.off = blocked_days([*member.off, *clinic.closed], holidays, first - 2, last + 2)
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self._works: dict[tuple[int, int], bool] = {}  # (start, end) -> works then (asked again and again)
        self.holds = Holds()

    @property
    def per_day(self) -> dict[int, int]:
        return self.holds.per_day

    def spans(self, day: int) -> list[tuple[int, int]]:
        """Working intervals of a local day (none on a day off)."""
        found = self._spans.get(day)
        if found is None:
            found = []
            if day not in self.off:
                weekday = date.fromordinal(day).weekday()
                found = [(self.clock.edge(day, a), self.clock.edge(day, b)) for a, b in self.windows[weekday]]
            self._spans[day] = found
        return found

    def works(self, s: int, e: int) -> bool:
        found = self._works.get((s, e))
        if found is None:
            found = self._works[(s, e)] = any(a <= s and e <= b for a, b in self.spans(self.clock.day_of(s)))
        return found

    def next_working(self, s: int, minutes: int) -> int:
        """The earliest start from ``s`` on of ``minutes`` within working hours, looking a
        week ahead (the start of the day after that week when there is none)."""
        day = self.clock.day_of(s)
        for later in range(day, day + WEEK_AHEAD):
            starts = [max(a, s) for a, b in self.spans(later) if max(a, s) + minutes <= b]
            if starts:
                return min(starts)
        return self.clock.midnight(day + WEEK_AHEAD)

    def free(self, kind: str, s: int, e: int) -> bool:
        """Within ``concurrent`` for [s, e) given what other series hold."""
        found = self.holds.overlapping(s, e)
        if not found:
            return True
        limit = self.concurrent.get(kind, 1)
        if limit == 1 or any(self.holds.kinds[i] != kind for i in found):
            return False
        return self.holds.most_at_once(found, s, e) < limit


class RoomSlot:
    def __init__(self, index: int, clinic: Clinic) -> None:
        room = clinic.rooms[index]
        self.index = index
        self.id = room.id
        self.kinds = None if room.for_ is None else frozenset(room.for_)
        self.capacity = room.capacity
        self.holds = Holds()

    def free(self, s: int, e: int) -> bool:
        found = self.holds.overlapping(s, e)
        return not found or (self.capacity > 1 and self.holds.most_at_once(found, s, e) < self.capacity)


@dataclass(frozen=True)
class Need:
    role: str
    minutes: int | None  # from the start; None: the whole session


@dataclass(frozen=True)
class Choice:
    """People (member indexes, one per need, in ``staff`` order) and room of one placed session."""

    people: tuple[int, ...]
    room: int | None


class Resources:
    """People and rooms for one client's search: static holds, own placements, continuity."""

    def __init__(self, rules: CapacityRules, layout: Layout, first: int, last: int) -> None:
        clinic = rules.clinic
        self.clinic = clinic
        self.members = [Member(i, clinic, rules.holidays, first, last) for i in range(len(clinic.staff))]
        self.rooms = [RoomSlot(i, clinic) for i in range(len(clinic.rooms))]
        busy = rules.bookings if isinstance(rules.bookings, BusyIndex) else BusyIndex(clinic, rules.bookings)
        for member in self.members:
            member.holds = busy.people[member.id]
        for room in self.rooms:
            room.holds = busy.rooms[room.id]
        protocol: Protocol = layout.protocol
        self.needs: list[tuple[Need, ...]] = []
        self.kind: list[str] = []
        self.wants_room: list[bool] = []
        for entry in layout.entries:
            session = protocol.sessions[entry.session]
            needs = tuple(Need(r, m) for r, m in session.needs) if clinic.staff else ()
            self.needs.append(needs)
            self.kind.append(session.kind)
            self.wants_room.append(bool(clinic.rooms) and session.setting == "in-person")
        self.duration = [e.duration for e in layout.entries]
        self.serving = [[r for r in self.rooms if r.kinds is None or kind in r.kinds] for kind in self.kind]
        """Per position, the rooms that serve its kind (in file order)."""
        self.holders = {role: [m.index for m in self.members if role in m.roles]
                        for role in {n.role for needs in self.needs for n in needs}}
        self.fixed: dict[str, tuple[int, ...]] = {}  # continuity role -> its chosen people
        self.sticky: set[str] = set()  # roles handed over: prefer the person of the latest session
        self.choice: dict[int, Choice] = {}
        self._own: dict[tuple[int, int], list[int]] = {}  # (member, day) -> own positions
        self._own_starts: list[int] = []  # starts of own placed sessions that took people, sorted
        self._cache: dict[tuple[int, int], Choice] = {}  # admitted, not yet placed
        self.blame: list[int] = []  # own positions behind the latest refusal (max_per_day)
        self.answers = rules.answers
        limited = {role for role, people in self.holders.items()
                   if any(self.members[p].max_per_day is not None for p in people)}
        # Positions whose answers depend on holds and hours alone (no one who may fill
        # them has a max_per_day, which this client's own sessions count against).
        self._static = [not any(n.role in limited for n in needs) for needs in self.needs]
        self._involved = [bool(needs) or room for needs, room in zip(self.needs, self.wants_room, strict=True)]
        self._keys = self._answer_keys()

    def fork(self, fixed: Mapping[str, tuple[int, ...]] | None = None, sticky: frozenset[str] = frozenset()
             ) -> Resources:
        """The same people, rooms and holds for one more search, with nothing of its own placed.
        ``fixed``: continuity roles and their people; ``sticky``: roles that may be handed over."""
        other = copy(self)
        other.fixed = dict(fixed or {})
        other.sticky = set(sticky)
        other.choice, other._own, other._own_starts, other._cache, other.blame = {}, {}, [], {}, []
        other._keys = other._answer_keys()
        return other

    def _answer_keys(self) -> list[int]:
        """Per position, the number its answers are filed under (:class:`Answers`)."""
        numbers = self.answers.numbers
        return [numbers.setdefault((needs, self.kind[pos], self.duration[pos], self.wants_room[pos],
                                    tuple(self.fixed.get(n.role) for n in needs)), len(numbers))
                for pos, needs in enumerate(self.needs)]

    def _memo(self, pos: int, s: int) -> int | None:
        """The number whether ``pos`` can start at ``s`` is filed under, when that depends on
        other series' holds and people's hours alone: no one who may fill the session
        has a max_per_day, or this client has no session with people within a day of
        ``s`` (none of their own on anyone's day of ``s``). None: it depends on this search."""
        if self._static[pos] or self._alone(s):
            return self._keys[pos]
        return None

    def _alone(self, s: int) -> bool:
        """No own session that took people starts on anyone's local day of ``s``."""
        starts = self._own_starts
        i = bisect_left(starts, s - LONGEST_DAY)
        return i == len(starts) or starts[i] > s + LONGEST_DAY

    # ------------------------------------------------------------------ the search's questions

    def involved(self, pos: int) -> bool:
        return self._involved[pos]

    def day_open(self, pos: int, lo: int, hi: int) -> bool:
        """Whether a session starting in [lo, hi) (a client's day) could find, for every
        need, someone who may fill it working and free of other series' sessions for
        long enough, and a room free for long enough: a test that skips whole days of
        leave, closures, days off and full calendars before any start is tried. People
        and rooms that take several sessions at once count as free."""
        key = (self._keys[pos], lo)
        found = self.answers.open.get(key)
        if found is None:
            found = self.answers.open[key] = self._room_within(pos, lo, hi) and all(
                any(self._free_within(pos, p, lo, hi, self._need_minutes(pos, need))
                    for p in self._candidates(need.role))
                for need in self.needs[pos])
        return found

    @property
    def crowded(self) -> bool:
        """A search of this request found the clinic crowded (search.py: CROWDED_NODES)."""
        return self.answers.crowded

    def crowd(self) -> None:
        self.answers.crowded = True

    def open_days(self, pos: int, calendar: Calendar, days: int) -> int:
        """``days`` (bits from ``calendar.first``) without those :meth:`day_open` rules out."""
        key = (self._keys[pos], calendar.first, days)
        found = self.answers.open_days.get(key)
        if found is None:
            found, rest = days, days
            clock = calendar.clock
            while rest:
                low = rest & -rest
                day = calendar.first + low.bit_length() - 1
                if not self.day_open(pos, clock.midnight(day), clock.midnight(day + 1)):
                    found &= ~low
                rest ^= low
            self.answers.open_days[key] = found
        return found

    def _free_within(self, pos: int, person: int, lo: int, hi: int, minutes: int) -> bool:
        member = self.members[person]
        holds, kind = member.holds, self.kind[pos]
        shared = member.concurrent.get(kind, 1) > 1
        end = hi + minutes
        for day in range(member.clock.day_of(lo), member.clock.day_of(end - 1) + 1):
            for a, b in member.spans(day):
                if _gap(holds, max(a, lo), min(b, end), hi, minutes,
                        lambda i: not shared or holds.kinds[i] != kind):
                    return True
        return False

    def _room_within(self, pos: int, lo: int, hi: int) -> bool:
        if not self.wants_room[pos]:
            return True
        minutes = self.duration[pos]
        return any(r.capacity > 1 or _gap(r.holds, lo, hi + minutes, hi, minutes, lambda i: True)
                   for r in self.serving[pos])

    def _need_minutes(self, pos: int, need: Need) -> int:
        return self.duration[pos] if need.minutes is None else min(need.minutes, self.duration[pos])

    def _candidates(self, role: str) -> Sequence[int]:
        fixed = self.fixed.get(role)
        return fixed if fixed is not None else self.holders.get(role, ())

    def unstaffable(self) -> list[tuple[int, str]]:
        """Positions no one at the clinic could ever serve, whatever the time, with why."""
        out = []
        for pos, needs in enumerate(self.needs):
            if self.wants_room[pos] and not self.serving[pos]:
                out.append((pos, f"no room of the clinic serves {self.kind[pos]} sessions"))
            elif needs and self._match(pos, 0, []) is None:
                roles = ", ".join(n.role for n in needs)
                out.append((pos, f"no one at the clinic can fill {roles} (different people unless 'combine' "
                                 "allows a pair)"))
        return out

    def _match(self, pos: int, i: int, chosen: list[int]) -> list[int] | None:
        """People for needs i.. by role and distinctness alone."""
        needs = self.needs[pos]
        if i == len(needs):
            return chosen
        for person in self._candidates(needs[i].role):
            if self._distinct(pos, person, needs[i].role, chosen):
                found = self._match(pos, i + 1, [*chosen, person])
                if found is not None:
                    return found
        return None

    def resume(self, pos: int, s: int) -> int:
        """After a refusal at ``s``: the earliest start that could be admitted. A role whose
        every candidate is held by another series' session stays refused until the
        earliest of their releases (each blocks every start before its end); a room alike.
        Anything else (hours, limits, concurrency, distinct people) resumes at the next start."""
        memo = self._memo(pos, s)
        if memo is None:
            return self._resume(pos, s)
        found = self.answers.resume.get((memo, s))
        if found is None:
            found = self.answers.resume[(memo, s)] = self._resume(pos, s)
        self.blame = []
        return found

    def _resume(self, pos: int, s: int) -> int:
        floor = s + 1
        for need in self.needs[pos]:
            end = s + self._need_minutes(pos, need)
            candidates = self._candidates(need.role)
            if any(self._can(pos, p, s, end) for p in candidates):
                continue
            floor = max(floor, min((self._person_free(pos, p, s, end) for p in candidates), default=floor))
        if self.wants_room[pos]:
            e = s + self.duration[pos]
            serving = self.serving[pos]
            if not any(r.free(s, e) for r in serving):
                floor = max(floor, min((self._released(r.holds, s, e, r.capacity == 1) for r in serving),
                                       default=floor))
        self.blame = []
        return floor

    def _person_free(self, pos: int, person: int, s: int, end: int) -> int:
        """The earliest start from ``s`` on at which the person could be free: when they
        next work long enough, or when the sessions they are held for end."""
        member = self.members[person]
        if not member.works(s, end):
            return member.next_working(s, end - s)
        return self._released(member.holds, s, end, member.concurrent.get(self.kind[pos], 1) == 1)

    @staticmethod
    def _released(holds: Holds, s: int, e: int, exclusive: bool) -> int:
        """When holds no longer block a start: the latest end of those overlapping [s, e), when
        one at a time is allowed; else the next start (concurrency: not worked out here)."""
        if not exclusive:
            return s + 1
        return max((holds.ends[i] for i in holds.overlapping(s, e)), default=s + 1)

    def shortfalls(self, pos: int, s: int) -> list[str]:
        """What is missing at start ``s``, in words for an explanation: each role no one
        who may fill it can take then, and a room when none serving the kind is free."""
        if self._choose(pos, s) is not None:
            return []
        e = s + self.duration[pos]
        out = []
        for need in self.needs[pos]:
            end = s + self._need_minutes(pos, need)
            if not any(self._can(pos, p, s, end) for p in self._candidates(need.role)):
                fixed = self.fixed.get(need.role)
                who = f" ({', '.join(self.members[p].id for p in fixed)})" if fixed else ""
                out.append(f"no {need.role}{who} free")
        if self.wants_room[pos] and not any(r.free(s, e) for r in self.serving[pos]):
            serving = [r.id for r in self.serving[pos]]
            out.append(f"{', '.join(serving)} full" if len(serving) < 4 else f"every room for {self.kind[pos]} full")
        if not out and self.needs[pos]:
            out.append("not enough different people free at once")
        return out

    def admit(self, pos: int, s: int) -> bool:
        """A person for every need and a room when one is needed, at start ``s``."""
        key = (pos, s)
        if key in self._cache:
            return True
        self.blame = []
        memo = self._memo(pos, s)
        if memo is not None:  # whether, not whom: whom is chosen when the session is placed
            known = self.answers.admitted.get((memo, s))
            if known is None:
                known = self.answers.admitted[(memo, s)] = self._choose(pos, s, ranked=False) is not None
            return known
        found = self._choose(pos, s)
        if found is not None:
            self._cache[key] = found
        return found is not None

    def place(self, pos: int, s: int) -> None:
        if not self.involved(pos):
            return
        choice = self._cache.get((pos, s))
        if choice is None:
            choice = self._ranked(pos, s) or Choice((), None)
        self._cache.clear()
        self.choice[pos] = choice
        for person in set(choice.people):
            day = self.members[person].clock.day_of(s)
            self._own.setdefault((person, day), []).append(pos)
        if choice.people:
            insort(self._own_starts, s)

    def _ranked(self, pos: int, s: int) -> Choice | None:
        """Whom :meth:`_choose` takes at ``s``: the same for every search of the request when no
        own session is near (each role's people are ranked by their bookings that day) and no
        role is handed over (whose ranking reads the sessions placed before)."""
        if self.sticky or not self._alone(s):
            return self._choose(pos, s)
        key = (self._keys[pos], s)
        chosen = self.answers.chosen
        if key not in chosen:
            chosen[key] = self._choose(pos, s)
        return chosen[key]

    def unplace(self, pos: int, s: int) -> None:
        choice = self.choice.pop(pos, None)
        if choice is None:
            return
        self._cache.clear()
        for person in set(choice.people):
            day = self.members[person].clock.day_of(s)
            self._own[(person, day)].remove(pos)
        if choice.people:
            del self._own_starts[bisect_left(self._own_starts, s)]

    # ------------------------------------------------------------------ choosing

    def _choose(self, pos: int, s: int, ranked: bool = True) -> Choice | None:
        """People and room at ``s`` (``ranked``: each role's people in the order they are
        chosen; else any order, when only whether someone can is asked)."""
        room = None
        e = s + self.duration[pos]
        if self.wants_room[pos]:
            room = next((r.index for r in self.serving[pos] if r.free(s, e)), None)
            if room is None:
                return None
        people = self._people(pos, s, 0, [], ranked)
        return None if people is None else Choice(tuple(people), room)

    def _people(self, pos: int, s: int, i: int, chosen: list[int], ranked: bool = True) -> list[int] | None:
        """People for needs i.. of ``pos`` (depth-first: a pair of needs may compete)."""
        needs = self.needs[pos]
        if i == len(needs):
            return chosen
        need = needs[i]
        e = s + (self.duration[pos] if need.minutes is None else min(need.minutes, self.duration[pos]))
        for person in self._order(pos, need.role, s) if ranked else self._candidates(need.role):
            if not self._distinct(pos, person, need.role, chosen) or not self._can(pos, person, s, e):
                continue
            found = self._people(pos, s, i + 1, [*chosen, person], ranked)
            if found is not None:
                return found
        return None

    def _distinct(self, pos: int, person: int, role: str, chosen: list[int]) -> bool:
        needs = self.needs[pos]
        return all(other != person or self.clinic.combinable(needs[j].role, role) and needs[j].role != role
                   for j, other in enumerate(chosen))

    def _can(self, pos: int, person: int, s: int, e: int) -> bool:
        member = self.members[person]
        if not member.works(s, e) or not member.free(self.kind[pos], s, e):
            return False
        if member.max_per_day is not None:
            day = member.clock.day_of(s)
            own = self._own.get((person, day), [])
            if member.per_day.get(day, 0) + len(own) >= member.max_per_day:
                self.blame += own
                return False
        return True

    def _order(self, pos: int, role: str, s: int) -> list[int]:
        """Who may fill ``role`` here, in the order they are tried."""
        fixed = self.fixed.get(role)
        if fixed is not None:
            return list(fixed)
        holders = self.holders.get(role, [])
        ranked = sorted(holders, key=lambda p: (self._day_load(p, s), p))
        if role in self.sticky:
            last = self._latest(pos, role)
            if last is not None and last in ranked:
                ranked.remove(last)
                ranked.insert(0, last)
        return ranked

    def _day_load(self, person: int, s: int) -> int:
        member = self.members[person]
        day = member.clock.day_of(s)
        return member.per_day.get(day, 0) + len(self._own.get((person, day), ()))

    def _latest(self, pos: int, role: str) -> int | None:
        """The person who filled ``role`` in the latest placed earlier position."""
        for earlier in range(pos - 1, -1, -1):
            choice = self.choice.get(earlier)
            if choice is None:
                continue
            for need, person in zip(self.needs[earlier], choice.people, strict=False):
                if need.role == role:
                    return person
        return None

    # ------------------------------------------------------------------ continuity

    def continuity_roles(self) -> list[tuple[str, int]]:
        """(role, people per series) for each continuity role some session asks for."""
        out = []
        for role in self.clinic.continuity:
            most = max((sum(1 for n in needs if n.role == role) for needs in self.needs), default=0)
            if most and self.holders.get(role):
                out.append((role, most))
        return out

    def load(self, people: Sequence[int]) -> int:
        """Bookings other series hold on these people (a continuity tie-break)."""
        return sum(sum(m.per_day.values()) for m in (self.members[p] for p in people))
