"""What a batch writes, in the main process only: each record's files, the
streamed ``summary.json`` and the streamed ``--combined`` calendar.
"""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kapplan import __version__
from kapplan.batch.records import Outcome, RecordResult
from kapplan.batch.settings import SUFFIXES
from kapplan.io.files import atomic_output, atomic_write_all
from kapplan.models.errors import UsageError

if TYPE_CHECKING:
    from kapplan.batch import BatchSummary

SUMMARY_NAME = "summary.json"

ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
"""A write failing for one of these (a full disk, a quota, a read-only or
failing disk, a file-size limit) fails every later record too: the run
stops with a usage error (exit 2) instead of failing record after record."""


def store(outcome: Outcome, out: Path, formats: tuple[str, ...], inputs: tuple[str, ...] = ()) -> RecordResult:
    """Write one record's files (atomically, owner-only, all of them or none) and
    describe it for the summary. A disk that is full or read-only raises
    UsageError; a file that would replace an input of the batch fails its record."""
    names: list[str] = []
    error, code = outcome.error, outcome.code
    if error is None and outcome.id is not None:
        try:
            names = _write_record(outcome, out, formats, inputs)
        except _Unwritable as err:
            error, code = str(err), "write-failed"
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
        code=None if error is None else code or "internal",
        outcome=outcome.disposition if ok else None,
        notes=outcome.notes if ok else (),
    )


class _Unwritable(Exception):
    """A record's file could not be written; the message names it."""


def _write_record(outcome: Outcome, out: Path, formats: tuple[str, ...], inputs: tuple[str, ...]) -> list[str]:
    """The record's files. A kept plan file is left untouched, byte for byte; a
    re-planned one is always rewritten (the calendar derives from it) and the
    earlier version kept as ``.bak`` (SPEC §14)."""
    kinds = [*formats, *(["json"] if outcome.disposition == "replanned" and "json" not in formats else [])]
    names = [f"{outcome.id}{SUFFIXES[kind]}" for kind in kinds]
    files: list[tuple[Path, bytes]] = []
    try:
        for kind, name in zip(kinds, names, strict=True):
            _refuse_input(out / name, inputs, outcome)
            if kind == "json" and outcome.disposition == "kept":
                continue
            if kind == "json" and outcome.disposition == "replanned":
                files.append((out / f"{name}.bak", (out / name).read_bytes()))
            files.append((out / name, outcome.outputs[SUFFIXES[kind]]))
        atomic_write_all(files, private=True)
    except OSError as err:
        if err.errno in ENVIRONMENT_ERRNOS:
            raise UsageError(f"{out}: cannot write the batch's files ({err.strerror or 'write failed'})") from None
        failed = Path(err.filename).name if isinstance(err.filename, str) else "a file"
        raise _Unwritable(f"{failed} cannot be written ({err.strerror or 'write failed'})") from None
    return names


def _refuse_input(target: Path, inputs: tuple[str, ...], outcome: Outcome) -> None:
    """A record's file may not replace the roster, the clinic file or a protocol file."""
    from kapplan.io.files import same_file

    sources = [*inputs]
    if outcome.protocol and (target.parent / outcome.protocol).exists():
        sources.append(str(target.parent / outcome.protocol))
    for source in sources:
        if same_file(target, source):
            raise _Unwritable(f"{target.name} would replace an input of this batch ({source}); "
                              "use another --out folder")


class SummaryFile:
    """``summary.json``: written first as ``"state": "running"`` (replacing any
    earlier run's), then streamed record by record to a temporary file that
    replaces it at the end as ``complete``, or ``interrupted`` when the run was
    stopped by Ctrl-C, SIGTERM, SIGHUP or a full disk."""

    def __init__(self, path: Path, roster: str, now: datetime) -> None:
        from kapplan.models.plan import format_utc

        self._path = path
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
        self._finished = False

    def __enter__(self) -> SummaryFile:
        from kapplan.io.files import atomic_write

        running = {**self._head, "state": "running", "records": [], "totals": None}
        atomic_write(self._path, json.dumps(running, ensure_ascii=False) + "\n", private=True, durable=False)
        self._handle = self._output.__enter__()
        head = json.dumps(self._head, ensure_ascii=False)[:-1]
        self._handle.write(f'{head}, "records": ['.encode())
        return self

    def add(self, result: RecordResult) -> None:
        assert self._handle is not None
        separator = "," if self._count else ""
        self._handle.write(f"{separator}\n  {json.dumps(result.as_dict(), ensure_ascii=False)}".encode())
        self._count += 1

    def finish(self, summary: BatchSummary, state: str = "complete", error: str | None = None) -> None:
        assert self._handle is not None
        totals = {"records": summary.records, "ok": summary.ok, "failed": summary.failed, **summary.outcomes,
                  "with_safety_notes": summary.noted}
        error = error or (summary.fault.message if summary.fault else None)
        tail = {"totals": totals, "stopped": summary.stopped, "error": error, "state": state}
        self._handle.write(f"\n], {json.dumps(tail, ensure_ascii=False)[1:]}\n".encode())
        self._finished = True

    def __exit__(self, *exc: Any) -> None:
        if self._finished:  # complete, or interrupted and said so: it replaces the running one
            self._output.__exit__(None, None, None)
        else:
            self._output.__exit__(*exc)


class CombinedCalendar:
    """One clinic calendar of every record, without holding the events in memory.

    Events go to an anonymous temporary file as plans finish; the zones and the
    dates they must cover are collected, and the file is assembled (head,
    VTIMEZONEs, events, tail) and renamed into place at the end.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._events: IO[bytes] | None = None
        self._zones: dict[str, tuple[date, date]] = {}

    def __enter__(self) -> CombinedCalendar:
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
