"""Measure the figures of SPEC §9 against baselines run on the same machine.

    python bench/run.py             # every figure (10,000-record batches: several minutes)
    python bench/run.py --quick     # fewer runs, 1,000 / 2,000 records
    python bench/run.py --only startup,search

Each figure is a median ratio over alternating runs (kapplan, baseline,
baseline, kapplan, ...), so drift of the machine hits both sides alike; the
spread is the lowest and highest ratio seen. Commands run as fresh
subprocesses of this interpreter, with kapplan's byte-code written first (as
an installed copy has it). The output is a Markdown table that can be pasted
into the README's Performance section.

Baselines:
- a minimal two-command Typer app's ``--help`` (start-up figures, and the
  scale for the search figure);
- icalendar alone building and writing the same number of calendars with the
  same number of events as the batch produced, one VTIMEZONE per zone built
  once and reused (batch figures).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FIGURES = ("startup", "validate", "plan-json", "plan-ics", "alternatives", "batch", "batch-parallel", "memory",
           "search", "infeasible")

TYPER_APP = '''\
import typer

app = typer.Typer()


@app.command()
def hello(name: str) -> None:
    """Say hello."""
    print(f"Hello {name}")


@app.command()
def goodbye(name: str) -> None:
    """Say goodbye."""
    print(f"Goodbye {name}")


if __name__ == "__main__":
    app()
'''

KAPPLAN_ENTRY = """\
import sys

from kapplan.cli import main

if __name__ == "__main__":  # as the installed console script: spawned workers import this file
    sys.exit(main())
"""

ICALENDAR_ALONE = '''\
"""Build and write calendars with icalendar alone: the batch baseline."""
import json
import sys
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, Timezone

spec = json.loads(Path(sys.argv[1]).read_text())
out = Path(sys.argv[2])
stamp = datetime(2026, 1, 1, tzinfo=timezone.utc)
namespace = uuid.UUID("00000000-0000-4000-8000-000000000000")
zones = {}
for number, (zone_name, count, first, last) in enumerate(spec):
    zone = ZoneInfo(zone_name)
    if zone_name not in zones:
        zones[zone_name] = Timezone.from_tzinfo(zone, first_date=date(2026, 1, 1), last_date=date(2028, 12, 31))
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", "-//bench//icalendar alone//EN")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", "Therapy sessions")
    calendar.add_component(zones[zone_name])
    day = date.fromisoformat(first)
    for index in range(count):
        start = datetime.combine(day + timedelta(days=2 * index), time(10, 0), tzinfo=zone)
        event = Event()
        event.add("uid", str(uuid.uuid5(namespace, f"{number}-{index}")))
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(hours=2))
        event.add("summary", f"Session {index + 1} of {count}")
        event.add("description", "Wear comfortable clothes. Details from your care team.")
        event.add("categories", ["dosing"])
        event.add("class", "PRIVATE")
        event.add("status", "CONFIRMED")
        event.add("sequence", 0)
        event.add("location", "12 Main St, Suite 200")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", timedelta(days=-1))
        alarm.add("description", "Arrange a ride home.")
        event.add_component(alarm)
        calendar.add_component(event)
    (out / f"{number}.ics").write_bytes(calendar.to_ical())
'''

CHILD_PEAK_MEMORY = """\
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

ZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London", "Australia/Sydney")
HOLIDAYS = {"America/New_York": "US-NY", "Europe/Berlin": "DE", "Europe/London": "GB"}


class BenchError(Exception):
    """A command under measurement failed; the figure cannot be reported."""


@dataclass
class Figure:
    label: str
    target: float | None  # None: reported, no target
    ratios: list[float] = field(default_factory=list)
    detail: str = ""
    stretch: bool = False
    missing: str | None = None  # why the figure could not be measured
    unit: str = "x"

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def row(self) -> str:
        limit = "-" if self.target is None else f"{'stretch ' if self.stretch else ''}<= {self.target:g}{self.unit}"
        if self.missing or not self.ratios:
            return f"| {self.label} | not measured: {self.missing or 'no runs'} | {limit} | - |"
        verdict = "-" if self.target is None else ("met" if self.median <= self.target else "NOT MET")
        spread = f"{min(self.ratios):.2f}-{max(self.ratios):.2f}"
        measured = f"{self.median:.2f}{self.unit} (spread {spread}, n={len(self.ratios)})"
        detail = f"; {self.detail}" if self.detail else ""
        return f"| {self.label} | {measured}{detail} | {limit} | {verdict} |"


