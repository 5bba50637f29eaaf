"""The ledger under real processes (SPEC §11): sixteen coordinators booking at
once, and commands killed (SIGKILL) at random points of a booking. Always
subprocesses, never threads: the guarantees are between processes."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_helpers import (
    double_bookings,
    env,
    file_bookings,
    integrity,
    kapplan,
    plan_args,
    series_of,
    stored,
)
from typer.testing import CliRunner

from kapplan.cli import app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and file locks")


def test_sixteen_processes_booking_at_once(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    files = [tmp_path / f"c{i:02d}.plan.json" for i in range(16)]
    procs = [subprocess.Popen([sys.executable, "-m", "kapplan", *plan_args(f"C-{i:02d}", out, ledger)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())
             for i, out in enumerate(files)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, errors
    assert integrity(ledger) == "ok"
    assert double_bookings(ledger) == []
    held = stored(ledger)
    assert sorted(held) == sorted(series_of(f) for f in files)  # no lost booking
    for plan_file in files:
        assert sorted(held[series_of(plan_file)]) == file_bookings(plan_file)
    assert sum(len(rows) for rows in held.values()) == 16 * 3


REFUSAL = ("kapplan ledger sync", "kapplan ledger release")


def _killed_command(round_: int, files: list[Path], ledger: Path) -> list[str]:
    """Round by round: new bookings, re-plans over booked files, marks."""
    target = files[round_ % len(files)]
    if round_ % 3 == 2 and target.exists():
        key = ("preparation-1", "medicine-1", "medicine-2")[round_ % 3]
        return ["mark", str(target), key, ("missed", "cancelled")[round_ % 2]]
    start = f"2026-12-{7 + round_ % 10:02d}"
    return [*plan_args(f"C-{round_ % len(files)}", target, ledger, start=start), "--force"]


def run(*args: str | Path) -> tuple[int, str]:
    """The next command, in this process (the killed one was a real process)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stderr


def _recover(plan_file: Path, ledger: Path) -> None:
    """The next command: accepted, or refused naming sync/release, then fixed by the fix it names."""
    if plan_file.exists():
        code, err = run("status", plan_file)
        if code == 0:
            return
        assert code == 1, err
        assert all(words in err for words in REFUSAL), err
        code, err = run("ledger", "sync", plan_file)
        assert code == 0, err
        return
    for stale in _series_at(ledger, plan_file):  # committed, but the new file never got its name
        code, err = run(*plan_args("C-x", plan_file, ledger))
        assert code == 1, err
        assert f"kapplan ledger release {stale} --ledger {ledger}" in err
        code, err = run("ledger", "release", stale, "--ledger", ledger)
        assert code == 0, err


def _series_at(ledger: Path, plan_file: Path) -> list[str]:
    db = sqlite3.connect(ledger)
    try:
        return [row[0] for row in db.execute("SELECT series FROM series WHERE plan_path = ?", (str(plan_file),))]
    finally:
        db.close()


def test_sigkill_at_random_points_is_harmless_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env().items():
        if name in ("SOURCE_DATE_EPOCH", "NO_COLOR", "KAPPLAN_LOCK_WAIT"):
            monkeypatch.setenv(name, value)
    rng = random.Random(12)
    ledger = tmp_path / "clinic.ledger"
    files = [tmp_path / f"c{i}.plan.json" for i in range(4)]
    for i, plan_file in enumerate(files):
        assert run(*plan_args(f"C-{i}", plan_file, ledger))[0] == 0
    started = time.perf_counter()
    assert kapplan(*_killed_command(0, files, ledger)).returncode == 0
    typical = time.perf_counter() - started
    outcomes = {"finished": 0, "killed": 0}
    for round_ in range(50):
        command = _killed_command(round_, files, ledger)
        proc = subprocess.Popen([sys.executable, "-m", "kapplan", *command], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env())
        # half the rounds anywhere, half near the end: the commit, the write and the rename
        time.sleep(typical * (rng.uniform(0.0, 1.1) if round_ % 2 else rng.uniform(0.7, 1.05)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            outcomes["killed"] += 1
        else:
            outcomes["finished"] += 1
        proc.wait(timeout=60)
        assert integrity(ledger) == "ok"
        assert double_bookings(ledger) == [], round_
        target = files[round_ % len(files)]
        _recover(target, ledger)
        held = stored(ledger)
        if target.exists() and json.loads(target.read_text()).get("booking"):
            # never a silent mismatch: a file the ledger accepts is exactly what it holds
            assert run("status", target)[0] == 0
            assert sorted(held.get(series_of(target), [])) in ([], file_bookings(target)), round_
        assert double_bookings(ledger) == []
    assert outcomes["killed"] >= 10, outcomes
