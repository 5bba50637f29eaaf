"""Common pydantic configuration for every input model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Frozen, unknown keys forbidden; numbers accepted where text is expected
    (``version: 1.0`` means "1.0")."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        populate_by_name=True,
        validate_default=False,
        defer_build=True,
    )
