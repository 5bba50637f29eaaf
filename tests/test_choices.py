"""Delays explained (KP401) and plans to choose from (`plan --alternatives`, `--choose`), SPEC §12.

The Spravato example: a client free Mon/Wed/Fri afternoons, away 02-15..02-19,
whose weekly phase would cross the absence, so the strict plan doses seven
weeks after enrollment; the note names the absence and offers a January start
with one recorded deviation.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from plan_checker import expected_keys, violations
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.engine import Placement
from kapplan.models.plan import Plan
from kapplan.planning.build import build_request

runner = CliRunner()
# The bundled protocols as these tests were written against (they are about choosing plans).
V1 = Path(__file__).parent / "data" / "bundled_v1"
SPRAVATO = [str(V1 / "spravato-trd.yaml"), "--start", "2027-01-04", "--tz", "America/Chicago", "--weight", "80 kg",
            "--available", "Mon,Wed,Fri 13:00-18:00", "--unavailable", "2027-02-15..2027-02-19"]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def invoke(*args: str):
    return runner.invoke(app, ["plan", *args], env={"SOURCE_DATE_EPOCH": "1796083200"})


def spravato_client():
    return api.client_from(changes=api.ClientChanges(
        start="2027-01-04", tz="America/Chicago", weight="80 kg", available=["Mon,Wed,Fri 13:00-18:00"],
        unavailable=["2027-02-15..2027-02-19"]))


def test_the_delay_note_names_the_absence_and_a_sooner_start() -> None:
    result = invoke(*SPRAVATO, "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    [note] = [w["message"] for w in plan["warnings"] if w["code"] == "KP401"]
    assert note.startswith("the first dose falls on 2027-02-22, 48 days after the earliest the protocol allows "
                           "from 2027-01-04 (2027-01-05), pushed back by the client's absences "
                           "(2027-02-15..2027-02-19) (without them: 2027-01-06)")
    assert "With 1 deviation the first dose can be on 2027-01-06 (maintenance-3 gap 10d, allowed 1w±2d)" in note
    assert "warning KP401" in result.stderr  # shown, never hidden


def test_no_delay_note_when_the_first_dose_is_on_time() -> None:
    plan = api.make_plan("spravato-trd", api.client_from(changes=api.ClientChanges(
        start="2027-01-04", tz="America/Chicago", weight="80 kg")), now=NOW)
    assert not [w for w in plan.warnings if w.code == "KP401"]


def placements_of(plan: Plan) -> list[Placement]:
    from kapplan.planning.embedded import protocol_of

    order = {key: i for i, (key, *_) in enumerate(expected_keys(protocol_of(plan)))}  # the plan's own protocol
    return sorted((Placement(s.key, s.step, s.session, s.index, s.count, s.follows, s.start, s.end)
                   for s in plan.sessions), key=lambda p: order[p.key])


def test_alternatives_are_valid_and_their_summary_lines_true() -> None:
    client = spravato_client()
    found = api.alternatives("spravato-trd", client, now=NOW)
    assert [summary.name for summary, _ in found] == ["strict", "sooner"]
    protocol = api.load_protocol("spravato-trd").protocol
    resolved = client.model_copy()
    for summary, plan in found:
        request = build_request(protocol, resolved, None, allow_deviations=bool(plan.deviations))
        assert violations(protocol, request, placements_of(plan)) == []
        starts = [s.start for s in plan.sessions]
        dosing = [s.start.date() for s in plan.sessions if s.kind == "dosing"]
        assert summary.first_dose == str(min(dosing))
        assert summary.last == str(max(starts).date())
        assert summary.times == len({s.strftime("%H:%M") for s in starts})
        assert summary.deviations == len(plan.deviations)
        assert summary.outside == sum(not (s.start.weekday() < 5 and 13 <= s.start.hour and s.end.hour <= 17)
                                      for s in plan.sessions)
    strict, sooner = found[0][1], found[1][1]
    assert strict.deviations == []
    assert len(sooner.deviations) == 1
    assert min(s.start.date() for s in sooner.sessions if s.kind == "dosing") == date(2027, 1, 6)


def test_alternatives_as_a_table_and_as_json() -> None:
    table = invoke(*SPRAVATO, "--alternatives")
    assert table.exit_code == 0, table.output
    rows = [line for line in table.stdout.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["strict", "sooner"]
    assert "2027-02-22" in rows[0]
    assert "2027-01-06" in rows[1]
    listed = invoke(*SPRAVATO, "--alternatives", "--format", "json")
    assert json.loads(listed.stdout) == [
        {"name": "strict", "first_dose": "2027-02-22", "last": "2027-04-14", "outside_preference": 0,
         "distinct_start_times": 1, "deviations": 0},
        {"name": "sooner", "first_dose": "2027-01-06", "last": "2027-03-01", "outside_preference": 0,
         "distinct_start_times": 1, "deviations": 1},
    ]


def test_choose_writes_one_and_deviations_need_allow_deviations(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    refused = invoke(*SPRAVATO, "--choose", "sooner", "-o", str(out))
    assert refused.exit_code == 2
    assert "add --allow-deviations" in refused.stderr
    assert not out.exists()
    written = invoke(*SPRAVATO, "--choose", "sooner", "--allow-deviations", "-o", str(out))
    assert written.exit_code == 0, written.output
    plan = Plan.model_validate_json(out.read_bytes())
    assert plan.sessions[1].key == "induction-1"
    assert plan.sessions[1].start.date() == date(2027, 1, 6)
    assert [(d.key, d.rule, d.actual) for d in plan.deviations] == [("maintenance-3", "gap", "10d")]
    strict = invoke(*SPRAVATO, "--choose", "strict", "-o", str(tmp_path / "strict.json"))
    assert strict.exit_code == 0
    missing = invoke("iv-ketamine-trd", "--start", "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg",
                     "--choose", "sooner")
    assert missing.exit_code == 2
    assert "no such alternative" in missing.stderr


@pytest.mark.parametrize("protocol_id", ["im-kap-krupitsky", "journey-sl-kap"])
def test_a_regular_plan_holds_each_step_to_one_weekday_and_time(protocol_id: str) -> None:
    protocol_id = str(V1 / f"{protocol_id}.yaml")
    client = api.client_from(changes=api.ClientChanges(start="2026-12-07", tz="America/New_York", weight="72 kg"))
    found = {s.name: p for s, p in api.alternatives(protocol_id, client, now=NOW)}
    regular, strict = found["regular"], found["strict"]
    protocol = api.load_protocol(protocol_id).protocol
    assert violations(protocol, build_request(protocol, client, None), placements_of(regular)) == []
    for step in protocol.schedule:
        occurrences = [s for s in regular.sessions if s.step == step.key and s.follows is None]
        assert len({(s.start.weekday(), s.start.strftime("%H:%M")) for s in occurrences}) == 1
    assert (max(s.start for s in regular.sessions).date() - max(s.start for s in strict.sessions).date()).days <= 14


def talk_then_dose(folder: Path, after: str) -> Path:
    """A protocol file of one talk and one dose ``after`` it, both with the therapist."""
    protocol = folder / "protocol.yaml"
    protocol.write_text(
        "kind: protocol\nid: talk-then-dose\nversion: 1.0.0\ntitle: One talk, one dose\n"
        "sessions:\n  talk: {kind: preparation, duration: 60min, staff: [therapist]}\n"
        "  dose: {kind: dosing, duration: 2h, staff: [therapist],"
        " dose: {medication: ketamine, route: IM, per_kg: 0.5 mg/kg, round_to: 5 mg}}\n"
        f"schedule:\n  - {{session: talk}}\n  - {{session: dose, after: {after}}}\n")
    return protocol


def test_the_delay_note_names_holidays_that_are_the_staff_s_days_off_too(tmp_path: Path) -> None:
    """A staffed clinic's holidays are its people's days off: removing the holidays cause
    removes them there too, so Christmas and New Year's Day (both Fridays, the client's
    one day) are named as what pushed the first dose back."""
    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: one-therapist\ntimezone: America/New_York\nhours: [Mon-Fri 08:00-18:00]\n"
                      "holidays: US-NY\nstaff:\n  - {id: kim, roles: [therapist]}\n")
    protocol = talk_then_dose(tmp_path, "1d..14d")
    client = api.client_from(changes=api.ClientChanges(start="2026-12-21", tz="America/New_York", weight="70 kg",
                                                       available=["Fri 09:00-17:00"]))
    plan = api.make_plan(api.load_protocol(protocol), client, api.load_clinic(clinic), now=NOW)  # type: ignore[arg-type]
    assert [s.start.date() for s in plan.sessions] == [date(2027, 1, 8), date(2027, 1, 15)]
    [note] = [w.message for w in plan.warnings if w.code == "KP401"]
    assert "pushed back by holidays (2026-12-25, 2027-01-01) (without them: 2027-01-01)" in note


def _delayed(protocol: Any, client: Any, clinic: Any = None) -> tuple[Any, date, date]:
    """The request of a delayed plan, its first dose and the earliest the protocol allows."""
    from kapplan.engine import first_dose, schedule
    from kapplan.planning.choices import earliest_first_dose

    request = build_request(protocol, client, clinic)
    dosing = {name for name, session in protocol.sessions.items() if session.kind == "dosing"}
    found = first_dose(schedule(request), dosing)
    allowed = earliest_first_dose(protocol, request.start_date)
    assert found is not None
    assert allowed is not None
    assert (found - allowed).days > 7
    return request, found, allowed


def _earliest_trial_day(request: Any, found: date, allowed: date) -> date | None:
    """Every day from ``allowed`` to the day before ``found`` tried, one trial each."""
    from dataclasses import replace

    from kapplan.engine import _Context
    from kapplan.engine.choices import Pool, _dose_by

    relaxed = _Context(replace(request, allow_deviations=True))
    for day in range(allowed.toordinal(), found.toordinal()):
        if _dose_by(relaxed, day, Pool(10 ** 9)) is not None:
            return date.fromordinal(day)
    return None


def test_the_dose_sooner_search_finds_the_earliest_day_a_trial_reaches() -> None:
    from kapplan.engine import explain_delay

    loaded = api.load_protocol(V1 / "spravato-trd.yaml")
    request, found, allowed = _delayed(loaded.protocol, spravato_client())
    analysis = explain_delay(request, found, allowed)
    assert analysis.sooner_date == _earliest_trial_day(request, found, allowed) == date(2027, 1, 6)


def test_without_a_sooner_plan_the_dose_sooner_search_tries_one_day(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The only therapist is on leave for the first three weeks: no deviation brings the
    talk, and so the dose, sooner. The day before the first dose fails, and no earlier
    day is tried (each would fail too: a plan dosing by then doses by the day before)."""
    import kapplan.engine.choices as choices
    from kapplan.engine import explain_delay

    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: one-therapist\ntimezone: America/New_York\nhours: [Mon-Fri 08:00-18:00]\n"
                      "staff:\n  - {id: kim, roles: [therapist], off: [2027-01-04..2027-01-22]}\n")
    protocol = talk_then_dose(tmp_path, "1d..3d")
    client = api.client_from(changes=api.ClientChanges(start="2027-01-04", tz="America/New_York", weight="70 kg"))
    request, found, allowed = _delayed(api.load_protocol(protocol).protocol, client, api.load_clinic(clinic))
    assert found == date(2027, 1, 26)
    tried: list[int] = []
    trial = choices._dose_by
    monkeypatch.setattr(choices, "_dose_by", lambda context, day, pool: tried.append(day) or trial(context, day, pool))
    analysis = explain_delay(request, found, allowed)
    assert analysis.sooner is None
    assert analysis.complete
    assert tried == [date(2027, 1, 25).toordinal()]
    monkeypatch.undo()
    assert _earliest_trial_day(request, found, allowed) is None
