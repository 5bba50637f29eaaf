"""The thin Typer layer: parse arguments, call the core, render with Rich.

Only typer and the standard library are imported at start-up; every command
imports the core modules it needs, so ``kapplan --help`` stays as fast as a
bare Typer app. Errors are turned into messages and exit codes in exactly one
place: ``KapplanGroup.invoke``. Annotations are real objects here, not strings:
Typer reads them on every run, and evaluating strings costs start-up time.
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from kapplan import __version__

_state = {"debug": False}


class KapplanGroup(TyperGroup):
    """Turns every KapplanError into its message and SPEC §6 exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _passthrough_exceptions():
            raise
        except KeyboardInterrupt:
            _fail_plain("interrupted", 130)
        except Exception as err:  # the one place errors become exit codes
            from kapplan.models.errors import KapplanError

            if isinstance(err, KapplanError):
                from kapplan.render import print_error

                print_error(err)
                raise typer.Exit(int(err.exit_code)) from None
            if _state["debug"]:
                raise
            _fail_plain(
                f"internal error ({type(err).__name__}); this is a bug in kapplan {__version__}. "
                "Please report it with the command you ran; rerun with --debug for the traceback.",
                70,
            )


def _passthrough_exceptions() -> tuple[type[BaseException], ...]:
    """Click's own exceptions (usage errors, exits) and a closed output pipe
    (``kapplan ... | head``): Typer reports those itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # Typer releases that depend on an external click
        from click import exceptions  # type: ignore[no-redef, import-not-found, unused-ignore]
    found = [getattr(exceptions, name, None) for name in ("ClickException", "Exit", "Abort")]
    return (*[e for e in found if e is not None], typer.Exit, typer.Abort, BrokenPipeError)


def _fail_plain(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"kapplan: {message}\n")
    raise typer.Exit(code)


app = typer.Typer(
    cls=KapplanGroup,
    rich_markup_mode=None,
    name="kapplan",
    help="Plan ketamine-assisted psychotherapy series from protocol files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"kapplan {__version__}\n")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of internal errors.")] = False,
) -> None:
    """Plan ketamine-assisted psychotherapy series from protocol files."""
    _state["debug"] = debug


class TextFormat(StrEnum):
    text = "text"
    json = "json"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class PlanFormat(StrEnum):
    table = "table"
    calendar = "calendar"
    json = "json"
    csv = "csv"
    ics = "ics"


class Audience(StrEnum):
    client = "client"
    clinic = "clinic"


class Privacy(StrEnum):
    minimal = "minimal"
    standard = "standard"
    full = "full"


class SchemaKind(StrEnum):
    protocol = "protocol"
    client = "client"
    clinic = "clinic"
    plan = "plan"


class MarkStatus(StrEnum):
    done = "done"
    missed = "missed"
    cancelled = "cancelled"


OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Write to FILE ('-' for stdout); format from the extension.")
]
AudienceOpt = Annotated[Audience, typer.Option(help="Who the calendar is for.")]
PrivacyOpt = Annotated[Privacy, typer.Option(help="How much the calendar may show.")]
NoAlarmsOpt = Annotated[bool, typer.Option("--no-alarms", help="Leave reminders out of the calendar.")]
ClinicOpt = Annotated[Path | None, typer.Option("--clinic", help="Clinic file: hours, closures, holidays.")]

# Client flags, shared by plan and reschedule.
ClientFileOpt = Annotated[Path | None, typer.Option("--client", help="Client profile file (YAML or JSON).")]
IdOpt = Annotated[str | None, typer.Option("--id", help="Client identifier.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="Earliest date of the first session (YYYY-MM-DD).")]
TzOpt = Annotated[str | None, typer.Option("--tz", help="Client time zone (IANA name).")]
WeightOpt = Annotated[str | None, typer.Option("--weight", help="Body weight with unit, e.g. '72 kg'.")]
AvailableOpt = Annotated[
    list[str] | None, typer.Option("--available", help="Weekly window, e.g. 'Mon-Fri 09:00-17:00' (repeatable).")
]
UnavailableOpt = Annotated[
    list[str] | None, typer.Option("--unavailable", help="Date or DATE..DATE to avoid; adds to the file's list.")
]
HolidaysOpt = Annotated[str | None, typer.Option("--holidays", help="Public holidays, e.g. US-NY.")]


def emit(data: bytes | str, output: str | None, *, private: bool = True) -> None:
    """Write command output to stdout (no -o, or '-') or atomically to a file."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return
    from kapplan.io.files import atomic_write
    from kapplan.models.errors import UsageError

    target = Path(output)
    if target.is_dir():
        raise UsageError(f"{output}: is a folder; give a file name")
    if not target.parent.exists():
        raise UsageError(f"{output}: folder {target.parent} does not exist")
    try:
        atomic_write(target, payload, private=private)
    except OSError as err:
        raise UsageError(f"{output}: cannot be written ({err.strerror or 'I/O error'})") from None


