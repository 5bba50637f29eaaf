"""Golden outputs: every bundled protocol with the example clients, through the CLI.

Plans, calendars (three audience/privacy settings), CSV, the table and month
views, a plan's life (mark, reschedule, export) and a batch with a combined
calendar, all under SOURCE_DATE_EPOCH so that two runs are byte-identical.
``tests/test_golden_outputs.py`` compares a fresh run with the files in
``tests/data/golden``; after a deliberate change of output, rewrite them with

    python tests/golden_outputs.py --write

and read the diff before committing it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden"
PLANNED_AT = "1796083200"  # 2026-12-01T00:00:00Z
MARKED_AT = "1797379200"  # 2026-12-16T00:00:00Z: after the first sessions

PROTOCOLS = (
    "im-kap-krupitsky", "iv-ketamine-ptsd", "iv-ketamine-trd", "journey-sl-kap", "mindbloom-home-kap", "spravato-trd",
)
CLIENTS = {
    "example": ROOT / "docs" / "examples" / "client.yaml",
    "ny72": DATA / "client_new_york_72kg.yaml",
    "ny72-winter": DATA / "client_new_york_72kg_us_ny_holidays_winter_break.yaml",
    "london": DATA / "client_london_158lb_full_profile.yaml",
}
CLINIC = DATA / "clinic_chicago_10_to_16_closed_2026-12-21_to_23.yaml"
CALENDARS = {
    "client-standard": [],
    "clinic-full": ["--audience", "clinic", "--privacy", "full"],
    "client-minimal-noalarms": ["--privacy", "minimal", "--no-alarms"],
}


@contextmanager
def _epoch(value: str) -> Iterator[None]:
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


class Recorder:
    """Runs kapplan commands and keeps what each wrote, by output name."""

    def __init__(self, work: Path) -> None:
        from kapplan.cli import app

        self.app = app
        self.runner = CliRunner()
        self.work = work
        self.outputs: dict[str, bytes] = {}

    def run(self, name: str | None, *args: str | Path) -> int:
        """One command whose data goes to stdout; with ``name``, that data is kept
        (or, when there is none, what ``transcript`` keeps)."""
        result = self.runner.invoke(self.app, [str(a) for a in args], catch_exceptions=False)
        if name is not None:
            self.outputs[name] = result.stdout_bytes or self._transcript(result)
        return result.exit_code

    def transcript(self, name: str, *args: str | Path) -> int:
        """One command kept whole: exit code, stdout and stderr."""
        result = self.runner.invoke(self.app, [str(a) for a in args], catch_exceptions=False)
        self.outputs[name] = self._transcript(result)
        return result.exit_code

    @staticmethod
    def _transcript(result: Any) -> bytes:
        return f"exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}".encode()

    def keep(self, name: str, path: Path) -> None:
        self.outputs[name] = path.read_bytes()


def record(work: Path) -> dict[str, bytes]:
    """Every golden output, produced in ``work``."""
    recorder = Recorder(work)
    with _epoch(PLANNED_AT):
        for protocol in PROTOCOLS:
            for client, path in CLIENTS.items():
                _one_client(recorder, protocol, client, path)
        _with_clinic(recorder)
        _batch(recorder)
    _lifecycle(recorder)
    return recorder.outputs


def _one_client(recorder: Recorder, protocol: str, client: str, path: Path) -> None:
    stem = f"{protocol}.{client}"
    plan = recorder.work / f"{stem}.plan.json"
    code = recorder.run(None, "plan", protocol, "--client", path, "-o", plan)
    if code != 0:
        recorder.transcript(f"{stem}.failure.txt", "plan", protocol, "--client", path)
        return
    recorder.keep(f"{stem}.plan.json", plan)
    for view in ("table", "calendar", "csv"):
        recorder.run(f"{stem}.{view}.txt", "plan", protocol, "--client", path, "--format", view)
    for name, flags in CALENDARS.items():
        recorder.run(f"{stem}.{name}.ics", "export", plan, *flags)
    recorder.run(f"{stem}.plan-ics.ics", "plan", protocol, "--client", path, "--format", "ics")
    if recorder.outputs[f"{stem}.plan-ics.ics"] == recorder.outputs[f"{stem}.client-standard.ics"]:
        del recorder.outputs[f"{stem}.plan-ics.ics"]  # kept only if `plan --format ics` ever differs from export


def _with_clinic(recorder: Recorder) -> None:
    for protocol in ("iv-ketamine-trd", "journey-sl-kap"):
        args = ["plan", protocol, "--client", CLIENTS["ny72"], "--clinic", CLINIC]
        recorder.run(f"{protocol}.clinic.plan.json", *args, "--format", "json")
        recorder.run(f"{protocol}.clinic.clinic-full.ics", *args, "--format", "ics", "--audience", "clinic",
                     "--privacy", "full")
    recorder.run("spravato-trd.deviations.plan.json", "plan", "spravato-trd", "--client", CLIENTS["ny72"],
                 "--available", "Mon 09:00-17:00",
                 "--allow-deviations", "--format", "json")


def _batch(recorder: Recorder) -> None:
    out = recorder.work / "batch"
    roster = DATA / "roster_mixed.csv"
    recorder.transcript("batch.transcript.txt", "batch", roster, "--out", out, "--combined", out / "combined.ics",
                 "--jobs", "1")
    for path in sorted(out.iterdir()):
        recorder.keep(f"batch.{path.name}", path)


def _lifecycle(recorder: Recorder) -> None:
    plan = recorder.work / "life.plan.json"
    with _epoch(PLANNED_AT):
        recorder.run(None, "plan", "iv-ketamine-trd", "--client", CLIENTS["ny72"], "-o", plan)
    with _epoch(MARKED_AT):
        recorder.transcript("life.mark-1.txt", "mark", plan, "screening-1", "done")
        recorder.transcript("life.mark-2.txt", "mark", plan, "infusion-1", "done", "--at", "2026-12-08 10:30")
        recorder.transcript("life.mark-3.txt", "mark", plan, "infusion-2", "missed")
        recorder.transcript("life.mark-4.txt", "mark", plan, "infusion-3", "cancelled")
        recorder.transcript("life.status.txt", "status", plan)
        recorder.transcript("life.reschedule-dry.txt", "reschedule", plan, "--dry-run")
        recorder.transcript("life.reschedule.txt", "reschedule", plan, "--unavailable", "2026-12-21")
        recorder.transcript("life.reschedule-allow.txt", "reschedule", plan, "--unavailable", "2026-12-21",
                            "--allow-deviations")
        recorder.keep("life.plan.json", plan)
        recorder.run("life.clinic-full.ics", "export", plan, "--audience", "clinic", "--privacy", "full")


def produce() -> dict[str, bytes]:
    """Golden outputs from a fresh temporary folder (paths in outputs are made relative)."""
    work = Path(tempfile.mkdtemp(prefix="kapplan-golden-"))
    cwd = Path.cwd()
    try:
        os.chdir(work)
        outputs = record(Path("."))
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    return {name: data.replace(str(ROOT).encode(), b"<ROOT>") for name, data in outputs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite tests/data/golden")
    args = parser.parse_args(argv)
    outputs = produce()
    if args.write:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, data in outputs.items():
            (GOLDEN / name).write_bytes(data)
    sys.stdout.write(f"{len(outputs)} golden output(s){' written' if args.write else ''}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
