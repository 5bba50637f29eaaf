"""kapplan's Python API: every job of the command line as one typed function.

The command line (``kapplan.cli``) and batch mode call only this module, so a
script gets exactly what a terminal user gets: the same defaults, the same
checks and the same errors (every failure is a ``KapplanError`` carrying its
exit code; see ``docs/api.md``). Nothing here prints or exits.

Heavy modules are imported inside each function: a command imports only
what its job uses, which keeps start-up fast (SPEC §9).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from kapplan.models.options import Audience, GuideFormat, MarkStatus, PlanChoice, Privacy, SchemaKind

if TYPE_CHECKING:
    from kapplan.batch import BatchSummary, RecordResult
    from kapplan.engine import BusyIndex
    from kapplan.ledger.agenda import Agenda
    from kapplan.ledger.booking import Booker
    from kapplan.ledger.sync import SyncOutcome
    from kapplan.lifecycle.decide import DecideOutcome
    from kapplan.lifecycle.mark import MarkOutcome
    from kapplan.lifecycle.records import Replan
    from kapplan.lifecycle.reschedule import RescheduleOutcome
    from kapplan.lifecycle.status import StatusReport
    from kapplan.lint.checks import ValidationReport
    from kapplan.lint.registry import Rule
    from kapplan.lint.shape import ProtocolSummary, ShapePoint
    from kapplan.models.booking import Booking
    from kapplan.models.changes import ClientChanges
    from kapplan.models.client import Client, Clinic
    from kapplan.models.plan import Plan
    from kapplan.models.protocol import LoadedProtocol, Protocol
    from kapplan.models.reports import DecideOutput, MarkOutput, RescheduleOutput, StatusOutput
    from kapplan.planning.choices import Summary



# --------------------------------------------------------------------------- protocols and files


def load_protocol(source: str | Path, *, base: Path | None = None) -> LoadedProtocol:
    """A protocol file, or the id of a bundled protocol, checked and linted.

    Raises InputError (exit 1) when the file has any lint error, UsageError
    (exit 2) when it cannot be read or no such protocol exists."""
    from kapplan.lint.checks import load_protocol as load

    return load(source, base)


def load_client(path: str | Path, *, defaults: dict[str, object] | None = None) -> Client:
    """A client profile; ``defaults`` fill keys the file leaves out."""
    from kapplan.io.readers import load_client as load

    return load(path, defaults)


def load_clinic(path: str | Path) -> Clinic:
    """A clinic file (hours, closures, holidays, location)."""
    from kapplan.io.readers import load_clinic as load

    return load(path)


def validate(paths: Iterable[str | Path], *, strict: bool = False) -> ValidationReport:
    """Lint protocol, client and clinic files: every problem of every file.

    Never raises for a bad file: the report holds each file's diagnostics (or
    why it was unreadable) and the exit code; ``report.raise_for_errors()``
    turns a failure into a ValidationFailed error."""
    from kapplan.lint.checks import check_paths

    return check_paths(paths, strict=strict)


def list_protocols() -> list[ProtocolSummary]:
    """The bundled protocols, by id: version, title, path, sessions and span."""
    from kapplan.io.bundled import bundled_paths
    from kapplan.lint.shape import summarize

    return [summarize(load_protocol(path), name) for name, path in bundled_paths().items()]


def earliest_shape(protocol: Protocol) -> list[ShapePoint]:
    """Every session at its earliest day after the first (each gap, after and
    offset at its minimum; availability ignored): what ``show`` draws."""
    from kapplan.lint.shape import earliest_shape as shape

    return shape(protocol)


def branch_shapes(protocol: Protocol) -> list[tuple[str, list[ShapePoint]]]:
    """Each complete branch path of a protocol with decisions (SPEC §13), named by its
    choices (``induction-review-1=weekly``), with its earliest shape: what ``show`` draws."""
    from kapplan.lint.registry import branch_paths
    from kapplan.lint.shape import earliest_shape as shape

    return [(path.label(), shape(path.protocol)) for path in branch_paths(protocol)]


def rules() -> dict[str, Rule]:
    """The lint rules by code: severity, summary and rationale."""
    from kapplan.lint.registry import all_rules

    return all_rules()


def schema(kind: SchemaKind) -> dict[str, Any]:
    """The JSON Schema of a file type, for editors."""
    from kapplan.models.schema import json_schema

    return json_schema(kind)


# --------------------------------------------------------------------------- planning


def client_from(
    path: str | Path | None = None, changes: ClientChanges | None = None, *, default_id: str = "client"
) -> Client:
    """The client of a plan: a profile file (optional) with ``changes`` applied.

    Each change replaces the file's value, except ``unavailable``, which adds
    to its dates. Zone and start may stay unset: ``make_plan`` fills them."""
    from kapplan.models.changes import ClientChanges
    from kapplan.planning.clients import merge_client

    changes = changes or ClientChanges()
    base = load_client(path, defaults={"id": changes.id}) if path is not None else None
    return merge_client(base, changes, default_id=default_id)


def make_plan(
    protocol: LoadedProtocol | str | Path,
    client: Client,
    clinic: Clinic | str | Path | None = None,
    *,
    now: datetime | None = None,
    allow_deviations: bool = False,
    reproducible: bool | None = None,
    bookings: Sequence[Booking] | BusyIndex = (),
    choose: PlanChoice = "strict",
) -> Plan:
    """Plan one client's series under a protocol (SPEC §2).

    ``bookings``: other series' bookings in ``clinic`` (SPEC §11), busy time
    for its staff and rooms when the clinic lists them (or a ``BusyIndex`` of
    them that a caller planning many clients grows as it books).

    ``now`` (aware; default: the current time, or SOURCE_DATE_EPOCH when set)
    is the plan's ``created`` and decides the default start (tomorrow in the
    client's zone). A client without a zone gets the system's, with a note in
    the plan's warnings. ``reproducible`` (default: SOURCE_DATE_EPOCH is set)
    derives the series id from client, protocol and ``created``.

    ``choose``: one of the alternatives of SPEC §12 instead of the plan
    (``strict``); UsageError when that alternative does not exist, or has
    deviations and ``allow_deviations`` is not set.

    Raises InfeasibleError (exit 3) when no plan exists or the search limit is
    reached; InputError (exit 1) for a client the protocol cannot use."""
    from kapplan.planning.build import make_plan as build

    moment, loaded, site, resolved, notes, reproducible = _planning_inputs(protocol, client, clinic, now,
                                                                           reproducible)
    return build(loaded, resolved, site, now=moment, allow_deviations=allow_deviations,
                 reproducible=reproducible, notes=notes, bookings=bookings, choose=choose)


def alternatives(
    protocol: LoadedProtocol | str | Path,
    client: Client,
    clinic: Clinic | str | Path | None = None,
    *,
    now: datetime | None = None,
    allow_deviations: bool = False,
    reproducible: bool | None = None,
    bookings: Sequence[Booking] | BusyIndex = (),
) -> list[tuple[Summary, Plan]]:
    """The plans of ``plan --alternatives`` (SPEC §12): ``strict`` (the plan), ``sooner``
    (when the first dose is delayed and a plan with at most two deviations doses
    earlier), ``regular`` (each step on one weekday and time, when it ends within 14
    days of the strict plan and is more regular), each with its summary line."""
    from kapplan.planning.build import make_plans
    from kapplan.planning.choices import summarize

    moment, loaded, site, resolved, notes, reproducible = _planning_inputs(protocol, client, clinic, now,
                                                                           reproducible)
    plans = make_plans(loaded, resolved, site, now=moment, allow_deviations=allow_deviations,
                       reproducible=reproducible, notes=notes, bookings=bookings)
    from kapplan.planning.build import build_request

    request = build_request(loaded.protocol, resolved, site)
    return [(summarize(name, plan, request), plan) for name, plan in plans.items()]


def _planning_inputs(protocol: LoadedProtocol | str | Path, client: Client, clinic: Clinic | str | Path | None,
                     now: datetime | None, reproducible: bool | None
                     ) -> tuple[datetime, LoadedProtocol, Clinic | None, Client, list[Any], bool]:
    """The moment, protocol, clinic and resolved client (zone and start filled) of a plan."""
    from zoneinfo import ZoneInfo

    from kapplan.clock import reproducible_epoch, system_zone_name
    from kapplan.planning.clients import resolve_client, usable_zone

    moment = _aware_now(now)
    loaded = protocol if not isinstance(protocol, str | Path) else load_protocol(protocol)
    site = load_clinic(clinic) if isinstance(clinic, str | Path) else clinic
    zone = client.timezone or usable_zone(system_zone_name())
    today = moment.astimezone(ZoneInfo(zone)).date()
    resolved, notes = resolve_client(client, today=today, system_zone=zone)
    if reproducible is None:
        reproducible = reproducible_epoch() is not None
    return moment, loaded, site, resolved, list(notes), reproducible


def _aware_now(now: datetime | None) -> datetime:
    """The moment a job happens: given (and aware), or the clock's."""
    from kapplan.clock import current_time
    from kapplan.models.errors import UsageError

    if now is None:
        return current_time()
    if now.tzinfo is None or now.utcoffset() is None:
        raise UsageError("now must be an aware datetime (with a time zone), e.g. datetime.now(UTC)")
    return now