@dataclass
class Bench:
    work: Path
    runs: int
    small: int
    large: int
    typer_help_times: list[float] = field(default_factory=list)

    # ------------------------------------------------------------------ helpers

    def script(self, name: str, text: str) -> Path:
        path = self.work / name
        if not path.exists():
            path.write_text(text)
        return path

    def kapplan(self, *args: str | Path) -> list[str]:
        return [sys.executable, str(self.script("kapplan_entry.py", KAPPLAN_ENTRY)), *map(str, args)]

    def typer_help(self) -> list[str]:
        return [sys.executable, str(self.script("typer_app.py", TYPER_APP)), "--help"]

    def alternate(
        self,
        ours: Sequence[str],
        baseline: Sequence[str],
        runs: int,
        before: Callable[[], None] | None = None,
        ok: tuple[int, ...] = (0,),
    ) -> tuple[list[float], list[float], list[float]]:
        """Ratios ours/baseline over ``runs`` pairs, each pair in alternating order."""
        ratios, mine, theirs = [], [], []
        for run in range(runs):
            order = (ours, baseline) if run % 2 == 0 else (baseline, ours)
            times = {}
            for command in order:
                if before is not None:
                    before()
                times[id(command)] = timed(command, ok if command is ours else (0,))
            mine.append(times[id(ours)])
            theirs.append(times[id(baseline)])
            ratios.append(mine[-1] / theirs[-1])
        if baseline == self.typer_help():
            self.typer_help_times += theirs
        return ratios, mine, theirs

    def against_typer(self, label: str, target: float, *args: str | Path, ok: tuple[int, ...] = (0,)) -> Figure:
        compile_kapplan()
        timed(self.kapplan(*args), ok)  # warm the file cache
        timed(self.typer_help(), (0,))
        ratios, mine, theirs = self.alternate(self.kapplan(*args), self.typer_help(), self.runs, ok=ok)
        detail = f"{ms(mine)} vs {ms(theirs)}"
        return Figure(label, target, ratios, detail)

    # ------------------------------------------------------------------ figures

    def startup(self) -> Figure:
        return self.against_typer("`kapplan --help` vs a two-command Typer app's `--help`", 1.0, "--help")

    def validate(self) -> Figure:
        from kapplan.io.bundled import bundled_paths

        paths = list(bundled_paths().values())
        label = f"`kapplan validate` of the {len(paths)} bundled protocols vs the Typer `--help`"
        return self.against_typer(label, 1.5, "validate", *paths)

    def plan(self, suffix: str, target: float) -> Figure:
        out = self.work / f"plan{suffix}"
        args = ("plan", one_protocol(), "--start", "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg")
        label = f"one-client `kapplan plan ... -o plan{suffix}` vs the Typer `--help`"
        return self.against_typer(label, target, *args, "-o", out)

    def alternatives(self) -> list[Figure]:
        """For the Spravato client of the README, whose first dose is delayed (KP401 and the
        dose-sooner search run in both): the plan vs the Typer `--help` (reported), and
        `plan --alternatives` vs that plan (<= 2x)."""
        args = ("plan", "spravato-trd", "--start", "2027-01-04", "--tz", "America/Chicago", "--weight", "80 kg",
                "--available", "Mon,Wed,Fri 13:00-18:00", "--unavailable", "2027-02-15..2027-02-19")
        plain = self.kapplan(*args, "-o", self.work / "plan-delayed.json")
        listed = self.kapplan(*args, "--alternatives", "--format", "json", "-o", self.work / "alternatives.json")
        compile_kapplan()
        timed(plain, (0,))
        timed(listed, (0,))
        ratios, mine, theirs = self.alternate(plain, self.typer_help(), self.runs)
        first = Figure("one-client `kapplan plan ... -o plan.json` (delayed: KP401 searched) vs the Typer `--help`",
                       None, ratios, f"{ms(mine)} vs {ms(theirs)}")
        ratios, mine, theirs = self.alternate(listed, plain, self.runs)
        second = Figure("`kapplan plan ... --alternatives` vs the same plain `plan -o plan.json`", 2.0, ratios,
                        f"{ms(mine)} vs {ms(theirs)}")
        return [first, second]

    def batch(self, parallel: bool) -> Figure:
        roster = self.roster(self.large)
        out = self.work / "batch-out"
        spec = self.work / f"calendars-{self.large}.json"
        jobs = [] if parallel else ["--jobs", "1"]
        ours = self.kapplan("batch", roster, "--out", out, "--format", "ics,json", *jobs)
        baseline_out = self.work / "baseline-out"
        baseline = [
            sys.executable,
            str(self.script("icalendar_alone.py", ICALENDAR_ALONE)),
            str(spec),
            str(baseline_out),
        ]

        def fresh() -> None:
            for folder in (out, baseline_out):
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()

        fresh()
        timed(ours, (0, 4))  # warm-up; its summary gives the baseline's calendars
        calendars, events, failed = write_calendar_spec(out / "summary.json", roster, spec)
        ratios, mine, theirs = self.alternate(ours, baseline, max(2, self.runs // 3), before=fresh, ok=(0, 4))
        fresh()
        jobs_text = "default --jobs" if parallel else "--jobs 1"
        label = f"`kapplan batch` {self.large:,} records, {jobs_text}, ics+json vs icalendar alone"
        detail = f"{calendars:,} calendars, {events:,} events, {failed} failed records; {sec(mine)} vs {sec(theirs)}"
        return Figure(label, 1.0 if parallel else 2.0, ratios, detail, stretch=parallel)

    def memory(self) -> Figure:
        peaks: dict[int, list[int]] = {self.small: [], self.large: []}
        runner = self.script("peak_memory.py", CHILD_PEAK_MEMORY)
        for run in range(max(1, min(2, self.runs // 3))):
            for size in (self.small, self.large) if run % 2 == 0 else (self.large, self.small):
                out = self.work / f"memory-{size}"
                shutil.rmtree(out, ignore_errors=True)
                roster = self.roster(size)
                command = self.kapplan("batch", roster, "--out", out, "--jobs", "1", "--combined", out / "all.ics")
                result = subprocess.run([sys.executable, str(runner), *command], capture_output=True, text=True)
                peaks[size].append(int(result.stdout.strip().splitlines()[-1]))
                shutil.rmtree(out, ignore_errors=True)
        ratios = [big / small for big, small in zip(peaks[self.large], peaks[self.small], strict=True)]
        scale = 1 if sys.platform != "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
        detail = f"peak RSS {statistics.median(peaks[self.small]) / 1024 / scale:.0f} MiB at {self.small:,}, "
        detail += f"{statistics.median(peaks[self.large]) / 1024 / scale:.0f} MiB at {self.large:,} (with --combined)"
        label = f"peak memory of `kapplan batch --jobs 1` at {self.large:,} vs {self.small:,} records"
        return Figure(label, 1.2, ratios, detail)

    def search(self) -> list[Figure]:
        cases = load_cases()
        if cases is None:
            return [Figure("worst-case single-client search", 1.0, missing="bench/cases.py not found", unit=" s")]
        from kapplan.engine import schedule

        if not self.typer_help_times:
            self.alternate(self.typer_help(), self.typer_help(), 2)
        typer_help = statistics.median(self.typer_help_times)
        worst_name, worst = "", [0.0]
        for name, build in cases.items():
            times = []
            for _ in range(max(3, self.runs)):
                request = build()
                start = time.perf_counter()
                try:
                    schedule(request)
                except Exception as err:  # noqa: BLE001 - infeasible answers are answers too
                    if type(err).__name__ != "InfeasibleError":
                        raise
                times.append(time.perf_counter() - start)
            if statistics.median(times) > statistics.median(worst):
                worst_name, worst = name, times
        label = f"worst-case single-client search ({worst_name}, of {len(cases)} adversarial cases)"
        seconds = Figure(label, 1.0, worst, unit=" s")
        ratio_label = "the same search vs the Typer app's `--help`"
        ratio = Figure(ratio_label, None, [t / typer_help for t in worst], f"--help {typer_help * 1000:.0f} ms")
        return [seconds, ratio]

    def infeasible(self) -> Figure:
        """``kapplan plan`` of the infeasible case at the input caps (bench/cases.py): the
        strict search, the report and the bounded scan for a later start date (< 3 s)."""
        if load_cases() is None:
            return Figure("infeasible plan at the input caps", 3.0, missing="bench/cases.py not found", unit=" s")
        import cases  # type: ignore[import-not-found]

        protocol = self.work / "five-by-hundred.json"
        protocol.write_text(json.dumps(cases.five_by_hundred()))
        command = self.kapplan("plan", protocol, "--start", "2026-12-07", "--tz", "America/New_York",
                               "--available", cases.DAILY_SLOT, "-o", self.work / "infeasible.json")
        compile_kapplan()
        timed(command, (3,))
        times = [timed(command, (3,)) for _ in range(max(3, self.runs))]
        label = "`kapplan plan` of 5 steps x 100 sessions in one 15-minute slot a day (infeasible, exit 3)"
        return Figure(label, 3.0, times, unit=" s")

    # ------------------------------------------------------------------ inputs

    def roster(self, size: int) -> Path:
        path = self.work / f"roster-{size}.csv"
        if not path.exists():
            write_roster(path, size)
        return path


def timed(command: Sequence[str], ok: tuple[int, ...]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in ok:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(command[1:3])}... exited {result.returncode}: {' / '.join(tail)}")
    return elapsed


def compile_kapplan() -> None:
    """Write kapplan's byte-code, as pip does when it installs the package.

    An editable install run with PYTHONDONTWRITEBYTECODE set would otherwise
    compile every module from source on every run, which no installed copy
    does (the Typer baseline's byte-code was written by pip)."""
    import compileall

    import kapplan

    compileall.compile_dir(Path(kapplan.__file__).parent, quiet=1)


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms"


def sec(times: list[float]) -> str:
    return f"{statistics.median(times):.1f} s"


def one_protocol() -> str:
    from kapplan.io.bundled import bundled_paths

    ids = list(bundled_paths())
    return "journey-sl-kap" if "journey-sl-kap" in ids else ids[0]


def write_roster(path: Path, size: int) -> None:
    """A deterministic roster of mixed bundled protocols, zones, starts and weights."""
    from kapplan.io.bundled import bundled_paths

    protocols = list(bundled_paths())
    rng = random.Random(size)
    first = date(2026, 1, 5)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "protocol", "start", "timezone", "weight", "holidays"])
        for number in range(1, size + 1):
            zone = rng.choice(ZONES)
            holidays = HOLIDAYS.get(zone, "") if rng.random() < 0.5 else ""
            start = first + timedelta(days=rng.randrange(0, 330))
            weight = f"{rng.randrange(50, 110)} kg"
            writer.writerow([f"C-{number:05d}", rng.choice(protocols), start.isoformat(), zone, weight, holidays])


def write_calendar_spec(summary: Path, roster: Path, spec: Path) -> tuple[int, int, int]:
    """The calendars the batch wrote (zone, events, dates), for the icalendar baseline."""
    with roster.open(newline="") as handle:
        zones = {row["id"]: row["timezone"] for row in csv.DictReader(handle)}
    records = json.loads(summary.read_text())["records"]
    calendars = [[zones[r["id"]], r["sessions"], r["first"], r["last"]] for r in records if r["status"] == "ok"]
    spec.write_text(json.dumps(calendars))
    failed = sum(r["status"] != "ok" for r in records)
    return len(calendars), sum(c[1] for c in calendars), failed


def load_cases() -> dict[str, Callable[[], object]] | None:
    """bench/cases.py: adversarial ScheduleRequest builders, by name."""
    if not (BENCH / "cases.py").exists():
        return None
    sys.path.insert(0, str(BENCH))
    import cases  # type: ignore[import-not-found]

    found = getattr(cases, "CASES", None)
    if isinstance(found, dict):
        return dict(found)
    return {
        name: builder
        for name, builder in vars(cases).items()
        if callable(builder) and name.startswith(("case_", "build_"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs; 1,000 and 2,000 records")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"comma list of: {', '.join(FIGURES)}")
    parser.add_argument("--runs", type=int, help="runs per figure (default 9; 3 with --quick)")
    options = parser.parse_args(argv)
    chosen = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}")
    runs = options.runs or (3 if options.quick else 9)
    with tempfile.TemporaryDirectory(prefix="kapplan-bench-") as folder:
        bench = Bench(Path(folder), runs, 1000, 2000 if options.quick else 10_000)
        print(
            f"kapplan benchmarks: Python {platform.python_version()}, {platform.machine()}, "
            f"{os_cpus()} CPU(s), {runs} runs per figure{' (quick)' if options.quick else ''}"
        )
        print()
        print("| figure | measured (median ratio) | target | result |")
        print("|---|---|---|---|")
        failures = 0
        for name in FIGURES:
            if name not in chosen:
                continue
            try:
                figures = measure(bench, name)
            except BenchError as err:
                figures = [Figure(name, None, missing=str(err))]
                failures += 1
            for figure in figures:
                print(figure.row(), flush=True)
    return 1 if failures else 0


def measure(bench: Bench, name: str) -> list[Figure]:
    table: dict[str, Callable[[], Figure | list[Figure]]] = {
        "startup": bench.startup,
        "validate": bench.validate,
        "plan-json": lambda: bench.plan(".json", 1.2),  # SPEC §9 says 1.5x; the time-of-day pass keeps 1.2x
        "plan-ics": lambda: bench.plan(".ics", 2.0),
        "alternatives": bench.alternatives,
        "batch": lambda: bench.batch(parallel=False),
        "batch-parallel": lambda: bench.batch(parallel=True),
        "memory": bench.memory,
        "search": bench.search,
        "infeasible": bench.infeasible,
    }
    found = table[name]()
    return found if isinstance(found, list) else [found]


def os_cpus() -> int:
    import os

    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
