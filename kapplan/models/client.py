"""Client profiles and clinic files (SPEC §3).

Annotations stay real objects (no postponed evaluation): pydantic would
otherwise evaluate every string when the classes are created, at start-up.
"""

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, PositiveInt, field_validator

from kapplan.models.base import StrictModel
from kapplan.models.values import (
    DateRange,
    DateRangeT,
    DateT,
    HolidayCodeT,
    IdentifierT,
    Mass,
    MassT,
    WeeklyWindow,
    WeeklyWindowT,
    parse_weekly_window,
)

MIN_WEIGHT_KG = Decimal(20)
MAX_WEIGHT_KG = Decimal(350)
DEFAULT_AVAILABILITY: tuple[WeeklyWindow, ...] = (parse_weekly_window("Mon-Fri 09:00-17:00"),)


SessionKindName = Literal["screening", "preparation", "dosing", "integration", "follow-up", "assessment"]
SESSION_KINDS = ("screening", "preparation", "dosing", "integration", "follow-up", "assessment")
RoleT = str

# A video-call address shown in the client's guide as a link: web addresses
# only, so a hand-made ``javascript:`` or ``file:`` link can never reach it.
_WEB_ADDRESS = re.compile(r"^https?://[^\s<>\"'`\\]{1,2000}$")


def _web_address(value: str) -> str:
    if not _WEB_ADDRESS.match(value):
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("url", "must be a web address starting with https:// (or http://), without spaces")
    return value


TelehealthLinkT = Annotated[str, AfterValidator(_web_address)]


class Person(StrictModel):
    """A client's therapist or prescriber; ``id`` names the preferred clinic staff member (SPEC §11)."""

    id: IdentifierT | None = None
    name: str | None = None
    email: str | None = None


class Contact(StrictModel):
    """Whom the client calls: the clinic's phone and email, and the line for a
    crisis or an urgent problem (shown first in the client's guide)."""

    phone: str | None = None
    email: str | None = None
    urgent: str | None = None


class Client(StrictModel):
    """A client profile; zone and start may be missing until resolved for a plan."""

    kind: Literal["client"] = "client"
    id: IdentifierT
    name: str | None = None
    email: str | None = None
    timezone: str | None = None
    start: DateT | None = None
    birth_date: DateT | None = None  # personal data: checks eligibility (KP403), never shown or exported
    weight: MassT | None = None
    dose_scale: float = Field(default=1.0, gt=0, le=1)
    availability: list[WeeklyWindowT] | None = None
    prefer: list[WeeklyWindowT] | None = None  # soft: when the client would rather come (SPEC §12)
    unavailable: list[DateRangeT] = []
    holidays: HolidayCodeT | None = None
    location: str | None = None
    telehealth_link: TelehealthLinkT | None = None
    therapist: Person | None = None
    prescriber: Person | None = None

    @field_validator("timezone", mode="plain")
    @classmethod
    def _zone(cls, value: object) -> str | None:
        from kapplan.models.values import parse_timezone

        return None if value is None else parse_timezone(value)

    @field_validator("weight")
    @classmethod
    def _weight_in_range(cls, value: Mass | None) -> Mass | None:
        if value is not None and not MIN_WEIGHT_KG <= value.kg <= MAX_WEIGHT_KG:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("mass", "weight must lie within 20-350 kg")
        return value

    @property
    def windows(self) -> tuple[WeeklyWindow, ...]:
        return tuple(self.availability) if self.availability else DEFAULT_AVAILABILITY


class StaffMember(StrictModel):
    """One person of the clinic (SPEC §11): the roles they fill and when they work.

    ``hours`` and ``off`` are read in the person's own zone (default: the
    clinic's); without ``hours`` they work the clinic's hours."""

    id: IdentifierT
    name: str | None = None
    email: str | None = None
    roles: list[RoleT] = Field(min_length=1)
    timezone: str | None = None
    hours: list[WeeklyWindowT] | None = None
    off: list[DateRangeT] = []
    concurrent: dict[str, PositiveInt] = {}
    max_per_day: PositiveInt | None = None

    @field_validator("timezone", mode="plain")
    @classmethod
    def _zone(cls, value: object) -> str | None:
        from kapplan.models.values import parse_timezone

        return None if value is None else parse_timezone(value)

    @field_validator("concurrent")
    @classmethod
    def _kinds(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(SESSION_KINDS))
        if unknown:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("kind", f"'{unknown[0]}' is not a session kind ({', '.join(SESSION_KINDS)})")
        return value


class Room(StrictModel):
    """A room for in-person sessions: the kinds it serves (default: every kind), sessions at once."""

    id: IdentifierT
    for_: list[SessionKindName] | None = Field(default=None, alias="for")
    capacity: PositiveInt = 1

    model_config = StrictModel.model_config | {"serialize_by_alias": True}

    def serves(self, kind: str) -> bool:
        return self.for_ is None or kind in self.for_


def _unique_ids(items: list[StaffMember] | list[Room], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id.lower() in seen:
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("duplicate", f"{what} id '{item.id}' is listed twice")
        seen.add(item.id.lower())


class Clinic(StrictModel):
    """Opening hours, closures and holidays that bind in-person sessions; optionally
    the staff and rooms every plan made with the clinic shares (SPEC §11)."""

    kind: Literal["clinic"]
    id: IdentifierT
    timezone: str
    hours: list[WeeklyWindowT] = Field(min_length=1)
    hours_preferred: list[WeeklyWindowT] | None = None  # soft, for clients without `prefer` (SPEC §12)
    closed: list[DateRangeT] = []
    holidays: HolidayCodeT | None = None
    location: str | None = None
    staff: list[StaffMember] = []
    rooms: list[Room] = []
    continuity: list[RoleT] = ["therapist"]
    combine: list[Annotated[list[RoleT], Field(min_length=2)]] = []
    contact: Contact | None = None
    telehealth_link: TelehealthLinkT | None = None

    @field_validator("timezone", mode="plain")
    @classmethod
    def _zone(cls, value: object) -> str:
        from kapplan.models.values import parse_timezone

        return parse_timezone(value)

    @field_validator("staff")
    @classmethod
    def _unique_staff(cls, value: list[StaffMember]) -> list[StaffMember]:
        _unique_ids(value, "staff")
        return value

    @field_validator("rooms")
    @classmethod
    def _unique_rooms(cls, value: list[Room]) -> list[Room]:
        _unique_ids(value, "room")
        return value

    @field_validator("combine")
    @classmethod
    def _pairs(cls, value: list[list[str]]) -> list[list[str]]:
        if any(len(pair) != 2 for pair in value):
            from pydantic_core import PydanticCustomError

            raise PydanticCustomError("pair", "each entry of 'combine' is a pair of roles: [prescriber, therapist]")
        return value

    @property
    def has_capacity(self) -> bool:
        """Staff or rooms listed: plans made with the clinic share its people and rooms."""
        return bool(self.staff or self.rooms)

    def member(self, person: str) -> StaffMember | None:
        return next((m for m in self.staff if m.id == person), None)

    def combinable(self, first: str, second: str) -> bool:
        """One person may fill both roles in the same session."""
        return any({first, second} == set(pair) for pair in self.combine)


__all__ = ["Client", "Clinic", "Contact", "DateRange", "Person", "Room", "StaffMember"]