_EXTENSIONS = {".json": "json", ".csv": "csv", ".ics": "ics", ".txt": "table"}


def output_format(output: str | None, chosen: str | None, default: str = "table") -> str:
    """--format wins; else the -o extension; else ``default``."""
    if chosen:
        return chosen
    if output in (None, "-"):
        return default
    from kapplan.models.errors import UsageError

    suffix = Path(str(output)).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise UsageError(f"{output}: cannot tell the format from the extension; add --format")
    return _EXTENSIONS[suffix]


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Protocol, client or clinic files.")],
    format: Annotated[TextFormat, typer.Option("--format", help="Output format.")] = TextFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Lint protocol, client and clinic files.

    Every problem of every file is printed (FILE:LINE:COL: SEVERITY CODE
    message), then a summary on stderr. Exit 0 when there is no error, 1 when
    there is one, 2 when a path cannot be read (the other files are still
    checked). 'kapplan rules' lists the codes.
    """
    import json

    from kapplan.io.readers import check_paths, validation_exit_code

    reports = check_paths(paths, strict=strict)
    diagnostics = [d for report in reports for d in report.diagnostics]
    if format is TextFormat.json:
        sys.stdout.write(json.dumps([d.as_dict() for d in diagnostics], indent=2) + "\n")
    else:
        sys.stdout.writelines(d.as_text() + "\n" for d in diagnostics)
    for report in reports:
        if report.unreadable:
            sys.stderr.write(f"kapplan: {report.unreadable}\n")
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    unreadable = sum(1 for r in reports if r.unreadable)
    counts = [f"{errors} error(s)", f"{warnings} warning(s)"] + ([f"{unreadable} unreadable"] if unreadable else [])
    sys.stderr.write(f"{len(reports)} file(s) checked: {', '.join(counts)}\n")
    code = validation_exit_code(reports)
    if code:
        raise typer.Exit(int(code))


@app.command()
def protocols(
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the bundled protocols: id, version, title, sessions, span.

    The span is the earliest shape in days from the first session to the
    last (every gap at its minimum, availability ignored).
    """
    import json

    from kapplan.io.bundled import bundled_paths
    from kapplan.io.readers import load_protocol, protocol_summary

    rows = [protocol_summary(load_protocol(path), name) for name, path in bundled_paths().items()]
    if format is ListFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from kapplan.render import protocols_table_text

    sys.stdout.write(protocols_table_text(rows))


@app.command()
def show(protocol: Annotated[str, typer.Argument(metavar="PROTOCOL", help="Protocol file or bundled id.")]) -> None:
    """Show a protocol as a tree plus a timeline of its earliest shape.

    The timeline puts every session at its earliest day after the first one
    (each gap, after and offset at its minimum; availability ignored). Lint
    warnings go to stderr.
    """
    from kapplan.io.readers import load_protocol
    from kapplan.lint.shape import earliest_shape
    from kapplan.render import protocol_text

    loaded = load_protocol(protocol)
    sys.stderr.writelines(d.as_text() + "\n" for d in loaded.warnings)
    sys.stdout.write(protocol_text(loaded.protocol, earliest_shape(loaded.protocol)))


