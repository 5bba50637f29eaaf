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
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from kapplan.models.options import Audience, MarkStatus, Privacy, SchemaKind

if TYPE_CHECKING:
    from kapplan.batch import BatchSummary, RecordResult
    from kapplan.lifecycle.decide import DecideOutcome
    from kapplan.lifecycle.mark import MarkOutcome
    from kapplan.lifecycle.records import Replan
    from kapplan.lifecycle.reschedule import RescheduleOutcome
    from kapplan.lifecycle.status import StatusReport
    from kapplan.lint.checks import ValidationReport
    from kapplan.lint.registry import Rule
    from kapplan.lint.shape import ProtocolSummary, ShapePoint
    from kapplan.models.changes import ClientChanges
    from kapplan.models.client import Client, Clinic
    from kapplan.models.plan import Plan
    from kapplan.models.protocol import LoadedProtocol, Protocol



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
) -> Plan:
    """Plan one client's series under a protocol (SPEC §2).

    ``now`` (aware; default: the current time, or SOURCE_DATE_EPOCH when set)
    is the plan's ``created`` and decides the default start (tomorrow in the
    client's zone). A client without a zone gets the system's, with a note in
    the plan's warnings. ``reproducible`` (default: SOURCE_DATE_EPOCH is set)
    derives the series id from client, protocol and ``created``.

    Raises InfeasibleError (exit 3) when no plan exists or the search limit is
    reached; InputError (exit 1) for a client the protocol cannot use."""
    from zoneinfo import ZoneInfo

    from kapplan.clock import reproducible_epoch, system_zone_name
    from kapplan.planning.build import make_plan as build
    from kapplan.planning.clients import resolve_client, usable_zone

    moment = _aware_now(now)
    loaded = protocol if not isinstance(protocol, str | Path) else load_protocol(protocol)
    site = load_clinic(clinic) if isinstance(clinic, str | Path) else clinic
    zone = client.timezone or usable_zone(system_zone_name())
    today = moment.astimezone(ZoneInfo(zone)).date()
    resolved, notes = resolve_client(client, today=today, system_zone=zone)
    if reproducible is None:
        reproducible = reproducible_epoch() is not None
    return build(loaded, resolved, site, now=moment, allow_deviations=allow_deviations,
                 reproducible=reproducible, notes=notes)


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
    from kapplan.lifecycle.records import carry_over, has_history
    from kapplan.models.errors import InputError

    old = plan_on_disk(target)
    if old is None:
        write_plan(plan, target, keep_backup=target.exists())
        return None
    if has_history(old) and not force:
        raise InputError([], (
            f"{target}: this plan holds history ({len(old.history)} recorded change(s): marks, reschedules or "
            "decisions) that a new plan would lose; use 'kapplan reschedule' to re-plan what remains, "
            "another -o FILE, or --force to replace it (the old file is then kept as "
            f"{target.name}.bak)"))
    outcome = carry_over(old, plan, new_series=new_series)
    write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def write_output(path: str | Path, data: bytes | str, *, private: bool = True) -> None:
    """Any output file, atomically: nothing half-written is ever left behind."""
    from kapplan.io.files import write_file

    write_file(Path(path), data, private=private)


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
                privacy: Privacy = "standard", alarms: bool = True) -> tuple[Plan, bytes]:
    """``kapplan export``: the calendar of a plan file, written to ``output`` when given.

    The output must be named ``.ics`` and may not be the plan file itself."""
    from kapplan.models.errors import UsageError

    target = None if output is None else Path(output)
    if target is not None and target.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"{target}: export writes iCalendar; name the output FILE.ics, or '-' for stdout")
    if target is not None and target.resolve() == Path(plan_path).resolve():
        raise UsageError(f"{target}: that is the plan file itself; choose another output file")
    current = read_plan(plan_path)
    data = calendar(current, audience=audience, privacy=privacy, alarms=alarms)
    if target is not None:
        write_output(target, data)
    return current, data


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
              now: datetime | None = None) -> MarkOutcome:
    """``kapplan mark``: mark a session in a plan file, keeping the previous file as ``.bak``.

    The file is locked from the read to the write (``file_lock``): a mark or
    reschedule running at the same time waits, then works on this change."""
    with file_lock(path) as target:
        outcome = mark(read_plan(target), key, status, at=at, now=now)
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
) -> RescheduleOutcome:
    """Re-plan the sessions that have not happened, relative to those that did.

    ``changes`` apply to the plan's embedded client (``unavailable`` adds);
    ``clinic`` replaces its clinic; sessions from ``from_date`` (default:
    today) are planned again. A strict re-plan that would need deviations
    raises DeviationsNeededError naming them, unless ``allow_deviations``."""
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
) -> RescheduleOutcome:
    """``kapplan reschedule``: re-plan a plan file (the options as ``reschedule``);
    the previous file is kept as ``.bak``, and ``dry_run`` writes nothing. The
    file is locked from the read to the write, as for ``mark_file``."""
    with file_lock(path) as target:
        outcome = reschedule(read_plan(target), changes=changes, clinic=clinic, from_date=from_date,
                             allow_deviations=allow_deviations, now=now)
        if outcome.changed and not dry_run:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


