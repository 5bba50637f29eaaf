"""bench/run.py runs and prints its table (timings are never asserted: SPEC §9)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_bench_prints_one_row_per_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--runs", "2", "--only", "startup"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "| figure | measured (median ratio) | target | result |" in lines
    rows = [line for line in lines if line.startswith("| `kapplan --help`")]
    assert len(rows) == 1
    assert re.search(
        r"\| \d+\.\d\dx \(spread \d+\.\d\d-\d+\.\d\d, n=2\); \d+ ms vs \d+ ms \| <= 1x \| (met|NOT MET) \|$", rows[0]
    )


def test_bench_rejects_an_unknown_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--only", "nonsense"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "unknown figure(s): nonsense" in done.stderr


def test_the_ledger_bench_prints_its_two_figures() -> None:
    ledger_bench = BENCH.with_name("ledger.py")
    done = subprocess.run([sys.executable, str(ledger_bench), "--runs", "1", "--clients", "20"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| booking one client") or
            line.startswith("| `kapplan agenda")]
    assert len(rows) == 2, done.stdout
    assert all(re.search(r"\| \d+\.\d\dx \(spread", row) for row in rows), rows
