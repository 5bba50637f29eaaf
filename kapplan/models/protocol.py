"""Protocol models (SPEC §2): the declarative description of a treatment series.

The models check structure only (KP1xx); references and consistency between
fields are lint rules (``kapplan.lint``), so every problem in a file is reported at once
with its own code.

Annotations stay real objects (no postponed evaluation): pydantic would
otherwise evaluate every string when the classes are created, at start-up.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, PlainValidator, PositiveInt, WithJsonSchema

from kapplan.models.base import StrictModel
from kapplan.models.errors import Diagnostic
from kapplan.models.values import (
    AgeRangeT,
    DoseAmount,
    DoseAmountT,
    Duration,
    DurationT,
    LocalIdT,
    Range,
    RangeT,
    TimeWindowT,
    parse_range,
    parse_weekday,
)

SessionKind = Literal["screening", "preparation", "dosing", "integration", "follow-up", "assessment"]
Setting = Literal["in-person", "telehealth", "home"]
Medication = Literal["ketamine", "esketamine"]
Route = Literal["IV", "IM", "SL", "IN", "PO"]

WeekdayT = Annotated[
    int,
    PlainValidator(lambda v: v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 7
                   else parse_weekday(v if isinstance(v, str) else "")),
    PlainSerializer(lambda d: ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[d], return_type=str),
    WithJsonSchema({"type": "string", "description": "Mon Tue Wed Thu Fri Sat Sun"}),
]


class Reference(StrictModel):
    cite: str
    doi: str | None = None
    url: str | None = None


class Reminder(StrictModel):
    """A client-facing alarm ``before`` the session start."""

    before: DurationT
    text: str


class Dose(StrictModel):
    """How a dosing session's planned dose is computed (never prescribed)."""

    medication: Medication
    route: Route
    per_kg: DoseAmountT | None = None
    fixed: DoseAmountT | None = None
    by_prescriber: bool = False
    titrate: list[Annotated[Decimal, Field(allow_inf_nan=False)]] | None = None
    round_to: DoseAmountT | None = None
    max: DoseAmountT | None = None

    @property
    def base(self) -> DoseAmount | None:
        return self.per_kg or self.fixed


class StaffNeed(StrictModel):
    """A role needed for part of a session only: ``{role: prescriber, for: 30min}`` (SPEC §11)."""

    role: str
    for_: DurationT | None = Field(default=None, alias="for")

    model_config = StrictModel.model_config | {"serialize_by_alias": True}


class SessionType(StrictModel):
    kind: SessionKind
    title: str | None = None
    duration: DurationT
    setting: Setting = "in-person"
    staff: list[str | StaffNeed] = []
    assessments: list[str] = []
    checklist: list[str] = []
    days: list[WeekdayT] | None = None
    time: TimeWindowT | None = None
    observation: DurationT | None = None
    monitoring: list[str] = []
    dose: Dose | None = None
    reminders: list[Reminder] = []
    instructions: str | None = None
    notes: str | None = None
    purpose: str | None = None
    aftercare: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or self.kind.replace("-", " ").capitalize() + " session"

    @property
    def roles(self) -> list[str]:
        """The roles asked for, in the order of ``staff`` (a role listed twice: two people)."""
        return [need if isinstance(need, str) else need.role for need in self.staff]

    @property
    def needs(self) -> list[tuple[str, int | None]]:
        """(role, minutes needed from the start, or None for the whole session) per ``staff`` entry."""
        out: list[tuple[str, int | None]] = []
        for need in self.staff:
            if isinstance(need, str):
                out.append((need, None))
            else:
                out.append((need.role, need.for_.minutes if need.for_ is not None else None))
        return out


DEFAULT_GAP = parse_range("1d..")
DEFAULT_AFTER = parse_range("0d..")
DEFAULT_OFFSET = parse_range("0d..")


class FollowUp(StrictModel):
    """A session attached to occurrences of a step (``followed_by``)."""

    session: LocalIdT
    id: LocalIdT | None = None
    offset: RangeT = DEFAULT_OFFSET
    on: list[PositiveInt] | None = None

    @property
    def key(self) -> str:
        return self.id or self.session

    def applies_to(self, occurrence: int) -> bool:
        return self.on is None or occurrence in self.on


class Gate(StrictModel):
    """``requires: [{step, from}]``: occurrences from ``from`` on wait until the
    named step's last occurrence is marked done (a prescription renewal)."""

    step: LocalIdT
    from_: PositiveInt = Field(default=1, alias="from")

    model_config = StrictModel.model_config | {"serialize_by_alias": True}


