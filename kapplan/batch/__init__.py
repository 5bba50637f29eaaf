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
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from kapplan.batch.outputs import SUMMARY_NAME, CombinedCalendar, SummaryFile, store
from kapplan.batch.records import Outcome, RecordResult, Task, TaskReader, plan_chunk, plan_task, start_worker
from kapplan.batch.settings import SUFFIXES, BatchSettings, batch_settings
from kapplan.io.files import flush_to_disk
from kapplan.io.roster import Roster
from kapplan.models.errors import InputError, UsageError
from kapplan.models.interrupts import uninterrupted

CHUNK = 8  # records per task sent to a worker process
WINDOW_PER_JOB = 4  # chunks in flight per worker: enough to keep each busy
IN_PROCESS_BELOW = 16  # smaller rosters are planned here: starting workers costs more


@dataclass
class BatchSummary:
    """Totals of a finished run; ``stopped`` when ``--fail-fast`` ended it early."""

    records: int = 0
    ok: int = 0
    failed: int = 0
    noted: int = 0  # planned records whose plan carries KP4xx safety notes
    stopped: bool = False
    path: Path = Path(SUMMARY_NAME)
    fault: InputError | None = None  # the roster broke off midway
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("new", "kept", "replanned"), 0))

    def add(self, result: RecordResult) -> None:
        self.records += 1
        self.ok += result.ok
        self.failed += not result.ok
        if result.outcome in self.outcomes:
            self.outcomes[result.outcome] += 1
        self.noted += bool(result.notes)


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
    reader = TaskReader(chain([first], records) if first is not None else iter(()), _reserved_names(out, combined))
    with contextlib.ExitStack() as stack:
        lines = stack.enter_context(SummaryFile(summary.path, roster.name, settings.now))
        calendar = stack.enter_context(CombinedCalendar(combined)) if combined else None
        locks = stack.enter_context(RecordLocks(out))
        try:
            for outcome in stack.enter_context(contextlib.closing(_outcomes(locks.hold(reader), settings, jobs, out))):
                with uninterrupted():  # a record's files and its summary line go together
                    result = store(outcome, out, settings.formats, settings.inputs)
                    locks.release(outcome.id)
                    if calendar is not None and result.ok:
                        calendar.add(outcome)
                    lines.add(result)
                    summary.add(result)
                if report is not None:
                    report(result)
                if fail_fast and not result.ok:
                    summary.stopped = True
                    break
        except (KeyboardInterrupt, UsageError) as stop:
            _say_interrupted(lines, summary, stop)
            raise
        summary.fault = None if summary.stopped else reader.fault
        if summary.ok:
            flush_to_disk()  # the records' files, before the summary that lists them
        lines.finish(summary)
        if calendar is not None:
            calendar.finish()
    return summary


def _say_interrupted(lines: SummaryFile, summary: BatchSummary, stop: BaseException) -> None:
    """The summary of a stopped run lists what was written and says it was
    interrupted; on a disk too full for that, the "running" one stays."""
    error = stop.message if isinstance(stop, UsageError) else "interrupted"
    with contextlib.suppress(OSError):
        lines.finish(summary, state="interrupted", error=error)


class RecordLocks:
    """Each record's existing plan file is locked (SPEC §14) from before a
    worker reads it to after its new version is renamed into place, so a
    ``mark`` or ``reschedule`` of that plan at the same time waits and is
    never lost. New records have no file to lock."""

    def __init__(self, out: Path) -> None:
        self._out = out
        self._held: dict[str, contextlib.ExitStack] = {}

    def __enter__(self) -> RecordLocks:
        return self

    def hold(self, tasks: Iterable[Task]) -> Iterator[Task]:
        from kapplan.io.locks import file_lock

        for task in tasks:
            path = self._out / f"{task.id}{SUFFIXES['json']}"
            if task.id is not None and task.problem is None and path.exists():
                stack = contextlib.ExitStack()
                stack.enter_context(file_lock(path, missing_ok=True))
                self._held[task.id] = stack
            yield task

    def release(self, ident: str | None) -> None:
        held = self._held.pop(ident, None) if ident is not None else None
        if held is not None:
            held.close()

    def __exit__(self, *exc: object) -> None:
        for held in self._held.values():
            held.close()
        self._held.clear()


def _reserved_names(out: Path, combined: Path | None) -> frozenset[str]:
    """File names in ``out`` that no record may take: the combined calendar's."""
    if combined is None or combined.parent.resolve() != out.resolve():
        return frozenset()
    return frozenset({combined.name.casefold()})


def _prepare_folder(out: Path) -> None:
    """The output folder, created readable by its owner only (file names are
    client ids); an existing folder keeps its permissions."""
    try:
        if not out.is_dir():
            out.mkdir(parents=True, mode=0o700)
            os.chmod(out, 0o700)  # mkdir's mode is cut by the umask; 0700 is wanted whatever it is
    except FileExistsError:
        raise UsageError(f"{out}: is a file, not a folder") from None
    except OSError as err:
        raise UsageError(f"{out}: the folder cannot be created ({err.strerror or 'error'})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"{out}: the folder is not writable")


# ---------------------------------------------------------------------- main process: reading


def _outcomes(tasks: Iterable[Task], settings: BatchSettings, jobs: int, out: Path
              ) -> Generator[Outcome, None, None]:
    """Outcomes in roster order, from this process or a pool of ``jobs`` processes.

    With a clinic that lists staff or rooms, each record books people and
    rooms the next one must see: records are planned here, one after the
    other, into an in-memory ledger seeded from the plans already in ``out``
    (SPEC §11), so the result is the same for every ``--jobs``."""
    pending = iter(tasks)
    if settings.ledger is not None:
        yield from _booked_in_file(pending, settings)
        return
    if settings.clinic is not None and settings.clinic.has_capacity:
        from kapplan.ledger.memory import MemoryLedger

        start_worker(settings, child=False, ledger=MemoryLedger.seeded(settings.clinic, out))
        yield from (plan_task(task) for task in pending)
        return
    head = list(islice(pending, IN_PROCESS_BELOW))
    if jobs <= 1 or len(head) < IN_PROCESS_BELOW:
        start_worker(settings, child=False)
        yield from (plan_task(task) for task in chain(head, pending))
        return
    yield from _pooled(chain(head, pending), settings, jobs)


def _booked_in_file(tasks: Iterator[Task], settings: BatchSettings) -> Iterator[Outcome]:
    """With --ledger: records planned here in roster order, each booked in the ledger file."""
    from kapplan.ledger.batch_file import open_batch_ledger

    assert settings.ledger is not None
    booking = open_batch_ledger(settings.ledger, settings.clinic, settings.formats, settings.now)
    try:
        start_worker(settings, child=False, booking=booking)
        yield from (plan_task(task) for task in tasks)
    finally:
        booking.close()


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
        except BaseException:  # Ctrl-C, SIGTERM/SIGHUP, --fail-fast, a failed write: stop now
            _stop_workers(pool)
            raise
        finally:
            for future in window:
                future.cancel()


def _stop_workers(pool: Any) -> None:
    """End the workers at once instead of letting them finish their chunks:
    nothing they plan now would be written, and a worker left blocked on its
    result pipe would outlive the run. (The pool does not expose its
    processes; ``_processes`` has been there since Python 3.2.)"""
    pool.shutdown(wait=False, cancel_futures=True)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


__all__ = ["SUFFIXES", "BatchSettings", "BatchSummary", "RecordResult", "Reporter", "batch_settings", "run_batch"]
