"""Booking through the command line (SPEC §11): plan -o books, re-plans replace
their own bookings, mark frees capacity, every command on a booked plan
reconciles it first, `ledger sync` re-checks a hand edit, `ledger release`
drops a series. One therapist (kim) and one room (room-a) serve everyone."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
from ledger_helpers import CLINIC, EPOCH, PROTOCOL, double_bookings, file_bookings, plan_args, series_of, stored
from typer.testing import CliRunner

from kapplan.api import schema
from kapplan.cli import app


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("NO_COLOR", "1")


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def book(client: str, out: Path, ledger: Path, **options: str) -> Path:
    code, _, err = run(*plan_args(client, out, ledger, **options))
    assert code == 0, err
    return out


def starts(plan_file: Path) -> dict[str, str]:
    return {s["key"]: s["start"] for s in json.loads(plan_file.read_text())["sessions"]}


def agenda(ledger: Path) -> list[dict[str, object]]:
    code, out, err = run("agenda", "--ledger", ledger, "--from", "2026-12-07", "--days", "60", "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_plan_o_books_the_plan_and_records_its_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    plan = json.loads(plan_file.read_text())
    assert plan["booking"]["ledger"] == str(ledger)
    assert plan["booking"]["clinic"] == "northside"
    assert len(plan["booking"]["ledger_id"]) == 36
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    rows = agenda(ledger)
    assert [(r["client"], r["key"], r["start"]) for r in rows] == [
        ("C-1", s["key"], s["start"]) for s in plan["sessions"]]
    assert all(r["assigned"] == [{"role": "therapist", "id": "kim"}] and r["room"] == "room-a" for r in rows)
    assert sorted(stored(ledger)[plan["series"]]) == file_bookings(plan_file)


def test_a_second_client_is_planned_around_the_first(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    first = book("C-1", tmp_path / "c1.plan.json", ledger)
    second = book("C-2", tmp_path / "c2.plan.json", ledger)
    assert starts(first)["preparation-1"] == "2026-12-07T09:00:00-05:00"
    assert starts(second)["preparation-1"] == "2026-12-07T10:00:00-05:00"
    assert not set(starts(first).values()) & set(starts(second).values())
    assert double_bookings(ledger) == []
    assert len(agenda(ledger)) == 6


def test_plan_without_o_reads_the_ledger_but_books_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    book("C-1", tmp_path / "c1.plan.json", ledger)
    args = plan_args("C-2", tmp_path / "unused.json", ledger)[:-2]
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["sessions"][0]["start"] == "2026-12-07T10:00:00-05:00"
    assert len(stored(ledger)) == 1


def test_a_replan_replaces_its_own_bookings(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    series = series_of(plan_file)
    book("C-1", plan_file, ledger, start="2026-12-14")
    assert series_of(plan_file) == series  # the series is kept (SPEC §14)
    assert list(stored(ledger)) == [series]
    assert sorted(stored(ledger)[series]) == file_bookings(plan_file)
    assert starts(plan_file)["preparation-1"] == "2026-12-14T09:00:00-05:00"


def test_a_change_of_series_releases_the_old_bookings(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    old = series_of(plan_file)
    code, _, err = run(*plan_args("C-9", plan_file, ledger))  # another client id: a new series
    assert code == 0, err
    assert series_of(plan_file) != old
    assert list(stored(ledger)) == [series_of(plan_file)]


def test_mark_cancelled_frees_capacity_that_the_next_booking_uses(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    first = book("C-1", tmp_path / "c1.plan.json", ledger)
    freed = starts(first)["medicine-1"]
    before = book("C-2", tmp_path / "before.plan.json", ledger)
    assert starts(before)["medicine-1"] != freed
    code, _, err = run("ledger", "release", series_of(before), "--ledger", ledger)
    assert code == 0, err
    code, _, err = run("mark", first, "medicine-1", "cancelled")
    assert code == 0, err
    assert [r["key"] for r in agenda(ledger)] == ["preparation-1", "medicine-2"]
    after = book("C-2", tmp_path / "c2.plan.json", ledger)
    assert starts(after)["medicine-1"] == freed
    assert double_bookings(ledger) == []
    assert sorted(stored(ledger)[series_of(first)]) == file_bookings(first)


def test_a_hand_edited_plan_is_refused_until_synced(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    data = json.loads(plan_file.read_text())
    data["sessions"][-1]["start"] = "2026-12-11T13:00:00-05:00"
    data["sessions"][-1]["end"] = "2026-12-11T15:00:00-05:00"
    plan_file.write_text(json.dumps(data, indent=2))
    series = data["series"]
    for command in (("status", plan_file), ("export", plan_file), ("mark", plan_file, "preparation-1", "missed"),
                    ("reschedule", plan_file)):
        code, out, err = run(*command)
        assert code == 1, (command, out, err)
        assert f"kapplan ledger sync {plan_file}" in err
        assert f"kapplan ledger release {series} --ledger {ledger}" in err
    code, _, err = run("ledger", "sync", plan_file)
    assert code == 0, err
    assert [r["start"] for r in agenda(ledger)][-1] == "2026-12-11T13:00:00-05:00"
    code, _, err = run("status", plan_file)
    assert code == 0, err


def test_ledger_sync_rechecks_conflicts_after_a_hand_edit(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    first = book("C-1", tmp_path / "c1.plan.json", ledger)
    second = book("C-2", tmp_path / "c2.plan.json", ledger)
    taken = json.loads(first.read_text())["sessions"][1]  # C-1's medicine-1: kim and room-a
    data = json.loads(second.read_text())
    data["sessions"][1]["start"], data["sessions"][1]["end"] = taken["start"], taken["end"]
    second.write_text(json.dumps(data, indent=2))
    code, out, err = run("ledger", "sync", second, "--format", "json")
    assert code == 1, out + err
    assert "conflict" in err
    assert "kim" in err or "room-a" in err
    assert double_bookings(ledger) == []
    assert sorted(stored(ledger)[data["series"]]) != file_bookings(second)  # nothing adopted
    data["sessions"][1]["start"] = "2026-12-16T09:00:00-05:00"
    data["sessions"][1]["end"] = "2026-12-16T11:00:00-05:00"
    second.write_text(json.dumps(data, indent=2))
    code, out, err = run("ledger", "sync", second, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["bookings"] == 3
    jsonschema.validate(json.loads(out), schema("ledger-sync"))
    assert sorted(stored(ledger)[data["series"]]) == file_bookings(second)


def test_ledger_release_drops_a_series_and_the_plan_books_again(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    series = series_of(plan_file)
    code, out, err = run("ledger", "release", series, "--ledger", ledger, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {"series": series, "ledger": str(ledger), "released": 3, "plan": str(plan_file)}
    jsonschema.validate(json.loads(out), schema("ledger-release"))
    assert agenda(ledger) == []
    code, _, err = run("status", plan_file)
    assert code == 0, err  # a released series is simply not booked
    code, _, err = run("reschedule", plan_file)
    assert code == 0, err
    assert sorted(stored(ledger)[series]) == file_bookings(plan_file)
    code, _, err = run("ledger", "release", series + "x", "--ledger", ledger)
    assert code == 1
    assert "holds no series" in err


def test_a_booked_plan_keeps_its_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    other = tmp_path / "other.ledger"
    book("C-5", tmp_path / "c5.plan.json", other)
    code, _, err = run("mark", plan_file, "preparation-1", "missed", "--ledger", other)
    assert code == 2
    assert "booked in the ledger" in err
    assert "another ledger" in err
    moved = tmp_path / "moved.ledger"
    ledger.rename(moved)
    for command in (("status", plan_file), ("export", plan_file), ("handout", plan_file)):
        code, out, err = run(*command)
        assert code == 0, (command, err)
        assert "cannot be reached" in err
    code, _, err = run("mark", plan_file, "preparation-1", "missed")
    assert code == 2
    assert "cannot be reached" in err
    code, _, err = run("mark", plan_file, "preparation-1", "missed", "--ledger", moved)
    assert code == 0, err  # the same ledger (same id), moved: accepted


def test_a_ledger_books_one_clinic(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    book("C-1", tmp_path / "c1.plan.json", ledger)
    args = plan_args("C-2", tmp_path / "c2.plan.json", ledger)
    args[args.index(str(CLINIC))] = str(CLINIC.with_name("clinic_southside.yaml"))
    code, _, err = run(*args)
    assert code == 2
    assert "books the clinic 'northside'" in err
    assert not (tmp_path / "c2.plan.json").exists()


def test_ledger_flags_need_a_clinic_and_a_json_plan(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    code, _, err = run("plan", PROTOCOL, "--id", "C-1", "--start", "2026-12-07", "--tz", "America/New_York",
                       "--ledger", ledger, "-o", tmp_path / "c1.plan.json")
    assert code == 2
    assert "--clinic" in err
    code, _, err = run(*plan_args("C-1", tmp_path / "c1.ics", ledger))
    assert code == 2
    assert "JSON" in err


def test_a_file_missing_after_its_commit_is_named_with_its_fix(tmp_path: Path) -> None:
    """What a crash between the commit and the rename leaves: the ledger holds a
    series for a file that is not there."""
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    series = series_of(plan_file)
    plan_file.unlink()
    code, _, err = run(*plan_args("C-1", plan_file, ledger))
    assert code == 1
    assert f"kapplan ledger release {series} --ledger {ledger}" in err
    code, _, err = run("ledger", "release", series, "--ledger", ledger)
    assert code == 0, err
    book("C-1", plan_file, ledger)


def test_booking_times_are_aware_and_round_trip(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    for row in agenda(ledger):
        assert datetime.fromisoformat(str(row["start"])).utcoffset() is not None
    assert sorted(stored(ledger)[series_of(plan_file)]) == file_bookings(plan_file)


def test_a_plan_restored_from_its_backup_is_refused_until_synced(tmp_path: Path) -> None:
    """What a crash between the ledger's commit and the rename leaves: the old file."""
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    code, _, err = run("mark", plan_file, "medicine-1", "cancelled")
    assert code == 0, err
    assert "medicine-1" not in [r["key"] for r in agenda(ledger)]
    plan_file.write_bytes(plan_file.with_name(plan_file.name + ".bak").read_bytes())
    code, _, err = run("status", plan_file)
    assert code == 1
    assert f"kapplan ledger sync {plan_file}" in err
    assert "kapplan ledger release" in err
    code, _, err = run("ledger", "sync", plan_file)
    assert code == 0, err
    assert "medicine-1" in [r["key"] for r in agenda(ledger)]  # the file is what the ledger now holds
    assert sorted(stored(ledger)[series_of(plan_file)]) == file_bookings(plan_file)


def test_a_booked_plan_replanned_without_its_clinic_is_refused(tmp_path: Path) -> None:
    ledger = tmp_path / "clinic.ledger"
    plan_file = book("C-1", tmp_path / "c1.plan.json", ledger)
    before = plan_file.read_bytes()
    code, _, err = run("plan", PROTOCOL, "--id", "C-1", "--start", "2026-12-07", "--tz", "America/New_York",
                       "-o", plan_file)
    assert code == 2
    assert "--clinic FILE" in err
    assert plan_file.read_bytes() == before
