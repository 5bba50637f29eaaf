"""The Plan shape of SPEC §5: what the engine returns and every output reads.

A plan is self-contained: it embeds the normalized protocol and the resolved
client, so export, status and reschedule never need the source files.

Annotations stay real objects (no postponed evaluation): pydantic would
otherwise evaluate every string when the classes are created, at start-up.
"""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_serializer

PLAN_FORMAT = 2
READABLE_FORMATS = (1, 2)
"""Format 2 added ``tasks``, ``decisions`` and the ``tentative`` status (SPEC §13); a format-1
file reads as a format-2 plan without them and is re-written only when a command changes it."""
Status = Literal["planned", "tentative", "done", "missed", "cancelled"]
TaskStatus = Literal["due", "done", "skipped"]
MAX_COUNT = 10_000
MAX_SEQUENCE = 1_000_000
"""Calendars carry SEQUENCE as a 32-bit integer (RFC 5545); a million re-plans is plenty."""
MAX_MINUTES = 1000 * 366 * 24 * 60
MAX_MG = 1e12


def _read_time(value: Any) -> Any:
    """ISO text with a UTC offset in seconds (``-04:56:02``, a zone's local mean
    time before 1900-something) is read as Python writes it; pydantic's own
    parser knows only ``±HH:MM``."""
    if isinstance(value, str) and _SECONDS_OFFSET.search(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _in_range(moment: datetime | date) -> Any:
    """Times and dates of a plan lie within the years kapplan plans (dates of
    1900-2199, plus a series' length): arithmetic on them never leaves
    datetime's range."""
    if not 1900 <= moment.year <= 2299:
        raise ValueError("a date outside the years 1900-2299")
    return moment


_SECONDS_OFFSET = re.compile(r"[+-][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$")
PlanTime = Annotated[AwareDatetime, BeforeValidator(_read_time), AfterValidator(_in_range)]
PlanDate = Annotated[date, AfterValidator(_in_range)]


class PlanModel(BaseModel):
    """Plans are read back from disk: unknown keys are errors, not silently kept."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class PlannedDose(PlanModel):
    medication: str
    route: str
    amount_mg: Annotated[float, Field(ge=0, le=MAX_MG)] | None = None
    basis: str


class PlannedReminder(PlanModel):
    before: str  # ISO 8601 duration, e.g. P1D
    text: str


class Deviation(PlanModel):
    key: str
    rule: Literal["gap", "after", "offset", "per_week", "within", "max_span", "continuity", "order"]
    allowed: str
    actual: str
    lateness_min: Annotated[int, Field(ge=-MAX_MINUTES, le=MAX_MINUTES)] = 0


class AssignedPerson(PlanModel):
    """One role of a session filled by one clinic person (SPEC §11); ``end`` when
    the role is needed for the first part of the session only."""

    role: str
    id: str
    end: AwareDatetime | None = Field(default=None, exclude_if=lambda v: v is None)

    @field_serializer("end")
    def _with_offset(self, moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()


class PlannedSession(PlanModel):
    key: str
    step: str
    session: str
    kind: str
    index: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    count: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    follows: str | None = None
    title: str
    start: PlanTime
    end: PlanTime
    setting: str
    staff: list[str] = []
    dose: PlannedDose | None = None
    reminders: list[PlannedReminder] = []
    assessments: list[str] = []
    monitoring: list[str] = []
    checklist: list[str] = []
    instructions: str | None = None
    notes: str | None = None
    status: Status = "planned"
    sequence: Annotated[int, Field(ge=0, le=MAX_SEQUENCE)] = 0
    deviations: list[Deviation] = []
    assigned: list[AssignedPerson] | None = Field(default=None, exclude_if=lambda v: v is None)
    room: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @field_serializer("start", "end")
    def _with_offset(self, moment: datetime) -> str:
        """Local time with its numeric UTC offset (``+00:00``, never ``Z``), as SPEC §5 shows."""
        return moment.isoformat()


class Task(PlanModel):
    """A questionnaire due on a date (a protocol ``measures`` entry), not a session."""

    key: str
    measure: str
    instrument: str
    due: PlanDate
    window_start: PlanDate
    status: TaskStatus = "due"
    sequence: int = 0  # grows when the due date or status changes (calendars apply updates by it)


class DecisionPoint(PlanModel):
    """A decision session's choice: nothing after an open one is planned."""

    key: str  # the decision session's key
    prompt: str
    options: list[str]
    chosen: str | None = None
    at: PlanTime | None = None  # when the choice was recorded


class ProtocolRef(PlanModel):
    id: str
    version: str
    title: str
    sha256: str
    definition: dict[str, Any]


class Warning_(PlanModel):
    code: str
    message: str


class Change(PlanModel):
    key: str
    from_: dict[str, Any] = Field(alias="from")
    to: dict[str, Any]
    reason: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True, defer_build=True)


class HistoryEntry(PlanModel):
    at: PlanTime
    command: str
    changes: list[Change] = []


class PlanBooking(PlanModel):
    """The ledger that holds this plan's bookings (SPEC §11): its path when
    booked, the id stored in it (a file at that path with another id is another
    ledger), and the clinic whose people and rooms were booked."""

    ledger: str
    ledger_id: str
    clinic: str


class Plan(PlanModel):
    kind: Literal["plan"] = "plan"
    format: int = PLAN_FORMAT
    generator: str
    created: PlanTime
    series: str
    protocol: ProtocolRef
    client: dict[str, Any]
    clinic: dict[str, Any] | None = None
    sessions: list[PlannedSession]
    tasks: list[Task] = []
    decisions: list[DecisionPoint] = []
    warnings: list[Warning_] = []
    deviations: list[Deviation] = []
    history: list[HistoryEntry] = []
    booking: PlanBooking | None = Field(default=None, exclude_if=lambda v: v is None)

    def session(self, key: str) -> PlannedSession | None:
        return next((s for s in self.sessions if s.key == key), None)

    def task(self, key: str) -> Task | None:
        return next((t for t in self.tasks if t.key == key), None)

    def decision(self, key: str) -> DecisionPoint | None:
        return next((d for d in self.decisions if d.key == key), None)

    @property
    def open_decision(self) -> DecisionPoint | None:
        """The decision still to be made, if any: nothing after it is planned yet."""
        return next((d for d in self.decisions if d.chosen is None), None)

    def choices(self) -> dict[str, str]:
        """Chosen option by decision session key."""
        return {d.key: d.chosen for d in self.decisions if d.chosen is not None}

    def to_json(self) -> str:
        """The plan file's text; ``tasks`` and ``decisions`` only when there are some, so a
        plan without measures or decisions reads as format 1 wrote it."""
        empty = {name for name in ("tasks", "decisions") if not getattr(self, name)}
        return self.model_dump_json(indent=2, by_alias=True, exclude=empty or None) + "\n"


def format_utc(moment: datetime) -> str:
    """``2026-11-26T15:00:00Z`` for ``created`` and history timestamps."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
