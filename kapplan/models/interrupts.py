"""Signals that arrive while a step must not be cut in half.

The command line's handlers for Ctrl-C, SIGTERM and SIGHUP call ``interrupt``;
code that renames several files into place (and lists them) runs under
``uninterrupted``, so an interruption lands before or after the step, never
inside it. Standard library only: the handlers import nothing when they run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_critical: dict[str, Any] = {"depth": 0, "pending": None}


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """A step that must finish once begun (renaming a record's files into place
    and listing them in the summary): an interruption that arrives meanwhile
    (``interrupt``) is raised when it ends."""
    _critical["depth"] += 1
    try:
        yield
    finally:
        _critical["depth"] -= 1
    pending = _critical["pending"]
    if not _critical["depth"] and pending is not None:
        _critical["pending"] = None
        raise pending


def interrupt(error: BaseException) -> None:
    """Raise ``error`` now (from a signal handler), or when the current
    ``uninterrupted`` step ends."""
    if _critical["depth"]:
        _critical["pending"] = error
        return
    raise error
