"""The JSON that ``agenda`` and ``ledger sync|release`` print with ``--format
json`` (SPEC §11, §14), as models whose JSON Schema ``kapplan schema`` prints.

The agenda is a list, one object per booked session, times in the clinic's
zone with their UTC offset. Annotations stay real objects, as in plan.py.
"""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class AgendaPerson(_Closed):
    """A role filled by a person; ``end`` when needed for the first part only."""

    role: str
    id: str
    end: AwareDatetime | None = Field(default=None, exclude_if=lambda v: v is None)


class AgendaBooking(_Closed):
    """One booked session as the clinic's ledger holds it."""

    series: str
    client: str
    key: str
    kind: str
    start: AwareDatetime
    end: AwareDatetime
    assigned: list[AgendaPerson]
    room: str | None
    status: Literal["planned", "done", "tentative"]
    plan_file: Literal["ok", "missing", "differs"] = Field(
        description="the series' plan file: as the ledger committed it, missing, or changed since")


class AgendaOutput(RootModel[list[AgendaBooking]]):
    """``kapplan agenda --format json``: the booked sessions, by start."""

    model_config = ConfigDict(defer_build=True)


class LedgerSyncOutput(_Closed):
    """``kapplan ledger sync --format json``."""

    plan: str
    series: str
    ledger: str
    bookings: int = Field(description="bookings the series now holds")
    released: list[str] = Field(description="other series the ledger held for this file, released")
    rewritten: bool = Field(description="the plan file was rewritten (it gained its booking record)")


class LedgerReleaseOutput(_Closed):
    """``kapplan ledger release --format json``."""

    series: str
    ledger: str
    released: int = Field(description="bookings dropped")
    plan: str = Field(description="the plan file the ledger last saw for the series")


LEDGER_MODELS: dict[str, type[BaseModel]] = {
    "agenda": AgendaOutput,
    "ledger-sync": LedgerSyncOutput,
    "ledger-release": LedgerReleaseOutput,
}
