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
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from kapplan import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapplan.api import ClientChanges
    from kapplan.models import options
    from kapplan.models.client import Client
    from kapplan.models.plan import Plan

_state: dict[str, Any] = {"debug": False, "signal": 0}


def _readable_arguments() -> None:
    """Help shows an argument as its metavar (``PLAN.json``, ``PATH...``), not as
    ``{PLAN.json}`` and ``PATH... <list[Path]>``: Typer's own rendering names
    Python types, which mean nothing to a user. Options get readable metavars
    where they are declared."""
    from typer.core import TyperArgument

    def usage_name(self: Any) -> str:
        name = str(self.display_name_raw)
        if not self.required and not name.startswith("["):
            name = f"[{name}]"
        return name if self.metavar is not None or self.nargs == 1 else f"{name}..."

    def type_shown(self: Any, ctx: Any) -> str | None:
        return None if self.metavar else str(TyperArgument.display_type(self, ctx))

    setattr(TyperArgument, "_usage_display_name", usage_name)  # noqa: B010 - mypy refuses method assignment
    setattr(TyperArgument, "display_type_rich", type_shown)  # noqa: B010


_readable_arguments()


class KapplanGroup(TyperGroup):
    """Turns every KapplanError into its message and SPEC §6 exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a full or closed output fails here, not silently at exit
            return result
        except _passthrough_exceptions():
            raise
        except KeyboardInterrupt as err:
            from kapplan.api import remove_unfinished_files
            from kapplan.models.errors import Terminated

            remove_unfinished_files()

            if isinstance(err, Terminated):
                _fail_plain("terminated by a signal", 128 + err.signal_number)
            _fail_plain("interrupted", 130)
        except OSError as err:  # the environment, not kapplan: a full disk, a closed stream
            _fail_plain(f"cannot write the output ({err.strerror or err})", 2)
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
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _complete_protocol(incomplete: str) -> list[str]:
    """Bundled protocol ids; files are the shell's own completion."""
    from kapplan.api import protocol_ids

    return [name for name in protocol_ids() if name.startswith(incomplete)]


def _complete_zone(incomplete: str) -> list[str]:
    from kapplan.api import zone_names

    return [name for name in zone_names() if name.casefold().startswith(incomplete.casefold())]


def _complete_key(ctx: typer.Context, incomplete: str) -> list[str]:
    """The session keys of the plan named before KEY."""
    from kapplan.api import session_keys

    plan_file = ctx.params.get("plan_file")
    keys = session_keys(plan_file) if plan_file else []
    return [key for key in keys if key.startswith(incomplete)]


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


def _choice(option: StrEnum) -> Any:
    """An option's value as the API's literal type (Typer needs enums, the API takes literals)."""
    return option.value


class TextFormat(StrEnum):
    text = "text"
    json = "json"


class ProgressMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


class PlanFormat(StrEnum):
    table = "table"
    calendar = "calendar"
    json = "json"
    csv = "csv"
    ics = "ics"


class PlanChoice(StrEnum):
    strict = "strict"
    sooner = "sooner"
    regular = "regular"


class Audience(StrEnum):
    client = "client"
    clinic = "clinic"


class GuideFormat(StrEnum):
    html = "html"
    md = "md"


class Privacy(StrEnum):
    minimal = "minimal"
    standard = "standard"
    full = "full"


class SchemaKind(StrEnum):
    protocol = "protocol"
    client = "client"
    clinic = "clinic"
    plan = "plan"
    status = "status"
    mark = "mark"
    reschedule = "reschedule"
    decide = "decide"
    batch_summary = "batch-summary"
    agenda = "agenda"
    ledger_sync = "ledger-sync"
    ledger_release = "ledger-release"


class MarkStatus(StrEnum):
    done = "done"
    missed = "missed"
    cancelled = "cancelled"
    skipped = "skipped"


OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", metavar="FILE",
                             help="Write to FILE ('-' for stdout); format from the extension.")
]
FormatOpt = Annotated[
    TextFormat, typer.Option("--format", help="text, or json for scripts (shape: 'kapplan schema COMMAND').")
]
AudienceOpt = Annotated[Audience, typer.Option(help="Who the calendar is for.")]
PrivacyOpt = Annotated[Privacy, typer.Option(help="How much the calendar may show.")]
NoAlarmsOpt = Annotated[bool, typer.Option("--no-alarms", help="Leave reminders out of the calendar.")]
ClinicOpt = Annotated[Path | None, typer.Option("--clinic", metavar="FILE",
                                                help="Clinic file: hours, closures, holidays.")]
