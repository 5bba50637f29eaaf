"""Everything a terminal sees: Rich tables, trees, calendar grids, diagnostics.

Besides cli.py this is the only module that imports rich. Colour only on a
terminal and never with NO_COLOR set (Rich honours both).
"""

from __future__ import annotations

from typing import Any


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def print_error(err: Any) -> None:
    """One clear message per error; input errors list every diagnostic."""
    from rich.markup import escape

    from .errors import InputError

    console = stderr_console()
    if isinstance(err, InputError):
        for diagnostic in sorted(err.diagnostics, key=lambda d: (d.file, d.line, d.column)):
            style = "red" if diagnostic.is_error else "yellow"
            console.print(f"[{style}]{escape(diagnostic.as_text())}[/{style}]")
        console.print(f"kapplan: {escape(err.message)}")
        return
    console.print(f"[red]kapplan:[/red] {escape(err.message)}")
