"""The client a plan is made for: changes over a file, then the `plan` defaults (SPEC §3).

A flag replaces the file's value except ``--unavailable``, which adds to the
file's dates (a coordinator blocking an illness week must not erase a
vacation). Without a zone the system's is used, with a note; without a start,
tomorrow in the client's zone.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kapplan.models.changes import ClientChanges
from kapplan.models.client import Client
from kapplan.models.errors import Diagnostic, InputError
from kapplan.models.plan import Warning_

_FLAG_NAMES = {
    "id": "--id",
    "start": "--start",
    "timezone": "--tz",
    "weight": "--weight",
    "availability": "--available",
    "unavailable": "--unavailable",
    "holidays": "--holidays",
    "prefer": "--prefer",
}


def merge_client(base: Client | None, changes: ClientChanges, *, default_id: str = "client") -> Client:
    """Flags override the file, except ``--unavailable``, which adds to its list."""
    from pydantic import ValidationError

    data: dict[str, Any] = base.model_dump(mode="json", exclude_none=True) if base else {"id": default_id}
    data.update(changes.overrides())
    data["unavailable"] = list(data.get("unavailable", [])) + list(changes.unavailable)
    try:
        return Client.model_validate(data)
    except ValidationError as err:
        problems = []
        for error in err.errors(include_input=False, include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "client"
            message = str(error["msg"]).removeprefix("Value error, ")
            where = _FLAG_NAMES.get(name, name) if name in changes.overrides() or name == "unavailable" else name
            problems.append(Diagnostic("command line", 0, 0, "error", "KP112", f"{where}: {message}"))
        raise InputError(problems, "invalid client") from None


def resolve_client(client: Client, *, today: date, system_zone: str) -> tuple[Client, list[Warning_]]:
    """Fill the `plan` defaults of SPEC §3: system zone (with a warning), tomorrow."""
    notes: list[Warning_] = []
    updates: dict[str, Any] = {}
    if client.timezone is None:
        updates["timezone"] = system_zone
        notes.append(Warning_(code="note", message=f"no time zone given; using the system zone {system_zone}"))
    if client.start is None:
        updates["start"] = today + timedelta(days=1)
    return (client.model_copy(update=updates) if updates else client), notes


def usable_zone(name: str) -> str:
    """The system's zone when the tz database knows it, else UTC: a stray $TZ must not stop `plan`."""
    from kapplan.models.values import parse_timezone

    try:
        return parse_timezone(name)
    except ValueError:
        return "UTC"
