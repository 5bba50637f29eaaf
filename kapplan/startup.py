"""How a kapplan command process treats the garbage collector and pydantic.

A command is a short-lived process: it imports typer and pydantic, builds a
few validators, plans, writes and exits. Almost nothing it allocates is
garbage before the end, yet the cyclic collector would walk every module,
schema and type object over and over while they load, and once more at exit.
Start-up time is a measured figure (SPEC §9), so ``kapplan.cli.main`` asks
for that work to be skipped; commands whose work grows with their input
call ``collect_as_usual`` first. Library users are not affected: nothing
here runs on import.
"""

from __future__ import annotations

import gc
import os
import sys
import types
from typing import Any

PLUGIN_LOADER = "pydantic.plugin._loader"
_state = {"tuned": False}


def tune_short_run() -> None:
    """Before the command: no collection while the process starts, no plugin scan."""
    _state["tuned"] = gc.isenabled()
    gc.disable()
    # kapplan uses no pydantic plugins; their discovery imports importlib.metadata
    # and scans every installed package's entry points.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in ("__all__", "1", "true") and PLUGIN_LOADER not in sys.modules:
        sys.modules[PLUGIN_LOADER] = _NoPlugins(PLUGIN_LOADER)


def collect_as_usual() -> None:
    """For runs whose work grows with their input (batch): collect garbage again.

    What was loaded so far lives until exit; freezing it keeps the
    collector from walking it again on every full collection. Only undoes
    ``tune_short_run``: a caller's own collector settings are left alone."""
    if _state["tuned"]:
        _state["tuned"] = False
        gc.freeze()
        gc.enable()


def before_exit() -> None:
    """Everything is freed with the process; spare the final full collection."""
    gc.freeze()


class _NoPlugins(types.ModuleType):
    """Stands in for pydantic's plugin loader while plugins are disabled.

    pydantic asks it for ``get_plugins`` only, and the real one answers ``()``
    under PYDANTIC_DISABLE_PLUGINS too, but it imports importlib.metadata
    first. Any other name (a later pydantic) loads the real module."""

    @staticmethod
    def get_plugins() -> tuple[()]:
        return ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        from importlib import import_module

        return getattr(import_module(self.__name__), name)