# --------------------------------------------------------------------------- outputs


def calendar(plan: Plan, *, audience: Audience = "client", privacy: Privacy = "standard",
             alarms: bool = True) -> bytes:
    """The plan as an iCalendar file (SPEC §8): ``privacy`` caps what it shows."""
    from kapplan.export.ics import plan_to_ics

    return plan_to_ics(plan, audience=audience, privacy=privacy, alarms=alarms)


def plan_csv(plan: Plan) -> str:
    """One row per session, local dates and times in the client's zone."""
    from kapplan.export.csv_rows import plan_to_csv

    return plan_to_csv(plan)


def read_plan(path: str | Path) -> Plan:
    """A plan file, fully checked (InputError with located diagnostics when it is not one)."""
    from kapplan.io.plan_files import read_plan as read

    return read(path)


def write_plan(plan: Plan, path: str | Path, *, keep_backup: bool = False) -> None:
    """Write a plan atomically, readable by its owner only (``keep_backup``: the
    file it replaces becomes ``PLAN.json.bak``)."""
    from kapplan.io.plan_files import write_plan as write

    write(path, plan, keep_backup=keep_backup)


def save_plan(plan: Plan, path: str | Path, *, force: bool = False, new_series: bool = False) -> Replan | None:
    """``plan -o PLAN.json``: write a plan file without losing a record (SPEC §14).

    Over a plan that holds history (a mark, a reschedule, a decision) this
    raises InputError (exit 1) unless ``force``. Over a plan of the same client
    id and protocol id it keeps the old ``series`` (so calendar UIDs), bumps
    ``sequence`` where a time or status changed and keeps vanished sessions as
    cancelled; ``new_series`` starts a new series instead. Every overwrite keeps
    the previous file as ``PLAN.json.bak``. Returns what was carried over, or
    None when no file was there (or it was not a plan).

    The file is locked from the read to the write (``file_lock``)."""
    with file_lock(path) as target:
        return _save_over(plan, target, force=force, new_series=new_series)


