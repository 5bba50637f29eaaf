"""The records a plan embeds (protocol, client, clinic), read back as models.

A plan is self-contained (SPEC §5): status, export and reschedule never need
the source files. A record that no longer validates (a hand-edited plan, a
plan from another version) is bad input, reported as such, never a crash.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kapplan.models.client import Client, Clinic
from kapplan.models.errors import InputError
from kapplan.models.plan import Plan
from kapplan.models.protocol import Protocol

Model = TypeVar("Model", bound=BaseModel)


def full_protocol_of(plan: Plan) -> Protocol:
    """The embedded protocol as written, branches and all, as validated when the plan was made."""
    return _record(Protocol, plan.protocol.definition, "protocol")


def protocol_of(plan: Plan) -> Protocol:
    """The steps the plan places: the embedded protocol followed along the decisions
    recorded so far (SPEC §13), as a protocol without decisions."""
    from kapplan.models.branches import follow

    return follow(full_protocol_of(plan), plan.choices()).protocol


def readable_protocol(plan: Plan) -> Protocol | None:
    """For read-only views: a plan without a usable protocol still shows its sessions."""
    try:
        return protocol_of(plan)
    except InputError:
        return None


def client_of(plan: Plan) -> Client:
    """The client the plan was made for (``weight_kg`` is derived, not an input)."""
    return _record(Client, {k: v for k, v in plan.client.items() if k != "weight_kg"}, "client")


def clinic_of(plan: Plan) -> Clinic | None:
    return _record(Clinic, plan.clinic, "clinic") if plan.clinic else None


def client_record(client: Client) -> dict[str, Any]:
    """The resolved client as a plan embeds it (adds ``weight_kg``)."""
    record = client.model_dump(mode="json", exclude_none=True)
    if client.weight is not None:
        record["weight_kg"] = float(client.weight.kg)
    return record


CAPACITY_KEYS = ("staff", "rooms", "continuity", "combine")


def clinic_record(clinic: Clinic | None) -> dict[str, Any] | None:
    """The clinic as a plan embeds it; the capacity keys (SPEC §11) only when the file
    gives them, so a plan made with a plain clinic file is the same as before they existed."""
    if clinic is None:
        return None
    record = clinic.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in CAPACITY_KEYS:
        if key not in clinic.model_fields_set:
            record.pop(key, None)
    return record


def _record(model: type[Model], data: Any, what: str) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise InputError([], f"the plan's {what} record is not valid; re-create the plan") from None
