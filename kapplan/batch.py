"""Batch mode (SPEC §4, §6): plan and export every record of a roster.

Records are isolated: a bad one is reported with its row and reason and the
others still run. Work is spread over processes, but results are consumed in
roster order and written by this process alone, so the files, the summary and
the combined calendar are the same whatever ``--jobs`` is, and a stop
(``--fail-fast``, Ctrl-C) leaves every earlier record written and nothing
half-written. Memory stays flat: a bounded window of records is in flight, the
summary and the combined calendar are streamed to temporary files, and only
the set of ids seen (for the duplicate check) grows with the roster.

Every message about a record names its row and the rule it broke, never a
field's value: rosters hold personal data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kapplan import __version__
from kapplan.io.files import atomic_output, atomic_write, flush_to_disk
from kapplan.io.roster import Roster, RosterRecord
from kapplan.models.errors import InputError, KapplanError, UsageError
from kapplan.models.options import Audience, Privacy

if TYPE_CHECKING:
    from kapplan.models.client import Client, Clinic
    from kapplan.models.protocol import LoadedProtocol

SUMMARY_NAME = "summary.json"
SUFFIXES = {"ics": ".ics", "json": ".plan.json"}
CHUNK = 8  # records per task sent to a worker process
WINDOW_PER_JOB = 4  # chunks in flight per worker: enough to keep each busy
IN_PROCESS_BELOW = 16  # smaller rosters are planned here: starting workers costs more


@dataclass(frozen=True)
class BatchSettings:
    """Everything a worker needs besides the record; sent once to each process."""

    base: Path  # relative protocol paths in records start here
    now: datetime
    reproducible: bool = False  # SOURCE_DATE_EPOCH: plan series derived, not random
    protocol: str | None = None  # --protocol
    timezone: str | None = None  # --tz
    start: str | None = None  # --start
    clinic: Clinic | None = None
    audience: Audience = "client"
    privacy: Privacy = "standard"
    formats: tuple[str, ...] = ("ics", "json")
    combined: bool = False


def batch_settings(
    *,
    now: datetime,
    reproducible: bool,
    protocol: str | None,
    tz: str | None,
    start: str | None,
    clinic: Clinic | None,
    audience: Audience,
    privacy: Privacy,
    formats: str | Iterable[str],
    combined: Path | None,
    out: Path,
) -> BatchSettings:
    """The run's settings, each default checked once here rather than failing every record."""
    _check_combined(combined, out)
    return BatchSettings(
        base=Path("."),
        now=now,
        reproducible=reproducible,
        protocol=_default_protocol(protocol),
        timezone=_default_value("--tz", tz),
        start=_default_value("--start", start),
        clinic=clinic,
        audience=audience,
        privacy=privacy,
        formats=_formats(formats),
        combined=combined is not None,
    )


def _formats(value: str | Iterable[str]) -> tuple[str, ...]:
    from kapplan.models.errors import UsageError

    parts = value.split(",") if isinstance(value, str) else list(value)
    chosen = [part.strip().lower() for part in parts if part.strip()]
    if not chosen or any(part not in SUFFIXES for part in chosen):
        shown = value if isinstance(value, str) else ",".join(value)
        raise UsageError(f"--format: expected ics, json or ics,json, not '{shown}'")
    return tuple(kind for kind in SUFFIXES if kind in chosen)


def _default_value(flag: str, value: str | None) -> str | None:
    """--tz / --start: a zone the tz database knows, a real date."""
    if value is None:
        return None
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_date, parse_timezone

    try:
        parsed = parse_timezone(value) if flag == "--tz" else parse_date(value).isoformat()
    except PydanticCustomError as err:
        raise UsageError(f"{flag}: {err.message()}") from None
    return str(parsed)


def _default_protocol(name: str | None) -> str | None:
    """--protocol: a path (made absolute, as records resolve theirs elsewhere) or a bundled id."""
    if name is None:
        return None
    from kapplan.io.bundled import bundled_paths

    if Path(name).exists():
        return str(Path(name).resolve())
    if name in bundled_paths():
        return name
    raise UsageError(f"--protocol: unknown protocol '{name}': not a bundled protocol id, and no such file")


