"""One roster record, from its row to its files' bytes, in whichever process plans it.

Tasks are read in roster order in the main process (ids checked there, before
any file name is built from them); workers plan each record and render its
files; every failure becomes the record's one-line reason, built from
diagnostics and explanations, never from a field's value.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kapplan.batch.settings import SUFFIXES, BatchSettings, unknown_protocol
from kapplan.io.roster import RosterRecord
from kapplan.models.errors import InputError, KapplanError, UsageError

if TYPE_CHECKING:
    from kapplan.ledger.batch_file import FileLedgerBatch
    from kapplan.ledger.memory import MemoryLedger
    from kapplan.models.client import Client
    from kapplan.models.plan import Plan
    from kapplan.models.protocol import LoadedProtocol

@dataclass(frozen=True)
class Task:
    """One record on its way to a worker; ``problem`` set when it already failed."""

    number: int
    row: int
    id: str | None
    data: dict[str, Any] | None = None
    problem: str | None = None
    code: str | None = None  # the problem's code (SPEC §14)


@dataclass
class Outcome:
    """A worker's answer for one record: the files' bytes, or why it failed."""

    number: int
    row: int
    id: str | None
    protocol: str | None = None
    error: str | None = None
    code: str | None = None  # set with every error: KPxxx or a named class (SPEC §14)
    disposition: str | None = None  # new, kept or replanned (over an earlier run's plan)
    sessions: int = 0
    first: date | None = None
    last: date | None = None
    outputs: dict[str, bytes] = field(default_factory=dict)  # suffix -> bytes
    events: bytes | None = None  # clinic-audience VEVENTs for --combined
    zone: str | None = None
    span: tuple[date, date] | None = None
    notes: tuple[tuple[str, str], ...] = ()  # (code, message): the plan's KP4xx safety notes


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
    code: str | None = None
    outcome: str | None = None  # new, kept or replanned
    notes: tuple[tuple[str, str], ...] = ()  # (code, message): safety notes no `allow` silences

    def as_dict(self) -> dict[str, Any]:
        return {
            "record": self.number,
            "row": self.row,
            "id": self.id,
            "status": "ok" if self.ok else "failed",
            "outcome": self.outcome,
            "protocol": self.protocol,
            "sessions": self.sessions,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "files": list(self.files),
            "error": self.error,
            "code": self.code,
            "notes": [{"code": code, "message": message} for code, message in self.notes],
        }


class TaskReader:
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
            return Task(record.number, record.row, None, problem=record.problem, code="bad-record")
        ident, problem, code = _record_id(record.data)
        if ident is None:
            return Task(record.number, record.row, None, problem=problem, code=code)
        first = self._seen.setdefault(ident.casefold(), record.row)
        if first != record.row:
            problem = f"duplicate id: the record on row {first} has the same id (ignoring letter case)"
            code = "duplicate-id"
        elif any(f"{ident}{suffix}".casefold() in self._reserved for suffix in SUFFIXES.values()):
            problem, code = "the record's file name is the one given to --combined", "duplicate-id"
        return Task(record.number, record.row, ident, record.data, problem, code)


def _record_id(data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The record's id, or why it has none and that problem's code."""
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_identifier

    if data.get("id") is None:
        return None, "missing required key 'id'", "KP111"
    try:
        return parse_identifier(data["id"]), None, None
    except PydanticCustomError as err:
        return None, f"'id': {err.message()}", "KP124"


_worker: dict[str, Any] = {"settings": None, "protocols": {}, "ledger": None, "booking": None}


def start_worker(settings: BatchSettings, child: bool = True, ledger: MemoryLedger | None = None,
                 booking: FileLedgerBatch | None = None) -> None:
    """Per-process set-up: settings, an empty protocol cache, the clinic's ledger
    (booking records in roster order: this process only); children leave
    Ctrl-C to the parent, which stops them and cleans up."""
    _worker["settings"] = settings
    _worker["protocols"] = {}
    _worker["ledger"] = ledger
    _worker["booking"] = booking  # --ledger: the ledger file (this process only)
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
        outcome.error, outcome.code = task.problem, task.code or "bad-record"
        return outcome
    try:
        outcome.protocol = _protocol_name(task.data, settings)
        client = _client(task.data, settings)
        _plan_into(outcome, _protocol(outcome.protocol, settings), client, settings)
    except _RecordProblem as problem:
        outcome.error, outcome.code = str(problem), problem.code
    except KapplanError as err:
        outcome.error, outcome.code = _reason(err), error_code(err)
    except Exception as err:  # a bug must not cost the other records their plans
        outcome.error = f"internal error ({type(err).__name__}); this is a bug in kapplan, please report it"
        outcome.code = "internal"
    if outcome.error is not None:
        outcome.outputs, outcome.events = {}, None
    return outcome