LedgerOpt = Annotated[
    Path | None,
    typer.Option("--ledger", metavar="FILE",
                 help="The clinic's booking ledger (SQLite, on a local disk; created on first use)."),
]

# Client flags, shared by plan and reschedule.
ClientFileOpt = Annotated[Path | None, typer.Option("--client", metavar="FILE",
                                                    help="Client profile file (YAML or JSON).")]
IdOpt = Annotated[str | None, typer.Option("--id", metavar="ID", help="Client identifier.")]
StartOpt = Annotated[str | None, typer.Option("--start", metavar="DATE",
                                              help="Earliest date of the first session (YYYY-MM-DD).")]
TzOpt = Annotated[str | None, typer.Option("--tz", metavar="ZONE", help="Client time zone (IANA name).",
                                           autocompletion=_complete_zone)]
WeightOpt = Annotated[str | None, typer.Option("--weight", metavar="WEIGHT",
                                               help="Body weight with unit, e.g. '72 kg'.")]
AvailableOpt = Annotated[
    list[str] | None, typer.Option("--available", metavar="WINDOW",
                                   help="Weekly window, e.g. 'Mon-Fri 09:00-17:00' (repeatable).")
]
UnavailableOpt = Annotated[
    list[str] | None, typer.Option("--unavailable", metavar="DATES",
                                   help="Date or DATE..DATE to avoid; adds to the file's list.")
]
HolidaysOpt = Annotated[str | None, typer.Option("--holidays", metavar="CODE", help="Public holidays, e.g. US-NY.")]
PreferOpt = Annotated[
    list[str] | None, typer.Option("--prefer", metavar="WINDOW",
                                   help="Weekly window the client prefers, soft (repeatable).")
]


def emit(data: bytes | str, output: str | None) -> None:
    """Command output to stdout (no -o, or '-') or atomically to a file (owner-only)."""
    if output in (None, "-"):
        payload = data.encode("utf-8") if isinstance(data, str) else data
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.flush()
        return
    from kapplan.api import write_output

    write_output(str(output), data)


_EXTENSIONS = {".json": "json", ".csv": "csv", ".ics": "ics", ".txt": "table"}


