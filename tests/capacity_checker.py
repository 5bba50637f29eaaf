"""An independent checker of a clinic's bookings against SPEC §11 (shared by tests).

Written from the spec, not from the engine or the ledger: it reads the clinic
as plain data (the YAML mapping), the plans as their JSON, and works on
datetimes and zoneinfo directly. ``capacity_violations`` returns one line per
broken rule; an empty list means every person and room is used as the clinic
allows.

Weekly windows are read in their simple forms only (``Mon-Fri 09:00-17:00``,
``Mon,Wed 09:00-13:00``), dates and date ranges as ``DATE`` or ``DATE..DATE``;
clinic public holidays are not checked here (tests give none).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ACTIVE = {"planned", "done", "tentative"}


def _weekdays(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            first, last = (DAYS.index(p.strip().lower()[:3]) for p in part.split("-"))
            out.update(range(first, last + 1))
        else:
            out.add(DAYS.index(part.strip().lower()[:3]))
    return out


def _window(text: str) -> tuple[set[int], int, int]:
    days, times = text.rsplit(" ", 1)
    start, end = times.split("-")
    return _weekdays(days), _minute(start), _minute(end)


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _dates(items: list[str]) -> set[date]:
    out: set[date] = set()
    for item in items:
        first, _, last = str(item).partition("..")
        day, end = date.fromisoformat(first), date.fromisoformat(last or first)
        while day <= end:
            out.add(day)
            day += timedelta(days=1)
    return out


def _needs(plan: dict[str, Any], session: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(role, minutes or None) from the protocol the plan embeds."""
    staff = plan["protocol"]["definition"]["sessions"][session["session"]].get("staff", [])
    out: list[tuple[str, int | None]] = []
    for need in staff:
        if isinstance(need, str):
            out.append((need, None))
        else:
            out.append((need["role"], _minutes(need["for"]) if need.get("for") else None))
    return out


def _minutes(text: str) -> int:
    total, number = 0, ""
    units = {"w": 10080, "d": 1440, "h": 60, "min": 1}
    i = 0
    while i < len(text):
        if text[i].isdigit():
            number += text[i]
            i += 1
            continue
        unit = "min" if text.startswith("min", i) else text[i]
        total += int(number) * units[unit]
        number = ""
        i += len(unit)
    return total


