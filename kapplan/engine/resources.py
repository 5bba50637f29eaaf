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

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from copy import copy
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from kapplan.engine.layout import Layout
from kapplan.engine.slots import LocalClock, blocked_days, instant_of
from kapplan.models.booking import Booking
from kapplan.models.client import Clinic
from kapplan.models.protocol import Protocol


@dataclass(frozen=True)
class CapacityRules:
    """What planning with a clinic's people and rooms needs besides the client.

    ``bookings``: other series' bookings (inactive ones are ignored);
    ``holidays``: the clinic's public holidays over the horizon (days off for
    everyone); ``preferred``: role -> the staff id the client asks for."""

    clinic: Clinic
    bookings: tuple[Booking, ...] = ()
    holidays: Mapping[date, str] = field(default_factory=dict)
    preferred: Mapping[str, str] = field(default_factory=dict)


class Holds:
    """Intervals other series hold on one person or room, sorted by start."""

    def __init__(self, items: Sequence[tuple[int, int, str]]) -> None:
        ordered = sorted(items)
        self.starts = [s for s, _, _ in ordered]
        self.ends = [e for _, e, _ in ordered]
        self.kinds = [k for _, _, k in ordered]
        self.reach: list[int] = []
        for end in self.ends:
            self.reach.append(max(end, self.reach[-1]) if self.reach else end)

    def overlapping(self, s: int, e: int) -> Iterator[int]:
        """Indexes of the holds that overlap [s, e)."""
        i = bisect_left(self.starts, e) - 1
        while i >= 0 and self.reach[i] > s:
            if self.ends[i] > s:
                yield i
            i -= 1

    def most_at_once(self, found: list[int], s: int, e: int) -> int:
        """The most of ``found`` running at one instant of [s, e)."""
        events = sorted([(max(self.starts[i], s), 1) for i in found] + [(min(self.ends[i], e), -1) for i in found])
        most = running = 0
        for _, step in events:
            running += step
            most = max(most, running)
        return most


class Member:
    """One staff member: roles, working time (lazily per local day), what others hold."""

    def __init__(self, index: int, clinic: Clinic, holidays: Mapping[date, str], first: int, last: int) -> None:
        member = clinic.staff[index]
        self.index = index
        self.id = member.id
        self.roles = frozenset(member.roles)
        self.concurrent = dict(member.concurrent)
        self.max_per_day = member.max_per_day
        self.clock = LocalClock(ZoneInfo(member.timezone or clinic.timezone), first - 2, last + 2)
        self.windows: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for window in member.hours if member.hours is not None else clinic.hours:
            for weekday in window.days:
                self.windows[weekday].append((window.start_minute, window.end_minute))
        self.off = blocked_days([*member.off, *clinic.closed], holidays, first - 2, last + 2)
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self.holds = Holds(())
        self.per_day: dict[int, int] = {}

    def book(self, items: list[tuple[int, int, str]]) -> None:
        self.holds = Holds(items)
        for s, _, _ in items:
            day = self.clock.day_of(s)
            self.per_day[day] = self.per_day.get(day, 0) + 1

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
        return any(a <= s and e <= b for a, b in self.spans(self.clock.day_of(s)))

    def free(self, kind: str, s: int, e: int) -> bool:
        """Within ``concurrent`` for [s, e) given what other series hold."""
        found = list(self.holds.overlapping(s, e))
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
        self.holds = Holds(())

    def free(self, s: int, e: int) -> bool:
        found = list(self.holds.overlapping(s, e))
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
        self._book(rules.bookings)
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
        self.holders = {role: [m.index for m in self.members if role in m.roles]
                        for role in {n.role for needs in self.needs for n in needs}}
        self.fixed: dict[str, tuple[int, ...]] = {}  # continuity role -> its chosen people
        self.sticky: set[str] = set()  # roles handed over: prefer the person of the latest session
        self.choice: dict[int, Choice] = {}
        self._own: dict[tuple[int, int], list[int]] = {}  # (member, day) -> own positions
        self._cache: dict[tuple[int, int], Choice] = {}  # admitted, not yet placed
        self.blame: list[int] = []  # own positions behind the latest refusal (max_per_day)

    def fork(self, fixed: Mapping[str, tuple[int, ...]] | None = None, sticky: frozenset[str] = frozenset()
             ) -> Resources:
        """The same people, rooms and holds for one more search, with nothing of its own placed.
        ``fixed``: continuity roles and their people; ``sticky``: roles that may be handed over."""
        other = copy(self)
        other.fixed = dict(fixed or {})
        other.sticky = set(sticky)
        other.choice, other._own, other._cache, other.blame = {}, {}, {}, []
        return other

    def _book(self, bookings: Sequence[Booking]) -> None:
        people: dict[str, list[tuple[int, int, str]]] = {}
        rooms: dict[str, list[tuple[int, int, str]]] = {}
        for booking in bookings:
            if not booking.active:
                continue
            s, e = instant_of(booking.start), instant_of(booking.end)
            ends: dict[str, int] = {}
            for a in booking.assigned:
                end = instant_of(booking.person_end(a))
                ends[a.person] = max(end, ends.get(a.person, end))
            for person, end in ends.items():
                people.setdefault(person, []).append((s, end, booking.kind))
            if booking.room is not None:
                rooms.setdefault(booking.room, []).append((s, e, booking.kind))
        for member in self.members:
            member.book(people.get(member.id, []))
        for room in self.rooms:
            room.holds = Holds(rooms.get(room.id, []))

    # ------------------------------------------------------------------ the search's questions

    def involved(self, pos: int) -> bool:
        return bool(self.needs[pos]) or self.wants_room[pos]

    def admit(self, pos: int, s: int) -> bool:
        """A person for every need and a room when one is needed, at start ``s``."""
        key = (pos, s)
        if key in self._cache:
            return True
        self.blame = []
        found = self._choose(pos, s)
        if found is not None:
            self._cache[key] = found
        return found is not None

    def place(self, pos: int, s: int) -> None:
        if not self.involved(pos):
            return
        choice = self._cache.get((pos, s))
        if choice is None:
            choice = self._choose(pos, s) or Choice((), None)
        self._cache.clear()
        self.choice[pos] = choice
        for person in set(choice.people):
            day = self.members[person].clock.day_of(s)
            self._own.setdefault((person, day), []).append(pos)

    def unplace(self, pos: int, s: int) -> None:
        choice = self.choice.pop(pos, None)
        if choice is None:
            return
        self._cache.clear()
        for person in set(choice.people):
            day = self.members[person].clock.day_of(s)
            self._own[(person, day)].remove(pos)

    # ------------------------------------------------------------------ choosing

    def _choose(self, pos: int, s: int) -> Choice | None:
        room = None
        e = s + self.duration[pos]
        if self.wants_room[pos]:
            room = next((r.index for r in self.rooms if (r.kinds is None or self.kind[pos] in r.kinds)
                         and r.free(s, e)), None)
            if room is None:
                return None
        people = self._people(pos, s, 0, [])
        return None if people is None else Choice(tuple(people), room)

    def _people(self, pos: int, s: int, i: int, chosen: list[int]) -> list[int] | None:
        """People for needs i.. of ``pos`` (depth-first: a pair of needs may compete)."""
        needs = self.needs[pos]
        if i == len(needs):
            return chosen
        need = needs[i]
        e = s + (self.duration[pos] if need.minutes is None else min(need.minutes, self.duration[pos]))
        for person in self._order(pos, need.role, s):
            if not self._distinct(pos, person, need.role, chosen) or not self._can(pos, person, s, e):
                continue
            found = self._people(pos, s, i + 1, [*chosen, person])
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