def _check_combined(path: Path | None, out: Path) -> None:
    if path is None:
        return
    if path.suffix.lower() not in (".ics", ".ical"):
        raise UsageError(f"--combined {path}: name the calendar FILE.ics")
    if not path.parent.is_dir() and path.parent.resolve() != out.resolve():
        raise UsageError(f"--combined {path}: the folder {path.parent} does not exist")


@dataclass(frozen=True)
class Task:
    """One record on its way to a worker; ``problem`` set when it already failed."""

    number: int
    row: int
    id: str | None
    data: dict[str, Any] | None = None
    problem: str | None = None


@dataclass
class Outcome:
    """A worker's answer for one record: the files' bytes, or why it failed."""

    number: int
    row: int
    id: str | None
    protocol: str | None = None
    error: str | None = None
    sessions: int = 0
    first: date | None = None
    last: date | None = None
    outputs: dict[str, bytes] = field(default_factory=dict)  # suffix -> bytes
    events: bytes | None = None  # clinic-audience VEVENTs for --combined
    zone: str | None = None
    span: tuple[date, date] | None = None


@dataclass(frozen=True)
class RecordResult:
    """One line of the summary."""

    number: int
    row: int
    id: str | None
    ok: bool
    protocol: str | None
    sessions: int
    first: date | None
    last: date | None
    files: tuple[str, ...]
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "record": self.number,
            "row": self.row,
            "id": self.id,
            "status": "ok" if self.ok else "failed",
            "protocol": self.protocol,
            "sessions": self.sessions,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "files": list(self.files),
            "error": self.error,
        }


@dataclass
class BatchSummary:
    """Totals of a finished run; ``stopped`` when ``--fail-fast`` ended it early."""

    records: int = 0
    ok: int = 0
    failed: int = 0
    stopped: bool = False
    path: Path = Path(SUMMARY_NAME)
    fault: InputError | None = None  # the roster broke off midway

    def add(self, result: RecordResult) -> None:
        self.records += 1
        self.ok += result.ok
        self.failed += not result.ok


Reporter = Callable[[RecordResult], None]


def run_batch(
    roster: Roster,
    settings: BatchSettings,
    out: Path,
    *,
    jobs: int = 1,
    fail_fast: bool = False,
    combined: Path | None = None,
    report: Reporter | None = None,
) -> BatchSummary:
    """Plan every record of ``roster`` into ``out``; return the totals.

    A roster that cannot be parsed at all raises InputError before anything is
    written; one that breaks off midway (YAML syntax) ends the run after the
    records before the fault, which ``BatchSummary.fault`` then carries.
    """
    records = iter(roster)
    first = next(records, None)
    _prepare_folder(out)
    summary = BatchSummary(path=out / SUMMARY_NAME)
    reader = _TaskReader(chain([first], records) if first is not None else iter(()), _reserved_names(out, combined))
    with contextlib.ExitStack() as stack:
        lines = stack.enter_context(_SummaryFile(summary.path, roster.name, settings.now))
        calendar = stack.enter_context(_CombinedCalendar(combined)) if combined else None
        for outcome in stack.enter_context(contextlib.closing(_outcomes(reader, settings, jobs))):
            result = _store(outcome, out, settings.formats)
            if calendar is not None and result.ok:
                calendar.add(outcome)
            lines.add(result)
            summary.add(result)
            if report is not None:
                report(result)
            if fail_fast and not result.ok:
                summary.stopped = True
                break
        summary.fault = None if summary.stopped else reader.fault
        if summary.ok:
            flush_to_disk()  # the records' files, before the summary that lists them
        lines.finish(summary)
        if calendar is not None:
            calendar.finish()
    return summary


def _reserved_names(out: Path, combined: Path | None) -> frozenset[str]:
    """File names in ``out`` that no record may take: the combined calendar's."""
    if combined is None or combined.parent.resolve() != out.resolve():
        return frozenset()
    return frozenset({combined.name.casefold()})


def _prepare_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{out}: is a file, not a folder") from None
    except OSError as err:
        raise UsageError(f"{out}: the folder cannot be created ({err.strerror or 'error'})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the folder is not writable")


# ---------------------------------------------------------------------- main process: reading