def _save_over(plan: Plan, target: Path, *, force: bool, new_series: bool) -> Replan | None:
    """``save_plan`` once the file is held."""
    from kapplan.io.plan_files import plan_on_disk
    from kapplan.lifecycle.records import carry_over

    old = plan_on_disk(target)
    if old is None:
        write_plan(plan, target, keep_backup=target.exists())
        return None
    _refuse_history(old, target, force)
    outcome = carry_over(old, plan, new_series=new_series)
    write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def _refuse_history(old: Plan, target: Path, force: bool) -> None:
    """A plan file that records what happened is not replaced without ``force``."""
    from kapplan.lifecycle.records import has_history
    from kapplan.models.errors import InputError

    if has_history(old) and not force:
        raise InputError([], (
            f"{target}: this plan holds history ({len(old.history)} recorded change(s): marks, reschedules or "
            "decisions) that a new plan would lose; use 'kapplan reschedule' to re-plan what remains, "
            "another -o FILE, or --force to replace it (the old file is then kept as "
            f"{target.name}.bak)"))


def write_output(path: str | Path, data: bytes | str, *, private: bool = True) -> None:
    """Any output file, atomically: nothing half-written is ever left behind."""
    from kapplan.io.files import write_file

    write_file(Path(path), data, private=private)


def write_stream(path: str | Path, pieces: Iterable[bytes], *, private: bool = True) -> None:
    """An output written piece by piece (a calendar too large to hold), atomically."""
    from kapplan.io.files import atomic_output
    from kapplan.models.errors import UsageError

    target = Path(path)
    if not target.parent.is_dir():
        raise UsageError(f"{target}: cannot be written: the folder {target.parent} does not exist")
    try:
        with atomic_output(target, private=private) as handle:
            for piece in pieces:
                handle.write(piece)
    except OSError as err:
        raise UsageError(f"{target}: cannot be written ({err.strerror or 'write failed'})") from None


