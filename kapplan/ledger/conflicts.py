"""Over-capacity instants among a clinic's bookings (SPEC §11).

The last word before bookings are stored: a batch's in-memory ledger and the
ledger file both re-check new bookings against those already held, because
another series may have been booked since the plan was made. Only capacity is
checked here (who is booked at once, how often a day, how full a room is);
who may work when was the planner's job and does not change between the plan
and its commit.

Rules, per person: at any instant either one session, or only sessions of one
kind ``k`` and at most ``concurrent[k]`` of them (a nurse watching infusion
chairs); at most ``max_per_day`` sessions starting on one local date of the
person's zone. Per room: at most ``capacity`` sessions at once. A person who
fills two roles of one session (``combine``) is counted once for it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from kapplan.models.booking import Booking
from kapplan.models.client import Clinic


@dataclass(frozen=True)
class Conflict:
    """A person or room over capacity at ``at``, and the sessions that meet there."""

    resource: str  # "person" or "room"
    id: str
    at: datetime
    bookings: tuple[tuple[str, str], ...]  # (series, key) of every session involved
    reason: str


@dataclass(frozen=True)
class _Hold:
    """One booking's hold on one person or room: [start, end) and the session's kind."""

    start: datetime
    end: datetime
    kind: str
    series: str
    key: str
    new: bool


def conflicts(clinic: Clinic, existing: Iterable[Booking], new: Sequence[Booking]) -> list[Conflict]:
    """Every over-capacity instant that involves a new booking.

    Existing bookings of a series that ``new`` books are ignored: a series'
    re-plan replaces its own bookings. Inactive bookings (missed, cancelled)
    hold nothing.
    """
    replaced = {b.series for b in new}
    people: dict[str, list[_Hold]] = defaultdict(list)
    rooms: dict[str, list[_Hold]] = defaultdict(list)
    for booking in existing:
        if booking.active and booking.series not in replaced:
            _hold(booking, False, people, rooms)
    for booking in new:
        if booking.active:
            _hold(booking, True, people, rooms)
    found: list[Conflict] = []
    touched_people = {a.person for b in new if b.active for a in b.assigned}
    touched_rooms = {b.room for b in new if b.active and b.room is not None}
    for person in sorted(touched_people):
        found += _person_conflicts(clinic, person, people[person])
    for room in sorted(touched_rooms):
        found += _room_conflicts(clinic, room, rooms[room])
    return found


def _hold(booking: Booking, new: bool, people: dict[str, list[_Hold]], rooms: dict[str, list[_Hold]]) -> None:
    ends: dict[str, datetime] = {}
    for assignment in booking.assigned:  # one person in two roles: held until the later end
        end = booking.person_end(assignment)
        ends[assignment.person] = max(end, ends.get(assignment.person, end))
    for person, end in ends.items():
        people[person].append(_Hold(booking.start, end, booking.kind, booking.series, booking.key, new))
    if booking.room is not None:
        rooms[booking.room].append(_Hold(booking.start, booking.end, booking.kind, booking.series, booking.key, new))


def _near_new(holds: list[_Hold]) -> list[_Hold]:
    """The holds that overlap a new one (a ledger holds far more than one plan touches), by start."""
    spans = sorted((h.start, h.end) for h in holds if h.new)
    starts = [s for s, _ in spans]
    reach: list[datetime] = []
    for _, end in spans:
        reach.append(max(end, reach[-1]) if reach else end)
    kept = []
    for hold in holds:
        i = bisect_left(starts, hold.end) - 1  # the new spans starting before this hold ends
        if hold.new or (i >= 0 and reach[i] > hold.start):
            kept.append(hold)
    return sorted(kept, key=lambda h: (h.start, h.end))


def _overlapping(holds: list[_Hold]) -> Iterable[tuple[datetime, list[_Hold]]]:
    """At each start: the holds running then, when a new one is among them. Any
    instant of most overlap is some hold's start, so checking these suffices."""
    ordered = _near_new(holds)
    for i, hold in enumerate(ordered):
        running = [h for h in ordered[: i + 1] if h.end > hold.start]
        if any(h.new for h in running):
            yield hold.start, running


def _person_conflicts(clinic: Clinic, person: str, holds: list[_Hold]) -> list[Conflict]:
    member = clinic.member(person)
    if member is None:
        first = next(h for h in holds if h.new)
        return [Conflict("person", person, first.start, ((first.series, first.key),),
                         f"'{person}' is not on the clinic's staff")]
    out = []
    for at, running in _overlapping(holds):
        if len(running) < 2:
            continue
        kinds = {h.kind for h in running}
        limit = member.concurrent.get(next(iter(kinds)), 1) if len(kinds) == 1 else 1
        if len(running) > limit:
            reason = (f"{len(running)} sessions at once, at most {limit}" if len(kinds) == 1
                      else "sessions of different kinds at once")
            out.append(Conflict("person", person, at, _ids(running), reason))
    if member.max_per_day is not None:
        out += _daily_conflicts(person, holds, ZoneInfo(member.timezone or clinic.timezone), member.max_per_day)
    return out


def _daily_conflicts(person: str, holds: list[_Hold], zone: ZoneInfo, most: int) -> list[Conflict]:
    by_day: dict[date, list[_Hold]] = defaultdict(list)
    for hold in holds:
        by_day[hold.start.astimezone(zone).date()].append(hold)
    out = []
    for day in sorted(by_day):
        that_day = sorted(by_day[day], key=lambda h: h.start)
        if len(that_day) > most and any(h.new for h in that_day):
            out.append(Conflict("person", person, that_day[most].start, _ids(that_day),
                                f"{len(that_day)} sessions on {day.isoformat()}, at most {most} a day"))
    return out


def _room_conflicts(clinic: Clinic, room: str, holds: list[_Hold]) -> list[Conflict]:
    listed = next((r for r in clinic.rooms if r.id == room), None)
    if listed is None:
        first = next(h for h in holds if h.new)
        return [Conflict("room", room, first.start, ((first.series, first.key),),
                         f"'{room}' is not a room of the clinic")]
    return [
        Conflict("room", room, at, _ids(running), f"{len(running)} sessions at once, capacity {listed.capacity}")
        for at, running in _overlapping(holds)
        if len(running) > listed.capacity
    ]


def _ids(holds: list[_Hold]) -> tuple[tuple[str, str], ...]:
    return tuple((h.series, h.key) for h in holds)


__all__ = ["Conflict", "conflicts"]
