"""Measure the ledger figures of the clinic-ledger issue, as bench/run.py does.

    python bench/ledger.py            # 9 alternating runs per figure
    python bench/ledger.py --quick    # 3 runs

Figures (median ratio over alternating runs in one process; spread shown):
- booking one client into a ledger already holding 1,000 booked clients
  (~20,000 bookings): ``kapplan plan journey-sl-kap --clinic C --ledger L -o
  plan.json`` vs the same ``plan ... -o plan.json`` without a clinic; <= 2x.
- ``kapplan agenda --ledger L --days 7`` over that ledger vs a minimal
  two-command Typer app's ``--help``; <= 1.2x.

The ledger is filled directly through kapplan.ledger.store (1,000 series of
20 bookings each over a year, spread over 40 therapists, 10 prescribers and
20 rooms, each series with a plan file whose sha256 the ledger holds, so the
agenda checks real files).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Bench, BenchError, Figure, compile_kapplan, ms, os_cpus, timed  # noqa: E402

CLIENTS = 1000
PER_CLIENT = 20
THERAPISTS, PRESCRIBERS, ROOMS = 40, 10, 20
START = "2026-12-07"
CLIENT_FLAGS = ("--start", START, "--tz", "America/New_York", "--weight", "72 kg")


def clinic_text() -> str:
    lines = ["kind: clinic", "id: bench-clinic", "timezone: America/New_York", "hours: [Mon-Fri 08:00-18:00]",
             "staff:"]
    lines += [f"  - {{id: t{i}, roles: [therapist]}}" for i in range(THERAPISTS)]
    lines += [f"  - {{id: p{i}, roles: [prescriber]}}" for i in range(PRESCRIBERS)]
    lines += ["rooms:"] + [f"  - {{id: r{i}}}" for i in range(ROOMS)]
    return "\n".join(lines) + "\n"


def fill_ledger(ledger: Path, plans: Path, clients: int = CLIENTS) -> int:
    """1,000 booked clients, 20 sessions each, one therapist per client (continuity)."""
    from kapplan.ledger.store import Entry, Ledger, SeriesRecord
    from kapplan.models.booking import Assignment, Booking

    first = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 08:00 in New York
    count = 0
    with Ledger.open(ledger) as opened, opened.writing():
        opened.set_meta("clinic", "bench-clinic")
        opened.set_meta("timezone", "America/New_York")
        for c in range(clients):
            series = str(uuid.UUID(int=c + 1, version=4))
            plan_file = plans / f"c{c:04d}.plan.json"
            data = f'{{"bench": {c}}}\n'.encode()
            plan_file.write_bytes(data)
            entries = []
            for j in range(PER_CLIENT):
                weekday_offset = (c * 7 + j * 11) % 260
                day = first + timedelta(days=weekday_offset // 5 * 7 + weekday_offset % 5)
                start = day + timedelta(hours=(c + j) % 9)
                person = Assignment("prescriber", f"p{c % PRESCRIBERS}") if j % 5 == 0 else \
                    Assignment("therapist", f"t{c % THERAPISTS}")
                booking = Booking(series, f"B-{c:04d}", f"session-{j + 1}", "integration", start,
                                  start + timedelta(hours=1), (person,), f"r{(c + j) % ROOMS}")
                entries.append(Entry(booking, j + 1, PER_CLIENT))
            opened.replace_series(SeriesRecord(series, f"B-{c:04d}", str(plan_file),
                                               hashlib.sha256(data).hexdigest(), "2026-12-01T15:00:00Z"), entries)
            count += len(entries)
    return count


def measure(bench: Bench, work: Path, clients: int = CLIENTS) -> list[Figure]:
    compile_kapplan()
    ledger, plans, clinic = work / "clinic.ledger", work / "plans", work / "clinic.yaml"
    plans.mkdir()
    clinic.write_text(clinic_text())
    stored = fill_ledger(ledger, plans, clients)
    booked = bench.kapplan("plan", "journey-sl-kap", *CLIENT_FLAGS, "--clinic", clinic, "--ledger", ledger,
                           "-o", work / "booked.plan.json")
    alone = bench.kapplan("plan", "journey-sl-kap", *CLIENT_FLAGS, "-o", work / "alone.plan.json")
    timed(booked, (0,))
    timed(alone, (0,))
    ratios, mine, theirs = bench.alternate(booked, alone, bench.runs)
    figures = [Figure(f"booking one client into a ledger of {clients:,} clients ({stored:,} bookings) vs the same "
                      "`plan -o plan.json` without a clinic", 2.0, ratios, f"{ms(mine)} vs {ms(theirs)}")]
    agenda = bench.kapplan("agenda", "--ledger", ledger, "--from", START, "--days", "7")
    timed(agenda, (0,))
    timed(bench.typer_help(), (0,))
    ratios, mine, theirs = bench.alternate(agenda, bench.typer_help(), bench.runs)
    figures.append(Figure("`kapplan agenda --days 7` over that ledger vs the Typer `--help`", 1.2, ratios,
                          f"{ms(mine)} vs {ms(theirs)}"))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs per figure")
    parser.add_argument("--runs", type=int, help="runs per figure (default 9; 3 with --quick)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"booked clients (default {CLIENTS:,})")
    options = parser.parse_args(argv)
    runs = options.runs or (3 if options.quick else 9)
    with tempfile.TemporaryDirectory(prefix="kapplan-ledger-bench-") as folder:
        work = Path(folder)
        bench = Bench(work, runs, 0, 0)
        print(f"kapplan ledger benchmarks: Python {platform.python_version()}, {platform.machine()}, "
              f"{os_cpus()} CPU(s), {runs} runs per figure")
        print()
        print("| figure | measured (median ratio) | target | result |")
        print("|---|---|---|---|")
        try:
            figures = measure(bench, work, options.clients)
        except BenchError as err:
            print(f"| ledger | not measured: {err} | - | - |")
            return 1
        for figure in figures:
            print(figure.row(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
