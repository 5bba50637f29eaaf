"""The Plan shape of SPEC §5: what the engine returns and every output reads.

A plan is self-contained: it embeds the normalized protocol and the resolved
client, so export, status and reschedule never need the source files.

Annotations stay real objects (no postponed evaluation): pydantic would
otherwise evaluate every string when the classes are created, at start-up.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

PLAN_FORMAT = 1
Status = Literal["planned", "done", "missed", "cancelled"]


class PlanModel(BaseModel):
    """Plans are read back from disk: unknown keys are errors, not silently kept."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class PlannedDose(PlanModel):
    medication: str
    route: str
    amount_mg: float | None = None
    basis: str


class PlannedReminder(PlanModel):
    before: str  # ISO 8601 duration, e.g. P1D
    text: str


class Deviation(PlanModel):
    key: str
    rule: Literal["gap", "after", "offset", "per_week", "within", "max_span"]
    allowed: str
    actual: str
    lateness_min: int = 0


class PlannedSession(PlanModel):
    key: str
    step: str
    session: str
    kind: str
    index: int
    count: int
    follows: str | None = None
    title: str
    start: AwareDatetime
    end: AwareDatetime
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
    sequence: int = 0
    deviations: list[Deviation] = []

    @field_serializer("start", "end")
    def _with_offset(self, moment: datetime) -> str:
        """Local time with its numeric UTC offset (``+00:00``, never ``Z``), as SPEC §5 shows."""
        return moment.isoformat()


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
    at: AwareDatetime
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
    created: AwareDatetime
    series: str
    protocol: ProtocolRef
    client: dict[str, Any]
    clinic: dict[str, Any] | None = None
    sessions: list[PlannedSession]
    warnings: list[Warning_] = []
    deviations: list[Deviation] = []
    history: list[HistoryEntry] = []
    booking: PlanBooking | None = Field(default=None, exclude_if=lambda v: v is None)

    def session(self, key: str) -> PlannedSession | None:
        return next((s for s in self.sessions if s.key == key), None)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True) + "\n"


def format_utc(moment: datetime) -> str:
    """``2026-11-26T15:00:00Z`` for ``created`` and history timestamps."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
