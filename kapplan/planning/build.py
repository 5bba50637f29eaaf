"""From a protocol and a client to a Plan: the glue around the schedule engine.

Expands holidays for the horizon, runs the engine, computes planned doses,
and builds the self-contained Plan of SPEC §5 for a resolved client (zone and
start set: ``clients.py``). Pure apart from the random series id: the clock is
an argument.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kapplan import __version__
from kapplan.models.booking import Booking
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import Diagnostic, InfeasibleError, InputError
from kapplan.models.plan import (
    AssignedPerson,
    Deviation,
    Plan,
    PlannedReminder,
    PlannedSession,
    ProtocolRef,
    Warning_,
)
from kapplan.models.protocol import LoadedProtocol, Protocol, SessionType
from kapplan.planning.doses import DoseError, planned_dose
from kapplan.planning.embedded import client_record, clinic_record
from kapplan.planning.notes import safety_notes
from kapplan.planning.series import apply_gates, compute_tasks, decision_points, plan_path

if TYPE_CHECKING:
    from kapplan.engine import BusyIndex

SERIES_NAMESPACE = uuid.UUID("6f1d3c0e-5b7a-4f43-9a8e-2c7d1e0b9a55")
HORIZON_DAYS = 365  # SPEC §2: the search looks this far past the start date
SCAN_DAYS = 365  # how far the nearest-later-start scan looks
CAPACITY_NOTE = "KP404"
"""Planning note about the clinic's people (a preferred person not kept, a search not finished)."""


def holiday_map(code: str | None, start: date, days: int) -> dict[date, str]:
    """Public holidays of ``code`` from ``start`` through the horizon, with names."""
    if code is None:
        return {}
    from kapplan.models.public_holidays import holiday_names

    last = start + timedelta(days=days + 1)
    names = holiday_names(code, start.year, last.year)
    return {day: name or "public holiday" for day, name in names.items() if start <= day <= last}


def build_request(
    protocol: Protocol,
    client: Client,
    clinic: Clinic | None,
    *,
    fixed: dict[str, tuple[datetime, datetime]] | None = None,
    not_before: datetime | None = None,
    allow_deviations: bool = False,
    start_date: date | None = None,
    bookings: Sequence[Booking] | BusyIndex = (),
    kept: dict[str, tuple[str, ...]] | None = None,
) -> Any:
    """A ScheduleRequest for a resolved client (zone and start set).

    ``bookings``: other series' bookings in the clinic (busy time for its
    people and rooms); they count only when the clinic lists staff or rooms.
    ``kept``: in a re-plan, who served each continuity role in the sessions
    that happened (the re-plan keeps them, or hands over as a deviation)."""
    from kapplan.engine import CapacityRules, ClinicRules, ScheduleRequest

    assert client.timezone is not None
    assert client.start is not None
    first = start_date or client.start
    # The scan for a later start date looks past the horizon: its holidays count too.
    days = HORIZON_DAYS + SCAN_DAYS
    rules = capacity = None
    if clinic is not None:
        rules = ClinicRules(
            zone=ZoneInfo(clinic.timezone),
            hours=tuple(clinic.hours),
            closed=tuple(clinic.closed),
            holidays=holiday_map(clinic.holidays, first, days),
        )
        if clinic.has_capacity:
            capacity = CapacityRules(clinic=clinic, bookings=bookings, holidays=rules.holidays,
                                     preferred=preferred_people(client), kept=kept or {})
    return ScheduleRequest(
        protocol=protocol,
        zone=ZoneInfo(client.timezone),
        start_date=first,
        availability=client.windows,
        unavailable=tuple(client.unavailable),
        holidays=holiday_map(client.holidays, first, days),
        horizon_days=HORIZON_DAYS,
        clinic=rules,
        capacity=capacity,
        fixed=fixed or {},
        not_before=not_before,
        allow_deviations=allow_deviations,
        prefer=preference(client, clinic),
    )


def preference(client: Client, clinic: Clinic | None) -> Any:
    """SPEC §12: the client's ``prefer`` in their zone, else the clinic's ``hours_preferred``
    in its zone, else None (the engine's Mon-Fri 09:00-17:00 in the client's zone)."""
    from kapplan.engine import Preference

    if client.prefer:
        assert client.timezone is not None
        return Preference(ZoneInfo(client.timezone), tuple(client.prefer))
    if clinic is not None and clinic.hours_preferred:
        return Preference(ZoneInfo(clinic.timezone), tuple(clinic.hours_preferred))
    return None