def output_format(output: str | None, chosen: str | None, default: str = "table") -> str:
    """--format, else the -o extension, else ``default``; an extension that
    contradicts --format (JSON into plan.ics) is refused."""
    from kapplan.models.errors import UsageError

    suffix = "" if output in (None, "-") else Path(str(output)).suffix.lower()
    if chosen:
        implied = _EXTENSIONS.get(suffix)
        if implied is not None and implied != chosen and {implied, chosen} != {"table", "calendar"}:
            raise UsageError(f"{output}: the extension says {implied}, but --format is {chosen}; "
                             f"name the file for its format or drop --format")
        return chosen
    if output in (None, "-"):
        return default
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
    message; past 50 structure problems in one file, one KP105 line counts
    the rest), then a summary on stderr. Exit 0 when there is no error, 1 when
    there is one, 2 when a path cannot be read (the other files are still
    checked). 'kapplan rules' lists the codes.
    """
    from kapplan.api import validate as check
    from kapplan.render import validation_text

    report = check(paths, strict=strict)
    sys.stdout.write(validation_text(report, as_json=format is TextFormat.json))
    sys.stderr.writelines(f"kapplan: {r.unreadable}\n" for r in report.unreadable)
    report.raise_for_errors()
    sys.stderr.write(report.summary() + "\n")


@app.command()
def protocols(
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
) -> None:
    """List the bundled protocols: id, version, title, sessions, span.

    The span is the earliest shape in days from the first session to the
    last (every gap at its minimum, availability ignored).
    """
    from kapplan.api import list_protocols

    rows = list_protocols()
    if format is ListFormat.json:
        import json

        sys.stdout.write(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
        return
    from kapplan.render import protocols_table_text

    sys.stdout.write(protocols_table_text(rows))


@app.command()
def show(protocol: Annotated[str, typer.Argument(metavar="PROTOCOL", help="Protocol file or bundled id.",
                                                autocompletion=_complete_protocol)]) -> None:
    """Show a protocol as a tree plus a timeline of its earliest shape.

    The timeline puts every session at its earliest day after the first one
    (each gap, after and offset at its minimum; availability ignored). Lint
    warnings go to stderr.
    """
    from kapplan.api import branch_shapes, earliest_shape, load_protocol
    from kapplan.render import protocol_text

    loaded = load_protocol(protocol)
    sys.stderr.writelines(d.as_text() + "\n" for d in loaded.warnings)
    paths = branch_shapes(loaded.protocol) if loaded.protocol.has_decisions else None
    sys.stdout.write(protocol_text(loaded.protocol, earliest_shape(loaded.protocol), paths))


@app.command()
def plan(
    protocol: Annotated[str, typer.Argument(metavar="PROTOCOL", help="Protocol file or bundled id.",
                                                autocompletion=_complete_protocol)],
    client: ClientFileOpt = None,
    id: IdOpt = None,
    start: StartOpt = None,
    tz: TzOpt = None,
    weight: WeightOpt = None,
    available: AvailableOpt = None,
    unavailable: UnavailableOpt = None,
    holidays: HolidaysOpt = None,
    prefer: PreferOpt = None,
    clinic: ClinicOpt = None,
    format: Annotated[PlanFormat | None, typer.Option("--format", help="Output format.")] = None,
    output: OutputOpt = None,
    allow_deviations: Annotated[
        bool, typer.Option("--allow-deviations", help="When no plan exists, relax upper bounds and record it.")
    ] = False,
    audience: AudienceOpt = Audience.client,
    privacy: PrivacyOpt = Privacy.standard,
    no_alarms: NoAlarmsOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a plan file that holds history (kept as FILE.bak).")
    ] = False,
    new_series: Annotated[
        bool, typer.Option("--new-series", help="Start a new calendar series instead of continuing the file's.")
    ] = False,
    ledger: LedgerOpt = None,
    alternatives: Annotated[
        bool, typer.Option("--alternatives", help="List the plans to choose from: strict, sooner, regular.")
    ] = False,
    choose: Annotated[
        PlanChoice, typer.Option("--choose", help="Write this alternative instead of the plan (strict).")
    ] = PlanChoice.strict,
) -> None:
    """Make a personalized plan for one client.

    The client comes from --client FILE and/or the flags; a flag replaces the
    file's value, except --unavailable, which adds to the file's dates.
    Without --tz the system zone is used (with a note), without --start
    tomorrow, without --available Mon-Fri 09:00-17:00. Dates come first (the
    earliest the rules allow), then each session's time of day: inside
    --prefer windows (else the clinic's hours_preferred, else Mon-Fri
    09:00-17:00), keeping the step's previous time where possible. Output: a table, or
    --format calendar|json|csv|ics; -o FILE picks the format from its
    extension ('-' is stdout) and is readable by its owner only. When no plan
    exists the exit code is 3 and the report names the session, what blocks
    it, and the nearest later start date that works; --allow-deviations then
    relaxes upper bounds and records every deviation in the plan.

    --ledger FILE plans around the clinic's other bookings in that ledger; with
    -o PLAN.json the plan is booked there as it is written.

    A first dose more than 7 days later than the protocol allows gets a KP401
    note: what pushed it, and how soon it could be with deviations.
    --alternatives lists the plans to choose from (a table, or --format json):
    strict (the plan), sooner (the first dose earlier, with at most two
    deviations), regular (each step on one weekday and time); --choose NAME
    writes one (one with deviations needs --allow-deviations).
    """
    import contextlib

    from kapplan.api import client_from, file_lock, ledger_bookings, load_protocol, make_plan, refuse_input_as_output
    from kapplan.models.errors import UsageError
    from kapplan.render import print_plan_notes

    fmt = output_format(output, format.value if format else None)
    to_file = output not in (None, "-")
    if to_file:
        refuse_input_as_output(str(output), [protocol, client, clinic, ledger])
    changes = _client_changes(id, start, tz, weight, available, unavailable, holidays, prefer)
    if ledger is not None and clinic is None:
        raise UsageError("--ledger books a clinic's people and rooms: give --clinic FILE too")
    if alternatives:
        _alternatives(protocol, client_from(client, changes), clinic, fmt, output, ledger, allow_deviations)
        return
    if fmt == "json" and to_file:
        _plan_file(protocol, client_from(client, changes), clinic, Path(str(output)), ledger=ledger, force=force,
                   new_series=new_series, allow_deviations=allow_deviations, choose=_choice(choose))
        return
    if ledger is not None and to_file:
        raise UsageError(f"{output}: --ledger books the plan file: write it as JSON (-o PLAN.json)")
    with file_lock(str(output)) if to_file else contextlib.nullcontext():
        loaded = load_protocol(protocol)
        busy = ledger_bookings(ledger) if ledger is not None else ()
        result = make_plan(loaded, client_from(client, changes), clinic, allow_deviations=allow_deviations,
                           bookings=busy, choose=_choice(choose))
        print_plan_notes(result)
        emit(render_plan(result, fmt, _choice(audience), _choice(privacy), not no_alarms), output)


def _alternatives(protocol: str, who: "Client", clinic: Path | None, fmt: str, output: str | None,
                  ledger: Path | None, allow_deviations: bool) -> None:
    """plan --alternatives: one line per plan offered, as a table or JSON."""
    from kapplan.api import alternatives, ledger_bookings

    busy = ledger_bookings(ledger) if ledger is not None else ()
    found = alternatives(protocol, who, clinic, allow_deviations=allow_deviations, bookings=busy)
    from kapplan.render import alternatives_text, print_plan_notes

    print_plan_notes(found[0][1])
    if fmt == "json":
        import json

        emit(json.dumps([summary.as_dict() for summary, _ in found], indent=2) + "\n", output)
        return
    emit(alternatives_text([summary for summary, _ in found]), output)


def _plan_file(protocol: str, who: "Client", clinic: Path | None, target: Path, *, ledger: Path | None,
               force: bool, new_series: bool, allow_deviations: bool, choose: Any = "strict") -> None:
    """plan -o PLAN.json: a plan file written as a record (history refused without
    --force, series kept), and booked when it uses a ledger."""
    from kapplan.api import plan_file
    from kapplan.render import print_plan_notes, replan_note

    existed = target.exists()
    result, outcome = plan_file(protocol, who, clinic, target, ledger=ledger, force=force, new_series=new_series,
                                allow_deviations=allow_deviations, warn=_warn, choose=choose)
    print_plan_notes(result)
    if existed:
        sys.stderr.write(replan_note(target, outcome) + "\n")
    if result.booking is not None:
        sys.stderr.write(f"{target}: booked in {result.booking.ledger}\n")


def _warn(message: str) -> None:
    sys.stderr.write(f"kapplan: warning: {message}\n")


def _client_changes(id: str | None, start: str | None, tz: str | None, weight: str | None,
                    available: list[str] | None, unavailable: list[str] | None,
                    holidays: str | None, prefer: list[str] | None = None) -> "ClientChanges":
    from kapplan.api import ClientChanges

    return ClientChanges(id, start, tz, weight, list(available or []), list(unavailable or []), holidays,
                         list(prefer or []))


def render_plan(result: "Plan", fmt: str, audience: "options.Audience", privacy: "options.Privacy",
                alarms: bool) -> bytes | str:
    """One Plan, several outputs."""
    if fmt == "json":
        return result.to_json()
    if fmt == "ics":
        from kapplan.api import calendar

        return calendar(result, audience=audience, privacy=privacy, alarms=alarms)
    if fmt == "csv":
        from kapplan.api import plan_csv

        return plan_csv(result)
    from kapplan import render

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
    from kapplan.api import export_file

    target = None if output in (None, "-") else Path(str(output))
    current, data = export_file(plan_file, target, audience=_choice(audience), privacy=_choice(privacy),
                                alarms=not no_alarms, warn=_warn)
    if target is None:
        emit(data, None)
        return
    sys.stderr.write(f"{target}: {len(current.sessions)} session(s) exported\n")


@app.command()
def handout(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json", help="A plan written by 'kapplan plan'.")],
    output: OutputOpt = None,
    format: Annotated[
        GuideFormat | None, typer.Option("--format", help="html or md (default: from the extension; html).")
    ] = None,
    privacy: Annotated[Privacy, typer.Option(help="How much the guide may show.")] = Privacy.standard,
) -> None:
    """Write the client's printable guide: every visit, how to get ready, whom to call.

    One self-contained HTML file (phone and print), or Markdown (-o guide.md)
    for a clinic's own letters. --privacy as for calendars, except that
    safety text stays: below full, medicine names and doses are replaced
    inside the sentence; minimal names no person. Created owner-only.
    """
    from kapplan.api import handout_file

    target = None if output in (None, "-") else Path(str(output))
    current, text = handout_file(plan_file, target, format=_choice(format) if format else None,
                                 privacy=_choice(privacy), warn=_warn)
    if target is None:
        emit(text, None)
        return
    listed = sum(1 for s in current.sessions if s.status in ("planned", "tentative"))
    sys.stderr.write(f"{target}: a guide to {listed} visit(s) written\n")


@app.command()
def batch(
    roster: Annotated[
        str, typer.Argument(metavar="ROSTER", help="Roster: CSV, JSON Lines or YAML list; '-' for stdin.")
    ],
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Folder for the per-client files.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", metavar="PROTOCOL", help="Default protocol.",
                                                 autocompletion=_complete_protocol)] = None,
    tz: Annotated[str | None, typer.Option("--tz", metavar="ZONE", help="Default time zone.",
                                           autocompletion=_complete_zone)] = None,
    start: Annotated[str | None, typer.Option("--start", metavar="DATE", help="Default start date.")] = None,
    clinic: ClinicOpt = None,
    audience: AudienceOpt = Audience.client,
    privacy: PrivacyOpt = Privacy.standard,
    format: Annotated[str, typer.Option("--format", metavar="KINDS",
                                        help="Files per record: ics, json or ics,json.")] = "ics,json",
    combined: Annotated[Path | None, typer.Option("--combined", metavar="FILE.ics",
                                                  help="One clinic calendar of all records.")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", metavar="N",
                                             min=1, help="Parallel processes (default: CPUs).")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed record.")] = False,
    report: Annotated[TextFormat | None, typer.Option("--report", help="'json': the summary on stdout.")] = None,
    ledger: LedgerOpt = None,
    progress: Annotated[ProgressMode | None, typer.Option(
        "--progress", help="auto: a bar on a terminal, a line every 100 records or 5 s on a pipe.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary line; failures only.")
                     ] = False,
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
    clinic calendar of every record, without alarms. With --clinic (staff or
    rooms) and --ledger FILE, records are booked in the clinic's ledger in
    roster order, each committed before its files are written.

    Progress goes to stderr: a bar with total, percentage and ETA on a
    terminal; elsewhere a line every 100 records or 5 seconds (--progress
    always: also one at the end); -q prints neither, nor the summary line.
    """
    from kapplan.api import batch as run
    from kapplan.models.errors import BatchFailedError
    from kapplan.render import batch_reporter, batch_summary_line
    from kapplan.startup import collect_as_usual

    collect_as_usual()
    folder = out or Path(".")
    mode = _progress_mode(progress, quiet)
    total = None
    if mode == "bar":
        from kapplan.api import count_records

        total = count_records(roster)
    name = "<stdin>" if roster == "-" else roster
    with batch_reporter(name, progress=mode, total=total, final=progress is ProgressMode.always) as reporter:
        summary = run(roster, out=folder, protocol=protocol, tz=tz, start=start, clinic=clinic,
                      audience=_choice(audience), privacy=_choice(privacy), formats=format,
                      combined=combined, jobs=jobs, fail_fast=fail_fast, stdin=sys.stdin.buffer, report=reporter,
                      ledger=ledger)
    if report == TextFormat.json:
        sys.stdout.buffer.write(summary.path.read_bytes())
        sys.stdout.buffer.flush()
    if summary.fault is not None:
        raise summary.fault
    if summary.failed:
        stop = "; stopped at the first (--fail-fast)" if summary.stopped else ""
        raise BatchFailedError(
            f"{summary.failed} of {summary.records} record(s) failed{stop}; {summary.ok} planned "
            f"({', '.join(f'{n} {what}' for what, n in summary.outcomes.items())}; see {summary.path})"
        )
    if report != TextFormat.json and not quiet:
        batch_summary_line(summary, folder)


