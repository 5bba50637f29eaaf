"""Plans built directly from PlannedSession objects, for tests of everything that reads plans.

``make_plan_obj()`` gives a small KAP series for client C-0042 in New York:
intake, two preparation sessions, two medicine (dosing) sessions each followed
by an integration session, and a follow-up. Its texts deliberately mix
harmless instructions with ones that name a medication or a dose, so privacy
tests can tell withheld text from shown text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.models.plan import Plan, PlannedDose, PlannedReminder, PlannedSession, ProtocolRef

SERIES = "7f0c3a52-2d0e-4b8e-9a51-0d2b1f6c9e11"
OTHER_SERIES = "0b6c1d5e-93c4-4f71-a2a8-5d8e4f0c7a31"
CREATED = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
ZONE = "America/New_York"

CLIENT_NAME = "Alex Rivera"
CLIENT_EMAIL = "alex@example.org"
THERAPIST = {"name": "Dr. Kim", "email": "kim@clinic.example"}
PROTOCOL_ID = "kap-im-test"
PROTOCOL_TITLE = "Intramuscular KAP test series"
DOSING_TITLE = "Intramuscular ketamine session"
LOCATION = "12 Main St, Suite 200"

RIDE_HOME = "Arrange a ride home; you cannot drive until the next day."
NO_FOOD = "No food from now on."
BRING_DEVICE = "Bring your Spravato device."  # names a medication: withheld below full
DOSE_NOTE = "Confirm driver at check-in. Draw up 36 mg."  # names a dose: withheld below full


def local(text: str, zone: str = ZONE) -> datetime:
    """``2026-12-07 09:00`` as a wall-clock time in ``zone``."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(zone))


def make_session(
    key: str,
    kind: str,
    start: str | datetime,
    minutes: int,
    *,
    zone: str = ZONE,
    index: int = 1,
    count: int = 1,
    **fields: Any,
) -> PlannedSession:
    """One session; ``end`` is ``start`` plus ``minutes`` of elapsed time."""
    begin = local(start, zone) if isinstance(start, str) else start
    end = (begin.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(ZoneInfo(zone))
    step = key.partition(".")[0].rpartition("-")[0] or key
    defaults: dict[str, Any] = {
        "step": step,
        "session": key.partition(".")[2] or step,
        "title": kind.replace("-", " ").capitalize() + " session",
        "setting": "in-person",
    }
    return PlannedSession(
        key=key, kind=kind, index=index, count=count, start=begin, end=end, **{**defaults, **fields}
    )


def dose(amount: float) -> PlannedDose:
    return PlannedDose(
        medication="ketamine",
        route="IM",
        amount_mg=amount,
        basis=f"0.5 mg/kg x 72 kg = {amount:g} mg (planned, confirm before dosing)",
    )


def medicine(n: int, start: str, amount: float, zone: str = ZONE) -> PlannedSession:
    return make_session(
        f"medicine-{n}", "dosing", start, 180, zone=zone, index=n, count=2,
        title=DOSING_TITLE, staff=["therapist", "nurse"], dose=dose(amount),
        reminders=[
            PlannedReminder(before="P1D", text=RIDE_HOME),
            PlannedReminder(before="PT4H", text=NO_FOOD),
            PlannedReminder(before="PT2H", text=BRING_DEVICE),
        ],
        instructions="Wear comfortable clothes.", notes=DOSE_NOTE,
        monitoring=["blood-pressure-before", "blood-pressure-40min-after"],
    )


def integration(n: int, start: str, zone: str = ZONE) -> PlannedSession:
    return make_session(
        f"medicine-{n}.integration", "integration", start, 60, zone=zone, index=n, count=2,
        step="medicine", session="integration", follows=f"medicine-{n}", setting="telehealth",
        staff=["therapist"], instructions="Journal about the session before we meet.",
    )


def kap_sessions(zone: str = ZONE) -> list[PlannedSession]:
    """The default series (December 2026 - January 2027), sorted by start."""
    return [
        make_session(
            "intake-1", "screening", "2026-12-07 09:00", 60, zone=zone,
            title="Medical intake and screening", staff=["prescriber"], assessments=["PHQ-9", "PCL-5"],
            instructions="Bring a list of the medicines you take.",
            notes="Review ketamine contraindications.",
        ),
        make_session(
            "preparation-1", "preparation", "2026-12-09 10:00", 90, zone=zone, index=1, count=2,
            staff=["therapist"], instructions="Think about what you hope to gain.",
        ),
        make_session(
            "preparation-2", "preparation", "2026-12-14 10:00", 90, zone=zone, index=2, count=2,
            staff=["therapist"],
        ),
        medicine(1, "2026-12-16 09:00", 36, zone),
        integration(1, "2026-12-17 10:00", zone),
        medicine(2, "2026-12-21 09:00", 45, zone),
        integration(2, "2026-12-22 10:00", zone),
        make_session(
            "follow-up-1", "follow-up", "2027-01-11 09:30", 30, zone=zone,
            title="Follow-up call", setting="telehealth", staff=["prescriber"],
        ),
    ]


def make_plan_obj(
    sessions: list[PlannedSession] | None = None,
    *,
    zone: str = ZONE,
    client_id: str = "C-0042",
    series: str = SERIES,
    created: datetime = CREATED,
    name: str | None = CLIENT_NAME,
    email: str | None = CLIENT_EMAIL,
    location: str | None = LOCATION,
    therapist: dict[str, str] | None = None,
    clinic: dict[str, Any] | None = None,
    protocol_title: str = PROTOCOL_TITLE,
    **client_fields: Any,
) -> Plan:
    """A valid plan; every part can be replaced. ``sessions`` default to ``kap_sessions(zone)``."""
    client: dict[str, Any] = {
        "id": client_id,
        "timezone": zone,
        "start": "2026-12-07",
        "weight_kg": 72.0,
        "dose_scale": 1.0,
        "availability": ["Mon-Fri 09:00-17:00"],
        "unavailable": [],
        "therapist": dict(THERAPIST) if therapist is None else therapist,
    }
    client.update({k: v for k, v in (("name", name), ("email", email), ("location", location)) if v is not None})
    client.update(client_fields)
    return Plan(
        generator="kapplan 0.1.0",
        created=created,
        series=series,
        protocol=ProtocolRef(
            id=PROTOCOL_ID, version="1.0.0", title=protocol_title, sha256="0" * 64, definition={}
        ),
        client=client,
        clinic=clinic,
        sessions=kap_sessions(zone) if sessions is None else sessions,
    )
