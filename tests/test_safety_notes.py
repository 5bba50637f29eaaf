"""Per-client safety notes (SPEC §7 KP402/KP403), the dosing-day rule (§13) and
the YAML flow-sequence trap for weekly windows: through the API, the command
line and batch, with plans and calendars read back."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.models.plan import Plan
from kapplan.planning.notes import age_on

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
runner = CliRunner()


def protocol_file(tmp_path: Path, dose: str, extra: str = "", sessions: str = "") -> Path:
    text = f"""\
kind: protocol
id: notes-test
version: 1
title: Notes test
sessions:
  prep: {{kind: preparation, duration: 1h}}
  med:
    kind: dosing
    duration: 2h
    observation: 1h
    dose: {dose}
  integ: {{kind: integration, duration: 1h}}
{sessions}schedule:
  - session: prep
  - session: med
    count: 2
    gap: 7d..
    followed_by: [{{session: integ, offset: 1d..2d}}]
allow: [KP306, KP307]
{extra}"""
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def plan_for(protocol: Path | str, weight: str = "72 kg", birth: str | None = None, scale: float = 1.0) -> Plan:
    loaded = api.load_protocol(str(protocol))
    client = api.client_from(changes=api.ClientChanges(
        id="C-1", start="2026-12-07", tz="America/New_York", weight=weight))
    updates: dict[str, object] = {"dose_scale": scale}
    if birth:
        updates["birth_date"] = date.fromisoformat(birth)
    return api.make_plan(loaded, client.model_copy(update=updates), now=NOW)


def notes(plan: Plan, code: str) -> list[str]:
    return [w.message for w in plan.warnings if w.code == code]


# --------------------------------------------------------------------------- KP402


@pytest.mark.parametrize(
    ("dose", "weight", "scale", "expected"),
    [
        ("{medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 100 mg}", "72 kg", 1.0, 0),
        ("{medication: ketamine, route: IM, per_kg: 1.5 mg/kg, max: 500 mg}", "72 kg", 1.0, 1),   # 108 mg > 72 mg
        ("{medication: ketamine, route: IM, per_kg: 1.5 mg/kg, max: 500 mg}", "72 kg", 0.6, 0),   # scaled: 64.8 mg
        ("{medication: ketamine, route: IV, per_kg: 1.2 mg/kg, max: 60 mg}", "72 kg", 1.0, 0),    # capped under 72
        ("{medication: ketamine, route: IV, fixed: 100 mg}", "72 kg", 1.0, 1),                    # fixed over 1 mg/kg
        ("{medication: ketamine, route: IV, per_kg: 0.5 mg/kg}", "120 kg", 1.0, 1),             # heavy, no max
        ("{medication: ketamine, route: IV, per_kg: 0.5 mg/kg, max: 80 mg}", "120 kg", 1.0, 0),
        ("{medication: ketamine, route: IV, per_kg: 0.5 mg/kg}", "100 kg", 1.0, 0),             # not over 100 kg
        ("{medication: ketamine, route: SL, per_kg: 3 mg/kg}", "130 kg", 1.0, 0),               # SL: not by weight
        ("{medication: ketamine, route: PO, fixed: 300 mg}", "50 kg", 1.0, 0),
        ("{medication: esketamine, route: IN, fixed: 112 mg}", "72 kg", 1.0, 1),
        ("{medication: esketamine, route: IN, fixed: 84 mg}", "72 kg", 1.0, 0),
        ("{medication: ketamine, route: IM, by_prescriber: true}", "130 kg", 1.0, 0),
    ],
)
def test_kp402_per_client_dose_notes(tmp_path: Path, dose: str, weight: str, scale: float, expected: int) -> None:
    path = protocol_file(tmp_path, dose)
    if "esketamine" in dose:  # the label's 2 h observation
        path.write_text(path.read_text().replace("observation: 1h", "observation: 2h").replace("duration: 2h",
                                                                                                "duration: 3h"))
    plan = plan_for(path, weight, scale=scale)
    assert len(notes(plan, "KP402")) == expected


def test_the_260_mg_case_shows_kp402_in_json_and_under_the_table(tmp_path: Path) -> None:
    flags = ["--weight", "286.6 lb", "--start", "2026-12-07", "--tz", "America/New_York", "--id", "C-9"]
    out = tmp_path / "k.json"
    result = runner.invoke(app, ["plan", "im-kap-krupitsky", *flags, "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_bytes())
    doses = {s.dose.amount_mg for s in plan.sessions if s.dose}
    assert doses == {260.0}
    assert "KP306" in plan.protocol.definition["allow"]
    assert "KP307" in plan.protocol.definition["allow"]
    [over, uncapped] = notes(plan, "KP402")
    assert "260 mg" in over
    assert "above 1 mg/kg" in over
    assert "over 100 kg" in uncapped
    table = runner.invoke(app, ["plan", "im-kap-krupitsky", *flags])
    assert table.exit_code == 0
    assert "260 mg IM" in table.stdout
    assert table.stderr.count("warning KP402") == 2


# --------------------------------------------------------------------------- KP403

ELIGIBLE = "eligibility: {age: 18..64}\n"


@pytest.mark.parametrize(
    ("birth", "noted"),
    [
        ("1990-06-01", False),
        ("2008-12-07", False),   # 18 on the first session's date (2026-12-07)
        ("2008-12-08", True),    # 17 then, 18 the next day
        ("1962-12-08", False),   # 63 on the first session's date
        ("1961-12-07", True),    # 65 that day
    ],
)
def test_kp403_age_on_the_first_sessions_date(tmp_path: Path, birth: str, noted: bool) -> None:
    path = protocol_file(tmp_path, "{medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 100 mg}", ELIGIBLE)
    plan = plan_for(path, birth=birth)
    assert plan.sessions[0].start.date() == date(2026, 12, 7)
    found = notes(plan, "KP403")
    assert bool(found) is noted
    for message in found:
        assert birth not in message
        assert birth[:4] not in message
        assert not any(str(age) in message.split("(ages")[0] for age in range(10, 100))


def test_kp403_without_a_birth_date_says_eligibility_not_checked(tmp_path: Path) -> None:
    path = protocol_file(tmp_path, "{medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 100 mg}", ELIGIBLE)
    assert notes(plan_for(path), "KP403") == [
        "eligibility not checked: the protocol is for ages 18..64 and the client has no birth_date"]
    plain = protocol_file(tmp_path, "{medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 100 mg}")
    assert notes(plan_for(plain), "KP403") == []


def test_allow_never_silences_kp4_notes(tmp_path: Path) -> None:
    path = protocol_file(tmp_path, "{medication: ketamine, route: IM, per_kg: 2 mg/kg}",
                         ELIGIBLE.replace("\n", "") + "\n")
    path.write_text(path.read_text().replace("allow: [KP306, KP307]", "allow: [KP306, KP307, KP402]"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1  # KP402 is not a lint code that allow may list
    path.write_text(path.read_text().replace(", KP402]", "]"))
    plan = plan_for(path, "110 kg")
    assert {w.code for w in plan.warnings} >= {"KP402", "KP403"}


def test_birth_date_never_reaches_a_calendar_or_the_terminal(tmp_path: Path) -> None:
    client = tmp_path / "c.yaml"
    client.write_text("kind: client\nid: C-3\nname: Sam Doe\ntimezone: America/New_York\nstart: 2026-12-07\n"
                      "birth_date: 1961-03-14\nweight: 72 kg\n")
    out = tmp_path / "p.json"
    result = runner.invoke(app, ["plan", "spravato-trd", "--client", str(client), "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = runner.invoke(app, ["plan", "spravato-trd", "--client", str(client)])
    assert "1961" not in table.output
    assert "03-14" not in table.output
    for privacy in ("minimal", "standard", "full"):
        for audience in ("client", "clinic"):
            ics = tmp_path / f"{privacy}-{audience}.ics"
            done = runner.invoke(app, ["export", str(out), "-o", str(ics), "--privacy", privacy,
                                       "--audience", audience])
            assert done.exit_code == 0, done.output
            data = ics.read_bytes()
            Calendar.from_ical(data)
            assert b"1961" not in data
            assert b"0314" not in data


def test_age_counts_completed_years() -> None:
    assert age_on(date(2000, 2, 29), date(2018, 2, 28)) == 17
    assert age_on(date(2000, 2, 29), date(2018, 3, 1)) == 18
    assert age_on(date(1990, 12, 7), date(2026, 12, 7)) == 36


# --------------------------------------------------------------------------- batch


def test_batch_summary_carries_each_records_safety_notes(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("id,protocol,start,timezone,weight,birth_date\n"
                      "C-1,im-kap-krupitsky,2026-12-07,America/New_York,130 kg,1980-01-01\n"
                      "C-2,iv-ketamine-trd,2026-12-07,America/New_York,70 kg,1980-01-01\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["batch", str(roster), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    by_id = {r["id"]: r for r in summary["records"]}
    assert [n["code"] for n in by_id["C-1"]["notes"]] == ["KP402", "KP402"]
    assert by_id["C-2"]["notes"] == []
    assert summary["totals"]["with_safety_notes"] == 1
    assert "1 with safety notes (KP4xx" in result.stderr
    assert "1980" not in result.stderr
    assert "1980" not in (out / "C-1.ics").read_text()


# --------------------------------------------------------------------------- dosing_day: alone

ALONE = """\
kind: protocol
id: alone
version: 1
title: Alone
sessions:
  prep: {kind: preparation, duration: 1h}
  med:
    kind: dosing
    duration: 2h
    observation: 1h
    dose: {medication: ketamine, route: IM, per_kg: 0.5 mg/kg, max: 50 mg}
  integ: {kind: integration, duration: 1h}
