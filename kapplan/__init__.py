"""kapplan: plan ketamine-assisted psychotherapy series from protocol files.

The public API is imported lazily so that ``kapplan --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["KapplanError", "load_client", "load_protocol", "make_plan", "plan_to_ics"]

_EXPORTS = {
    "KapplanError": ("kapplan.models.errors", "KapplanError"),
    "load_protocol": ("kapplan.io.readers", "load_protocol"),
    "load_client": ("kapplan.io.readers", "load_client"),
    "make_plan": ("kapplan.planning.build", "make_plan"),
    "plan_to_ics": ("kapplan.export.ics", "plan_to_ics"),
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        from importlib import import_module

        module, attribute = _EXPORTS[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'kapplan' has no attribute {name!r}")
