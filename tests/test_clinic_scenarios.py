"""Clinic scenarios through the command line (SPEC §11): leave mid-series, staff in
another zone, a preferred therapist, a clinic roster booked by ``batch --clinic``.

Plans are read back from the files the commands wrote and checked with the
independent checkers (tests/capacity_checker.py, tests/plan_checker.py).
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from capacity_checker import capacity_violations
from plan_checker import expected_keys, violations
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.io.bundled import bundled_paths
from kapplan.models.plan import Plan
from kapplan.planning.build import build_request
from kapplan.planning.embedded import client_of, clinic_of, protocol_of

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
EXAMPLE_CLINIC = ROOT / "docs" / "examples" / "clinic.yaml"
STAFFED = DATA / "protocol_staffed_prep_three_doses.yaml"
HANDOVER = DATA / "clinic_kim_week_one_lee_week_two.yaml"
NY = "America/New_York"
NOW = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)
runner = CliRunner()


def plan_cli(*args: str) -> Any:
    return runner.invoke(app, ["plan", *args])


# ---------------------------------------------------------------------------- leave mid-series

LEAVE = [str(STAFFED), "--id", "C-1", "--start", "2026-12-07", "--tz", NY, "--weight", "72 kg",
         "--unavailable", "2026-12-19..2027-12-31", "--clinic", str(HANDOVER)]


def test_a_therapist_on_leave_mid_series_is_refused_strictly() -> None:
    """kim works only the first week, lee only the second, and the client only these two
    weeks: three doses 2d..14d apart on weekdays need both weeks, so no one therapist
    can serve the series, and no relaxed plan keeps one either."""
    result = plan_cli(*LEAVE)
    assert result.exit_code == 3
    assert "no single therapist is free for every session of the series" in result.stderr


def test_with_deviations_the_series_is_handed_over_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = plan_cli(*LEAVE, "--allow-deviations", "-o", str(out))
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    therapists = [(s["key"], s["start"][:16], s["assigned"][0]["id"]) for s in plan["sessions"]]
    assert therapists == [
        ("preparation-1", "2026-12-07T09:00", "kim"),
        ("medicine-1", "2026-12-08T09:00", "kim"),
        ("medicine-1.integration", "2026-12-09T09:00", "kim"),
        ("medicine-2", "2026-12-10T09:00", "kim"),
        ("medicine-2.integration", "2026-12-11T09:00", "kim"),
        ("medicine-3", "2026-12-14T09:00", "lee"),
        ("medicine-3.integration", "2026-12-15T09:00", "lee"),
    ]
    assert plan["deviations"] == [{"key": "medicine-3", "rule": "continuity", "allowed": "one therapist: kim",
                                   "actual": "therapist lee", "lateness_min": 0}]
    assert plan["sessions"][5]["deviations"] == plan["deviations"]
    clinic = yaml.safe_load(HANDOVER.read_text())
    problems = capacity_violations(clinic, [plan])
    assert problems == ["C-1: continuity role therapist served by ['kim', 'lee']"]  # the one hand-over
    assert "continuity" in result.stderr


# ---------------------------------------------------------------------------- another zone


def test_staff_hours_and_leave_are_read_in_their_own_zone(tmp_path: Path) -> None:
    """okafor works 09:00-17:00 in Los Angeles (12:00-20:00 in New York) and is off
    2026-12-07: the client's first session is the next day at noon New York time."""
    out = tmp_path / "plan.json"
    result = plan_cli(str(DATA / "protocol_two_therapist_hours.yaml"), "--id", "C-1", "--start", "2026-12-07",
                      "--tz", NY, "--clinic", str(DATA / "clinic_therapist_in_los_angeles.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    sessions = json.loads(out.read_text())["sessions"]
    assert [(s["start"], s["assigned"]) for s in sessions] == [
        ("2026-12-08T12:00:00-05:00", [{"role": "therapist", "id": "okafor"}]),
        ("2026-12-15T12:00:00-05:00", [{"role": "therapist", "id": "okafor"}]),
    ]


def test_a_client_in_another_zone_is_seen_in_the_staff_member_s_hours(tmp_path: Path) -> None:
    """A London client available 09:00-21:00 London time meets the Los Angeles therapist
    at 17:00 London (09:00 Los Angeles)."""
    out = tmp_path / "plan.json"
    result = plan_cli(str(DATA / "protocol_two_therapist_hours.yaml"), "--id", "C-2", "--start", "2026-12-08",
                      "--tz", "Europe/London", "--available", "Mon-Fri 09:00-21:00",
                      "--clinic", str(DATA / "clinic_therapist_in_los_angeles.yaml"), "-o", str(out))
    assert result.exit_code == 0, result.output
    starts = [s["start"] for s in json.loads(out.read_text())["sessions"]]
    assert starts == ["2026-12-08T17:00:00+00:00", "2026-12-15T17:00:00+00:00"]


# ---------------------------------------------------------------------------- preferred person


def test_a_preferred_therapist_is_kept_and_one_who_cannot_serve_is_reported(tmp_path: Path) -> None:
    clinic = api.load_clinic(DATA / "clinic_two_therapists_one_dosing_room.yaml")
    loaded = api.load_protocol(STAFFED)
    base = {"kind": "client", "id": "C-1", "timezone": NY, "start": "2026-12-07", "weight": "72 kg"}
    (tmp_path / "lee.yaml").write_text(yaml.safe_dump({**base, "therapist": {"id": "lee"}}))
    plan = api.make_plan(loaded, api.client_from(tmp_path / "lee.yaml"), clinic, now=NOW)
    assert {a.id for s in plan.sessions for a in s.assigned or [] if a.role == "therapist"} == {"lee"}
    assert not [w for w in plan.warnings if w.code == "KP404"]
    away = clinic.model_copy(update={"staff": [m.model_copy(update={"off": ["2026-12-01..2027-12-31"]})
                                               if m.id == "lee" else m for m in clinic.staff]})
    away = type(clinic).model_validate(away.model_dump(by_alias=True))
    plan = api.make_plan(loaded, api.client_from(tmp_path / "lee.yaml"), away, now=NOW)
    assert {a.id for s in plan.sessions for a in s.assigned or [] if a.role == "therapist"} == {"kim"}
    assert [w.message for w in plan.warnings if w.code == "KP404"] == [
        "the preferred therapist 'lee' cannot serve this series; another was assigned"]


# ---------------------------------------------------------------------------- a clinic roster

def _roster(path: Path, size: int) -> None:
    protocols = sorted(bundled_paths())
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "protocol", "start", "timezone", "weight"])
        for i in range(size):
            writer.writerow([f"C-{i:03d}", protocols[i % len(protocols)], "2026-12-07", NY, "72 kg"])