schedule:
  - session: prep
  - session: med
    after: 0d..
    count: 3
    gap: 2d..4d
    followed_by: [{session: integ, offset: 0d..2d}]
"""


def local_dates(plan: Plan, kind: str | None = None) -> list[date]:
    return [s.start.date() for s in plan.sessions if kind is None or s.kind == kind]


def test_dosing_day_alone_keeps_every_dosing_date_free(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(ALONE)
    before = plan_for(path)
    dosing = set(local_dates(before, "dosing"))
    assert sum(d in dosing for d in local_dates(before)) > len(dosing)  # the preparation shares a day
    path.write_text(ALONE + "constraints: {dosing_day: alone}\n")
    after = plan_for(path)
    dosing = local_dates(after, "dosing")
    others = [d for d in local_dates(after) if d not in dosing] + dosing
    assert sorted(others) == sorted(local_dates(after))
    assert all(local_dates(after).count(d) == 1 for d in dosing)
    # Literal: the preparation's Monday is no longer a dosing day; Tue dose, Wed integration,
    # Thu dose (Fri integration), then the weekend pushes the third dose to Monday.
    assert [(s.key, s.start.strftime("%a %m-%d %H:%M")) for s in after.sessions] == [
        ("prep-1", "Mon 12-07 09:00"), ("med-1", "Tue 12-08 09:00"), ("med-1.integ", "Wed 12-09 09:00"),
        ("med-2", "Thu 12-10 09:00"), ("med-2.integ", "Fri 12-11 09:00"), ("med-3", "Mon 12-14 09:00"),
        ("med-3.integ", "Tue 12-15 09:00"),
    ]


def test_dosing_day_alone_infeasible_names_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(ALONE.replace("offset: 0d..2d", "offset: 0d") + "constraints: {dosing_day: alone}\n")
    result = runner.invoke(app, ["plan", str(path), "--start", "2026-12-07", "--tz", "UTC", "--weight", "70 kg"])
    assert result.exit_code == 3
    assert "dosing_day: alone" in result.stderr or "dosing day" in result.stderr


# --------------------------------------------------------------------------- YAML trap


def test_flow_sequence_window_split_by_commas_gets_a_located_hint(tmp_path: Path) -> None:
    client = tmp_path / "c.yaml"
    client.write_text("kind: client\nid: C-1\ntimezone: UTC\n"
                      "availability: [Mon,Wed,Fri 13:00-17:00, Tue 09:00-10:00]\n")
    result = runner.invoke(app, ["validate", str(client), "--format", "json"])
    assert result.exit_code == 1
    [problem] = json.loads(result.stdout)
    assert (problem["line"], problem["column"], problem["code"]) == (4, 16, "KP123")
    assert "comma separates list items" in problem["message"]
    assert problem["hint"] == "quote the window: ['Mon,Wed,Fri 13:00-17:00']"
    quoted = tmp_path / "q.yaml"
    quoted.write_text("kind: client\nid: C-1\ntimezone: UTC\navailability: ['Mon,Wed,Fri 13:00-17:00']\n")
    assert runner.invoke(app, ["validate", str(quoted)]).exit_code == 0


def test_block_lists_and_other_window_errors_keep_their_message(tmp_path: Path) -> None:
    client = tmp_path / "c.yaml"
    client.write_text("kind: client\nid: C-1\ntimezone: UTC\navailability:\n  - Mon\n  - [Tue 25:00-26:00]\n")
    result = runner.invoke(app, ["validate", str(client), "--format", "json"])
    assert result.exit_code == 1
    assert all("comma separates" not in p["message"] for p in json.loads(result.stdout))
