"""Changes to a client, as a user types them (command-line flags, script arguments).

Plain strings, checked when they are applied to a client
(``kapplan.planning.clients.merge_client``), so building one costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientChanges:
    """Changes to a client, as typed (command-line flags): each replaces the
    client's value, except ``unavailable``, which adds to its dates."""

    id: str | None = None
    start: str | None = None
    tz: str | None = None
    weight: str | None = None
    available: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    holidays: str | None = None
    prefer: list[str] = field(default_factory=list)

    def overrides(self) -> dict[str, Any]:
        """Fields that replace the file's; ``unavailable`` is added separately."""
        values = {
            "id": self.id,
            "start": self.start,
            "timezone": self.tz,
            "weight": self.weight,
            "availability": list(self.available) or None,
            "holidays": self.holidays,
            "prefer": list(self.prefer) or None,
        }
        return {key: value for key, value in values.items() if value is not None}