def refuse_input_as_output(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Raise UsageError (exit 2) when ``output`` names the same file as one of
    ``inputs`` (resolved path or inode; a bundled protocol id names no file)."""
    from kapplan.io.files import refuse_input_as_output as refuse

    refuse(output, [source for source in inputs if source is not None and Path(source).exists()])


def remove_unfinished_files() -> None:
    """After an interruption (Ctrl-C, SIGTERM, SIGHUP): delete every temporary
    file this process was still writing. Each write cleans up after itself;
    this also catches a signal that arrived between two of its steps."""
    from kapplan.io.files import remove_unfinished

    remove_unfinished()


@contextlib.contextmanager
def file_lock(path: str | Path, *, wait: float | None = None) -> Iterator[Path]:
    """Hold a file that will be read and then replaced, against other kapplan
    processes (SPEC §14); yields the real file to read and write (symbolic
    links followed). A second holder waits up to ``wait`` seconds (default
    ``KAPPLAN_LOCK_WAIT`` or 30), then gets a UsageError (exit 2) naming the
    busy file. The same process may take it again while holding it."""
    from kapplan.io.locks import file_lock as lock

    with lock(path, wait=wait) as target:
        yield target


def export_file(plan_path: str | Path, output: str | Path | None = None, *, audience: Audience = "client",
                privacy: Privacy = "standard", alarms: bool = True,
                warn: Callable[[str], None] | None = None) -> tuple[Plan, bytes]:
    """``kapplan export``: the calendar of a plan file, written to ``output`` when given.

    The output must be named ``.ics`` and may not be the plan file itself. A
    booked plan is checked against its ledger first (``read_booked_plan``)."""
    from kapplan.models.errors import UsageError

    target = None if output is None else Path(output)
    if target is not None and target.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"{target}: export writes iCalendar; name the output FILE.ics, or '-' for stdout")
    if target is not None:
        from kapplan.io.files import same_file

        if same_file(target, plan_path):
            raise UsageError(f"{target}: that is the plan file itself; choose another output file")
    current, warnings = read_booked_plan(plan_path)
    _tell(warn, warnings)
    data = calendar(current, audience=audience, privacy=privacy, alarms=alarms)
    if target is not None:
        write_output(target, data)
    return current, data


def handout(plan: Plan, *, format: GuideFormat = "html", privacy: Privacy = "standard") -> str:
    """The client's printable guide (SPEC §12): every visit's date, local time,
    place or link, purpose, length, what to do before and after, and whom to
    contact (the urgent line first). ``privacy`` as for calendars, except that
    safety text is kept: below ``full`` medication words and doses are replaced
    inside the sentence."""
    from kapplan.export.guide import build_guide
    from kapplan.export.guide_render import render_guide

    if format not in ("html", "md"):
        from kapplan.models.errors import UsageError

        raise UsageError("the guide's format must be html or md")
    return render_guide(build_guide(plan, privacy), format)


def handout_file(plan_path: str | Path, output: str | Path | None = None, *, format: GuideFormat | None = None,
                 privacy: Privacy = "standard", warn: Callable[[str], None] | None = None) -> tuple[Plan, str]:
    """``kapplan handout``: the guide of a plan file, written to ``output`` when given.

    The format follows the output's extension (``.html``/``.htm``, ``.md``/
    ``.markdown``) unless ``format`` says otherwise; without an output it is HTML.
    A booked plan is checked against its ledger first (``read_booked_plan``)."""
    from kapplan.models.errors import UsageError

    target = None if output is None else Path(output)
    if target is not None:
        from kapplan.io.files import same_file

        if same_file(target, plan_path):
            raise UsageError(f"{target}: that is the plan file itself; choose another output file")
    chosen = format or _guide_format(target)
    current, warnings = read_booked_plan(plan_path)
    _tell(warn, warnings)
    text = handout(current, format=chosen, privacy=privacy)
    if target is not None:
        write_output(target, text)
    return current, text


def _guide_format(target: Path | None) -> GuideFormat:
    from kapplan.models.errors import UsageError

    suffix = ".html" if target is None else target.suffix.lower()
    formats: dict[str, GuideFormat] = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}
    if suffix in formats:
        return formats[suffix]
    raise UsageError(f"{target}: the guide is HTML or Markdown; name the output FILE.html or FILE.md "
                     "(or give --format)")


# --------------------------------------------------------------------------- after the series starts


def mark(plan: Plan, key: str, status: MarkStatus, *, at: datetime | str | None = None,
         now: datetime | None = None) -> MarkOutcome:
    """Record what happened to one session. ``at`` is the actual start of a done
    one: aware, or a local time (text such as '2026-12-14 10:30', or a naive
    datetime) read in the client's zone, where a time that does not exist or
    occurs twice is refused."""
    from kapplan.lifecycle.mark import mark_session
    from kapplan.lifecycle.times import parse_actual_start, plan_zone, strict_local

    zone = plan_zone(plan)
    moment: datetime | None
    if isinstance(at, str):
        moment = parse_actual_start(at, zone)
    else:
        moment = strict_local(at, zone) if at is not None and at.tzinfo is None else at
    command = f"mark {key} {status}" + (f" --at {moment.isoformat()}" if moment else "")
    return mark_session(plan, key, status, now=_aware_now(now), at=moment, command=command)


def mark_file(path: str | Path, key: str, status: MarkStatus, *, at: datetime | str | None = None,
              now: datetime | None = None, ledger: str | Path | None = None,
              warn: Callable[[str], None] | None = None) -> MarkOutcome:
    """``kapplan mark``: mark a session in a plan file, keeping the previous file as ``.bak``.

    The file is locked from the read to the write (``file_lock``): a mark or
    reschedule running at the same time waits, then works on this change. A
    booked plan's bookings follow in its ledger (a missed or cancelled session
    frees its people and room); ``ledger`` books an unbooked plan."""
    import dataclasses

    from kapplan.models.errors import ExitCode

    moment = _aware_now(now)
    with file_lock(path) as target:
        current, data = _read_plan_and_bytes(target)
        with _booking(target, current, data, ledger, moment, warn) as booker:
            outcome = mark(current, key, status, at=at, now=moment)
            if booker is not None and (outcome.changed or booker.unbooked):
                booked, _ = booker.stage(outcome.plan, conflict_exit=ExitCode.INVALID_INPUT)
                outcome = dataclasses.replace(outcome, plan=booked, changed=True)
        if outcome.changed:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def status(plan: Plan, *, now: datetime | None = None) -> StatusReport:
    """What is next, which sessions await a mark, deviations so far and still planned."""
    from kapplan.lifecycle.status import plan_status

    return plan_status(plan, _aware_now(now))


def reschedule(
    plan: Plan,
    *,
    changes: ClientChanges | None = None,
    clinic: Clinic | str | Path | None = None,
    from_date: date | str | None = None,
    allow_deviations: bool = False,
    now: datetime | None = None,
    bookings: Sequence[Booking] = (),
) -> RescheduleOutcome:
    """Re-plan the sessions that have not happened, relative to those that did.

    ``changes`` apply to the plan's embedded client (``unavailable`` adds);
    ``clinic`` replaces its clinic; sessions from ``from_date`` (default:
    today) are planned again. A strict re-plan that would need deviations
    raises DeviationsNeededError naming them, unless ``allow_deviations``.
    ``bookings``: other series' bookings in the clinic, busy time (SPEC §11)."""
    from kapplan.lifecycle.reschedule import reschedule_plan
    from kapplan.models.changes import ClientChanges
    from kapplan.planning.clients import merge_client
    from kapplan.planning.embedded import client_of, clinic_of

    changes = changes or ClientChanges()
    day = _date_option("--from", from_date)
    site = load_clinic(clinic) if isinstance(clinic, str | Path) else clinic
    return reschedule_plan(
        plan, now=_aware_now(now), client=merge_client(client_of(plan), changes),
        clinic=site if clinic is not None else clinic_of(plan), from_date=day,
        allow_deviations=allow_deviations, command=_reschedule_command(day, changes, clinic, allow_deviations),
        bookings=bookings,
    )