class Decision(StrictModel):
    """A choice made after the step's session (count 1): each option names the
    ``branches`` steps to place next, possibly none (``stop: []``)."""

    prompt: str
    options: dict[LocalIdT, list[LocalIdT]] = Field(min_length=1)


class Step(StrictModel):
    id: LocalIdT | None = None
    session: LocalIdT
    count: PositiveInt = 1
    gap: RangeT = DEFAULT_GAP
    after: RangeT = DEFAULT_AFTER
    from_: LocalIdT | None = Field(default=None, alias="from")
    per_week: PositiveInt | None = None
    within: DurationT | None = None
    followed_by: list[FollowUp] = []
    requires: list[Gate] = []
    decision: Decision | None = None

    @property
    def key(self) -> str:
        return self.id or self.session

    def gate_for(self, occurrence: int) -> Gate | None:
        """The gate occurrence ``n`` waits for, if any (the one starting latest in the list wins ties)."""
        return next((g for g in reversed(self.requires) if occurrence >= g.from_), None)

    def session_keys(self) -> list[str]:
        """Every session key the step places, in placement order: each occurrence
        (``medicine-2``), then its follow-ups (``medicine-2.integration``)."""
        keys = []
        for n in range(1, self.count + 1):
            keys.append(f"{self.key}-{n}")
            keys += [f"{self.key}-{n}.{f.key}" for f in self.followed_by if f.applies_to(n)]
        return keys

    model_config = StrictModel.model_config | {"serialize_by_alias": True}


class Measure(StrictModel):
    """A questionnaire due as a task, not a session (SPEC §13)."""

    id: LocalIdT | None = None
    instrument: str
    every: DurationT | None = None
    at: list[LocalIdT] | None = None
    from_: LocalIdT | None = Field(default=None, alias="from")
    until: LocalIdT | None = None
    window: DurationT | None = None

    model_config = StrictModel.model_config | {"serialize_by_alias": True}

    @property
    def key(self) -> str:
        """Task keys are ``<key>-<n>``: the id, else the instrument lower-cased ('-' kept)."""
        return self.id if self.id is not None else self.instrument.strip().lower()


class Constraints(StrictModel):
    min_dosing_interval: DurationT | None = None
    max_span: DurationT | None = None
    # "alone": no other session of the client on a dosing session's local date (SPEC §13)
    dosing_day: Literal["alone"] | None = None


class Eligibility(StrictModel):
    """Who the protocol is for, checked against one client at planning time (KP403)."""

    age: AgeRangeT | None = None


class Protocol(StrictModel):
    kind: Literal["protocol"]
    id: LocalIdT
    version: str
    title: str
    summary: str | None = None
    population: str | None = None
    references: list[Reference] = []
    sessions: dict[LocalIdT, SessionType] = Field(min_length=1)
    schedule: list[Step] = Field(min_length=1)
    branches: dict[LocalIdT, Step] = {}
    measures: list[Measure] = []
    constraints: Constraints = Constraints()
    eligibility: Eligibility | None = None
    allow: list[str] = []

    def step(self, key: str) -> Step | None:
        """A step of the schedule or, by its key, of ``branches``."""
        found = next((s for s in self.schedule if s.key == key), None)
        if found is None and key in self.branches:
            return self.branch_step(key)
        return found

    def branch_step(self, key: str) -> Step:
        """A branch step as it is placed: its id is its key under ``branches``."""
        return self.branches[key].model_copy(update={"id": key})

    @property
    def has_decisions(self) -> bool:
        return bool(self.branches) or any(s.decision is not None for s in self.schedule)

    def definition(self) -> dict[str, object]:
        """The protocol as validated, in JSON form (embedded in plans). The keys of SPEC §13
        are left out while empty, so a protocol without them reads as it always has."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        for name in ("branches", "measures"):
            if not data.get(name):
                data.pop(name, None)
        for step in [*data["schedule"], *data.get("branches", {}).values()]:
            if not step.get("requires"):
                step.pop("requires", None)
        return data


__all__ = [
    "Constraints",
    "Decision",
    "Dose",
    "Duration",
    "Eligibility",
    "FollowUp",
    "Gate",
    "LoadedProtocol",
    "Measure",
    "Protocol",
    "Range",
    "Reference",
    "Reminder",
    "SessionType",
    "StaffNeed",
    "Step",
]


@dataclass
class LoadedProtocol:
    """A protocol that passed lint, with its warnings and the file's digest (a plan records both)."""

    protocol: Protocol
    path: Path
    sha256: str
    warnings: list[Diagnostic] = field(default_factory=list)