def _plans(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("C-*.json"))]


@pytest.fixture(scope="module")
def booked_roster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 clients across the bundled protocols booked into the worked example clinic:
    3 therapists (one on leave for a week, one in another zone), 1 prescriber, 2 nurses
    watching up to 3 dosing chairs each, 3 dosing rooms and staff for every other role."""
    folder = tmp_path_factory.mktemp("roster")
    _roster(folder / "roster.csv", 50)
    result = runner.invoke(app, ["batch", str(folder / "roster.csv"), "--clinic", str(EXAMPLE_CLINIC),
                                 "--out", str(folder / "out"), "--format", "json", "--jobs", "1",
                                 "--combined", str(folder / "all.ics")])
    assert result.exit_code == 0, result.output
    return folder


def test_a_booked_roster_has_no_over_capacity_instant_and_keeps_each_therapist(booked_roster: Path) -> None:
    plans = _plans(booked_roster / "out")
    assert len(plans) == 50
    assert capacity_violations(yaml.safe_load(EXAMPLE_CLINIC.read_text()), plans) == []
    for data in plans:
        plan = Plan.model_validate(data)
        protocol = protocol_of(plan)
        request = build_request(protocol, client_of(plan), clinic_of(plan))
        order = {key: i for i, (key, *_) in enumerate(expected_keys(protocol))}
        local = [s.model_copy(update={"start": s.start.astimezone(request.zone), "end": s.end.astimezone(request.zone)})
                 for s in sorted(plan.sessions, key=lambda s: order[s.key])]
        assert violations(protocol, request, local) == []
        assert not plan.deviations


def test_batch_with_a_clinic_is_the_same_for_every_jobs(booked_roster: Path, tmp_path: Path) -> None:
    _roster(tmp_path / "roster.csv", 20)
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        result = runner.invoke(app, ["batch", str(tmp_path / "roster.csv"), "--clinic", str(EXAMPLE_CLINIC),
                                     "--out", str(out), "--format", "json", "--jobs", jobs],
                               env={"SOURCE_DATE_EPOCH": "1764000000"})
        assert result.exit_code == 0, result.output
        outputs.append({p.name: p.read_bytes() for p in out.glob("C-*.json")})
    assert outputs[0] == outputs[1]


def test_batch_books_around_the_plans_already_in_out(tmp_path: Path) -> None:
    """A second roster into the same folder sees the first one's bookings."""
    clinic = DATA / "clinic_two_therapists_one_dosing_room.yaml"
    out = tmp_path / "out"
    for name, ids in (("first.csv", ["A-1"]), ("second.csv", ["B-1"])):
        with (tmp_path / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "protocol", "start", "timezone", "weight"])
            writer.writerows([[i, str(STAFFED), "2026-12-07", NY, "72 kg"] for i in ids])
        result = runner.invoke(app, ["batch", str(tmp_path / name), "--clinic", str(clinic), "--out", str(out),
                                     "--format", "json"])
        assert result.exit_code == 0, result.output
    plans = _plans_any(out)
    assert [p["sessions"][0]["assigned"][0]["id"] for p in plans] == ["kim", "lee"]
    assert [p["sessions"][1]["start"][11:16] for p in plans] == ["09:00", "11:00"]
    assert capacity_violations(yaml.safe_load(clinic.read_text()), plans) == []