def preferred_people(client: Client) -> dict[str, str]:
    """Role -> the clinic staff id the client asks for (``therapist: {id: kim}``)."""
    out = {}
    for role, person in (("therapist", client.therapist), ("prescriber", client.prescriber)):
        if person is not None and person.id is not None:
            out[role] = person.id
    return out


def assigned_people(placement: Any) -> list[AssignedPerson] | None:
    if placement.assigned is None:
        return None
    return [AssignedPerson(role=a.role, id=a.person, end=a.end) for a in placement.assigned]


def session_for(protocol: Protocol, placement: Any) -> SessionType:
    return protocol.sessions[placement.session]


def sessions_from_placements(
    placements: list[Any], protocol: Protocol, client: Client, deviations: list[Deviation]
) -> list[PlannedSession]:
    """Placements -> PlannedSessions (titles, doses, reminders), sorted by start."""
    out = []
    for placement in placements:
        session_type = session_for(protocol, placement)
        dose = None
        if session_type.dose is not None:
            try:
                dose = planned_dose(session_type.dose, placement.index, client.weight, client.dose_scale)
            except DoseError as err:
                raise InputError(
                    [Diagnostic(f"client {client.id}", 0, 0, "error", "KP125", str(err))], f"client {client.id}: {err}"
                ) from None
        out.append(
            PlannedSession(
                key=placement.key,
                step=placement.step,
                session=placement.session,
                kind=session_type.kind,
                index=placement.index,
                count=placement.count,
                follows=placement.follows,
                title=session_type.display_title,
                start=placement.start,
                end=placement.end,
                setting=session_type.setting,
                staff=session_type.roles,
                dose=dose,
                reminders=[PlannedReminder(before=r.before.iso(), text=r.text) for r in session_type.reminders],
                assessments=list(session_type.assessments),
                monitoring=list(session_type.monitoring),
                checklist=list(session_type.checklist),
                instructions=session_type.instructions,
                notes=session_type.notes,
                deviations=[d for d in deviations if d.key == placement.key],
                assigned=assigned_people(placement),
                room=placement.room,
            )
        )
    return sorted(out, key=lambda s: (s.start, s.key))


def new_series(client_id: str, protocol_id: str, created: datetime, reproducible: bool) -> str:
    """Random, or derived from ids and ``created`` under SOURCE_DATE_EPOCH."""
    if reproducible:
        return str(uuid.uuid5(SERIES_NAMESPACE, f"{client_id}|{protocol_id}|{created.isoformat()}"))
    return str(uuid.uuid4())


def run_schedule(request: Any) -> Any:
    """Run the engine; when no plan exists, add the nearest workable start date."""
    from kapplan.engine import BudgetExhausted, earliest_workable_start, schedule

    try:
        return schedule(request)
    except InfeasibleError as err:
        if not err.explanation.search_limit and err.explanation.suggested_start is None:
            try:
                later = earliest_workable_start(request, limit_days=SCAN_DAYS)
            except BudgetExhausted:
                err.explanation.scan_limit = True
            else:
                if later is not None:
                    err.explanation.suggested_start = later.isoformat()
            raise InfeasibleError(err.explanation) from None
        raise


def make_plan(
    loaded: LoadedProtocol,
    client: Client,
    clinic: Clinic | None,
    *,
    now: datetime,
    allow_deviations: bool = False,
    series: str | None = None,
    reproducible: bool = False,
    notes: list[Warning_] | None = None,
    bookings: Sequence[Booking] | BusyIndex = (),
    choose: str = "strict",
) -> Plan:
    """Plan one client (zone and start already resolved) under one protocol.

    ``bookings``: other series' bookings in the clinic (SPEC §11), busy time
    for its people and rooms. ``choose``: one of the alternatives of SPEC §12
    (strict, sooner, regular); one with deviations needs ``allow_deviations``."""
    plans = make_plans(loaded, client, clinic, now=now, allow_deviations=allow_deviations, series=series,
                       reproducible=reproducible, notes=notes, bookings=bookings, regular=choose == "regular")
    if choose not in plans:
        from kapplan.models.errors import UsageError

        why = {"sooner": "the first dose is not delayed, or no plan with at most two deviations doses sooner",
               "regular": "no plan holds each step to one weekday and time within 14 days of the strict plan's end"}
        raise UsageError(f"--choose {choose}: no such alternative for this client ({why.get(choose, 'unknown')})")
    chosen = plans[choose]
    if chosen.deviations and not allow_deviations and choose != "strict":
        from kapplan.models.errors import UsageError

        raise UsageError(f"--choose {choose}: that plan has {len(chosen.deviations)} deviation(s); "
                         "add --allow-deviations to accept them")
    return chosen