class _TaskReader:
    """Records -> tasks: ids checked (format and case-insensitive uniqueness)
    here, in roster order, before any file name is built from them. A roster
    fault met midway ends the tasks and is kept for after the earlier records."""

    def __init__(self, records: Iterator[RosterRecord], reserved: frozenset[str] = frozenset()) -> None:
        self._records = records
        self._reserved = reserved
        self._seen: dict[str, int] = {}
        self.fault: InputError | None = None

    def __iter__(self) -> Iterator[Task]:
        try:
            for record in self._records:
                yield self._task(record)
        except InputError as err:
            self.fault = err

    def _task(self, record: RosterRecord) -> Task:
        if record.data is None:
            return Task(record.number, record.row, None, problem=record.problem)
        ident, problem = _record_id(record.data)
        if ident is None:
            return Task(record.number, record.row, None, problem=problem)
        first = self._seen.setdefault(ident.casefold(), record.row)
        if first != record.row:
            problem = f"duplicate id: the record on row {first} has the same id (ignoring letter case)"
        elif any(f"{ident}{suffix}".casefold() in self._reserved for suffix in SUFFIXES.values()):
            problem = "the record's file name is the one given to --combined"
        return Task(record.number, record.row, ident, record.data, problem)


def _record_id(data: dict[str, Any]) -> tuple[str | None, str | None]:
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_identifier

    if data.get("id") is None:
        return None, "missing required key 'id'"
    try:
        return parse_identifier(data["id"]), None
    except PydanticCustomError as err:
        return None, f"'id': {err.message()}"


# ---------------------------------------------------------------------- workers


_worker: dict[str, Any] = {"settings": None, "protocols": {}}


def start_worker(settings: BatchSettings, child: bool = True) -> None:
    """Per-process set-up: settings, an empty protocol cache; children leave
    Ctrl-C to the parent, which stops them and cleans up."""
    _worker["settings"] = settings
    _worker["protocols"] = {}
    if child:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)


def plan_chunk(tasks: list[Task]) -> list[Outcome]:
    return [plan_task(task) for task in tasks]


def plan_task(task: Task) -> Outcome:
    """Plan one record and render its files; every failure becomes the outcome's error."""
    settings: BatchSettings = _worker["settings"]
    outcome = Outcome(task.number, task.row, task.id)
    if task.problem is not None or task.data is None:
        outcome.error = task.problem
        return outcome
    try:
        outcome.protocol = _protocol_name(task.data, settings)
        client = _client(task.data, settings)
        _plan_into(outcome, _protocol(outcome.protocol, settings), client, settings)
    except _RecordProblem as problem:
        outcome.error = str(problem)
    except KapplanError as err:
        outcome.error = _reason(err)
    except Exception as err:  # a bug must not cost the other records their plans
        outcome.error = f"internal error ({type(err).__name__}); this is a bug in kapplan, please report it"
    if outcome.error is not None:
        outcome.outputs, outcome.events = {}, None
    return outcome


class _RecordProblem(Exception):
    """A record that cannot be planned; the message is safe to show."""


def _protocol_name(data: dict[str, Any], settings: BatchSettings) -> str:
    protocol = data.get("protocol") or settings.protocol
    if protocol is None:
        raise _RecordProblem("no protocol: give the record a 'protocol' or pass --protocol")
    if not isinstance(protocol, str):
        raise _RecordProblem("'protocol' must be text: a bundled protocol id or a path")
    return protocol


def _client(data: dict[str, Any], settings: BatchSettings) -> Client:
    """The record as a validated Client, batch defaults applied; never guesses a zone or start."""
    from pydantic import ValidationError

    from kapplan.io.documents import Document, validation_diagnostics
    from kapplan.models.client import Client

    fields = {key: value for key, value in data.items() if value is not None and key != "protocol"}
    for key, default in (("timezone", settings.timezone), ("start", settings.start)):
        if default is not None:
            fields.setdefault(key, default)
    try:
        client = Client.model_validate(fields)
    except ValidationError as err:
        found = validation_diagnostics(err, Client, Document("record", fields))
        raise _RecordProblem("; ".join(_with_hint(d.message, d.hint) for d in found)) from None
    if client.timezone is None:
        raise _RecordProblem("no time zone: give the record a 'timezone' or pass --tz")
    if client.start is None:
        raise _RecordProblem("no start date: give the record a 'start' or pass --start")
    return client


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message} ({hint})" if hint else message


