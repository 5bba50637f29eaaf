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


KIND_MARKS = {
    "screening": ("S", "cyan"),
    "preparation": ("P", "blue"),
    "dosing": ("M", "bold magenta"),
    "integration": ("I", "green"),
    "follow-up": ("F", "yellow"),
    "assessment": ("A", "white"),
}


def _capture(renderables: list[Any]) -> str:
    """Render to text; colour only when stdout is a terminal and NO_COLOR is unset."""
    import io
    import os
    import sys

    from rich.console import Console

    colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    console = Console(file=io.StringIO(), force_terminal=colour, no_color=not colour, width=120, highlight=False)
    for item in renderables:
        console.print(item)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _duration_text(minutes: int) -> str:
    from .values import format_minutes

    return format_minutes(minutes)


def plan_table_text(plan: Any) -> str:
    """Date, local time, session, phase/step, duration, planned dose, notes, deviations."""
    from rich.table import Table

    zone = plan.client.get("timezone", "")
    table = Table(title=f"Plan for {plan.client.get('id')} ({zone}) — {plan.protocol.title}", title_justify="left")
    for column in ("Date", "Time", "Session", "Step", "Duration", "Planned dose", "Notes"):
        table.add_column(column)
    for s in plan.sessions:
        mark, style = KIND_MARKS.get(s.kind, ("?", "white"))
        dose = ""
        if s.dose is not None:
            dose = "set by the prescriber" if s.dose.amount_mg is None else f"{s.dose.amount_mg:g} mg {s.dose.route}"
        notes = [f"{s.setting}"] if s.setting != "in-person" else []
        notes += [f"deviation: {d.rule} {d.actual} (allowed {d.allowed})" for d in s.deviations]
        if s.status != "planned":
            notes.append(s.status)
        table.add_row(
            s.start.strftime("%a %Y-%m-%d"),
            f"{s.start:%H:%M}-{s.end:%H:%M}",
            f"[{style}]{mark}[/] {s.key}",
            f"{s.step} {s.index}/{s.count}",
            _duration_text(int((s.end - s.start).total_seconds() // 60)),
            dose,
            "; ".join(notes),
        )
    footer = "Planned doses are computed from the protocol's rule; a clinician confirms every dose."
    return _capture([table, footer])


def plan_calendar_text(plan: Any) -> str:
    """Month grids with each session day marked by kind: the series at a glance."""
    import calendar as cal

    from rich.table import Table

    by_day: dict[Any, list[Any]] = {}
    for s in plan.sessions:
        by_day.setdefault(s.start.date(), []).append(s)
    if not by_day:
        return _capture(["(no sessions)"])
    months = sorted({(d.year, d.month) for d in by_day})
    first, last = months[0], months[-1]
    grids: list[Any] = []
    year, month = first
    while (year, month) <= last:
        table = Table(title=f"{cal.month_name[month]} {year}", show_lines=False, title_justify="left")
        for name in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
            table.add_column(name, justify="right", width=7)
        for week in cal.Calendar().monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append("")
                    continue
                marks = "".join(
                    f"[{KIND_MARKS.get(s.kind, ('?', 'white'))[1]}]{KIND_MARKS.get(s.kind, ('?', ''))[0]}[/]"
                    for s in by_day.get(day, [])
                )
                cells.append(f"{marks} {day.day:2d}" if marks else f"{day.day:2d}")
            table.add_row(*cells)
        grids.append(table)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    legend = "  ".join(f"[{style}]{mark}[/] {kind}" for kind, (mark, style) in KIND_MARKS.items())
    return _capture([*grids, legend])


def print_plan_notes(plan: Any) -> None:
    """Warnings and deviations go to stderr, always: never hidden."""
    from rich.markup import escape

    console = stderr_console()
    for warning in plan.warnings:
        console.print(f"[yellow]warning {escape(warning.code)}:[/yellow] {escape(warning.message)}")
    for d in plan.deviations:
        console.print(
            f"[red]deviation[/red] {escape(d.key)}: {escape(d.rule)} allowed {escape(d.allowed)}, "
            f"planned {escape(d.actual)} ({d.lateness_min} min late)"
        )
