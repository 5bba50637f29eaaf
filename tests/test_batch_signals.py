"""Batch under signals and a failing disk, with real processes: SIGTERM and
SIGHUP end the run like Ctrl-C (workers stopped, temporary files removed,
the summary says "interrupted"), a write limit is exit 2, and a record's
files are written both or neither."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1796547600", "NO_COLOR": "1"}


def roster(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "roster.csv"
    lines = ["id,protocol,start,timezone,weight"]
    lines += [f"C-{i:05d},iv-ketamine-trd,2026-12-07,America/New_York,72 kg" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def children_of(pid: int) -> list[int]:
    """Every live process whose parent is ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("PPid", "").strip() == str(pid):
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.parametrize(("signame", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_signal_on_a_2000_row_batch_stops_workers_and_leaves_no_temp_file(tmp_path: Path, signame: str,
                                                                          code: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"roster": "an earlier run"}')
    run = subprocess.Popen([sys.executable, "-m", "kapplan", "batch", str(roster(tmp_path, 2000)), "--out",
                            str(out), "--jobs", "2"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    wait_for(lambda: len(list(out.glob("*.plan.json"))) >= 20)
    running = json.loads((out / "summary.json").read_text())
    assert running["state"] == "running"  # this run's, replacing the earlier one
    assert running["roster"].endswith("roster.csv")
    workers = children_of(run.pid)
    assert workers
    run.send_signal(getattr(signal, signame))
    _, err = run.communicate(timeout=60)
    assert run.returncode == code, err
    assert "Traceback" not in err
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10)
    assert temp_files(out) == []
    assert temp_files(tmp_path) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] == "interrupted"
    written = {p.name for p in out.iterdir()} - {"summary.json"}
    listed = {name for record in summary["records"] for name in record["files"]}
    assert listed == written, (err, summary["records"][-2:])  # every file it lists is there, nothing else
    assert 0 < len(summary["records"]) < 2000


def test_out_folder_is_created_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    done = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(roster(tmp_path, 2)), "--out", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out.stat().st_mode & 0o777) == 0o700
    assert json.loads((out / "summary.json").read_text())["state"] == "complete"


def limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_a_write_limit_is_exit_2_and_no_record_is_half_written(tmp_path: Path) -> None:
    """Each calendar fits under the limit, each plan file does not: no record
    may be left with its calendar but without its plan."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(roster(tmp_path, 3)), "--out", str(out),
                           "--jobs", "1"], env=ENV, capture_output=True, text=True, timeout=120,
                          preexec_fn=limit_file_size)
    assert done.returncode == 2, done.stderr
    assert "cannot write" in done.stderr
    assert "Traceback" not in done.stderr
    names = {p.name for p in out.iterdir()}
    assert not any(name.endswith(".ics") for name in names)
    assert temp_files(out) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["state"] in ("running", "interrupted")


def test_batch_refuses_to_write_over_its_roster(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    listed = out / "C-00001.ics"  # a CSV roster under a record's calendar name
    listed.write_text(roster(tmp_path, 3).read_text())
    before = listed.read_bytes()
    done = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(listed), "--out", str(out)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "would replace an input" in done.stderr
    assert listed.read_bytes() == before
    assert (out / "C-00000.plan.json").exists()
    assert not (out / "C-00001.plan.json").exists()  # both files of that record, or neither
    both = tmp_path / "all.ics"  # the roster given as --combined too
    both.write_text((tmp_path / "roster.csv").read_text())
    again = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(both), "--out",
                            str(tmp_path / "o2"), "--combined", str(both)],
                           env=ENV, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2, again.stderr
    assert "input of this command" in again.stderr
    summary_roster = tmp_path / "o3" / "summary.json"
    summary_roster.parent.mkdir()
    summary_roster.write_text((tmp_path / "roster.csv").read_text())
    last = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(summary_roster), "--out",
                           str(summary_roster.parent)], env=ENV, capture_output=True, text=True, timeout=120)
    assert last.returncode == 2
    assert "input of this command" in last.stderr


@pytest.mark.parametrize("command", [["mark", "KEY", "missed"], ["reschedule", "--allow-deviations"],
                                     ["plan-over"]])
def test_sigterm_on_a_writing_command_leaves_no_temp_file(tmp_path: Path, command: list[str]) -> None:
    """SIGTERM at staggered moments of a writing command: exit 143 (or done),
    never a temporary file, and the plan always reads back."""
    plan = tmp_path / "plan.json"
    made = subprocess.run([sys.executable, "-m", "kapplan", "plan", "iv-ketamine-trd", "--id", "C-1", "--start",
                           "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg", "-o", str(plan)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    for delay in (0.25, 0.4, 0.55, 0.7, 0.85):
        if command == ["plan-over"]:
            args = ["plan", "iv-ketamine-trd", "--id", "C-1", "--start", "2026-12-08", "--tz", "America/New_York",
                    "--weight", "72 kg", "-o", str(plan)]
        else:
            args = [command[0], str(plan), *[("screening-1" if a == "KEY" else a) for a in command[1:]]]
        run = subprocess.Popen([sys.executable, "-m", "kapplan", *args], env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        assert run.returncode in (0, 1, 143, -signal.SIGTERM), (delay, run.returncode, err)
        assert "Traceback" not in err, (delay, err)
        assert temp_files(tmp_path) == [], (delay, run.returncode, err)
        check = subprocess.run([sys.executable, "-m", "kapplan", "status", str(plan)], env=ENV,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, (delay, run.returncode, err, check.stderr)
