"""The thin Typer layer: parse arguments, call the core, render with Rich.

Only typer and the standard library are imported at start-up; every command
imports the core modules it needs, so ``kapplan --help`` stays as fast as a
bare Typer app. Errors are turned into messages and exit codes in exactly one
place: ``KapplanGroup.invoke``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from . import __version__

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
            from .errors import KapplanError

            if isinstance(err, KapplanError):
                from .render import print_error

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
    """Click's own exceptions (usage errors, exits): Typer reports those itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # Typer releases that depend on an external click
        from click import exceptions  # type: ignore[no-redef]
    return (exceptions.ClickException, exceptions.Exit, exceptions.Abort, typer.Exit)


def _fail_plain(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"kapplan: {message}\n")
    raise typer.Exit(code)


app = typer.Typer(
    cls=KapplanGroup,
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
    from .errors import UsageError
    from .files import atomic_write

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
    from .errors import UsageError

    suffix = Path(str(output)).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise UsageError(f"{output}: cannot tell the format from the extension; add --format")
    return _EXTENSIONS[suffix]


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Protocol, client or clinic files.")],
    format: Annotated[TextFormat, typer.Option("--format", help="Output format.")] = TextFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Lint protocol, client and clinic files."""
    raise NotImplementedError


@app.command()
def protocols(
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the bundled protocols."""
    raise NotImplementedError


@app.command()
def show(protocol: Annotated[str, typer.Argument(help="Protocol file or bundled id.")]) -> None:
    """Show a protocol as a tree plus a timeline of its earliest shape."""
    raise NotImplementedError


@app.command()
def plan(
    protocol: Annotated[str, typer.Argument(help="Protocol file or bundled id.")],
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
    """Make a personalized plan for one client."""
    from .clock import current_time, reproducible_epoch, system_zone_name
    from .inputs import load_client, load_clinic, load_protocol
    from .planning import ClientFlags, make_plan, merge_client, resolve_client
    from .render import print_plan_notes

    fmt = output_format(output, format.value if format else None)
    loaded = load_protocol(protocol)
    flags = ClientFlags(id, start, tz, weight, list(available or []), list(unavailable or []), holidays)
    profile = merge_client(load_client(client) if client else None, flags)
    now = current_time()
    from zoneinfo import ZoneInfo

    zone = profile.timezone or system_zone_name()
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
        return result.to_json()
    if fmt == "ics":
        from .ics import plan_to_ics

        return plan_to_ics(result, audience=audience, privacy=privacy, alarms=alarms)
    from . import render

    if fmt == "csv":
        from .plan_csv import plan_to_csv

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
    """Export a plan as an iCalendar file."""
    raise NotImplementedError


@app.command()
def batch(
    roster: Annotated[str, typer.Argument(help="Roster: CSV, JSON Lines or YAML list; '-' for stdin.")],
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
    """Plan and export every record of a roster."""
    raise NotImplementedError


@app.command()
def mark(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    key: Annotated[str, typer.Argument(help="Session key, e.g. medicine-3.")],
    status: Annotated[MarkStatus, typer.Argument(help="done, missed or cancelled.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Actual start: ISO 8601, or local time in the client's zone.")
    ] = None,
) -> None:
    """Record what happened to a session."""
    raise NotImplementedError


@app.command()
def status(plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")]) -> None:
    """Show a plan with statuses, what is next, and deviations."""
    raise NotImplementedError


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
    allow_deviations: Annotated[bool, typer.Option("--allow-deviations")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes without writing.")] = False,
) -> None:
    """Re-plan the remaining sessions after what happened."""
    raise NotImplementedError


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Argument(help="protocol, client, clinic or plan.")]) -> None:
    """Print the JSON Schema of a file type."""
    raise NotImplementedError


@app.command()
def rules() -> None:
    """List the lint rules: code, severity, summary."""
    raise NotImplementedError


def main() -> None:
    """Console-script entry point."""
    app(prog_name="kapplan")