@app.command()
def plan(
    protocol: Annotated[str, typer.Argument(metavar="PROTOCOL", help="Protocol file or bundled id.")],
    client: ClientFileOpt = None,
    id: IdOpt = None,
    start: StartOpt = None,
    tz: TzOpt = None,
    weight: WeightOpt = None,
    available: AvailableOpt = None,
    unavailable: UnavailableOpt = None,
    holidays: HolidaysOpt = None,
    clinic: ClinicOpt = None,
    format: Annotated[PlanFormat | None, typer.Option("--format", help="Output format.")] = None,
    output: OutputOpt = None,
    allow_deviations: Annotated[
        bool, typer.Option("--allow-deviations", help="When no plan exists, relax upper bounds and record it.")
    ] = False,
    audience: AudienceOpt = Audience.client,
    privacy: PrivacyOpt = Privacy.standard,
    no_alarms: NoAlarmsOpt = False,
) -> None:
    """Make a personalized plan for one client.

    The client comes from --client FILE and/or the flags; a flag replaces the
    file's value, except --unavailable, which adds to the file's dates.
    Without --tz the system zone is used (with a note), without --start
    tomorrow, without --available Mon-Fri 09:00-17:00. Output: a table, or
    --format calendar|json|csv|ics; -o FILE picks the format from its
    extension ('-' is stdout) and is readable by its owner only. When no plan
    exists the exit code is 3 and the report names the session, what blocks
    it, and the nearest later start date that works; --allow-deviations then
    relaxes upper bounds and records every deviation in the plan.
    """
    from kapplan.clock import current_time, reproducible_epoch, system_zone_name
    from kapplan.io.readers import load_client, load_clinic, load_protocol
    from kapplan.planning.build import ClientFlags, make_plan, merge_client, resolve_client, usable_zone
    from kapplan.render import print_plan_notes

    fmt = output_format(output, format.value if format else None)
    loaded = load_protocol(protocol)
    flags = ClientFlags(id, start, tz, weight, list(available or []), list(unavailable or []), holidays)
    profile = merge_client(load_client(client, {"id": id}) if client else None, flags)
    now = current_time()
    from zoneinfo import ZoneInfo

    zone = profile.timezone or usable_zone(system_zone_name())
    today = now.astimezone(ZoneInfo(zone)).date()
    profile, notes = resolve_client(profile, today=today, system_zone=zone)
    site = load_clinic(clinic) if clinic else None
    result = make_plan(
        loaded, profile, site, now=now, allow_deviations=allow_deviations,
        reproducible=reproducible_epoch() is not None, notes=notes,
    )
    print_plan_notes(result)
    emit(render_plan(result, fmt, audience.value, privacy.value, not no_alarms), output)


def render_plan(result: Any, fmt: str, audience: str, privacy: str, alarms: bool) -> bytes | str:
    """One Plan, several outputs."""
    if fmt == "json":
        return str(result.to_json())
    if fmt == "ics":
        from kapplan.export.ics import plan_to_ics

        return plan_to_ics(result, audience=audience, privacy=privacy, alarms=alarms)
    from kapplan import render

    if fmt == "csv":
        from kapplan.export.csv_rows import plan_to_csv

        return plan_to_csv(result)
    if fmt == "calendar":
        return render.plan_calendar_text(result)
    return render.plan_table_text(result)


@app.command()
def export(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json", help="A plan written by 'kapplan plan'.")],
    output: OutputOpt = None,
    audience: AudienceOpt = Audience.client,
    privacy: PrivacyOpt = Privacy.standard,
    no_alarms: NoAlarmsOpt = False,
) -> None:
    """Export a plan as an iCalendar file.

    --privacy caps what the file may show at all (minimal, standard, full);
    --audience chooses the texts: the client's instructions and reminders, or
    for the clinic also notes, monitoring, assessments and staff. The file is
    created readable by its owner only.
    """
    from kapplan.export.ics import plan_to_ics
    from kapplan.models.errors import UsageError
    from kapplan.models.plan import read_plan

    target = None if output in (None, "-") else Path(output)
    if target is not None and target.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"{target}: export writes iCalendar; name the output FILE.ics, or '-' for stdout")
    if target is not None and target.resolve() == plan_file.resolve():
        raise UsageError(f"{target}: that is the plan file itself; choose another output file")
    current = read_plan(plan_file)
    data = plan_to_ics(current, audience=audience.value, privacy=privacy.value, alarms=not no_alarms)
    if target is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    from kapplan.io.files import atomic_write

    try:
        atomic_write(target, data, private=True)
    except OSError as err:
        raise UsageError(f"{target}: cannot be written ({err.strerror or 'write failed'})") from None
    sys.stderr.write(f"{target}: {len(current.sessions)} session(s) exported\n")