def _progress_mode(chosen: "ProgressMode | None", quiet: bool) -> str:
    """bar on a terminal (never with NO_COLOR), lines elsewhere; none when quiet or --progress never."""
    import os

    if quiet or chosen is ProgressMode.never:
        return "none"
    terminal = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    return "bar" if terminal else "lines"


@app.command()
def mark(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="Session key (medicine-3) or task key (phq9-2).",
                                       autocompletion=_complete_key)],
    status: Annotated[
        MarkStatus, typer.Argument(metavar="done|missed|cancelled|skipped", help="What happened.")
    ],
    at: Annotated[
        str | None, typer.Option("--at", metavar="TIME",
                                 help="Actual start: ISO 8601, or local time in the client's zone.")
    ] = None,
    format: FormatOpt = TextFormat.text,
    ledger: LedgerOpt = None,
) -> None:
    """Record what happened to a session or a questionnaire task.

    done: it took place (--at: its actual start; ISO 8601 with an offset, or a
    local time such as '2026-12-14 10:30' in the client's zone). missed or
    cancelled: it did not; 'kapplan reschedule' plans the occurrence again.
    A task (phq9-2) is done or skipped. A tentative session cannot be marked
    done before its gate; marking the gate done confirms the sessions waiting
    for it (export the calendar again afterwards).
    A booked plan's ledger follows: missed and cancelled sessions free their
    people and room.
    """
    from kapplan.api import mark_file

    outcome = mark_file(plan_file, key, _choice(status), at=at, ledger=ledger, warn=_warn)
    if format is TextFormat.json:
        from kapplan.api import mark_document

        _print_document(mark_document(outcome, key, plan_file))
    sys.stderr.write(f"{outcome.message}\n")
    for warning in outcome.warnings:
        sys.stderr.write(f"deviation: {warning}\n")


