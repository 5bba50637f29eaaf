"""Everything a terminal sees: Rich tables, trees, calendar grids, diagnostics.

Besides cli.py this is the only module that imports rich (tests/test_layers.py
keeps it so). Colour only on a terminal and never with NO_COLOR set (Rich
honours both).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from kapplan.batch import BatchSummary, RecordResult
    from kapplan.ledger.agenda import Agenda
    from kapplan.lifecycle.decide import DecideOutcome
    from kapplan.lifecycle.records import Replan
    from kapplan.lifecycle.reschedule import RescheduleOutcome
    from kapplan.lifecycle.status import StatusReport
    from kapplan.lint.checks import ValidationReport
    from kapplan.lint.registry import Rule
    from kapplan.lint.shape import ProtocolSummary, ShapePoint, ShapeSession
    from kapplan.models.errors import KapplanError
    from kapplan.models.plan import DecisionPoint, Plan
    from kapplan.models.protocol import Dose, Measure, Protocol, SessionType, Step
    from kapplan.planning.choices import Summary


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(err: KapplanError) -> None:
    """One clear message per error; input errors list every diagnostic."""
    from rich.markup import escape

    from kapplan.models.errors import InputError, ValidationFailed

    console = stderr_console()
    if isinstance(err, ValidationFailed):  # its diagnostics are on stdout already: only the count
        console.print(escape(err.message))
        return
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
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=colour, no_color=not colour, width=output_width(),
                      highlight=False)
    for item in renderables:
        console.print(item)
    return buffer.getvalue()


FILE_WIDTH = 120
"""Width of tables written to a file or a pipe: wide enough for one line per row."""
MIN_WIDTH = 40


def output_width() -> int:
    """``COLUMNS`` when set, else the terminal's width, else FILE_WIDTH (no terminal)."""
    import os
    import shutil
    import sys

    raw = os.environ.get("COLUMNS", "")
    if raw.strip().isdigit():
        return max(int(raw), MIN_WIDTH)
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((FILE_WIDTH, 24)).columns, MIN_WIDTH)
    return FILE_WIDTH


def _duration_text(minutes: int) -> str:
    from kapplan.models.values import format_minutes

    return format_minutes(minutes)


NARROW = 110
"""Below this width the plan table leaves out Step and Duration (the key and the
time range say the same) so that Date, Time and Session stay on one line."""


def plan_table_text(plan: Plan) -> str:
    """Date, local time, session, phase/step, duration, planned dose, notes, deviations.

    A column empty for the whole plan (no dose, no notes) is left out, and a
    narrow terminal gets the narrow layout (see NARROW)."""
    from rich.markup import escape

    zone = plan.client.get("timezone", "")
    title = f"Plan for {plan.client.get('id')} ({zone}) — {plan.protocol.title}"
    rows = [_plan_row(s) for s in plan.sessions]
    wide = output_width() >= NARROW
    # Keys are typed into `mark`, so Session is never cut; dose and notes wrap instead.
    columns = [("Date", wide), ("Time", wide), ("When", not wide), ("Session", True), ("Step", wide),
               ("Duration", wide), ("Planned dose", any(r["Planned dose"] for r in rows)),
               ("Notes", any(r["Notes"] for r in rows))]
    table = _table(title, columns, rows)
    footer: list[Any] = ["Planned doses are computed from the protocol's rule; a clinician confirms every dose."]
    if plan.tasks:
        first, last = plan.tasks[0], plan.tasks[-1]
        footer.append(escape(f"Tasks: {len(plan.tasks)} questionnaire(s), due {first.due} to {last.due} "
                             "(kapplan status lists them)"))
    if any(s.status == "tentative" for s in plan.sessions):
        footer.append("Tentative sessions wait for their gate session to be marked done.")
    if plan.open_decision is not None:
        footer.append(escape(decision_line(plan.open_decision)))
    return _capture([table, *footer])


NO_WRAP = ("Date", "Time", "When", "Session", "Duration", "Status", "Seq")


def _table(title: str, columns: list[tuple[str, bool]], rows: list[dict[str, str]]) -> Any:
    """A Rich table of the kept columns; dates, times and session keys (typed into
    commands) never wrap or get cut, longer texts wrap instead."""
    from rich.markup import escape
    from rich.table import Table

    shown = [name for name, keep in columns if keep]
    table = Table(title=escape(title), title_justify="left")
    for name in shown:
        table.add_column(name, no_wrap=name in NO_WRAP, min_width=10 if name in ("Notes", "Title") else None)
    for row in rows:
        table.add_row(*(row[name] for name in shown))
    return table