class _RecordProblem(Exception):
    """A record that cannot be planned; the message is safe to show, ``code``
    groups it (a KPxxx rule or a named class such as ``unknown-protocol``)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def error_code(err: Exception) -> str:
    """The code a script groups a failed record by (SPEC §14): the first error's
    KPxxx (an unknown zone is ``bad-timezone``), or the class of failure."""
    from kapplan.models.errors import InfeasibleError

    if isinstance(err, InfeasibleError):
        if "capacity" in type(err).__name__.lower():
            return "capacity"
        return "search-limit" if err.explanation.search_limit else "infeasible"
    if isinstance(err, InputError):
        codes = [d.code for d in err.diagnostics if d.is_error]
        return _named(codes[0]) if codes else "invalid"
    return "usage" if isinstance(err, UsageError) else "internal"


def _named(code: str) -> str:
    return "bad-timezone" if code == "KP126" else code


def _protocol_name(data: dict[str, Any], settings: BatchSettings) -> str:
    protocol = data.get("protocol") or settings.protocol
    if protocol is None:
        raise _RecordProblem("no protocol: give the record a 'protocol' or pass --protocol", "KP111")
    if not isinstance(protocol, str):
        raise _RecordProblem("'protocol' must be text: a bundled protocol id or a path", "KP112")
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
        code = _named(next((d.code for d in found if d.is_error), "KP112"))
        raise _RecordProblem("; ".join(_with_hint(d.message, d.hint) for d in found), code) from None
    if client.timezone is None:
        raise _RecordProblem("no time zone: give the record a 'timezone' or pass --tz", "KP111")
    if client.start is None:
        raise _RecordProblem("no start date: give the record a 'start' or pass --start", "KP111")
    return client


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message} ({hint})" if hint else message


def _protocol(name: str, settings: BatchSettings) -> LoadedProtocol:
    """The loaded protocol, once per process; a broken one fails each record that uses it."""
    cache: dict[str, LoadedProtocol | tuple[str, str]] = _worker["protocols"]
    if name not in cache:
        cache[name] = _load_protocol(name, settings.base)
    found = cache[name]
    if isinstance(found, tuple):
        raise _RecordProblem(*found)
    return found


def _load_protocol(name: str, base: Path) -> LoadedProtocol | tuple[str, str]:
    """The protocol, or why the records that name it fail (one line, no values)."""
    from kapplan.api import load_protocol
    from kapplan.io.bundled import bundled_paths, resolve_protocol_path

    try:
        return load_protocol(name, base=base)
    except UsageError as err:
        if name not in bundled_paths() and not resolve_protocol_path(name, base).exists():
            return unknown_protocol(name), "unknown-protocol"
        return f"protocol '{name}': {err.message}", "unknown-protocol"
    except InputError as err:
        errors = [d for d in err.diagnostics if d.is_error] or err.diagnostics
        if not errors:
            return f"protocol '{name}': {err.message}", "invalid"
        first = errors[0]
        more = f" (and {len(errors) - 1} more; run 'kapplan validate')" if len(errors) > 1 else ""
        return f"protocol '{name}' has errors: line {first.line}: {first.code} {first.message}{more}", first.code


def _plan_into(outcome: Outcome, loaded: LoadedProtocol, client: Client, settings: BatchSettings) -> None:
    from kapplan.api import calendar, make_plan
    from kapplan.export.ics import plan_events, plan_span, plan_zone_name
    from kapplan.planning.notes import safety_notes

    ledger: MemoryLedger | None = _worker["ledger"]
    booking: FileLedgerBatch | None = _worker["booking"]
    if booking is not None:
        def planned(index: Any) -> Plan:
            fresh = make_plan(loaded, client, settings.clinic, now=settings.now, reproducible=settings.reproducible,
                              bookings=index)
            return _continued(outcome, fresh, client, settings)

        assert settings.out is not None
        assert outcome.id is not None
        plan = booking.plan_record(settings.out / f"{outcome.id}{SUFFIXES['json']}", planned)
    elif ledger is None:
        fresh = make_plan(loaded, client, settings.clinic, now=settings.now, reproducible=settings.reproducible)
        plan = _continued(outcome, fresh, client, settings)
    else:
        held = ledger.release(client.id)
        try:
            fresh = make_plan(loaded, client, settings.clinic, now=settings.now, reproducible=settings.reproducible,
                              bookings=ledger.index)
            plan = _continued(outcome, fresh, client, settings)
        except BaseException:
            ledger.restore(client.id, held)
            raise
        ledger.book(plan)
    # Recomputed on the plan written (a kept plan may predate the notes).
    outcome.notes = tuple((w.code, w.message) for w in safety_notes(loaded.protocol, client, plan.sessions))
    outcome.sessions = len(plan.sessions)
    if plan.sessions:  # sorted by start, each start in the client's local time
        outcome.first, outcome.last = plan.sessions[0].start.date(), plan.sessions[-1].start.date()
    if "ics" in settings.formats:
        outcome.outputs[SUFFIXES["ics"]] = calendar(plan, audience=settings.audience, privacy=settings.privacy)
    if "json" in settings.formats or outcome.disposition == "replanned":
        outcome.outputs[SUFFIXES["json"]] = plan.to_json().encode("utf-8")
    if settings.combined:
        outcome.events = plan_events(plan, audience="clinic", privacy=settings.privacy, alarms=False)
        outcome.zone, outcome.span = plan_zone_name(plan), plan_span(plan)


def _continued(outcome: Outcome, fresh: Plan, client: Client, settings: BatchSettings) -> Plan:
    """The record's plan over what an earlier run left in --out: its series and
    history kept, re-planned only when its inputs changed (SPEC §14)."""
    from kapplan.io.plan_files import plan_on_disk
    from kapplan.lifecycle.records import continue_record

    earlier = None
    if settings.out is not None and outcome.id is not None:
        earlier = plan_on_disk(settings.out / f"{outcome.id}{SUFFIXES['json']}")
    plan, outcome.disposition = continue_record(earlier, fresh, now=settings.now, client=client,
                                                clinic=settings.clinic)
    return plan


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