@app.command()
def status(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    format: FormatOpt = TextFormat.text,
) -> None:
    """Show a plan with statuses, what is next, and deviations."""
    from kapplan.api import read_booked_plan
    from kapplan.api import status as status_of

    current, warnings = read_booked_plan(plan_file)
    for warning in warnings:
        _warn(warning)
    report = status_of(current)
    if format is TextFormat.json:
        from kapplan.api import status_document

        _print_document(status_document(current, report, plan_file))
        return
    from kapplan.render import status_text

    sys.stdout.write(status_text(current, report))


def _print_document(document: Any) -> None:
    """A --format json document (a pydantic model; its schema is in 'kapplan schema')."""
    sys.stdout.write(document.model_dump_json(indent=2) + "\n")


@app.command()
def reschedule(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    from_: Annotated[
        str | None, typer.Option("--from", metavar="DATE", help="Re-plan sessions from this date (default: today).")
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
    format: FormatOpt = TextFormat.text,
    ledger: LedgerOpt = None,
) -> None:
    """Re-plan the remaining sessions after what happened.

    Done sessions stay where they happened; missed and cancelled occurrences
    and every later session are planned again from --from (default: today).
    Client flags change the embedded client (--unavailable adds dates).
    """
    from kapplan.api import reschedule_file
    from kapplan.render import print_deviations, reschedule_text

    changes = _client_changes(None, start, tz, weight, available, unavailable, holidays)
    outcome = reschedule_file(plan_file, dry_run=dry_run, changes=changes, clinic=clinic, from_date=from_,
                              allow_deviations=allow_deviations, ledger=ledger, warn=_warn)
    if format is TextFormat.json:
        from kapplan.api import reschedule_document

        _print_document(reschedule_document(outcome, plan_file, dry_run=dry_run))
    else:
        sys.stdout.write(reschedule_text(outcome))
    if outcome.note:
        sys.stderr.write(outcome.note + "\n")
    print_deviations(outcome.plan)
    if dry_run:
        sys.stderr.write("dry run: the plan file was not changed\n")
    elif outcome.changed:
        sys.stderr.write(f"{plan_file}: {len(outcome.changes)} session(s) changed; the previous plan is in "
                         f"{plan_file.name}.bak\n")


class AgendaFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    ics = "ics"


@app.command()
def agenda(
    ledger: Annotated[Path, typer.Option("--ledger", metavar="FILE", help="The clinic's booking ledger.")],
    from_: Annotated[str | None, typer.Option("--from", metavar="DATE",
                                              help="First day (default: today, clinic time).")] = None,
    days: Annotated[int, typer.Option("--days", metavar="N", help="How many days.")] = 7,
    staff: Annotated[str | None, typer.Option("--staff", metavar="NAME",
                                              help="Only this person's sessions (staff id).")] = None,
    room: Annotated[str | None, typer.Option("--room", metavar="ROOM",
                                             help="Only this room's sessions (room id).")] = None,
    format: Annotated[AgendaFormat | None, typer.Option("--format", help="Output format.")] = None,
    output: OutputOpt = None,
    privacy: Annotated[Privacy, typer.Option(help="How much the ics calendar may show.")] = Privacy.standard,
) -> None:
    """A clinic's booked sessions by day, for one person or room.

    Read from the ledger: times in the clinic's zone; missed and cancelled
    sessions are not listed (they hold no one). --format json lists each
    booking (series, client, key, start, end, assigned, room, status,
    plan_file); --format ics with --staff ID or --room ID is that person's or
    room's calendar to subscribe to (client ids only, no names or doses). A
    series whose plan file is missing or differs from what the ledger
    committed is flagged on stderr and in the output.
    """
    import json

    from kapplan.api import agenda as read_agenda
    from kapplan.api import agenda_calendar

    chosen = output_format(output, format.value if format else None)
    found = read_agenda(ledger, from_date=from_, days=days, staff=staff, room=room)
    for series, state in sorted(found.flagged.items()):
        record = found.series[series]
        what = "is missing" if state == "missing" else "differs from what the ledger committed"
        _warn(f"series {series} (client {record.client}): its plan file {record.plan_path} {what}; "
              f"'kapplan ledger sync PLAN' or 'kapplan ledger release {series} --ledger {ledger}' reconciles it")
    if chosen == "ics":
        _emit_stream(agenda_calendar(found, privacy=_choice(privacy)), output)
        return
    if chosen == "json":
        from kapplan.api import agenda_json

        emit(json.dumps(agenda_json(found), indent=2) + "\n", output)
    elif chosen == "csv":
        from kapplan.api import agenda_csv

        emit(agenda_csv(found), output)
    else:
        from kapplan.render import agenda_table_text

        emit(agenda_table_text(found), output)


def _emit_stream(pieces: "Iterator[bytes]", output: str | None) -> None:
    """A calendar written piece by piece: to stdout, or atomically to a file."""
    if output in (None, "-"):
        sys.stdout.flush()
        for piece in pieces:
            sys.stdout.buffer.write(piece)
        sys.stdout.flush()
        return
    from kapplan.api import write_stream

    write_stream(str(output), pieces)


ledger_app = typer.Typer(
    cls=TyperGroup, rich_markup_mode=None, no_args_is_help=True, add_completion=False,
    help="Reconcile plan files with the clinic's booking ledger.",
)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("sync")
def ledger_sync(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="A booked plan file.")],
    ledger: Annotated[
        Path | None, typer.Option("--ledger", metavar="FILE", help="Book a plan that is not booked yet in this ledger.")
    ] = None,
    format: Annotated[TextFormat, typer.Option("--format", help="Output format.")] = TextFormat.text,
) -> None:
    """Adopt a plan file's sessions as its series' bookings.

    For a file the ledger refuses (edited by hand, restored from a backup, a
    command interrupted): every session is re-checked against the other
    series' bookings first; a conflict is refused (exit 1) and named.
    """
    from kapplan.api import ledger_sync as sync

    outcome = sync(plan_file, ledger=ledger, warn=_warn)
    if format is TextFormat.json:
        import json

        sys.stdout.write(json.dumps(outcome.as_dict(), indent=2) + "\n")
        return
    released = f"; released series {', '.join(outcome.released)}" if outcome.released else ""
    sys.stderr.write(f"{plan_file}: series {outcome.series} holds {outcome.bookings} booking(s) in "
                     f"{outcome.ledger}{released}\n")