class _Clinic:
    def __init__(self, data: dict[str, Any]) -> None:
        self.zone = ZoneInfo(data["timezone"])
        self.hours = [_window(w) for w in data["hours"]]
        self.closed = _dates(data.get("closed", []))
        self.staff = {m["id"]: m for m in data.get("staff", [])}
        self.rooms = {r["id"]: r for r in data.get("rooms", [])}
        self.continuity = data.get("continuity", ["therapist"])
        self.combine = [set(pair) for pair in data.get("combine", [])]

    def zone_of(self, person: str) -> ZoneInfo:
        return ZoneInfo(self.staff[person].get("timezone") or self.zone.key)

    def works(self, person: str, start: datetime, end: datetime) -> bool:
        member = self.staff[person]
        zone = self.zone_of(person)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_start.date() != local_end.date() and local_end.time() != datetime.min.time():
            return False
        day = local_start.date()
        if day in _dates(member.get("off", [])) or day in self.closed:
            return False
        windows = [_window(w) for w in member["hours"]] if member.get("hours") else self.hours
        begin = local_start.hour * 60 + local_start.minute
        finish = begin + int((end - start).total_seconds() // 60)
        return any(day.weekday() in days and a <= begin and finish <= b for days, a, b in windows)


def capacity_violations(clinic_data: dict[str, Any], plans: list[dict[str, Any]]) -> list[str]:
    clinic = _Clinic(clinic_data)
    out: list[str] = []
    person_holds: dict[str, list[tuple[datetime, datetime, str, str]]] = defaultdict(list)
    room_holds: dict[str, list[tuple[datetime, datetime, str, str]]] = defaultdict(list)
    for plan in plans:
        out += _plan_problems(clinic, plan, person_holds, room_holds)
    for person, holds in person_holds.items():
        out += _person_overlaps(clinic, person, holds)
    for room, holds in room_holds.items():
        capacity = clinic.rooms[room].get("capacity", 1) if room in clinic.rooms else 0
        for at, running in _running(holds):
            if len(running) > capacity:
                out.append(f"room {room} holds {len(running)} sessions at {at.isoformat()} (capacity {capacity})")
    return out


def _plan_problems(clinic: _Clinic, plan: dict[str, Any], person_holds: dict[str, list[Any]],
                   room_holds: dict[str, list[Any]]) -> list[str]:
    out: list[str] = []
    by_role: dict[str, set[str]] = defaultdict(set)
    most: dict[str, int] = defaultdict(int)
    for session in plan["sessions"]:
        label = f"{plan['client']['id']} {session['key']}"
        start, end = datetime.fromisoformat(session["start"]), datetime.fromisoformat(session["end"])
        needs = _needs(plan, session)
        assigned = session.get("assigned")
        if clinic.staff:
            if assigned is None or [a["role"] for a in assigned] != [r for r, _ in needs]:
                out.append(f"{label}: assigned roles {assigned} differ from the staff list {needs}")
                continue
            out += _assignment_problems(clinic, label, session, needs, start, end)
            for (role, _), a in zip(needs, assigned, strict=True):
                by_role[role].add(a["id"])
            for role in {r for r, _ in needs}:
                most[role] = max(most[role], sum(1 for r, _ in needs if r == role))
        elif assigned is not None:
            out.append(f"{label}: assigned without staff in the clinic")
        out += _room_problems(clinic, label, session)
        if session["status"] not in ACTIVE:
            continue
        people_end: dict[str, datetime] = {}
        for a in assigned or []:
            until = datetime.fromisoformat(a["end"]) if a.get("end") else end
            people_end[a["id"]] = max(until, people_end.get(a["id"], until))
        for person, until in people_end.items():
            person_holds[person].append((start, until, session["kind"], label))
        if session.get("room"):
            room_holds[session["room"]].append((start, end, session["kind"], label))
    for role in clinic.continuity:
        if role in by_role and len(by_role[role]) > most[role]:
            out.append(f"{plan['client']['id']}: continuity role {role} served by {sorted(by_role[role])}")
    return out


def _assignment_problems(clinic: _Clinic, label: str, session: dict[str, Any], needs: list[tuple[str, int | None]],
                         start: datetime, end: datetime) -> list[str]:
    out = []
    assigned = session["assigned"]
    for (role, minutes), a in zip(needs, assigned, strict=True):
        person = a["id"]
        if person not in clinic.staff:
            out.append(f"{label}: unknown person {person}")
            continue
        if role not in clinic.staff[person]["roles"]:
            out.append(f"{label}: {person} does not hold role {role}")
        until = end if minutes is None or start + timedelta(minutes=minutes) >= end else start + timedelta(
            minutes=minutes)
        if (datetime.fromisoformat(a["end"]) if a.get("end") else end) != until:
            out.append(f"{label}: {person} needed until {until.isoformat()}, recorded otherwise")
        if not clinic.works(person, start, until):
            out.append(f"{label}: {person} is not working {start.isoformat()}..{until.isoformat()}")
    for i, a in enumerate(assigned):
        for j in range(i):
            other = assigned[j]
            if a["id"] == other["id"] and not (a["role"] != other["role"]
                                               and {a["role"], other["role"]} in clinic.combine):
                out.append(f"{label}: {a['id']} fills both {other['role']} and {a['role']}")
    return out


def _room_problems(clinic: _Clinic, label: str, session: dict[str, Any]) -> list[str]:
    room = session.get("room")
    if not clinic.rooms or session["setting"] != "in-person":
        return [f"{label}: a room without need ({room})"] if room else []
    if room is None or room not in clinic.rooms:
        return [f"{label}: in-person session without a room of the clinic ({room})"]
    serves = clinic.rooms[room].get("for")
    if serves is not None and session["kind"] not in serves:
        return [f"{label}: room {room} does not serve {session['kind']}"]
    return []


def _running(holds: list[tuple[datetime, datetime, str, str]]) -> list[tuple[datetime, list[Any]]]:
    """At each hold's start: the holds running then (every peak is some hold's start)."""
    return [(s, [h for h in holds if h[0] <= s < h[1]]) for s, _, _, _ in holds]


def _person_overlaps(clinic: _Clinic, person: str, holds: list[tuple[datetime, datetime, str, str]]) -> list[str]:
    out = []
    member = clinic.staff.get(person, {})
    concurrent = member.get("concurrent", {})
    for at, running in _running(holds):
        kinds = {h[2] for h in running}
        limit = concurrent.get(next(iter(kinds)), 1) if len(kinds) == 1 else 1
        if len(running) > limit:
            out.append(f"{person} has {len(running)} sessions at {at.isoformat()}: {[h[3] for h in running]}")
    most = member.get("max_per_day")
    if most is not None:
        zone = clinic.zone_of(person)
        per_day: dict[date, int] = defaultdict(int)
        for start, _, _, _ in holds:
            per_day[start.astimezone(zone).date()] += 1
        out += [f"{person} has {n} sessions on {d} (at most {most})" for d, n in per_day.items() if n > most]
    return out