def _plans_any(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "summary.json"]


def test_the_example_clinic_has_staff_for_every_role_the_bundled_protocols_ask_for() -> None:
    clinic = api.load_clinic(EXAMPLE_CLINIC)
    held = {role for member in clinic.staff for role in member.roles}
    for name in bundled_paths():
        protocol = api.load_protocol(name).protocol
        asked = {role for session in protocol.sessions.values() for role in session.roles}
        assert asked <= held, (name, asked - held)


def test_the_readme_s_clinic_commands_validate_every_bundled_protocol_with_the_example_clinic() -> None:
    result = runner.invoke(app, ["validate", *sorted(map(str, bundled_paths().values())), str(EXAMPLE_CLINIC)])
    assert result.exit_code == 0, result.output
    assert "KP240" not in result.output


def test_reschedule_keeps_the_series_therapist_or_hands_over_only_as_a_deviation(tmp_path: Path) -> None:
    """Two sessions done with kim; kim then leaves the clinic for good: the re-plan is
    refused strictly, and with deviations hands the rest over to lee, saying so."""
    clinic = DATA / "clinic_two_therapists_one_dosing_room.yaml"
    plan_path = tmp_path / "plan.json"
    env = {"SOURCE_DATE_EPOCH": "1796817600"}  # 2026-12-09 12:00 UTC
    result = runner.invoke(app, ["plan", str(STAFFED), "--id", "C-1", "--start", "2026-12-07", "--tz", NY,
                                 "--weight", "72 kg", "--clinic", str(clinic), "-o", str(plan_path)], env=env)
    assert result.exit_code == 0, result.output
    for key in ("preparation-1", "medicine-1"):
        assert runner.invoke(app, ["mark", str(plan_path), key, "done"], env=env).exit_code == 0
    gone = tmp_path / "kim-left.yaml"
    gone.write_text(clinic.read_text().replace("{id: kim, roles: [therapist], hours: [Mon-Fri 09:00-17:00]}",
                                               "{id: kim, roles: [therapist], off: [2026-12-09..2028-12-31]}"))
    strict = runner.invoke(app, ["reschedule", str(plan_path), "--clinic", str(gone)], env=env)
    assert strict.exit_code == 3, strict.output
    assert "no single therapist is free for every session of the series" in strict.stderr
    relaxed = runner.invoke(app, ["reschedule", str(plan_path), "--clinic", str(gone), "--allow-deviations"], env=env)
    assert relaxed.exit_code == 0, relaxed.output
    plan = json.loads(plan_path.read_text())
    assert [(s["key"], s["assigned"][0]["id"], s["sequence"]) for s in plan["sessions"]] == [
        ("preparation-1", "kim", 0), ("medicine-1", "kim", 0), ("medicine-1.integration", "lee", 1),
        ("medicine-2", "lee", 1), ("medicine-2.integration", "lee", 1), ("medicine-3", "lee", 1),
        ("medicine-3.integration", "lee", 1)]
    assert plan["deviations"] == [{"key": "medicine-1.integration", "rule": "continuity",
                                   "allowed": "one therapist: kim", "actual": "therapist lee", "lateness_min": 0}]


def test_a_record_whose_re_plan_fails_keeps_its_bookings_for_the_records_after_it(tmp_path: Path) -> None:
    """A-1 is booked; the next roster asks A-1 for a time the clinic is shut, so its re-plan
    fails and its plan stays on disk. B-1, after it, must still work around that plan."""
    clinic = DATA / "clinic_two_therapists_one_dosing_room.yaml"
    out = tmp_path / "out"
    rosters = (("first.csv", [["A-1", "Mon-Fri 09:00-17:00"]]),
               ("second.csv", [["A-1", "Sun 03:00-04:00"], ["B-1", "Mon-Fri 09:00-17:00"]]))
    for name, rows in rosters:
        with (tmp_path / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "protocol", "start", "timezone", "weight", "availability"])
            writer.writerows([[i, str(STAFFED), "2026-12-07", NY, "72 kg", when] for i, when in rows])
        result = runner.invoke(app, ["batch", str(tmp_path / name), "--clinic", str(clinic), "--out", str(out),
                                     "--format", "json"])
    assert result.exit_code == 4, result.output
    plans = _plans_any(out)
    assert [p["client"]["id"] for p in plans] == ["A-1", "B-1"]
    assert [p["sessions"][0]["assigned"][0]["id"] for p in plans] == ["kim", "lee"]
    assert [p["sessions"][1]["start"][11:16] for p in plans] == ["09:00", "11:00"]
    assert capacity_violations(yaml.safe_load(clinic.read_text()), plans) == []