@ledger_app.command("release")
def ledger_release(
    series: Annotated[str, typer.Argument(metavar="SERIES", help="The series id (a plan's 'series').")],
    ledger: Annotated[Path, typer.Option("--ledger", metavar="FILE", help="The ledger holding the series.")],
    format: Annotated[TextFormat, typer.Option("--format", help="Output format.")] = TextFormat.text,
) -> None:
    """Drop a series' bookings from the ledger (its people and rooms become free).

    The plan file is left as it is; 'kapplan reschedule PLAN' books it again.
    """
    from kapplan.api import ledger_release as release

    count, plan_path = release(series, ledger=ledger)
    if format is TextFormat.json:
        import json

        sys.stdout.write(json.dumps({"series": series, "ledger": str(ledger), "released": count,
                                     "plan": plan_path}, indent=2) + "\n")
        return
    sys.stderr.write(f"series {series}: {count} booking(s) released from {ledger} (plan file {plan_path})\n")


@app.command()
def decide(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="The decision session's key, e.g. induction-review-1.")],
    option: Annotated[str, typer.Argument(metavar="OPTION", help="One of the decision's options.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be planned without writing.")] = False,
    format: Annotated[TextFormat, typer.Option("--format", help="Output format.")] = TextFormat.text,
    allow_deviations: Annotated[
        bool, typer.Option("--allow-deviations", help="When no strict plan exists, relax upper bounds and record it.")
    ] = False,
    ledger: LedgerOpt = None,
) -> None:
    """Record a decision and plan the branch it chooses.

    Allowed once the decision session is marked done, and only once. The
    chosen branch's steps are placed right after the decision session, then
    the schedule steps that follow it; sessions that already exist keep their
    keys (calendar UIDs), the history records the choice, and the previous
    file is kept as PLAN.json.bak. A booked plan books the new sessions in its
    ledger. Export the calendar again afterwards.
    """
    from kapplan.api import decide_document, decide_file
    from kapplan.render import decide_text, print_deviations

    outcome = decide_file(plan_file, key, option, dry_run=dry_run, allow_deviations=allow_deviations,
                          ledger=ledger, warn=_warn)
    if format is TextFormat.json:
        sys.stdout.write(decide_document(outcome, plan_file, dry_run=dry_run).model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(decide_text(outcome))
        print_deviations(outcome.plan)
    if dry_run:
        sys.stderr.write("dry run: the plan file was not changed\n")
    else:
        sys.stderr.write(f"{plan_file}: {key} decided '{option}', {len(outcome.changes)} session(s) planned or "
                         f"moved; the previous plan is in {plan_file.name}.bak; export the calendar again\n")


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Argument(
        metavar="KIND", help="protocol, client, clinic, plan; or the JSON output of status, mark, reschedule, "
        "decide, batch-summary, agenda, ledger-sync, ledger-release.")],
) -> None:
    """Print the JSON Schema of a file type (for editor integration)."""
    import json

    from kapplan.api import schema as schema_of

    sys.stdout.write(json.dumps(schema_of(_choice(kind)), indent=2, ensure_ascii=False) + "\n")


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
    from kapplan.api import rules as all_rules

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