def make_plans(
    loaded: LoadedProtocol,
    client: Client,
    clinic: Clinic | None,
    *,
    now: datetime,
    allow_deviations: bool = False,
    series: str | None = None,
    reproducible: bool = False,
    notes: list[Warning_] | None = None,
    bookings: Sequence[Booking] | BusyIndex = (),
    regular: bool = True,
) -> dict[str, Plan]:
    """The plan (``strict``) and the alternatives of SPEC §12 that exist: ``sooner`` when
    the first dose is delayed (KP401), ``regular`` (when asked for) when it is kept."""
    from kapplan.planning.choices import choices, regular_kept

    protocol = loaded.protocol
    if client.timezone is None or client.start is None:
        missing = "timezone" if client.timezone is None else "start"
        raise InputError(
            [Diagnostic(f"client {client.id}", 0, 0, "error", "KP111", f"missing required key '{missing}'")],
            f"client {client.id}: no {missing} given",
        )
    _check_weight(protocol, client)
    path = plan_path(protocol)  # up to the first open decision (SPEC §13)
    # The engine relaxes upper bounds only when no strict plan exists.
    request = build_request(path.protocol, client, clinic, allow_deviations=allow_deviations, bookings=bookings)
    found = choices(path.protocol, client, request, run_schedule(request), regular=regular)
    warnings = [Warning_(code=d.code, message=d.message) for d in loaded.warnings] + list(notes or [])
    if found.note is not None:
        warnings.append(found.note)
    series = series or new_series(client.id, protocol.id, now, reproducible)
    plans = {name: _assemble(loaded, path, client, clinic, result, warnings, now, series)
             for name, result in found.results.items()}
    if "regular" in plans and not regular_kept(plans["strict"], plans["regular"]):
        del plans["regular"]
    return plans


def _assemble(loaded: LoadedProtocol, path: Any, client: Client, clinic: Clinic | None, result: Any,
              warnings: list[Warning_], now: datetime, series: str) -> Plan:
    """The Plan of SPEC §5 from one engine result."""
    protocol = loaded.protocol
    assert client.timezone is not None
    sessions = sessions_from_placements(result.placements, path.protocol, client, result.deviations)
    sessions = apply_gates(sessions, path.protocol, bump=False)
    notes = [Warning_(code=CAPACITY_NOTE, message=text) for text in result.notes]
    notes += safety_notes(path.protocol, client, sessions)  # KP4xx: never silenced by `allow`
    return Plan(
        generator=f"kapplan {__version__}",
        created=now,
        series=series,
        protocol=ProtocolRef(
            id=protocol.id,
            version=protocol.version,
            title=protocol.title,
            sha256=loaded.sha256,
            definition=protocol.definition(),
        ),
        client=client_record(client),
        clinic=clinic_record(clinic),
        sessions=sessions,
        tasks=compute_tasks(protocol, path, sessions, ZoneInfo(client.timezone)),
        decisions=decision_points(path, protocol),
        warnings=list(warnings) + notes,
        deviations=list(result.deviations),
    )


def _check_weight(protocol: Protocol, client: Client) -> None:
    """A per-kg protocol needs a weight: say so before searching."""
    per_kg = any(s.dose and s.dose.per_kg for s in protocol.sessions.values())
    if per_kg and client.weight is None:
        raise InputError(
            [Diagnostic(f"client {client.id}", 0, 0, "error", "KP111", "missing 'weight': the protocol doses per kg")],
            f"client {client.id}: the protocol doses per kg; give a weight such as --weight '72 kg'",
        )
