"""Measure the clinic-capacity figures, as bench/run.py does.

    python bench/clinic.py            # 5 alternating runs per figure
    python bench/clinic.py --quick    # 3 runs (batch figures: 2)

Figures (median ratio over alternating runs in one process; spread shown):
- ``kapplan batch --clinic C --jobs 1`` of 1,000 clients into a clinic of 8
  staff and 4 rooms vs the same batch without ``--clinic``; <= 3x.
- peak memory of that batch at 1,000 vs 100 records; <= 1.3x.
- one-client ``kapplan plan --clinic C -o plan.json`` vs a plain ``kapplan
  plan -o plan.json``; <= 1.5x.

The roster: mixed bundled protocols, clients in the clinic's zone or one
hour from it (a clinic's own clients), starts spread over five years. Eight
people and two offices hold about 200 of these series a year: at 250 a year
about one record in twenty is refused for want of capacity, and a year's
roster of 1,000 has the clinic refuse 383 of them (most of those after the
first 200), which measures refusals rather than booking. The batch figure
reports how many were refused.
"""

from __future__ import annotations

import argparse
import csv
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import CHILD_PEAK_MEMORY, Bench, BenchError, Figure, compile_kapplan, ms, os_cpus, sec, timed  # noqa: E402

CLIENT_FLAGS = ("--start", "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg")
ZONES = ("America/New_York", "America/Chicago", "America/Toronto")
CLINIC = """\
kind: clinic
id: bench
timezone: America/New_York
hours: [Mon-Fri 08:00-18:00]
holidays: US-NY
staff:
  - {id: kim, roles: [therapist, guide, counsellor], email: kim@clinic.example}
  - {id: rivera, roles: [therapist, counsellor], off: [2027-01-11..2027-01-15]}
  - {id: okafor, roles: [therapist, guide], timezone: America/Chicago, hours: [Mon-Thu 07:00-16:00]}
  - {id: patel, roles: [prescriber, physician, clinician]}
  - {id: diaz, roles: [prescriber, clinician]}
  - {id: lee, roles: [nurse, monitoring-hcp], concurrent: {dosing: 3}}
  - {id: santos, roles: [nurse, monitoring-hcp], concurrent: {dosing: 3}}
  - {id: chen, roles: [rater, clinician, guide], max_per_day: 10}
rooms:
  - {id: dosing-1, for: [dosing]}
  - {id: dosing-2, for: [dosing]}
  - {id: office-1}
  - {id: office-2}
"""


SPAN_DAYS = 5 * 365
"""The roster's start dates spread over this many days (see the module docstring)."""


def write_roster(path: Path, size: int) -> None:
    from kapplan.io.bundled import bundled_paths

    protocols = sorted(bundled_paths())
    rng = random.Random(size)
    first = date(2026, 12, 7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "protocol", "start", "timezone", "weight"])
        for number in range(1, size + 1):
            start = first + timedelta(days=rng.randrange(0, SPAN_DAYS))
            writer.writerow([f"C-{number:05d}", rng.choice(protocols), start.isoformat(), rng.choice(ZONES),
                             f"{rng.randrange(50, 110)} kg"])


def batch_figure(bench: Bench, work: Path, clinic: Path, size: int) -> Figure:
    roster = work / f"roster-{size}.csv"
    write_roster(roster, size)
    with_out, without_out = work / "with", work / "without"
    ours = bench.kapplan("batch", roster, "--clinic", clinic, "--out", with_out, "--format", "ics,json",
                         "--jobs", "1")
    baseline = bench.kapplan("batch", roster, "--out", without_out, "--format", "ics,json", "--jobs", "1")

    def fresh() -> None:
        for folder in (with_out, without_out):
            shutil.rmtree(folder, ignore_errors=True)

    fresh()
    timed(ours, (0, 4))
    failed = sum(1 for line in (with_out / "summary.json").read_text().splitlines() if '"status": "failed"' in line)
    ratios, mine, theirs = bench.alternate(ours, baseline, max(2, bench.runs // 2), before=fresh, ok=(0, 4))
    fresh()
    label = f"`kapplan batch --clinic` {size:,} clients into 8 staff and 4 rooms vs the same batch without, --jobs 1"
    return Figure(label, 3.0, ratios, f"{failed} records refused for want of capacity; {sec(mine)} vs {sec(theirs)}")


def memory_figure(bench: Bench, work: Path, clinic: Path, small: int, large: int) -> Figure:
    runner = bench.script("peak_memory.py", CHILD_PEAK_MEMORY)
    peaks: dict[int, list[int]] = {small: [], large: []}
    for run in range(2):
        for size in (small, large) if run % 2 == 0 else (large, small):
            roster, out = work / f"roster-{size}.csv", work / f"memory-{size}"
            write_roster(roster, size)
            command = bench.kapplan("batch", roster, "--clinic", clinic, "--out", out, "--jobs", "1")
            result = subprocess.run([sys.executable, str(runner), *command], capture_output=True, text=True)
            peaks[size].append(int(result.stdout.strip().splitlines()[-1]))
            shutil.rmtree(out, ignore_errors=True)
    ratios = [big / little for big, little in zip(peaks[large], peaks[small], strict=True)]
    scale = 1 if sys.platform != "darwin" else 1024
    detail = (f"peak RSS {statistics.median(peaks[small]) / 1024 / scale:.0f} MiB at {small:,}, "
              f"{statistics.median(peaks[large]) / 1024 / scale:.0f} MiB at {large:,}")
    return Figure(f"peak memory of `kapplan batch --clinic --jobs 1` at {large:,} vs {small:,} records", 1.3,
                  ratios, detail)


def plan_figure(bench: Bench, work: Path, clinic: Path) -> Figure:
    ours = bench.kapplan("plan", "journey-sl-kap", *CLIENT_FLAGS, "--clinic", clinic, "-o", work / "c.plan.json")
    alone = bench.kapplan("plan", "journey-sl-kap", *CLIENT_FLAGS, "-o", work / "a.plan.json")
    timed(ours, (0,))
    timed(alone, (0,))
    ratios, mine, theirs = bench.alternate(ours, alone, bench.runs)
    return Figure("one-client `kapplan plan --clinic ... -o plan.json` vs `kapplan plan -o plan.json`", 1.5, ratios,
                  f"{ms(mine)} vs {ms(theirs)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs per figure")
    parser.add_argument("--runs", type=int, help="runs per figure (default 5; 3 with --quick)")
    parser.add_argument("--clients", type=int, default=1000, help="records of the large batch (default 1,000)")
    options = parser.parse_args(argv)
    runs = options.runs or (3 if options.quick else 5)
    small = max(1, options.clients // 10)
    with tempfile.TemporaryDirectory(prefix="kapplan-clinic-bench-") as folder:
        work = Path(folder)
        clinic = work / "clinic.yaml"
        clinic.write_text(CLINIC)
        bench = Bench(work, runs, small, options.clients)
        compile_kapplan()
        print(f"kapplan clinic benchmarks: Python {platform.python_version()}, {platform.machine()}, "
              f"{os_cpus()} CPU(s), {runs} runs per figure")
        print()
        print("| figure | measured (median ratio) | target | result |")
        print("|---|---|---|---|")
        for measure in (lambda: plan_figure(bench, work, clinic),
                        lambda: batch_figure(bench, work, clinic, options.clients),
                        lambda: memory_figure(bench, work, clinic, small, options.clients)):
            try:
                figure = measure()
            except BenchError as err:
                print(f"| clinic | not measured: {err} | - | - |")
                return 1
            print(figure.row(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