def _plan_row(s: Any) -> dict[str, str]:
    """One session's cells, by column name (markup escaped)."""
    from rich.markup import escape

    from kapplan.wording import deviation_note, dose_with_route

    mark, style = KIND_MARKS.get(s.kind, ("?", "white"))
    notes = [f"{s.setting}"] if s.setting != "in-person" else []
    notes += [f"deviation: {deviation_note(d)}" for d in s.deviations]
    if s.status != "planned":
        notes.append(s.status)
    return {
        "Date": s.start.strftime("%a %Y-%m-%d"),
        "Time": f"{s.start:%H:%M}-{s.end:%H:%M}",
        "When": f"{s.start:%a %Y-%m-%d}\n{s.start:%H:%M}-{s.end:%H:%M}",
        "Session": f"[{style}]{mark}[/] {escape(s.key)}",
        "Step": escape(f"{s.step} {s.index}/{s.count}"),
        "Duration": _duration_text(int((s.end - s.start).total_seconds() // 60)),
        "Planned dose": escape("" if s.dose is None else dose_with_route(s.dose)),
        "Notes": escape("; ".join(notes)),
    }


def plan_calendar_text(plan: Plan) -> str:
    """Month grids with each session day marked by kind: the series at a glance."""
    import calendar as cal

    from rich.markup import escape
    from rich.table import Table

    heading = escape(f"Plan for {plan.client.get('id')} ({plan.client.get('timezone', '')}) — {plan.protocol.title}")
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
    return _capture([heading, *grids, legend])


def print_plan_notes(plan: Plan) -> None:
    """Warnings and deviations go to stderr, always: never hidden.

    Most plans have neither: rich is then not even imported."""
    if not plan.warnings and not plan.deviations:
        return
    from rich.markup import escape

    from kapplan.wording import describe_deviation

    console = stderr_console()
    for warning in plan.warnings:
        label = "note" if warning.code == "note" else f"warning {escape(warning.code)}"
        console.print(f"[yellow]{label}:[/yellow] {escape(warning.message)}")
    for deviation in plan.deviations:
        console.print(f"[red]deviation:[/red] {escape(describe_deviation(deviation))}")


STATUS_STYLES = {"planned": "white", "done": "green", "missed": "red", "cancelled": "dim"}


def status_text(plan: Plan, report: StatusReport) -> str:
    """`kapplan status`: every session with its status, what is next, deviations so far."""
    from rich.markup import escape

    from kapplan.lifecycle.times import plan_zone
    from kapplan.wording import describe_deviation, deviation_note, when

    zone = plan_zone(plan)
    unmarked = {s.key for s in report.unmarked}
    rows: list[dict[str, str]] = []
    for s in plan.sessions:
        start, end = s.start.astimezone(zone), s.end.astimezone(zone)
        style = STATUS_STYLES.get(s.status, "white")
        notes = [deviation_note(d) for d in s.deviations]
        if s.key in unmarked:
            notes.insert(0, "not marked yet")
        if report.next is not None and s.key == report.next.key:
            notes.insert(0, "next")
        rows.append({
            "Date": start.strftime("%a %Y-%m-%d"),
            "Time": f"{start:%H:%M}-{end:%H:%M}",
            "Session": escape(s.key),
            "Title": escape(s.title),
            "Status": f"[{style}]{s.status}[/{style}]",
            "Seq": str(s.sequence),
            "Notes": escape("; ".join(notes)),
        })
    wide = output_width() >= NARROW
    columns = [("Date", True), ("Time", True), ("Session", True), ("Title", wide), ("Status", True),
               ("Seq", True), ("Notes", any(r["Notes"] for r in rows))]
    table = _table(f"Status of {plan.client.get('id')} ({zone.key})", columns, rows)
    counts = ", ".join(f"{n} {status}" for status, n in report.counts.items())
    lines: list[Any] = [table, f"Sessions: {counts}"]
    if report.next is not None:
        upcoming = report.next
        lines.append(f"Next: {escape(upcoming.key)} ({escape(upcoming.title)}) on {when(upcoming.start, zone)}")
    else:
        lines.append("Next: nothing planned ahead")
    if report.unmarked:
        keys = ", ".join(s.key for s in report.unmarked)
        lines.append(
            f"[yellow]Not marked yet:[/yellow] {escape(keys)} (kapplan mark PLAN.json KEY done|missed|cancelled)"
        )
    lines += [escape(line) for line in series_lines(plan, report)]
    lines.append("Deviations so far:" + (" none" if not report.so_far and not report.safety else ""))
    lines += [f"  - {escape(describe_deviation(d))}" for d in report.so_far]
    lines += [f"  - [red]{escape(note)}[/red]" for note in report.safety]
    if report.planned:
        lines.append("Planned deviations:")
        lines += [f"  - {escape(describe_deviation(d))}" for d in report.planned]
    return _capture(lines)


def series_lines(plan: Plan, report: StatusReport) -> list[str]:
    """Tasks due and overdue, sessions waiting for a gate, the open decision (SPEC §13)."""
    from kapplan.wording import task_line

    lines = []
    if report.overdue:
        lines.append("Overdue tasks: " + "; ".join(task_line(t) for t in report.overdue))
    if report.due:
        lines.append("Tasks due now: " + "; ".join(task_line(t) for t in report.due))
    if plan.tasks and not report.due and not report.overdue:
        ahead = [t for t in plan.tasks if t.status == "due"]
        lines.append("Tasks: none due now" + (f"; next {task_line(ahead[0])}" if ahead else ""))
    if report.tentative:
        lines.append(f"Tentative (waiting for their gate): {', '.join(s.key for s in report.tentative)}")
    if report.decision is not None:
        lines.append(decision_line(report.decision))
    return lines


def decision_line(decision: DecisionPoint) -> str:
    """What an open decision holds back, and how to make it."""
    options = "|".join(decision.options)
    return (f"Open decision {decision.key} ({decision.prompt}): nothing after it is planned yet; once it is "
            f"marked done, kapplan decide PLAN.json {decision.key} {options}")


def rules_table_text(rules: dict[str, Rule]) -> str:
    """`kapplan rules`: code, severity, summary of every lint rule."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Lint rules (allow: silences KP3xx warnings only; kapplan rules CODE explains one)",
                  title_justify="left")
    for column in ("Code", "Severity", "Summary"):
        table.add_column(column)
    for entry in rules.values():
        style = "red" if entry.severity == "error" else "yellow"
        table.add_row(entry.code, f"[{style}]{entry.severity}[/{style}]", escape(entry.summary))
    return _capture([table])


def protocols_table_text(rows: list[ProtocolSummary]) -> str:
    """`kapplan protocols`: one row per bundled protocol."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Bundled protocols (span: earliest shape, availability ignored)", title_justify="left")
    for column in ("Id", "Version", "Title", "Sessions", "Span"):
        table.add_column(column, justify="right" if column in ("Sessions", "Span") else "left")
    for row in rows:
        table.add_row(escape(row.id), escape(row.version), escape(row.title), str(row.sessions), f"{row.span_days}d")
    return _capture([table])


def alternatives_text(rows: list[Summary]) -> str:
    """`kapplan plan --alternatives`: one line per plan to choose from (SPEC §12)."""
    from rich.table import Table

    table = Table(title="Plans to choose from (--choose NAME -o plan.json writes one)", title_justify="left")
    for column in ("Plan", "First dose", "Last session", "Outside preference", "Start times", "Deviations"):
        table.add_column(column, justify="left" if column in ("Plan", "First dose", "Last session") else "right")
    for row in rows:
        table.add_row(row.name, row.first_dose or "-", row.last, str(row.outside), str(row.times), str(row.deviations))
    return _capture([table])


def _dose_rule_text(dose: Dose) -> str:
    from kapplan.wording import SET_BY_PRESCRIBER

    if dose.by_prescriber:
        amount = SET_BY_PRESCRIBER
    else:
        base = dose.per_kg or dose.fixed
        amount = str(base)
        if dose.titrate:
            unit = base.unit if base else ""
            amount = " → ".join(f"{v.normalize():f}" for v in dose.titrate) + f" {unit} (last repeats)"
    parts = [f"{dose.medication} {dose.route}, {amount}"]
    parts += [f"rounded to {dose.round_to}"] if dose.round_to else []
    parts += [f"max {dose.max}"] if dose.max else []
    return "planned dose: " + ", ".join(parts)


def _session_branch(tree: Any, name: str, session: SessionType) -> None:
    from rich.markup import escape

    from kapplan.models.values import format_days, format_minutes

    facts = [session.kind, str(session.duration), session.setting]
    facts += [f"observation {session.observation}"] if session.observation else []
    facts += [format_days(frozenset(session.days))] if session.days is not None else []
    facts += [f"starts {session.time}"] if session.time else []
    branch = tree.add(f"[bold]{escape(name)}[/bold] {escape(session.display_title)} — {escape(', '.join(facts))}")
    staff = [role if minutes is None else f"{role} (first {format_minutes(minutes)})"
             for role, minutes in session.needs]
    for label, values in (("staff", staff), ("assessments", session.assessments),
                          ("checklist", session.checklist), ("monitoring", session.monitoring)):
        if values:
            branch.add(f"{label}: {escape(', '.join(values))}")
    if session.dose:
        branch.add(escape(_dose_rule_text(session.dose)))
    for reminder in session.reminders:
        branch.add(f"reminder {reminder.before} before: {escape(reminder.text.strip())}")
    for label in ("instructions", "notes"):
        text = getattr(session, label)
        if text:
            branch.add(f"{label}: {escape(text.strip())}")


def _step_branch(tree: Any, number: int, step: Step) -> None:
    from rich.markup import escape

    facts = [f"{step.count}× {step.session}"]
    facts += [f"gap {step.gap}"] if step.count > 1 else []
    facts += [f"after {step.after}" + (f" from {step.from_}" if step.from_ else "")] if number != 1 else []
    facts += [f"{step.per_week} per week"] if step.per_week else []
    facts += [f"within {step.within}"] if step.within else []
    label = f"{number}. " if number else ""
    branch = tree.add(f"{label}[bold]{escape(step.key)}[/bold]: {escape(', '.join(facts))}")
    for follow_up in step.followed_by:
        on = f", after occurrences {', '.join(map(str, follow_up.on))}" if follow_up.on else ""
        branch.add(f"followed by {escape(follow_up.key)} ({escape(follow_up.session)}), "
                   f"offset {follow_up.offset}{on}")
    for gate in step.requires:
        branch.add(f"from occurrence {gate.from_}: waits for [bold]{escape(gate.step)}[/bold] to be done")
    if step.decision is not None:
        decision = branch.add(f"decision: {escape(step.decision.prompt)}")
        for option, steps in step.decision.options.items():
            decision.add(f"{escape(option)} -> {escape(', '.join(steps) or 'nothing more')}")


def protocol_tree(protocol: Protocol) -> Any:
    """A protocol as a Rich tree: sessions, steps, follow-ups, doses, constraints, references."""
    from rich.markup import escape
    from rich.tree import Tree

    tree = Tree(f"[bold]{escape(protocol.id)}[/bold] {escape(protocol.version)} — {escape(protocol.title)}")
    for label in ("summary", "population"):
        text = getattr(protocol, label)
        if text:
            tree.add(f"{label}: {escape(' '.join(text.split()))}")
    sessions = tree.add("[bold]sessions[/bold]")
    for name, session in protocol.sessions.items():
        _session_branch(sessions, name, session)
    schedule = tree.add("[bold]schedule[/bold]")
    for number, step in enumerate(protocol.schedule, start=1):
        _step_branch(schedule, number, step)
    if protocol.branches:
        branches = tree.add("[bold]branches[/bold] (placed when a decision chooses them)")
        for key in protocol.branches:
            _step_branch(branches, 0, protocol.branch_step(key))
    if protocol.measures:
        measures = tree.add("[bold]measures[/bold] (questionnaires due as tasks)")
        for measure in protocol.measures:
            measures.add(escape(measure_text(measure)))
    limits = protocol.constraints
    facts = [f"min dosing interval {limits.min_dosing_interval}"] if limits.min_dosing_interval else []
    facts += [f"max span {limits.max_span}"] if limits.max_span else []
    if facts:
        tree.add(f"[bold]constraints[/bold]: {', '.join(facts)}")
    if protocol.allow:
        tree.add(f"[bold]allowed warnings[/bold]: {escape(', '.join(protocol.allow))}")
    if protocol.references:
        references = tree.add("[bold]references[/bold]")
        for ref in protocol.references:
            link = f" doi:{ref.doi}" if ref.doi else (f" {ref.url}" if ref.url else "")
            references.add(escape(ref.cite + link))
    return tree


def shape_timeline(points: list[ShapePoint]) -> list[str]:
    """The earliest shape as week rows of kind marks, then one line per session."""
    from rich.markup import escape

    by_day: dict[int, list[ShapeSession]] = {}
    for point in points:
        by_day.setdefault(point.day, []).append(point.session)
    last = max(by_day, default=0)
    legend = "  ".join(f"[{style}]{mark}[/{style}] {kind}" for kind, (mark, style) in KIND_MARKS.items())
    lines = ["[bold]earliest shape[/bold] (days from the first session; availability ignored)", legend]
    for week in range(last // 7 + 1):
        cells = []
        for day in range(week * 7, week * 7 + 7):
            sessions = by_day.get(day, [])
            mark, style = KIND_MARKS.get(sessions[0].kind or "", ("?", "white")) if sessions else ("·", "dim")
            cells.append(f"[{style}]{mark}[/{style}]" + ("+" if len(sessions) > 1 else " "))
        lines.append(f"week {week + 1:>2}  " + "".join(cells).rstrip())
    lines += [f"day {p.day:>3}  {escape(p.session.key)} ({p.session.kind})"
              for p in sorted(points, key=lambda p: p.day)]
    return lines


def protocol_text(protocol: Protocol, points: list[ShapePoint],
                  paths: list[tuple[str, list[ShapePoint]]] | None = None) -> str:
    """`kapplan show`: the tree, then the timeline of the earliest shape; with decisions,
    one timeline per branch path (``paths``: each path's choices in words and its shape)."""
    if not paths:
        return _capture([protocol_tree(protocol), "", *shape_timeline(points)])
    from rich.markup import escape

    parts: list[Any] = [protocol_tree(protocol)]
    for label, shape in paths:
        parts += ["", f"[bold]branch path[/bold]: {escape(label)}", *shape_timeline(shape)]
    return _capture(parts)


def measure_text(measure: Measure) -> str:
    """``phq9 (PHQ-9): every 7d from induction until maintenance, window 2d``."""
    when = f"every {measure.every}" if measure.every is not None else f"at {', '.join(measure.at or [])}"
    when += f" from {measure.from_}" if measure.from_ else ""
    when += f" until {measure.until}" if measure.until else ""
    when += f", window {measure.window}" if measure.window else ""
    return f"{measure.key} ({measure.instrument}): {when}"


@contextmanager
def batch_reporter(roster: str, *, progress: bool) -> Iterator[Callable[[RecordResult], None]]:
    """`kapplan batch`: each failed record as it comes (stderr), under a live
    progress bar when ``progress`` (a terminal without NO_COLOR)."""
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    def failure_line(result: RecordResult) -> str:
        who = escape(result.id) if result.id else f"record {result.number}"
        code = f" {escape(result.code)}" if result.code else ""
        return f"[red]{escape(roster)}:{result.row}:{code}[/red] {who}: {escape(result.error or 'failed')}"

    if not progress:
        console = stderr_console()

        def report(result: RecordResult) -> None:
            if not result.ok:
                console.print(failure_line(result))

        yield report
        return
    columns = (SpinnerColumn(), TextColumn("planning: {task.completed} record(s)"), TextColumn("{task.fields[failed]}"))
    with Progress(*columns, TimeElapsedColumn(), console=stderr_console(), transient=True) as bar:
        task = bar.add_task("batch", total=None, failed="")
        failed = 0

        def advance(result: RecordResult) -> None:
            nonlocal failed
            if not result.ok:
                failed += 1
                bar.console.print(failure_line(result))
            bar.update(task, advance=1, failed=f"[red]{failed} failed[/red]" if failed else "")

        yield advance


def batch_summary_line(summary: BatchSummary, out: Path) -> None:
    """The one-line outcome of a batch that had no failed record."""
    from rich.markup import escape

    counts = ", ".join(f"{n} {what}" for what, n in summary.outcomes.items())
    noted = f"; {summary.noted} with safety notes (KP4xx, listed per record in the summary)" if summary.noted else ""
    stderr_console().print(
        f"{summary.ok} record(s) planned into {escape(str(out))}: {counts}{noted} (see {escape(str(summary.path))})"
    )


def rule_text(rule: Rule) -> str:
    """`kapplan rules CODE`: the rule's code, severity, summary and rationale."""
    import textwrap

    paragraph = textwrap.fill(" ".join(rule.rationale.split()), width=78, initial_indent="  ", subsequent_indent="  ")
    return f"{rule.code} ({rule.severity}): {rule.summary}\n{paragraph}\n"


def validation_text(report: ValidationReport, *, as_json: bool) -> str:
    """`kapplan validate`: one line per diagnostic (FILE:LINE:COL: SEVERITY CODE message), or JSON."""
    if as_json:
        import json

        return json.dumps([d.as_dict() for d in report.diagnostics], indent=2) + "\n"
    return "".join(d.as_text() + "\n" for d in report.diagnostics)


def reschedule_text(outcome: RescheduleOutcome) -> str:
    """`kapplan reschedule`: old -> new time and why, one line per changed session."""
    from kapplan.lifecycle.times import plan_zone

    zone = plan_zone(outcome.plan)
    return "".join(change.line(zone) + "\n" for change in outcome.changes)


def decide_text(outcome: DecideOutcome) -> str:
    """`kapplan decide`: the choice, then one line per session it placed or moved."""
    from kapplan.lifecycle.times import plan_zone

    zone = plan_zone(outcome.plan)
    lines = [f"{outcome.decision.key}: decided '{outcome.decision.chosen}'"]
    lines += [change.line(zone) for change in outcome.changes]
    if outcome.note:
        lines.append(outcome.note)
    following = outcome.plan.open_decision
    if following is not None:
        lines.append(decision_line(following))
    return "".join(line + "\n" for line in lines)


def print_deviations(plan: Plan) -> None:
    """Deviations are shown, never hidden."""
    from kapplan.wording import describe_deviation

    for deviation in plan.deviations:
        sys.stderr.write(f"deviation: {describe_deviation(deviation)}\n")


def agenda_table_text(agenda: Agenda) -> str:
    """The booked sessions day by day: time, client, session, people, room, status.

    Plain aligned text, not a Rich table: a clinic's week holds hundreds of
    rows, which Rich would measure cell by cell (the agenda is printed
    often, and must stay about as fast as ``--help``)."""
    from datetime import timedelta

    last = agenda.first + timedelta(days=agenda.days - 1)
    who = f" for {agenda.staff}" if agenda.staff else f" in {agenda.room}" if agenda.room else ""
    lines = [f"Agenda{who}, {agenda.first.isoformat()} to {last.isoformat()} ({agenda.zone.key})"]
    flagged = agenda.flagged
    rows: list[tuple[str, list[str]]] = []
    for entry in agenda.entries:
        booking = entry.booking
        start, end = agenda.local(booking.start), agenda.local(booking.end)
        status = booking.status + (f"; plan file {flagged[booking.series]}" if booking.series in flagged else "")
        people = ", ".join(f"{a.person} ({a.role})" for a in booking.assigned)
        rows.append((f"{start:%a %Y-%m-%d}", [f"{start:%H:%M}-{end:%H:%M}", booking.client, booking.key, people,
                                              booking.room or "", status]))
    header = ["Time", "Client", "Session", "Staff", "Room", "Status"]
    widths = [max([len(header[i]), *(len(cells[i]) for _, cells in rows)]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(_plain(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    day = None
    for label, cells in rows:
        if label != day:
            lines += ["", label, line(header)]
            day = label
        lines.append(line(cells))
    lines += ["", f"{len(rows)} booked session(s)" if rows else "No booked sessions."]
    return "\n".join(lines) + "\n"


def _plain(text: str) -> str:
    """Control characters out of text bound for a terminal (ids come from files)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def replan_note(target: Path, outcome: Replan | None) -> str:
    """What a plan written over an existing file did to it (SPEC §14)."""
    kept = f"the previous file is in {target.name}.bak"
    if outcome is None:
        return f"{target}: replaced a file that was not a plan; {kept}"
    if not outcome.series_kept:
        return f"{target}: a new plan with a new calendar series (new event UIDs); {kept}"
    counts = f"{len(outcome.changed)} session(s) changed"
    if outcome.cancelled:
        counts += f", {len(outcome.cancelled)} no longer planned (kept as cancelled)"
    return f"{target}: re-planned in the same calendar series (event UIDs kept; {counts}); {kept}"