@app.command()
def batch(
    roster: Annotated[
        str, typer.Argument(metavar="ROSTER", help="Roster: CSV, JSON Lines or YAML list; '-' for stdin.")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the per-client files.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Default protocol.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Default time zone.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Default start date.")] = None,
    clinic: ClinicOpt = None,
    audience: AudienceOpt = Audience.client,
    privacy: PrivacyOpt = Privacy.standard,
    format: Annotated[str, typer.Option("--format", help="Files per record: ics, json or ics,json.")] = "ics,json",
    combined: Annotated[Path | None, typer.Option("--combined", help="One clinic calendar of all records.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="Parallel processes (default: CPUs).")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed record.")] = False,
    report: Annotated[TextFormat | None, typer.Option("--report", help="'json': the summary on stdout.")] = None,
) -> None:
    """Plan and export every record of a roster.

    ROSTER is CSV (header row; ',' or ';'; '|' between list items), JSON Lines,
    a JSON array, or a YAML list, by extension (.csv .jsonl .ndjson .json .yaml
    .yml; .json holds either JSON form); standard input and other names are
    recognised from the content. Each record is a client profile plus
    'protocol' (a bundled id, or a path relative to the roster's folder).
    Records need 'timezone' and 'start', or --tz and --start.

    Writes <id>.ics and/or <id>.plan.json per record into --out (default: the
    current folder) and always --out/summary.json; rows in messages and in the
    summary are line numbers of the roster file. A bad record is reported and
    never stops the others; the exit code is then 4. --combined writes one
    clinic calendar of every record, without alarms.
    """
    import dataclasses
    import os

    from kapplan.batch import BatchSettings, run_batch
    from kapplan.clock import current_time, reproducible_epoch
    from kapplan.io.roster import open_roster
    from kapplan.models.errors import BatchFailedError
    from kapplan.render import batch_reporter, batch_summary_line
    from kapplan.startup import collect_as_usual

    collect_as_usual()
    folder = out or Path(".")
    settings = BatchSettings(
        base=Path("."),
        now=current_time(),
        reproducible=reproducible_epoch() is not None,
        protocol=_batch_protocol(protocol),
        timezone=_batch_flag("--tz", tz),
        start=_batch_flag("--start", start),
        clinic=_batch_clinic(clinic),
        audience=audience.value,
        privacy=privacy.value,
        formats=_batch_formats(format),
        combined=combined is not None,
    )
    _check_combined(combined, folder)
    show_progress = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    with open_roster(roster, sys.stdin.buffer) as source:
        settings = dataclasses.replace(settings, base=source.base)
        with batch_reporter(source.name, progress=show_progress) as reporter:
            summary = run_batch(
                source,
                settings,
                folder,
                jobs=jobs or os.cpu_count() or 1,
                fail_fast=fail_fast,
                combined=combined,
                report=reporter,
            )
    if report == TextFormat.json:
        sys.stdout.buffer.write(summary.path.read_bytes())
        sys.stdout.buffer.flush()
    if summary.fault is not None:
        raise summary.fault
    if summary.failed:
        stop = "; stopped at the first (--fail-fast)" if summary.stopped else ""
        raise BatchFailedError(
            f"{summary.failed} of {summary.records} record(s) failed{stop}; {summary.ok} planned (see {summary.path})"
        )
    if report != TextFormat.json:
        batch_summary_line(summary, folder)


def _batch_formats(value: str) -> tuple[str, ...]:
    from kapplan.models.errors import UsageError

    chosen = [part.strip().lower() for part in value.split(",") if part.strip()]
    if not chosen or any(part not in ("ics", "json") for part in chosen):
        raise UsageError(f"--format: expected ics, json or ics,json, not '{value}'")
    return tuple(kind for kind in ("ics", "json") if kind in chosen)


def _batch_flag(flag: str, value: str | None) -> str | None:
    """--tz / --start checked once here rather than failing every record."""
    if value is None:
        return None
    from pydantic_core import PydanticCustomError

    from kapplan.models.errors import UsageError
    from kapplan.models.values import parse_date, parse_timezone

    try:
        parsed = parse_timezone(value) if flag == "--tz" else parse_date(value).isoformat()
    except PydanticCustomError as err:
        raise UsageError(f"{flag}: {err.message()}") from None
    return str(parsed)


def _batch_protocol(name: str | None) -> str | None:
    """--protocol: a path (made absolute, as records resolve theirs elsewhere) or a bundled id."""
    if name is None:
        return None
    from kapplan.io.bundled import bundled_paths
    from kapplan.models.errors import UsageError

    if Path(name).exists():
        return str(Path(name).resolve())
    if name in bundled_paths():
        return name
    raise UsageError(f"--protocol: unknown protocol '{name}': not a bundled protocol id, and no such file")


def _batch_clinic(path: Path | None) -> Any:
    if path is None:
        return None
    from kapplan.io.readers import load_clinic

    return load_clinic(path)


def _check_combined(path: Path | None, out: Path) -> None:
    from kapplan.models.errors import UsageError

    if path is None:
        return
    if path.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"--combined {path}: name the calendar FILE.ics")
    if not path.parent.is_dir() and path.parent.resolve() != out.resolve():
        raise UsageError(f"--combined {path}: the folder {path.parent} does not exist")


