"""Plan files are locked from the read to the rename (SPEC §14): two writers
at once never lose a change. Real processes, real files; no threads, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kapplan.io.locks import file_lock
from kapplan.models.errors import UsageError

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_four_doses_weekly_integration.yaml"
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1796547600", "NO_COLOR": "1"}  # 2026-12-06 09:00 UTC


def kapplan(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kapplan", *args], capture_output=True, text=True,
                          env={**ENV, **kw.pop("env", {})}, timeout=120, **kw)  # type: ignore[arg-type]


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    done = kapplan("plan", str(PROTOCOL), "--id", "C-1", "--start", "2026-12-07", "--tz", "America/New_York",
                   "--weight", "72 kg", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


WRITER = textwrap.dedent("""
    import sys
    from datetime import UTC, datetime
    from kapplan import api
    path, key, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    for i in range(rounds):
        api.mark_file(path, key, "missed" if i % 2 == 0 else "cancelled", now=now)
""")


def test_two_writers_fifty_rounds_keep_every_change(plan_file: Path) -> None:
    """Two processes each change the plan 50 times at once: all 100 changes are in the history."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(plan_file), key, "50"], env=ENV,
                                stderr=subprocess.PIPE, text=True)
               for key in ("medicine-3", "medicine-4")]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    plan = json.loads(plan_file.read_text())
    assert len(plan["history"]) == 100
    mine = [entry["command"].split()[1] for entry in plan["history"]]
    assert mine.count("medicine-3") == 50
    assert mine.count("medicine-4") == 50
    statuses = {s["key"]: s["status"] for s in plan["sessions"]}
    assert statuses["medicine-3"] == statuses["medicine-4"] == "cancelled"


def test_mark_racing_reschedule_keeps_both(plan_file: Path) -> None:
    """`kapplan mark` and `kapplan reschedule` started together: the mark survives the reschedule."""
    for round_ in range(3):
        key = f"medicine-{round_ + 2}"
        last = json.loads(plan_file.read_text())["sessions"][-1]["start"][:10]  # blocking it forces a change
        mark = subprocess.Popen([sys.executable, "-m", "kapplan", "mark", str(plan_file), key, "missed"],
                                env=ENV, stderr=subprocess.PIPE, text=True)
        again = subprocess.Popen([sys.executable, "-m", "kapplan", "reschedule", str(plan_file),
                                  "--allow-deviations", "--unavailable", last],
                                 env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for proc in (mark, again):
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        commands = [entry["command"] for entry in json.loads(plan_file.read_text())["history"]]
        assert f"mark {key} missed" in commands
        assert any(c.startswith("reschedule") and last in c for c in commands)


def test_busy_file_is_exit_2_naming_it(plan_file: Path) -> None:
    """A writer that cannot get the lock within the wait stops with exit 2 and the file's name."""
    with file_lock(plan_file):
        done = kapplan("mark", str(plan_file), "medicine-2", "missed", env={"KAPPLAN_LOCK_WAIT": "0.3"})
    assert done.returncode == 2
    assert str(plan_file) in done.stderr
    assert "busy" in done.stderr
    assert "missed" not in json.dumps(json.loads(plan_file.read_text())["history"])


def test_waiting_writer_works_on_the_new_content(plan_file: Path) -> None:
    """The second writer waits, and then reads what the first one renamed into place."""
    with file_lock(plan_file) as target:
        waiting = subprocess.Popen([sys.executable, "-m", "kapplan", "mark", str(plan_file), "medicine-2",
                                    "missed"], env=ENV, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert waiting.poll() is None  # still waiting for the lock
        from kapplan import api

        api.write_plan(api.mark(api.read_plan(target), "medicine-3", "cancelled").plan, target)
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    statuses = {s["key"]: s["status"] for s in json.loads(plan_file.read_text())["sessions"]}
    assert statuses["medicine-2"] == "missed"
    assert statuses["medicine-3"] == "cancelled"


def test_lock_is_reentrant_and_follows_links(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with file_lock(link) as target, file_lock(real, wait=0) as again:
        assert target == again == real.resolve()


def test_new_file_locks_its_folder(tmp_path: Path) -> None:
    """A file that does not exist yet: a second creator waits for the first."""
    new = tmp_path / "new.json"
    with file_lock(new):
        code = f"from kapplan.io.locks import file_lock\nwith file_lock({str(new)!r}, wait=0.2): pass"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert "busy" in done.stderr
    with file_lock(new, wait=0):
        pass


def test_lock_on_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a folder"), file_lock(tmp_path):
        pass
