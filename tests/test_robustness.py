"""A user's mistake or the environment is exit 1 or 2 with a message, never
exit 70: out-of-range dates, numbers too long to be meant, hand-edited plan
files, a full or closed standard output. Each case here was once an
internal error (or a plan kapplan could not read back)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_four_doses_weekly_integration.yaml"
EPOCH = "1796547600"  # 2026-12-06 09:00 UTC
CLIENT = ["--id", "C-1", "--tz", "America/New_York", "--weight", "72 kg"]
runner = CliRunner()


def run(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": EPOCH, **(env or {})})
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    assert run("plan", PROTOCOL, *CLIENT, "--start", "2026-12-07", "-o", out).exit_code == 0
    return out


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize("at", ["1800-01-01 09:00", "0001-01-01 09:00", "9999-12-31 23:59",
                                "9999-12-31T23:59-14:00", "2200-01-01T00:00Z"])
def test_mark_at_outside_the_date_range_is_exit_1_and_the_plan_unchanged(plan_file: Path, at: str) -> None:
    before = plan_file.read_bytes()
    result = run("mark", plan_file, "intake-1", "done", "--at", at)
    assert result.exit_code == 1
    assert "1900-01-01 and 2199-12-31" in result.output
    assert plan_file.read_bytes() == before


@pytest.mark.parametrize("start", ["1883-11-01", "1800-01-01", "0001-01-01", "9998-12-30", "2200-01-01"])
def test_plan_start_outside_the_date_range_is_exit_1_and_nothing_written(tmp_path: Path, start: str) -> None:
    out = tmp_path / "x.json"
    result = run("plan", PROTOCOL, *CLIENT, "--start", start, "-o", out)
    assert result.exit_code == 1
    assert "1900-01-01 and 2199-12-31" in result.output
    assert not out.exists()


def test_a_plan_at_a_local_mean_time_offset_reads_back(tmp_path: Path) -> None:
    """Amsterdam kept +00:19:32 until 1937: the plan is written with that offset,
    and every command reads it back (once: 'not a valid plan file')."""
    out = tmp_path / "ams.json"
    assert run("plan", PROTOCOL, "--id", "C-2", "--tz", "Europe/Amsterdam", "--weight", "72 kg",
               "--start", "1900-01-01", "-o", out).exit_code == 0
    starts = [s["start"] for s in json.loads(out.read_text())["sessions"]]
    assert all(s.endswith("+00:19:32") for s in starts)
    plan = api.read_plan(out)
    assert str(plan.sessions[0].start.utcoffset()) == "0:19:32"
    assert run("status", out).exit_code == 0
    assert run("export", out, "-o", tmp_path / "ams.ics").exit_code == 0
    assert run("mark", out, "intake-1", "missed").exit_code == 0
    assert api.read_plan(out).session("intake-1").status == "missed"


def test_the_last_date_plans_and_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "late.json"
    assert run("plan", PROTOCOL, *CLIENT, "--start", "2199-12-31", "-o", out).exit_code == 0
    assert api.read_plan(out).sessions[-1].start.year == 2200


def test_source_date_epoch_out_of_range_is_ignored() -> None:
    result = run("plan", PROTOCOL, *CLIENT, "--start", "2026-12-07", env={"SOURCE_DATE_EPOCH": "9" * 30})
    assert result.exit_code == 0


# --------------------------------------------------------------------------- numbers


def protocol_with(tmp_path: Path, old: str, new: str) -> Path:
    text = PROTOCOL.read_text()
    assert old in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(("old", "new", "where"), [
    ("count: 4", "count: " + "9" * 5000, "count"),
    ("count: 4", "count: 1e300", "count"),
    ("per_kg: 0.5 mg/kg", "per_kg: " + "9" * 3000 + " mg/kg", "per_kg"),
    ("per_kg: 0.5 mg/kg", "titrate: [1e300]", "titrate"),
    ("round_to: 5 mg", "round_to: 0.0000000000000000000000000001 mg", "round_to"),
    ("round_to: 5 mg", "round_to: 0 mg", None),
])
def test_numbers_out_of_bounds_are_located_errors(tmp_path: Path, old: str, new: str, where: str | None) -> None:
    path = protocol_with(tmp_path, old, new)
    line = 1 + next(i for i, text in enumerate(path.read_text().splitlines()) if new[:12] in text)
    checked = run("validate", path)
    planned = run("plan", path, *CLIENT, "--start", "2026-12-07", "-o", tmp_path / "x.json")
    assert planned.exit_code == 1
    if where is not None:
        assert checked.exit_code == 1
        assert f"p.yaml:{line}:" in checked.output
        assert "KP1" in checked.output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("text", ["٣d", "３d", "3ｄ", "9" * 5000 + "d"])
def test_durations_take_ascii_digits_only(tmp_path: Path, text: str) -> None:
    path = protocol_with(tmp_path, "duration: 60min", f"duration: {text}")
    result = run("validate", path)
    assert result.exit_code == 1
    assert "KP120" in result.output


@pytest.mark.parametrize("weight", ["٧٢ kg", "9" * 5000 + " kg"])
def test_weights_take_bounded_ascii_digits(weight: str) -> None:
    result = run("plan", PROTOCOL, "--id", "C-1", "--tz", "UTC", "--weight", weight, "--start", "2026-12-07")
    assert result.exit_code == 1
    assert "--weight" in result.output


@pytest.mark.parametrize(("field", "value"), [("sequence", 2**70), ("sequence", int("9" * 50)), ("index", -1),
                                              ("lateness_min", 10**15)])
def test_hand_edited_plan_numbers_are_located_errors(plan_file: Path, field: str, value: int) -> None:
    plan = json.loads(plan_file.read_text())
    target = plan["sessions"][0]
    if field == "lateness_min":
        target["deviations"] = [{"key": target["key"], "rule": "gap", "allowed": "1d", "actual": "2d",
                                 "lateness_min": value}]
    else:
        target[field] = value
    plan_file.write_text(json.dumps(plan, indent=2))
    for command in (["status"], ["export", "-o", str(plan_file.with_suffix(".ics"))], ["mark", "intake-1", "missed"]):
        result = run(command[0], plan_file, *command[1:])
        assert result.exit_code == 1, result.output
        assert "KP112" in result.output


def test_five_thousand_digit_numbers_in_a_plan_are_located(plan_file: Path) -> None:
    text = plan_file.read_text().replace('"sequence": 0', '"sequence": ' + "9" * 5000, 1)
    plan_file.write_text(text)
    line = 1 + next(i for i, row in enumerate(text.splitlines()) if "9" * 50 in row)
    result = run("status", plan_file)
    assert result.exit_code == 1
    assert f"plan.json:{line}:" in result.output


def test_hand_edited_start_in_year_9999_is_refused(plan_file: Path) -> None:
    plan = json.loads(plan_file.read_text())
    plan["sessions"][-1]["start"] = "9999-12-31T23:00:00-05:00"
    plan["sessions"][-1]["end"] = "9999-12-31T23:59:00-05:00"
    plan_file.write_text(json.dumps(plan))
    for command in (["status"], ["reschedule"], ["mark", "intake-1", "missed"]):
        assert run(command[0], plan_file, *command[1:]).exit_code == 1


# --------------------------------------------------------------------------- standard output


def kapplan_process(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kapplan", *args], text=True, timeout=120,
                          env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH}, **kw)  # type: ignore[call-overload]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["plan", str(PROTOCOL), *CLIENT, "--start", "2026-12-07"],
                                     ["protocols"], ["rules"], ["schema", "plan"]])
def test_a_full_standard_output_is_exit_2(command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = kapplan_process(*command, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert "No space left" in done.stderr
    assert "Traceback" not in done.stderr


def closed_stdout_run(*args: str) -> subprocess.CompletedProcess[str]:
    """kapplan started with standard output closed (as ``kapplan ... >&-`` does)."""
    code = ("import os, sys, runpy; os.close(1); sys.stdout = None; "
            f"sys.argv = ['kapplan', *{list(args)!r}]; runpy.run_module('kapplan', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code], text=True, capture_output=True, timeout=120,
                          env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH})


def test_a_closed_standard_output_is_exit_2_unless_unused(tmp_path: Path) -> None:
    command = ["plan", str(PROTOCOL), *CLIENT, "--start", "2026-12-07"]
    closed = closed_stdout_run(*command)
    assert closed.returncode == 2
    assert "standard output is closed" in closed.stderr
    out = tmp_path / "p.json"
    to_file = closed_stdout_run(*command, "-o", str(out))
    assert to_file.returncode == 0, to_file.stderr
    assert out.exists()


# --------------------------------------------------------------------------- input as output


def test_plan_refuses_to_write_over_its_own_inputs(tmp_path: Path) -> None:
    client = tmp_path / "client.json"
    client.write_text(json.dumps({"kind": "client", "id": "C-1", "timezone": "America/New_York",
                                  "start": "2026-12-07", "weight": "72 kg"}))
    protocol = tmp_path / "p.json"
    protocol.write_text(json.dumps(__import__("yaml").safe_load(PROTOCOL.read_text())))
    before = {path: path.read_bytes() for path in (client, protocol)}
    hard = tmp_path / "hard.json"
    os.link(client, hard)
    link = tmp_path / "link.json"
    link.symlink_to(protocol)
    for output in (client, protocol, hard, link):
        result = run("plan", protocol, "--client", client, "-o", output)
        assert result.exit_code == 2, (output, result.output)
        assert "input of this command" in result.output
    assert {path: path.read_bytes() for path in before} == before


def test_export_refuses_a_hard_link_to_the_plan(plan_file: Path) -> None:
    hard = plan_file.with_name("same.ics")
    os.link(plan_file, hard)
    result = run("export", plan_file, "-o", hard)
    assert result.exit_code == 2
    assert "plan file itself" in result.output


# --------------------------------------------------------------------------- symbolic links


def test_mark_and_plan_through_a_symlink_write_the_target(plan_file: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(plan_file)
    assert run("mark", link, "intake-1", "missed").exit_code == 0
    assert link.is_symlink()
    assert api.read_plan(plan_file).session("intake-1").status == "missed"
    other = tmp_path / "other.json"
    target = tmp_path / "target.json"
    other.symlink_to(target)  # dangling: the plan is created at the target
    assert run("plan", PROTOCOL, *CLIENT, "--start", "2026-12-07", "-o", other).exit_code == 0
    assert other.is_symlink()
    assert target.exists()


# --------------------------------------------------------------------------- privacy: look-alikes and units

HIDDEN = ["Bring your kеtamine kit.",  # Cyrillic е
          "Take forty milligrams with water.", "Draw up 40 mcg.", "Draw up 40 µg.", "Ｋｅｔａｍｉｎｅ day.",
          "ket\u200bamine day."]


def test_look_alikes_and_other_units_are_warned_and_withheld(tmp_path: Path) -> None:
    import icalendar
    import vobject

    text = PROTOCOL.read_text(encoding="utf-8")
    reminders = "".join(f"      - before: {i + 1}d\n        text: \"{t}\"\n" for i, t in enumerate(HIDDEN))
    old = "      - before: 1d\n        text: Arrange a ride home; you cannot drive until the next day.\n"
    assert old in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(old, old + reminders), encoding="utf-8")
    checked = run("validate", path)
    assert checked.output.count("KP308") == len(HIDDEN)
    out = tmp_path / "p.json"
    assert run("plan", path, *CLIENT, "--start", "2026-12-07", "-o", out).exit_code == 0
    ics = tmp_path / "p.ics"
    assert run("export", out, "-o", ics, "--privacy", "standard").exit_code == 0
    data = ics.read_bytes()
    texts = [str(c.get(name)) for c in icalendar.Calendar.from_ical(data).walk()
             for name in ("DESCRIPTION", "SUMMARY") if c.get(name) is not None]
    texts += [line.value for line in vobject.readOne(data.decode()).getChildren() if hasattr(line, "value")]
    joined = "\n".join(texts)
    assert "Arrange a ride home" in joined  # harmless text stays
    for hidden in HIDDEN:
        assert hidden not in joined
    assert "Details from your care team." in joined
    full = tmp_path / "full.ics"
    assert run("export", out, "-o", full, "--privacy", "full").exit_code == 0
    assert "forty milligrams" in icalendar.Calendar.from_ical(full.read_bytes()).to_ical().decode()


def test_plain_text_is_not_flagged() -> None:
    from kapplan.models.sensitive import mentions_medication_or_dose

    for text in ("Drink 500 ml of water.", "Arrange a ride home.", "3 ugly chairs", "Café au lait is fine."):
        assert not mentions_medication_or_dose(text)


# --------------------------------------------------------------------------- mark and reschedule


def test_mark_at_overlapping_another_session_warns(plan_file: Path) -> None:
    result = run("mark", plan_file, "intake-1", "done", "--at", "2026-12-08 09:30",
                 env={"SOURCE_DATE_EPOCH": "1797000000"})
    assert result.exit_code == 0, result.output
    assert "overlaps preparation-1" in result.output


def test_reschedule_records_a_follow_up_placed_after_the_next_occurrence(plan_file: Path) -> None:
    late = {"SOURCE_DATE_EPOCH": "1797364800"}  # 2026-12-15 20:00 UTC
    for key in ("intake-1", "preparation-1", "medicine-1", "medicine-2"):
        assert run("mark", plan_file, key, "done", env=late).exit_code == 0
    assert run("mark", plan_file, "medicine-1.integration", "missed", env=late).exit_code == 0
    assert run("mark", plan_file, "medicine-2.integration", "done", "--at", "2026-12-14 13:00",
               env=late).exit_code == 0
    result = run("reschedule", plan_file, "--allow-deviations", env=late)
    assert result.exit_code == 0, result.output
    plan = api.read_plan(plan_file)
    follow_up = plan.session("medicine-1.integration")
    assert follow_up.start > plan.session("medicine-2").start
    rules = {d.rule for d in plan.deviations if d.key == "medicine-1.integration"}
    assert "order" in rules
    assert "order after medicine-2" in result.output
