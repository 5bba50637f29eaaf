"""JSON Schema of every file type, generated from the pydantic models.

For editor integration (``# yaml-language-server: $schema=...``). The schema
checks structure only; references and clinical rules need ``kapplan validate``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from kapplan.models.values import Duration, Range, range_to_json

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_KINDS = ("protocol", "client", "clinic", "plan", "status", "mark", "reschedule", "decide", "batch-summary",
                "agenda", "ledger-sync", "ledger-release")
"""Input files, then the ``--format json`` outputs of SPEC §14."""


class _Generator(GenerateJsonSchema):
    """Defaults written in the file syntax (``1d..``), not as internal objects."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, Range):
            return range_to_json(dft)
        if isinstance(dft, Duration):
            return str(dft)
        return super().encode_default(dft)


def _model(kind: str) -> type[BaseModel]:
    if kind == "protocol":
        from kapplan.models.protocol import Protocol

        return Protocol
    if kind in ("client", "clinic"):
        from kapplan.models.client import Client, Clinic

        return Client if kind == "client" else Clinic
    if kind == "plan":
        from kapplan.models.plan import Plan

        return Plan
    from kapplan.models.reports import REPORT_MODELS

    if kind in REPORT_MODELS:
        return REPORT_MODELS[kind]
    from kapplan.models.ledger_reports import LEDGER_MODELS

    if kind in LEDGER_MODELS:
        return LEDGER_MODELS[kind]
    raise ValueError(f"no schema for {kind!r}")


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one of SCHEMA_KINDS."""
    schema = _model(kind).model_json_schema(by_alias=True, schema_generator=_Generator)
    _close_keyed_mappings(schema)
    return {"$schema": DIALECT, **schema}


def _close_keyed_mappings(node: Any) -> None:
    """Mappings keyed by identifier (``sessions``) refuse keys that are not
    identifiers, as the models do: pydantic leaves them open."""
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_keyed_mappings(value)
    elif isinstance(node, list):
        for value in node:
            _close_keyed_mappings(value)


__all__ = ["SCHEMA_KINDS", "json_schema"]