def _unwind_on_termination() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C: every temporary file is removed,
    batch workers are stopped, and the exit code is 143 or 129."""
    import signal

    from kapplan.models.errors import Terminated
    from kapplan.models.interrupts import interrupt  # imported now: a handler must not import

    def terminated(number: int, _frame: object) -> None:
        for name in ("SIGTERM", "SIGHUP"):  # cleaning up must not be cut short by a second signal
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        _state["signal"] = number
        interrupt(Terminated(number))

    def interrupted(_number: int, _frame: object) -> None:
        interrupt(KeyboardInterrupt())

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), terminated)
    signal.signal(signal.SIGINT, interrupted)


class _ClosedOutput:
    """Standard output when the process was started without one: writing to it
    is an environment failure (exit 2), not an internal error."""

    def write(self, _data: str) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    @property
    def buffer(self) -> "_ClosedOutput":
        return self

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


EXAMPLES = {
    "validate": ["kapplan validate my-protocol.yaml client.yaml", "kapplan validate protocols/*.yaml --format json"],
    "protocols": ["kapplan protocols", "kapplan protocols --format json"],
    "show": ["kapplan show iv-ketamine-trd", "kapplan show my-protocol.yaml"],
    "plan": ["kapplan plan iv-ketamine-trd --id C-0042 --start 2026-12-07 --tz America/New_York --weight '72 kg'",
             "kapplan plan journey-sl-kap --client client.yaml -o plan.json",
             "kapplan plan journey-sl-kap --client client.yaml -o plan.json --force   # over a plan with history"],
    "export": ["kapplan export plan.json -o sessions.ics",
               "kapplan export plan.json -o clinic.ics --audience clinic --privacy full"],
    "handout": ["kapplan handout plan.json -o guide.html"],
    "batch": ["kapplan batch roster.csv --out calendars/ --combined clinic.ics",
              "kapplan batch roster.csv --out calendars/ --report json -q   # again: kept, replanned or new"],
    "mark": ["kapplan mark plan.json infusion-1 done --at '2026-12-08 09:30'",
             "kapplan mark plan.json infusion-2 missed --format json"],
    "status": ["kapplan status plan.json", "kapplan status plan.json --format json"],
    "reschedule": ["kapplan reschedule plan.json --dry-run", "kapplan reschedule plan.json --from 2026-12-14"],
    "agenda": ["kapplan agenda --ledger clinic.db"],
    "ledger_sync": ["kapplan ledger sync plan.json --ledger clinic.db"],
    "ledger_release": ["kapplan ledger release SERIES --ledger clinic.db"],
    "schema": ["kapplan schema protocol > protocol.schema.json", "kapplan schema status"],
    "rules": ["kapplan rules", "kapplan rules KP302 KP308"],
}
"""Examples shown at the end of each command's --help (tests check every command has some)."""