def decide(plan: Plan, key: str, option: str, *, allow_deviations: bool = False,
           now: datetime | None = None) -> DecideOutcome:
    """Record a decision (SPEC §13) and plan the branch it chooses, then the steps after it.

    Refused (InputError, exit 1) for an unknown decision or option, before the
    decision session is marked done, and once a choice is recorded. Existing
    sessions keep their keys (calendar UIDs); the history records the choice."""
    from kapplan.lifecycle.decide import decide_plan

    return decide_plan(plan, key, option, now=_aware_now(now), allow_deviations=allow_deviations)


def decide_file(path: str | Path, key: str, option: str, *, dry_run: bool = False, allow_deviations: bool = False,
                now: datetime | None = None) -> DecideOutcome:
    """``kapplan decide``: decide in a plan file, keeping the previous file as ``.bak``
    (``dry_run`` writes nothing). The file is locked from the read to the write."""
    with file_lock(path) as target:
        outcome = decide(read_plan(target), key, option, allow_deviations=allow_deviations, now=now)
        if not dry_run:
            write_plan(outcome.plan, target, keep_backup=True)
    return outcome


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
) -> BatchSummary:
    """Plan and export every record of a roster (CSV, JSON Lines or YAML; '-' reads ``stdin``).

    Writes ``<id>.ics`` / ``<id>.plan.json`` per record into ``out`` and always
    ``out/summary.json``; ``report`` is called with each record's result in
    roster order. A bad record never stops the others: the summary counts it.
    A roster that breaks off midway is returned with ``summary.fault`` set."""
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
    )
    with open_roster(str(roster), stdin) as source:
        settings = dataclasses.replace(settings, base=source.base)
        return run_batch(source, settings, folder, jobs=jobs or os.cpu_count() or 1, fail_fast=fail_fast,
                         combined=None if combined is None else Path(combined), report=report)


def __getattr__(name: str) -> Any:
    """``ClientChanges`` on first use: commands that take no client flags never build it."""
    if name == "ClientChanges":
        from kapplan.models.changes import ClientChanges

        return ClientChanges
    raise AttributeError(f"module 'kapplan.api' has no attribute {name!r}")


__all__ = [
    "Audience",
    "ClientChanges",
    "MarkStatus",
    "Privacy",
    "SchemaKind",
    "batch",
    "calendar",
    "branch_shapes",
    "client_from",
    "decide",
    "decide_file",
    "earliest_shape",
    "export_file",
    "file_lock",
    "list_protocols",
    "load_client",
    "load_clinic",
    "load_protocol",
    "make_plan",
    "mark",
    "mark_file",
    "plan_csv",
    "read_plan",
    "reschedule",
    "reschedule_file",
    "rules",
    "save_plan",
    "schema",
    "status",
    "validate",
    "write_output",
    "write_plan",
]
