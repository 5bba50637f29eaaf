"""Client profiles and clinic files (SPEC §3).

Annotations stay real objects (no postponed evaluation): pydantic would
otherwise evaluate every string when the classes are created, at start-up.
"""

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

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
    weight: MassT | None = None
    dose_scale: float = Field(default=1.0, gt=0, le=1)
    availability: list[WeeklyWindowT] | None = None
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


class Clinic(StrictModel):
    """Opening hours, closures and holidays that bind in-person sessions."""

    kind: Literal["clinic"]
    id: IdentifierT
    timezone: str
    hours: list[WeeklyWindowT] = Field(min_length=1)
    closed: list[DateRangeT] = []
    holidays: HolidayCodeT | None = None
    location: str | None = None
    contact: Contact | None = None
    telehealth_link: TelehealthLinkT | None = None

    @field_validator("timezone", mode="plain")
    @classmethod
    def _zone(cls, value: object) -> str:
        from kapplan.models.values import parse_timezone

        return parse_timezone(value)


__all__ = ["Client", "Clinic", "Contact", "DateRange", "Person"]