def _protocol(name: str, settings: BatchSettings) -> LoadedProtocol:
    """The loaded protocol, once per process; a broken one fails each record that uses it."""
    cache: dict[str, LoadedProtocol | str] = _worker["protocols"]
    if name not in cache:
        cache[name] = _load_protocol(name, settings.base)
    found = cache[name]
    if isinstance(found, str):
        raise _RecordProblem(found)
    return found


def _load_protocol(name: str, base: Path) -> LoadedProtocol | str:
    """The protocol, or why the records that name it fail (one line, no values)."""
    from kapplan.api import load_protocol
    from kapplan.io.bundled import bundled_paths, resolve_protocol_path

    try:
        return load_protocol(name, base=base)
    except UsageError as err:
        if name not in bundled_paths() and not resolve_protocol_path(name, base).exists():
            return f"unknown protocol '{name}': not a bundled protocol id, and no such file"
        return f"protocol '{name}': {err.message}"
    except InputError as err:
        errors = [d for d in err.diagnostics if d.is_error] or err.diagnostics
        if not errors:
            return f"protocol '{name}': {err.message}"
        first = errors[0]
        more = f" (and {len(errors) - 1} more; run 'kapplan validate')" if len(errors) > 1 else ""
        return f"protocol '{name}' has errors: line {first.line}: {first.code} {first.message}{more}"


def _plan_into(outcome: Outcome, loaded: LoadedProtocol, client: Client, settings: BatchSettings) -> None:
    from kapplan.api import calendar, make_plan
    from kapplan.export.ics import plan_events, plan_span, plan_zone_name

    plan = make_plan(loaded, client, settings.clinic, now=settings.now, reproducible=settings.reproducible)
    outcome.sessions = len(plan.sessions)
    if plan.sessions:  # sorted by start, each start in the client's local time
        outcome.first, outcome.last = plan.sessions[0].start.date(), plan.sessions[-1].start.date()
    if "ics" in settings.formats:
        outcome.outputs[SUFFIXES["ics"]] = calendar(plan, audience=settings.audience, privacy=settings.privacy)
    if "json" in settings.formats:
        outcome.outputs[SUFFIXES["json"]] = plan.to_json().encode("utf-8")
    if settings.combined:
        outcome.events = plan_events(plan, audience="clinic", privacy=settings.privacy, alarms=False)
        outcome.zone, outcome.span = plan_zone_name(plan), plan_span(plan)


def _reason(err: Exception) -> str:
    """One line for a failed record, built from diagnostics and explanations (no values)."""
    from kapplan.models.errors import InfeasibleError

    if isinstance(err, InfeasibleError):
        return "; ".join(line.strip().removeprefix("- ") for line in err.explanation.lines())
    if isinstance(err, InputError):
        errors = [d for d in err.diagnostics if d.is_error]
        if errors:
            return "; ".join(_with_hint(d.message, d.hint) for d in errors)
    return str(getattr(err, "message", err))


# ---------------------------------------------------------------------- scheduling


def _outcomes(tasks: Iterable[Task], settings: BatchSettings, jobs: int) -> Generator[Outcome, None, None]:
    """Outcomes in roster order, from this process or a pool of ``jobs`` processes."""
    pending = iter(tasks)
    head = list(islice(pending, IN_PROCESS_BELOW))
    if jobs <= 1 or len(head) < IN_PROCESS_BELOW:
        start_worker(settings, child=False)
        yield from (plan_task(task) for task in chain(head, pending))
        return
    yield from _pooled(chain(head, pending), settings, jobs)


def _pooled(tasks: Iterator[Task], settings: BatchSettings, jobs: int) -> Iterator[Outcome]:
    """A sliding window of chunks over worker processes, consumed in submission order.

    Workers are spawned (not forked), so the same code runs on every platform
    and no lock held by a thread of this process is inherited.
    """
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    chunks = iter(lambda: list(islice(tasks, CHUNK)), [])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=start_worker, initargs=(settings,)) as pool:
        window: deque[Future[list[Outcome]]] = deque(
            pool.submit(plan_chunk, chunk) for chunk in islice(chunks, jobs * WINDOW_PER_JOB)
        )
        try:
            while window:
                done = window.popleft().result()
                following = next(chunks, None)
                if following is not None:
                    window.append(pool.submit(plan_chunk, following))
                yield from done
        finally:
            for future in window:
                future.cancel()


