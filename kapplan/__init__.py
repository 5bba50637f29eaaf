"""kapplan: plan ketamine-assisted psychotherapy series from protocol files.

The Python API lives in ``kapplan.api`` (documented in docs/api.md); its
functions are re-exported here (``batch`` only as ``kapplan.api.batch``: the
name is also the ``kapplan.batch`` module), imported on first use so that
``kapplan --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kapplan.api import (
        ClientChanges,
        calendar,
        client_from,
        export_file,
        list_protocols,
        load_client,
        load_clinic,
        load_protocol,
        make_plan,
        mark,
        mark_file,
        plan_csv,
        read_plan,
        reschedule,
        reschedule_file,
        status,
        validate,
        write_plan,
    )
    from kapplan.models.client import Client, Clinic
    from kapplan.models.errors import InfeasibleError, InputError, KapplanError, UsageError
    from kapplan.models.plan import Plan

_FROM = {
    "kapplan.api": (
        "ClientChanges", "calendar", "client_from", "export_file", "list_protocols", "load_client",
        "load_clinic", "load_protocol", "make_plan", "mark", "mark_file", "plan_csv", "read_plan", "reschedule",
        "reschedule_file", "status", "validate", "write_plan",
    ),
    "kapplan.models.client": ("Client", "Clinic"),
    "kapplan.models.errors": ("InfeasibleError", "InputError", "KapplanError", "UsageError"),
    "kapplan.models.plan": ("Plan",),
}
_EXPORTS = {name: module for module, names in _FROM.items() for name in names}

__all__ = [
    "Client",
    "ClientChanges",
    "Clinic",
    "InfeasibleError",
    "InputError",
    "KapplanError",
    "Plan",
    "UsageError",
    "calendar",
    "client_from",
    "export_file",
    "list_protocols",
    "load_client",
    "load_clinic",
    "load_protocol",
    "make_plan",
    "mark",
    "mark_file",
    "plan_csv",
    "read_plan",
    "reschedule",
    "reschedule_file",
    "status",
    "validate",
    "write_plan",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kapplan' has no attribute {name!r}")