def reschedule_file(
    path: str | Path,
    *,
    dry_run: bool = False,
    changes: ClientChanges | None = None,
    clinic: Clinic | str | Path | None = None,
    from_date: date | str | None = None,
    allow_deviations: bool = False,
    now: datetime | None = None,
    ledger: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> RescheduleOutcome:
    """``kapplan reschedule``: re-plan a plan file (the options as ``reschedule``);
    the previous file is kept as ``.bak``, and ``dry_run`` writes nothing. The
    file is locked from the read to the write, as for ``mark_file``. A booked
    plan (or, with ``ledger``, one to book) is re-planned around the other
    series' bookings and its own are replaced in the same transaction."""
    import dataclasses

    moment = _aware_now(now)
    with file_lock(path) as target:
        current, data = _read_plan_and_bytes(target)
        with _booking(target, current, data, ledger, moment, warn) as booker:
            busy = booker.busy(current.series) if booker is not None else ()
            outcome = reschedule(current, changes=changes, clinic=clinic, from_date=from_date,
                                 allow_deviations=allow_deviations, now=moment, bookings=busy)
            booking_now = booker is not None and booker.unbooked
            if booker is not None and not dry_run and (outcome.changed or booking_now):
                booked, _ = booker.stage(outcome.plan)
                outcome = dataclasses.replace(outcome, plan=booked)
        if (outcome.changed or booking_now) and not dry_run:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def decide(plan: Plan, key: str, option: str, *, allow_deviations: bool = False, now: datetime | None = None,
           bookings: Sequence[Booking] = ()) -> DecideOutcome:
    """Record a decision (SPEC §13) and plan the branch it chooses, then the steps after it.

    Refused (InputError, exit 1) for an unknown decision or option, before the
    decision session is marked done, and once a choice is recorded. Existing
    sessions keep their keys (calendar UIDs); the history records the choice.
    ``bookings``: other series' bookings in the clinic, busy time (SPEC §11)."""
    from kapplan.lifecycle.decide import decide_plan

    return decide_plan(plan, key, option, now=_aware_now(now), allow_deviations=allow_deviations,
                       bookings=bookings)


def decide_file(path: str | Path, key: str, option: str, *, dry_run: bool = False, allow_deviations: bool = False,
                now: datetime | None = None, ledger: str | Path | None = None,
                warn: Callable[[str], None] | None = None) -> DecideOutcome:
    """``kapplan decide``: decide in a plan file, keeping the previous file as ``.bak``
    (``dry_run`` writes nothing). The file is locked from the read to the write; a booked
    plan (or, with ``ledger``, one to book) books the sessions the decision places."""
    import dataclasses

    moment = _aware_now(now)
    with file_lock(path) as target:
        current, data = _read_plan_and_bytes(target)
        with _booking(target, current, data, ledger, moment, warn) as booker:
            busy = booker.busy(current.series) if booker is not None else ()
            outcome = decide(current, key, option, allow_deviations=allow_deviations, now=moment, bookings=busy)
            if booker is not None and not dry_run:
                booked, _ = booker.stage(outcome.plan)
                outcome = dataclasses.replace(outcome, plan=booked)
        if not dry_run:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def _read_plan_and_bytes(path: Path) -> tuple[Plan, bytes]:
    """A plan file and the exact bytes read (their sha256 is what a ledger compares)."""
    from kapplan.io.plan_files import parse_plan, read_plan_bytes

    data = read_plan_bytes(path)
    return parse_plan(data, str(path)), data


@contextlib.contextmanager
def _booking(target: Path, current: Plan | None, data: bytes | None, ledger: str | Path | None, now: datetime,
             warn: Callable[[str], None] | None) -> Iterator[Booker | None]:
    """The ledger transaction of a writing command (None without a ledger); commits on a clean exit."""
    from kapplan.ledger.booking import booking_transaction

    with booking_transaction(target, current, data, ledger, now=now) as booker:
        _tell(warn, booker.warnings if booker is not None else [])
        yield booker


def _tell(warn: Callable[[str], None] | None, warnings: list[str]) -> None:
    """Pass warnings to the caller's ``warn`` (the command line prints them)."""
    if warn is not None:
        for warning in warnings:
            warn(warning)


def status_document(plan: Plan, report: StatusReport, file: str | Path) -> StatusOutput:
    """``kapplan status --format json``: the report as a document (``kapplan schema status``)."""
    from kapplan.lifecycle.outputs import status_output

    return status_output(plan, report, str(file))


def mark_document(outcome: MarkOutcome, key: str, file: str | Path) -> MarkOutput:
    """``kapplan mark --format json`` (``kapplan schema mark``)."""
    from kapplan.lifecycle.outputs import mark_output

    return mark_output(outcome, key, str(file), _backup_name(file))


def reschedule_document(outcome: RescheduleOutcome, file: str | Path, *, dry_run: bool = False) -> RescheduleOutput:
    """``kapplan reschedule --format json``, ``--dry-run`` included (``kapplan schema reschedule``)."""
    from kapplan.lifecycle.outputs import reschedule_output

    return reschedule_output(outcome, str(file), dry_run=dry_run, backup=_backup_name(file))


def decide_document(outcome: DecideOutcome, file: str | Path, *, dry_run: bool = False) -> DecideOutput:
    """``kapplan decide --format json`` (``kapplan schema decide``)."""
    from kapplan.lifecycle.outputs import decide_output

    return decide_output(outcome, str(file), dry_run=dry_run, backup=_backup_name(file))


def _backup_name(file: str | Path) -> str:
    return f"{file}.bak"


def _date_option(flag: str, value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    from pydantic_core import PydanticCustomError

    from kapplan.models.errors import UsageError
    from kapplan.models.values import parse_date

    try:
        return parse_date(value)
    except PydanticCustomError as err:
        raise UsageError(f"{flag}: {err.message()}") from None


def _reschedule_command(day: date | None, changes: ClientChanges, clinic: Clinic | str | Path | None,
                        allow: bool) -> str:
    """The reschedule as the plan's history records it, in command-line form."""
    site = None if clinic is None else str(clinic) if isinstance(clinic, str | Path) else clinic.id
    pairs = [("--from", day.isoformat() if day else None), ("--start", changes.start), ("--tz", changes.tz),
             ("--weight", changes.weight), ("--holidays", changes.holidays), ("--clinic", site)]
    pairs += [("--available", v) for v in changes.available] + [("--unavailable", v) for v in changes.unavailable]
    parts = ["reschedule", *(f"{name} {value}" for name, value in pairs if value is not None)]
    return " ".join(parts + (["--allow-deviations"] if allow else []))


# --------------------------------------------------------------------------- the clinic's ledger


def read_booked_plan(path: str | Path) -> tuple[Plan, list[str]]:
    """A plan file for a command that only reads it (``status``, ``export``,
    ``handout``), checked against its ledger when it is booked: a file that
    differs from what the ledger committed is refused (exit 1); a ledger that
    cannot be reached gives a warning (returned) and the plan as it is."""
    from kapplan.ledger.booking import check_reconciled, open_plan_ledger

    current, data = _read_plan_and_bytes(Path(path))
    if current.booking is None:
        return current, []
    ledger, warnings = open_plan_ledger(current, path, None, writing=False)
    if ledger is not None:
        with ledger:
            check_reconciled(ledger, current, path, data)
    return current, warnings


def ledger_bookings(ledger: str | Path, *, exclude: str | None = None, now: datetime | None = None) -> list[Booking]:
    """The ledger's active bookings from yesterday on (busy time for a plan that is not written)."""
    from datetime import timedelta

    from kapplan.ledger.store import Ledger

    since = _aware_now(now) - timedelta(days=1)
    with Ledger.open(ledger) as opened:
        return [entry.booking for entry in opened.entries(exclude=exclude, since=since)]


def plan_file(
    protocol: LoadedProtocol | str | Path,
    client: Client,
    clinic: Clinic | str | Path | None,
    output: str | Path,
    *,
    ledger: str | Path | None = None,
    force: bool = False,
    new_series: bool = False,
    now: datetime | None = None,
    allow_deviations: bool = False,
    warn: Callable[[str], None] | None = None,
    choose: PlanChoice = "strict",
) -> tuple[Plan, Replan | None]:
    """``kapplan plan -o PLAN.json``: plan and write a plan file as a record
    (``save_plan``'s rules: history refused without ``force``, series kept),
    booked when the file's plan is booked or ``ledger`` is given.

    With a ledger, in this order under the plan file's lock and one ledger
    transaction: read the other series' bookings (a second coordinator waits
    here, then plans around these), plan around them, re-check, book, commit,
    then rename the file into place. The series the file held before is
    released in the same transaction when the series changes."""
    import dataclasses

    from kapplan.lifecycle.records import carry_over

    moment = _aware_now(now)
    with file_lock(output) as target:
        current, data = _existing_plan(target)
        if current is not None:
            _refuse_history(current, target, force)
        with _booking(target, current, data, ledger, moment, warn) as booker:
            busy = booker.busy(current.series if current else None) if booker is not None else ()
            made = make_plan(protocol, client, clinic, now=moment, allow_deviations=allow_deviations, bookings=busy,
                             choose=choose)
            outcome = carry_over(current, made, new_series=new_series) if current is not None else None
            final = outcome.plan if outcome is not None else made
            if booker is not None:
                final, _ = booker.stage(final)
                outcome = dataclasses.replace(outcome, plan=final) if outcome is not None else None
        write_plan(final, target, keep_backup=target.exists())
    return final, outcome


def _existing_plan(path: Path) -> tuple[Plan | None, bytes | None]:
    """The plan a file holds now, if it holds one."""
    from kapplan.models.errors import InputError, UsageError

    if not path.is_file():
        return None, None
    try:
        return _read_plan_and_bytes(path)
    except (InputError, UsageError):
        return None, None


def ledger_sync(plan_path: str | Path, *, ledger: str | Path | None = None, now: datetime | None = None,
                warn: Callable[[str], None] | None = None) -> SyncOutcome:
    """``kapplan ledger sync PLAN``: re-check the plan file's sessions against every
    other booking and adopt them as its series' bookings (exit 1 naming the
    conflicts when they clash). ``ledger`` books a plan that is not booked yet."""
    from kapplan.ledger.sync import sync_plan

    moment = _aware_now(now)
    with file_lock(plan_path) as target:
        current, data = _read_plan_and_bytes(target)
        outcome = sync_plan(target, current, data, ledger, now=moment)
        if outcome.rewritten:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def ledger_release(series: str, *, ledger: str | Path) -> tuple[int, str]:
    """``kapplan ledger release SERIES``: drop a series' bookings; (how many, its plan file)."""
    from kapplan.ledger.sync import release_series

    return release_series(series, ledger)


def agenda(ledger: str | Path, *, from_date: date | str | None = None, days: int = 7, staff: str | None = None,
           room: str | None = None, now: datetime | None = None) -> Agenda:
    """``kapplan agenda``: the booked sessions of ``days`` days from ``from_date``
    (default: today in the clinic's zone), for one person or room when given."""
    from zoneinfo import ZoneInfo

    from kapplan.ledger.agenda import read_agenda
    from kapplan.ledger.store import Ledger
    from kapplan.models.errors import UsageError

    if not 1 <= days <= 366:
        raise UsageError("--days: give a number of days from 1 to 366")
    first = _plain_date("--from", from_date)
    with Ledger.open(ledger, create=False) as opened:
        recorded = opened.meta("timezone")
        zone = ZoneInfo(recorded) if recorded else ZoneInfo(_system_zone())
        first = first or _aware_now(now).astimezone(zone).date()
        return read_agenda(opened, zone=zone, first=first, days=days, staff=staff, room=room)


def _plain_date(flag: str, value: date | str | None) -> date | None:
    """A YYYY-MM-DD option read without the model layer (agenda stays as fast as --help)."""
    import re

    from kapplan.models.errors import UsageError

    if value is None or isinstance(value, date):
        return value
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise UsageError(f"{flag}: '{value}' is not a date (YYYY-MM-DD)")


def _system_zone() -> str:
    from kapplan.clock import system_zone_name

    return system_zone_name()


def agenda_json(found: Agenda) -> list[dict[str, Any]]:
    """``agenda --format json``: one object per booking (series, client, key, kind,
    start, end, assigned, room, status, plan_file), times in the clinic's zone."""
    from kapplan.ledger.agenda import agenda_rows

    return agenda_rows(found)


def agenda_csv(found: Agenda) -> str:
    """``agenda --format csv``: one row per booking, local dates and times."""
    from kapplan.ledger.agenda import agenda_csv as rows

    return rows(found)


def agenda_calendar(found: Agenda, *, privacy: Privacy = "standard") -> Iterator[bytes]:
    """One person's or room's calendar of an agenda (``--staff`` or ``--room``), in pieces."""
    from datetime import timedelta

    from kapplan.export.agenda_ics import resource_calendar
    from kapplan.models.errors import UsageError

    if (found.staff is None) == (found.room is None):
        raise UsageError("--format ics is one person's or one room's calendar: give --staff ID or --room ID")
    resource = f"staff:{found.staff}" if found.staff else f"room:{found.room}"
    name = f"Sessions of {found.staff}" if found.staff else f"Sessions in {found.room}"
    stamps = {s: _committed(r.committed, found.first) for s, r in found.series.items()}
    events = ((e.booking, e.number, e.total, e.sequence, stamps.get(e.booking.series, _committed("", found.first)))
              for e in found.entries)
    last = found.first + timedelta(days=found.days)
    return resource_calendar(events, name=name, resource=resource, zone=found.zone, first=found.first, last=last,
                             privacy=privacy)


def _committed(text: str, fallback: date) -> datetime:
    """When the ledger committed a series (DTSTAMP of its events)."""
    from datetime import UTC

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime(fallback.year, fallback.month, fallback.day, tzinfo=UTC)


# --------------------------------------------------------------------------- a roster


def batch(
    roster: str | Path,
    *,
    out: str | Path = ".",
    protocol: str | None = None,
    tz: str | None = None,
    start: str | None = None,
    clinic: str | Path | None = None,
    audience: Audience = "client",
    privacy: Privacy = "standard",
    formats: str | Iterable[str] = ("ics", "json"),
    combined: str | Path | None = None,
    jobs: int | None = None,
    fail_fast: bool = False,
    now: datetime | None = None,
    stdin: BinaryIO | None = None,
    report: Callable[[RecordResult], None] | None = None,
    ledger: str | Path | None = None,
) -> BatchSummary:
    """Plan and export every record of a roster (CSV, JSON Lines or YAML; '-' reads ``stdin``).

    Writes ``<id>.ics`` / ``<id>.plan.json`` per record into ``out`` and always
    ``out/summary.json``; ``report`` is called with each record's result in
    roster order. A bad record never stops the others: the summary counts it.
    A roster that breaks off midway is returned with ``summary.fault`` set.
    ``ledger`` books every record in the clinic's ledger file, in roster order,
    each committed before its files are written (SPEC §11)."""
    import dataclasses
    import os

    from kapplan.batch import batch_settings, run_batch
    from kapplan.clock import reproducible_epoch
    from kapplan.io.roster import open_roster

    folder = Path(out)
    settings = batch_settings(
        now=_aware_now(now), reproducible=reproducible_epoch() is not None, protocol=protocol, tz=tz,
        start=start, clinic=load_clinic(clinic) if clinic is not None else None, audience=audience,
        privacy=privacy, formats=formats, combined=None if combined is None else Path(combined), out=folder,
        ledger=None if ledger is None else Path(ledger),
    )
    inputs = _batch_inputs(roster, clinic, protocol)
    if combined is not None:
        refuse_input_as_output(combined, inputs)
    refuse_input_as_output(folder / "summary.json", inputs)
    with open_roster(str(roster), stdin) as source:
        settings = dataclasses.replace(settings, base=source.base, inputs=inputs)
        return run_batch(source, settings, folder, jobs=jobs or os.cpu_count() or 1, fail_fast=fail_fast,
                         combined=None if combined is None else Path(combined), report=report)


def _batch_inputs(roster: str | Path, clinic: str | Path | None, protocol: str | None) -> tuple[str, ...]:
    """The files a batch reads that no output may replace (a bundled protocol id names none)."""
    named = [None if str(roster) == "-" else roster, clinic, protocol]
    return tuple(str(path) for path in named if path is not None and Path(path).is_file())


def __getattr__(name: str) -> Any:
    """``ClientChanges`` on first use: commands that take no client flags never build it."""
    if name == "ClientChanges":
        from kapplan.models.changes import ClientChanges

        return ClientChanges
    raise AttributeError(f"module 'kapplan.api' has no attribute {name!r}")


__all__ = [
    "Audience",
    "ClientChanges",
    "GuideFormat",
    "MarkStatus",
    "PlanChoice",
    "Privacy",
    "SchemaKind",
    "agenda",
    "agenda_calendar",
    "agenda_csv",
    "agenda_json",
    "alternatives",
    "batch",
    "calendar",
    "branch_shapes",
    "client_from",
    "decide",
    "decide_document",
    "decide_file",
    "earliest_shape",
    "export_file",
    "handout",
    "handout_file",
    "file_lock",
    "ledger_bookings",
    "ledger_release",
    "ledger_sync",
    "list_protocols",
    "load_client",
    "load_clinic",
    "load_protocol",
    "make_plan",
    "mark",
    "mark_document",
    "mark_file",
    "plan_file",
    "plan_csv",
    "read_booked_plan",
    "read_plan",
    "refuse_input_as_output",
    "remove_unfinished_files",
    "reschedule",
    "reschedule_document",
    "reschedule_file",
    "rules",
    "save_plan",
    "schema",
    "status",
    "status_document",
    "validate",
    "write_output",
    "write_stream",
    "write_plan",
]
