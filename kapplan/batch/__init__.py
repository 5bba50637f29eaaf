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

from kapplan.batch.outputs import SUMMARY_NAME, CombinedCalendar, SummaryFile, store
from kapplan.batch.records import Outcome, RecordResult, Task, TaskReader, plan_chunk, plan_task, start_worker
from kapplan.batch.settings import SUFFIXES, BatchSettings, batch_settings
from kapplan.io.files import flush_to_disk
from kapplan.io.roster import Roster
from kapplan.models.errors import InputError, UsageError

CHUNK = 8  # records per task sent to a worker process
WINDOW_PER_JOB = 4  # chunks in flight per worker: enough to keep each busy
IN_PROCESS_BELOW = 16  # smaller rosters are planned here: starting workers costs more


@dataclass
class BatchSummary:
    """Totals of a finished run; ``stopped`` when ``--fail-fast`` ended it early."""

    records: int = 0
    ok: int = 0
    failed: int = 0
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
        for outcome in stack.enter_context(contextlib.closing(_outcomes(reader, settings, jobs, out))):
            result = store(outcome, out, settings.formats)
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
        finally:
            for future in window:
                future.cancel()


__all__ = ["SUFFIXES", "BatchSettings", "BatchSummary", "RecordResult", "Reporter", "batch_settings", "run_batch"]
