"""`kapplan batch --ledger`: a roster booked into the clinic's ledger file in
roster order, each record committed before its files are written, alongside
coordinators booking from other terminals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_helpers import CLINIC, EPOCH, PROTOCOL, double_bookings, env, file_bookings, plan_args, series_of, stored
from typer.testing import CliRunner

from kapplan.cli import app


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def roster(folder: Path, ids: list[str]) -> Path:
    shutil.copy(PROTOCOL, folder / PROTOCOL.name)
    lines = [f"- {{id: {i}, protocol: {PROTOCOL.name}, start: 2026-12-07, timezone: America/New_York, "
             f"availability: ['Mon-Fri 09:00-12:00']}}" for i in ids]
    path = folder / "roster.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def batch(path: Path, out: Path, ledger: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["batch", str(path), "--out", str(out), "--clinic", str(CLINIC),
                                      "--ledger", str(ledger), *extra])
    return result.exit_code, result.stderr


def test_a_roster_is_booked_in_roster_order(tmp_path: Path) -> None:
    ledger, out = tmp_path / "clinic.ledger", tmp_path / "out"
    code, err = batch(roster(tmp_path, ["B-1", "B-2", "B-3"]), out, ledger)
    assert code == 0, err
    plans = [out / f"B-{i}.plan.json" for i in (1, 2, 3)]
    held = stored(ledger)
    assert sorted(held) == sorted(series_of(p) for p in plans)
    for plan_file in plans:
        assert sorted(held[series_of(plan_file)]) == file_bookings(plan_file)
        assert json.loads(plan_file.read_text())["booking"]["ledger"] == str(ledger)
    firsts = [json.loads(p.read_text())["sessions"][0]["start"] for p in plans]
    assert firsts == ["2026-12-07T09:00:00-05:00", "2026-12-07T10:00:00-05:00", "2026-12-07T11:00:00-05:00"]
    assert double_bookings(ledger) == []
    code, err = batch(roster(tmp_path, ["B-1", "B-2", "B-3"]), out, ledger)  # again: every record kept
    assert code == 0, err
    assert stored(ledger) == held
    result = CliRunner().invoke(app, ["status", str(plans[0])])
    assert result.exit_code == 0, result.stderr


def test_a_record_whose_plan_file_was_edited_fails_with_the_fix(tmp_path: Path) -> None:
    ledger, out = tmp_path / "clinic.ledger", tmp_path / "out"
    path = roster(tmp_path, ["B-1", "B-2"])
    assert batch(path, out, ledger)[0] == 0
    edited = out / "B-1.plan.json"
    edited.write_text(edited.read_text().replace('"sequence": 0', '"sequence": 1', 1))
    code, err = batch(path, out, ledger)
    assert code == 4
    summary = json.loads((out / "summary.json").read_text())
    failed = [r for r in summary["records"] if r["status"] == "failed"]
    assert [r["id"] for r in failed] == ["B-1"]
    assert "kapplan ledger sync" in failed[0]["error"]
    assert "kapplan ledger release" in failed[0]["error"]


def test_batch_ledger_needs_a_staffed_clinic_and_plan_files(tmp_path: Path) -> None:
    path = roster(tmp_path, ["B-1"])
    code, err = batch(path, tmp_path / "out", tmp_path / "l.ledger", "--format", "ics")
    assert code == 2
    assert "json" in err
    result = CliRunner().invoke(app, ["batch", str(path), "--out", str(tmp_path / "out"),
                                      "--ledger", str(tmp_path / "l.ledger")])
    assert result.exit_code == 2
    assert "--clinic" in result.stderr


def test_a_batch_and_three_coordinators_at_once(tmp_path: Path) -> None:
    ledger, out = tmp_path / "clinic.ledger", tmp_path / "out"
    path = roster(tmp_path, [f"B-{i}" for i in range(6)])
    command = [sys.executable, "-m", "kapplan", "batch", str(path), "--out", str(out), "--clinic", str(CLINIC),
               "--ledger", str(ledger)]
    procs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())]
    singles = [tmp_path / f"s{i}.plan.json" for i in range(3)]
    procs += [subprocess.Popen([sys.executable, "-m", "kapplan", *plan_args(f"S-{i}", single, ledger)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env())
              for i, single in enumerate(singles)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    plans = [out / f"B-{i}.plan.json" for i in range(6)] + singles
    held = stored(ledger)
    assert sorted(held) == sorted(series_of(p) for p in plans)
    for plan_file in plans:
        assert sorted(held[series_of(plan_file)]) == file_bookings(plan_file)
    assert double_bookings(ledger) == []