def _add_examples() -> None:
    """Each command's examples as the epilog of its help ('\b' keeps click from rewrapping them)."""
    for info in [*app.registered_commands, *ledger_app.registered_commands]:
        lines = EXAMPLES.get(getattr(info.callback, "__name__", ""), [])
        if lines and info.epilog is None:
            info.epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


_add_examples()


def main() -> None:
    """Console-script entry point."""
    from kapplan.startup import before_exit, tune_short_run

    tune_short_run()
    if sys.stdout is None:  # started with standard output closed (`kapplan ... >&-`)
        sys.stdout = _ClosedOutput()
    try:
        _unwind_on_termination()
        try:
            app(prog_name="kapplan")
        except SystemExit:
            _exit_for_signal()
            raise
    except KeyboardInterrupt:  # a signal that landed outside a command (before or after Click ran it)
        _exit_for_signal()
        raise SystemExit(130) from None
    finally:
        _ignore_late_signals()
        before_exit()


def _ignore_late_signals() -> None:
    """The command is over and its files are in place: a signal now must not
    raise into the interpreter's shutdown."""
    import signal

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _exit_for_signal() -> None:
    """A SIGTERM or SIGHUP that Click met outside a command (while parsing, as an
    Abort) still removes unfinished files and exits 128 + its number."""
    number = _state.get("signal")
    if isinstance(number, int) and number:
        from kapplan.api import remove_unfinished_files

        remove_unfinished_files()
        raise SystemExit(128 + number)
