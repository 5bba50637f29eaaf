"""Delays explained (KP401) and plans to choose from (SPEC §12), around the engine's choices.py.

The first dose is "delayed" when it falls more than 7 days after the earliest
date the protocol's shape (``kapplan show``) allows from the start date. The
note then names each cause class whose removal alone brings the first dose at
least 7 days sooner, with its dates, and the earliest first dose a plan with
at most two deviations reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kapplan.models.client import Client
from kapplan.models.plan import Warning_
from kapplan.models.protocol import Protocol

DELAY_CODE = "KP401"
DELAY_DAYS = 7
NAMES = ("strict", "sooner", "regular")


@dataclass
class Choices:
    """The engine results a plan may be made from, by name, and the KP401 note."""

    results: dict[str, Any]
    note: Warning_ | None


def earliest_first_dose(protocol: Protocol, start: date) -> date | None:
    """The first dosing date the protocol's earliest shape allows from ``start``."""
    from kapplan.lint.shape import earliest_shape

    days = [p.day for p in earliest_shape(protocol) if p.session.kind == "dosing"]
    return start + timedelta(days=min(days)) if days else None


def choices(protocol: Protocol, client: Client, request: Any, strict: Any, *, regular: bool = False) -> Choices:
    """The strict result, a sooner one when the first dose is delayed (with its KP401
    note), and with ``regular`` the regular one."""
    from kapplan.engine import explain_delay, first_dose, regular_plan

    results: dict[str, Any] = {"strict": strict}
    note = None
    dosing = {name for name, s in protocol.sessions.items() if s.kind == "dosing"}
    found = first_dose(strict, dosing)
    allowed = earliest_first_dose(protocol, request.start_date)
    if found is not None and allowed is not None and (found - allowed).days > DELAY_DAYS:
        analysis = explain_delay(request, found, allowed)
        if analysis.sooner is not None:
            results["sooner"] = analysis.sooner
        note = Warning_(code=DELAY_CODE, message=delay_text(analysis, allowed, request, client))
    if regular:
        held = regular_plan(request, strict)
        if held is not None:
            results["regular"] = held
    return Choices(results, note)


def delay_text(analysis: Any, allowed: date, request: Any, client: Client) -> str:
    """KP401 in words: how late, what pushed it, how soon with deviations."""
    found = analysis.first_dose
    text = (f"the first dose falls on {found}, {(found - allowed).days} days after the earliest the protocol "
            f"allows from {request.start_date} ({allowed})")
    named = [f"{_cause_text(cause, request, client, found)} (without them: {day})"
             for cause, day in analysis.without.items()
             if day is not None and (found - day).days >= DELAY_DAYS]
    text += ", pushed back by " + " and ".join(named) if named else "; no single cause explains it alone"
    if analysis.sooner is not None:
        deviations = analysis.sooner.deviations
        what = ", ".join(f"{d.key} {d.rule} {d.actual}, allowed {d.allowed}" for d in deviations)
        count = f"{len(deviations)} deviation{'s' if len(deviations) != 1 else ''}"
        text += (f". With {count} the first dose can be on {analysis.sooner_date}"
                 + (f" ({what})" if what else "")
                 + ": see 'plan --alternatives'; '--choose sooner --allow-deviations' writes it")
    elif analysis.complete:
        text += ". No plan with at most two deviations doses sooner"
    if not analysis.complete:
        text += " (not searched to the end)"
    return text + "."


def _cause_text(cause: str, request: Any, client: Client, until: date) -> str:
    """A cause class with its dates between the start and the first dose."""
    start = request.start_date
    if cause == "absences":
        spans = [r for r in request.unavailable if r.start <= until and r.end >= start]
        listed = ", ".join(f"{r.start}..{r.end}" if r.start != r.end else f"{r.start}" for r in spans)
        return f"the client's absences ({listed})" if listed else "the client's absences"
    if cause == "holidays":
        days = sorted({d for d in request.holidays if start <= d <= until}
                      | ({d for d in request.clinic.holidays if start <= d <= until} if request.clinic else set()))
        listed = ", ".join(str(d) for d in days[:6]) + (", ..." if len(days) > 6 else "")
        return f"holidays ({listed})" if listed else "holidays"
    if cause == "windows":
        windows = ", ".join(str(w) for w in request.availability)
        hours = f"; clinic hours {', '.join(str(w) for w in request.clinic.hours)}" if request.clinic else ""
        return f"the weekly windows (available {windows}{hours})"
    return "the clinic's people and rooms"


@dataclass
class Summary:
    """One line of ``plan --alternatives``."""

    name: str
    first_dose: str | None
    last: str
    outside: int
    times: int
    deviations: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "first_dose": self.first_dose, "last": self.last,
                "outside_preference": self.outside, "distinct_start_times": self.times,
                "deviations": self.deviations}


def summarize(name: str, plan: Any, request: Any) -> Summary:
    """First dosing date, last session date, sessions outside the preference, distinct
    weekday-and-time pairs, deviations."""
    from kapplan.engine import preferred

    inside = preferred(request)
    sessions = plan.sessions
    dosing = [s.start.date() for s in sessions if s.kind == "dosing"]
    outside = sum(not inside(s.start, s.end) for s in sessions)
    times = {s.start.strftime("%H:%M") for s in sessions}
    return Summary(name, str(min(dosing)) if dosing else None, str(max(s.start.date() for s in sessions)),
                   outside, len(times), len(plan.deviations))


def weekday_times(plan: Any) -> int:
    """Distinct (weekday, time of day) pairs of a plan's sessions: how regular it is."""
    return len({(s.start.weekday(), s.start.strftime("%H:%M")) for s in plan.sessions})


def regular_kept(strict: Any, regular: Any) -> bool:
    """SPEC §12: a regular plan is offered when it ends within 14 days of the strict
    plan's end and is more regular."""
    end = max(s.start.date() for s in strict.sessions)
    ends = max(s.start.date() for s in regular.sessions)
    return (ends - end).days <= 14 and weekday_times(regular) < weekday_times(strict)