@app.command()
def mark(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="Session key, e.g. medicine-3.")],
    status: Annotated[MarkStatus, typer.Argument(metavar="done|missed|cancelled", help="What happened.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Actual start: ISO 8601, or local time in the client's zone.")
    ] = None,
) -> None:
    """Record what happened to a session.

    done: it took place (--at: its actual start; ISO 8601 with an offset, or a
    local time such as '2026-12-14 10:30' in the client's zone). missed or
    cancelled: it did not; 'kapplan reschedule' plans the occurrence again.
    """
    from kapplan.clock import current_time
    from kapplan.lifecycle.reschedule import mark_session, parse_actual_start, plan_zone
    from kapplan.models.plan import read_plan

    current = read_plan(plan_file)
    moment = parse_actual_start(at, plan_zone(current)) if at is not None else None
    command = f"mark {key} {status.value}" + (f" --at {moment.isoformat()}" if moment else "")
    outcome = mark_session(current, key, status.value, now=current_time(), at=moment, command=command)
    if outcome.changed:
        _replace_plan_file(plan_file, outcome.plan)
    sys.stderr.write(f"{outcome.message}\n")
    for warning in outcome.warnings:
        sys.stderr.write(f"deviation: {warning}\n")


@app.command()
def status(plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")]) -> None:
    """Show a plan with statuses, what is next, and deviations."""
    from kapplan.clock import current_time
    from kapplan.lifecycle.reschedule import plan_status
    from kapplan.models.plan import read_plan
    from kapplan.render import status_text

    current = read_plan(plan_file)
    now = current_time()
    sys.stdout.write(status_text(current, plan_status(current, now), now))


@app.command()
def reschedule(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    from_: Annotated[
        str | None, typer.Option("--from", help="Re-plan sessions from this date (default: today).")
    ] = None,
    start: StartOpt = None,
    tz: TzOpt = None,
    weight: WeightOpt = None,
    available: AvailableOpt = None,
    unavailable: UnavailableOpt = None,
    holidays: HolidaysOpt = None,
    clinic: ClinicOpt = None,
    allow_deviations: Annotated[
        bool,
        typer.Option("--allow-deviations", help="When no strict re-plan exists, relax upper bounds and record it."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes without writing.")] = False,
) -> None:
    """Re-plan the remaining sessions after what happened.

    Done sessions stay where they happened; missed and cancelled occurrences
    and every later session are planned again from --from (default: today).
    Client flags change the embedded client (--unavailable adds dates).
    """
    from kapplan.clock import current_time
    from kapplan.io.readers import load_clinic
    from kapplan.lifecycle.reschedule import embedded_client, embedded_clinic, plan_zone, reschedule_plan
    from kapplan.models.plan import read_plan
    from kapplan.planning.build import ClientFlags, merge_client

    current = read_plan(plan_file)
    flags = ClientFlags(
        start=start, tz=tz, weight=weight, available=list(available or []),
        unavailable=list(unavailable or []), holidays=holidays,
    )
    client = merge_client(embedded_client(current), flags)
    clinic_model = load_clinic(clinic) if clinic is not None else embedded_clinic(current)
    outcome = reschedule_plan(
        current, now=current_time(), client=client, clinic=clinic_model,
        from_date=_date_option("--from", from_), allow_deviations=allow_deviations,
        command=_reschedule_command(from_, flags, clinic, allow_deviations),
    )
    zone = plan_zone(outcome.plan)
    for change in outcome.changes:
        sys.stdout.write(change.line(zone) + "\n")
    if outcome.note:
        sys.stderr.write(outcome.note + "\n")
    _print_deviations(outcome.plan)
    if dry_run:
        sys.stderr.write("dry run: the plan file was not changed\n")
    elif outcome.changed:
        _replace_plan_file(plan_file, outcome.plan)
        sys.stderr.write(f"{plan_file}: {len(outcome.changes)} session(s) changed; the previous plan is in "
                         f"{plan_file.name}.bak\n")


def _replace_plan_file(path: Path, new: Any) -> None:
    """Keep the previous plan as PLAN.json.bak, then replace the plan atomically."""
    from kapplan.io.files import atomic_write
    from kapplan.models.errors import UsageError

    try:
        previous = path.read_bytes()
        atomic_write(path.with_name(path.name + ".bak"), previous, private=True)
        atomic_write(path, new.to_json(), private=True)
    except OSError as err:
        raise UsageError(f"{path}: cannot write the plan ({err.strerror or 'write failed'})") from None


def _date_option(flag: str, value: str | None) -> Any:
    if value is None:
        return None
    from pydantic_core import PydanticCustomError

    from kapplan.models.errors import UsageError
    from kapplan.models.values import parse_date

    try:
        return parse_date(value)
    except PydanticCustomError as err:
        raise UsageError(f"{flag}: {err.message()}") from None


def _reschedule_command(from_: str | None, flags: Any, clinic: Path | None, allow: bool) -> str:
    """The reschedule as recorded in the plan's history."""
    parts = ["reschedule"]
    pairs = [("--from", from_), ("--start", flags.start), ("--tz", flags.tz), ("--weight", flags.weight),
             ("--holidays", flags.holidays), ("--clinic", str(clinic) if clinic else None)]
    pairs += [("--available", v) for v in flags.available] + [("--unavailable", v) for v in flags.unavailable]
    parts += [f"{name} {value}" for name, value in pairs if value is not None]
    return " ".join(parts + (["--allow-deviations"] if allow else []))


def _print_deviations(current: Any) -> None:
    """Deviations are shown, never hidden."""
    from kapplan.engine.deviations import describe_deviation

    for deviation in current.deviations:
        sys.stderr.write(f"deviation: {describe_deviation(deviation)}\n")


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Argument(metavar="protocol|client|clinic|plan", help="The file type.")],
) -> None:
    """Print the JSON Schema of a file type (for editor integration)."""
    import json

    from kapplan.models.schema import json_schema

    sys.stdout.write(json.dumps(json_schema(kind.value), indent=2, ensure_ascii=False) + "\n")


@app.command()
def rules(
    codes: Annotated[
        list[str] | None, typer.Argument(metavar="[CODE]...", help="Explain these rules, e.g. KP303.")
    ] = None,
) -> None:
    """List the lint rules: code, severity, summary; with CODE, why it exists.

    KP1xx: file structure; KP2xx: references and consistency; KP3xx:
    clinical safety. docs/protocol-format.md explains each one.
    """
    from kapplan.lint.registry import all_rules

    registry = all_rules()
    if not codes:
        from kapplan.render import rules_table_text

        sys.stdout.write(rules_table_text(registry))
        return
    from kapplan.models.errors import UsageError

    unknown = [code for code in codes if code.upper() not in registry]
    if unknown:
        raise UsageError(f"unknown rule code {unknown[0]!r}; 'kapplan rules' lists them")
    from kapplan.render import rule_text

    sys.stdout.write("\n".join(rule_text(registry[code.upper()]) for code in codes))


def main() -> None:
    """Console-script entry point."""
    from kapplan.startup import before_exit, tune_short_run

    tune_short_run()
    try:
        app(prog_name="kapplan")
    finally:
        before_exit()