# ---------------------------------------------------------------------- main process: writing


def _store(outcome: Outcome, out: Path, formats: tuple[str, ...]) -> RecordResult:
    """Write one record's files (atomically, owner-only) and describe it for the summary."""
    names: list[str] = []
    error = outcome.error
    if error is None and outcome.id is not None:
        for kind in formats:
            name = f"{outcome.id}{SUFFIXES[kind]}"
            try:
                atomic_write(out / name, outcome.outputs[SUFFIXES[kind]], private=True, durable=False)
            except OSError as err:
                error = f"{name} cannot be written ({err.strerror or 'write failed'})"
                break
            names.append(name)
    ok = error is None
    return RecordResult(
        number=outcome.number,
        row=outcome.row,
        id=outcome.id,
        ok=ok,
        protocol=outcome.protocol,
        sessions=outcome.sessions if ok else 0,
        first=outcome.first if ok else None,
        last=outcome.last if ok else None,
        files=tuple(names),
        error=error,
    )


class _SummaryFile:
    """``summary.json`` streamed record by record, renamed into place at the end."""

    def __init__(self, path: Path, roster: str, now: datetime) -> None:
        from kapplan.models.plan import format_utc

        self._output = atomic_output(path, private=True)
        self._head = {
            "kind": "batch-summary",
            "format": 1,
            "generator": f"kapplan {__version__}",
            "created": format_utc(now),
            "roster": roster,
        }
        self._handle: IO[bytes] | None = None
        self._count = 0

    def __enter__(self) -> _SummaryFile:
        self._handle = self._output.__enter__()
        head = json.dumps(self._head, ensure_ascii=False)[:-1]
        self._handle.write(f'{head}, "records": ['.encode())
        return self

    def add(self, result: RecordResult) -> None:
        assert self._handle is not None
        separator = "," if self._count else ""
        self._handle.write(f"{separator}\n  {json.dumps(result.as_dict(), ensure_ascii=False)}".encode())
        self._count += 1

    def finish(self, summary: BatchSummary) -> None:
        assert self._handle is not None
        totals = {"records": summary.records, "ok": summary.ok, "failed": summary.failed}
        error = summary.fault.message if summary.fault else None
        tail = {"totals": totals, "stopped": summary.stopped, "error": error}
        self._handle.write(f"\n], {json.dumps(tail, ensure_ascii=False)[1:]}\n".encode())

    def __exit__(self, *exc: Any) -> None:
        self._output.__exit__(*exc)


class _CombinedCalendar:
    """One clinic calendar of every record, without holding the events in memory.

    Events go to an anonymous temporary file as plans finish; the zones and the
    dates they must cover are collected, and the file is assembled (head,
    VTIMEZONEs, events, tail) and renamed into place at the end.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._events: IO[bytes] | None = None
        self._zones: dict[str, tuple[date, date]] = {}

    def __enter__(self) -> _CombinedCalendar:
        folder = self._path.parent if str(self._path.parent) else Path(".")
        try:
            self._events = tempfile.TemporaryFile(dir=folder)
        except OSError as err:
            raise UsageError(f"{self._path}: cannot be written ({err.strerror or 'error'})") from None
        return self

    def add(self, outcome: Outcome) -> None:
        assert self._events is not None
        if outcome.events is None or outcome.zone is None or outcome.span is None:
            return
        self._events.write(outcome.events)
        first, last = outcome.span
        known = self._zones.get(outcome.zone, (first, last))
        self._zones[outcome.zone] = (min(known[0], first), max(known[1], last))

    def finish(self) -> None:
        from kapplan.export.ics import COMBINED_NAME, calendar_head, calendar_tail, timezone_block

        assert self._events is not None
        self._events.seek(0)
        try:
            with atomic_output(self._path, private=True) as handle:
                handle.write(calendar_head(COMBINED_NAME))
                for zone, (first, last) in sorted(self._zones.items()):
                    handle.write(timezone_block(zone, first, last))
                shutil.copyfileobj(self._events, handle)
                handle.write(calendar_tail())
        except OSError as err:
            raise UsageError(f"{self._path}: cannot be written ({err.strerror or 'error'})") from None

    def __exit__(self, *exc: Any) -> None:
        if self._events is not None:
            self._events.close()
