"""The planning core (kapplan.planning): client merge and defaults, doses, and the plans themselves.

Every bundled protocol is planned for two example clients and compared with a
literal schedule that was checked by hand against the protocol's rules (SPEC
§2). Each plan is also run through the independent checker in
tests/plan_checker.py, so a frozen schedule can never freeze a broken rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from plan_checker import expected_keys, violations

from kapplan.api import ClientChanges, load_client, load_clinic, load_protocol
from kapplan.engine import schedule
from kapplan.models.client import Client, Clinic
from kapplan.models.errors import InfeasibleError, InputError
from kapplan.models.plan import Plan, PlannedSession
from kapplan.planning.build import HORIZON_DAYS, SCAN_DAYS, build_request, holiday_map, make_plan, new_series
from kapplan.planning.clients import merge_client, resolve_client, usable_zone

DATA = Path(__file__).parent / "data"
# The bundled protocols as they were when these engine and command-line tests were
# written: the tests are about planning, not about the current bundled content
# (that is pinned in test_planning.py and test_bundled_protocols.py).
V1 = DATA / "bundled_v1"
NOW = datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC)
NEW_YORK = "client_new_york_72kg.yaml"
NEW_YORK_HOLIDAYS = "client_new_york_72kg_us_ny_holidays_winter_break.yaml"
LONDON = "client_london_158lb_full_profile.yaml"
TITRATED = DATA / "protocol_titrated_per_kg_capped.yaml"
ONE_CALL = DATA / "protocol_one_30min_call.yaml"
CHICAGO_CLINIC = DATA / "clinic_chicago_10_to_16_closed_2026-12-21_to_23.yaml"

# Start 2026-12-07 (a Monday), America/New_York, 72 kg, Mon-Fri 09:00-17:00.
DEFAULT_SCHEDULES: dict[str, list[tuple[str, str]]] = {
    # Every schedule below is checked rule by rule by the independent checker
    # (check()); the literal lists pin the best plan of SPEC §2 and the
    # time-of-day pass of §12 (a series keeps 09:00 where the rules allow).
    "im-kap-krupitsky": [
        ("screening-1", "2026-12-07 09:00"),
        ("preparation-1", "2026-12-08 09:00"),
        ("kpt-1", "2026-12-09 09:00"),
        ("kpt-1.integration", "2026-12-10 09:00"),
        ("kpt-1.counselling", "2027-01-04 09:00"),
        ("kpt-2", "2027-01-08 09:00"),
        ("kpt-2.integration", "2027-01-11 09:00"),
        ("kpt-2.counselling", "2027-02-02 09:00"),
        ("kpt-3", "2027-02-08 09:00"),
        ("kpt-3.integration", "2027-02-09 09:00"),
        ("follow-up-1", "2027-03-09 09:00"),
    ],
    "iv-ketamine-ptsd": [
        ("baseline-1", "2026-12-07 09:00"),
        ("infusion-1", "2026-12-08 09:00"),
        ("infusion-1.assessment-24h", "2026-12-09 09:00"),
        ("infusion-2", "2026-12-11 09:00"),
        ("infusion-3", "2026-12-14 09:00"),
        ("infusion-4", "2026-12-16 09:00"),
        ("infusion-5", "2026-12-18 09:00"),
        ("infusion-6", "2026-12-21 09:00"),
        ("endpoint-1", "2026-12-22 09:00"),
    ],
    "iv-ketamine-trd": [
        ("screening-1", "2026-12-07 09:00"),
        ("infusion-1", "2026-12-08 09:00"),
        ("infusion-2", "2026-12-11 09:00"),
        ("infusion-3", "2026-12-14 09:00"),
        ("infusion-4", "2026-12-16 09:00"),
        ("infusion-5", "2026-12-18 09:00"),
        ("infusion-6", "2026-12-21 09:00"),
        ("response-review-1", "2026-12-22 09:00"),
    ],
    "journey-sl-kap": [
        ("intake-1", "2026-12-07 09:00"),
        ("preparation-1", "2026-12-14 09:00"),
        ("preparation-2", "2026-12-16 09:00"),
        ("medicine-1", "2026-12-17 09:00"),
        ("medicine-1.integration", "2026-12-18 09:00"),
        ("medicine-2", "2026-12-31 09:00"),
        ("medicine-2.integration", "2027-01-01 09:00"),
        ("follow-up-1", "2027-01-06 09:00"),
        ("medicine-3", "2027-01-14 09:00"),
        ("medicine-3.integration", "2027-01-15 09:00"),
        ("medicine-4", "2027-01-28 09:00"),
        ("medicine-4.integration", "2027-01-29 09:00"),
        ("medicine-5", "2027-02-11 09:00"),
        ("medicine-5.integration", "2027-02-12 09:00"),
        ("medicine-6", "2027-02-25 09:00"),
        ("medicine-6.integration", "2027-02-26 09:00"),
        ("course-review-1", "2027-03-01 09:00"),
    ],
    "kap-in-office": [
        ("intake-1", "2026-12-07 09:00"),
        ("preparation-1", "2026-12-08 09:00"),
        ("preparation-2", "2026-12-10 09:00"),
        ("preparation-3", "2026-12-14 09:00"),
        ("medicine-1", "2026-12-15 09:00"),
        ("medicine-1.integration", "2026-12-16 09:00"),
        ("medicine-2", "2026-12-18 09:00"),
        ("medicine-2.integration", "2026-12-21 09:00"),
        ("medicine-3", "2026-12-22 09:00"),
        ("medicine-3.integration", "2026-12-23 09:00"),
        ("medicine-4", "2026-12-25 09:00"),
        ("medicine-4.integration", "2026-12-28 09:00"),
        ("medicine-5", "2026-12-29 09:00"),
        ("medicine-5.integration", "2026-12-30 09:00"),
        ("medicine-6", "2027-01-01 09:00"),
        ("medicine-6.integration", "2027-01-04 09:00"),
        ("closing-1", "2027-01-07 09:00"),
    ],
    "kare-alcohol": [
        ("screening-1", "2026-12-07 09:00"),
        ("first-therapy-1", "2026-12-08 09:00"),
        ("infusion-1", "2026-12-09 09:00"),
        ("infusion-1.therapy-after", "2026-12-10 09:00"),
        ("infusion-2", "2026-12-16 09:00"),
        ("infusion-2.therapy-after", "2026-12-17 09:00"),
        ("infusion-3", "2026-12-23 09:00"),
        ("infusion-3.therapy-after", "2026-12-24 09:00"),
        ("later-therapy-1", "2026-12-28 09:00"),
        ("later-therapy-2", "2027-01-04 09:00"),
        ("later-therapy-3", "2027-01-11 09:00"),
        ("follow-up-3-months-1", "2027-03-25 09:00"),
        ("follow-up-6-months-1", "2027-06-24 09:00"),
    ],
    "mindbloom-home-kap": [
        ("consult-1", "2026-12-07 09:00"),
        ("prep-one-1", "2026-12-08 09:00"),
        ("dose-one-1", "2026-12-08 09:30"),
        ("dose-one-1.guide-integration", "2026-12-09 09:00"),
        ("dose-one-1.clinician-visit", "2026-12-09 09:30"),
        ("prep-two-1", "2026-12-14 09:00"),
        ("dose-two-1", "2026-12-14 09:30"),
        ("dose-two-1.guide-integration", "2026-12-15 09:00"),
        ("medicine-1", "2026-12-17 09:00"),
        ("medicine-2", "2026-12-21 09:00"),
        ("medicine-3", "2026-12-24 09:00"),
        ("medicine-4", "2026-12-28 09:00"),
        ("program-review-1", "2026-12-29 09:00"),
    ],
    "spravato-trd": [
        ("enrollment-1", "2026-12-07 09:00"),
        ("induction-1", "2026-12-08 09:00"),
        ("induction-2", "2026-12-10 09:00"),
        ("induction-3", "2026-12-15 09:00"),
        ("induction-4", "2026-12-17 09:00"),
        ("induction-5", "2026-12-22 09:00"),
        ("induction-6", "2026-12-24 09:00"),
        ("induction-7", "2026-12-29 09:00"),
        ("induction-8", "2026-12-31 09:00"),
        ("maintenance-1", "2027-01-07 09:00"),
        ("maintenance-2", "2027-01-14 09:00"),
        ("maintenance-3", "2027-01-21 09:00"),
        ("maintenance-4", "2027-01-28 09:00"),
        ("week-9-review-1", "2027-01-29 09:00"),
    ],
}

# The same client with US-NY holidays (12-25, 01-01, 01-18 MLK, 02-15) and
# unavailable 2026-12-24..2027-01-01.
HOLIDAY_SCHEDULES: dict[str, list[tuple[str, str]]] = {
    "im-kap-krupitsky": [
        ("screening-1", "2026-12-07 09:00"),
        ("preparation-1", "2026-12-08 09:00"),
        ("kpt-1", "2026-12-09 09:00"),
        ("kpt-1.integration", "2026-12-10 09:00"),
        ("kpt-1.counselling", "2027-01-04 09:00"),
        ("kpt-2", "2027-01-08 09:00"),
        ("kpt-2.integration", "2027-01-11 09:00"),
        ("kpt-2.counselling", "2027-02-02 09:00"),
        ("kpt-3", "2027-02-08 09:00"),
        ("kpt-3.integration", "2027-02-09 09:00"),
        ("follow-up-1", "2027-03-09 09:00"),
    ],
    "iv-ketamine-ptsd": [
        ("baseline-1", "2026-12-07 09:00"),
        ("infusion-1", "2026-12-08 09:00"),
        ("infusion-1.assessment-24h", "2026-12-09 09:00"),
        ("infusion-2", "2026-12-11 09:00"),
        ("infusion-3", "2026-12-14 09:00"),
        ("infusion-4", "2026-12-16 09:00"),
        ("infusion-5", "2026-12-18 09:00"),
        ("infusion-6", "2026-12-21 09:00"),
        ("endpoint-1", "2026-12-22 09:00"),
    ],
    "iv-ketamine-trd": [
        ("screening-1", "2026-12-07 09:00"),
        ("infusion-1", "2026-12-08 09:00"),
        ("infusion-2", "2026-12-11 09:00"),
        ("infusion-3", "2026-12-14 09:00"),
        ("infusion-4", "2026-12-16 09:00"),
        ("infusion-5", "2026-12-18 09:00"),
        ("infusion-6", "2026-12-21 09:00"),
        ("response-review-1", "2026-12-22 09:00"),
    ],
    "journey-sl-kap": [
        ("intake-1", "2026-12-07 09:00"),
        ("preparation-1", "2026-12-14 09:00"),
        ("preparation-2", "2026-12-16 09:00"),
        ("medicine-1", "2026-12-18 09:00"),
        ("medicine-1.integration", "2026-12-21 09:00"),
        ("medicine-2", "2027-01-04 09:00"),
        ("medicine-2.integration", "2027-01-05 09:00"),
        ("follow-up-1", "2027-01-06 09:00"),
        ("medicine-3", "2027-01-19 09:00"),
        ("medicine-3.integration", "2027-01-20 09:00"),
        ("medicine-4", "2027-02-02 09:00"),
        ("medicine-4.integration", "2027-02-03 09:00"),
        ("medicine-5", "2027-02-16 09:00"),
        ("medicine-5.integration", "2027-02-17 09:00"),
        ("medicine-6", "2027-03-02 09:00"),
        ("medicine-6.integration", "2027-03-03 09:00"),
        ("course-review-1", "2027-03-04 09:00"),
    ],
    "kap-in-office": [
        ("intake-1", "2026-12-07 09:00"),
        ("preparation-1", "2027-01-04 09:00"),
        ("preparation-2", "2027-01-06 09:00"),
        ("preparation-3", "2027-01-08 09:00"),
        ("medicine-1", "2027-01-11 09:00"),
        ("medicine-1.integration", "2027-01-12 09:00"),
        ("medicine-2", "2027-01-14 09:00"),
        ("medicine-2.integration", "2027-01-15 09:00"),
        ("medicine-3", "2027-01-19 09:00"),
        ("medicine-3.integration", "2027-01-20 09:00"),
        ("medicine-4", "2027-01-22 09:00"),
        ("medicine-4.integration", "2027-01-25 09:00"),
        ("medicine-5", "2027-01-26 09:00"),
        ("medicine-5.integration", "2027-01-27 09:00"),
        ("medicine-6", "2027-01-29 09:00"),
        ("medicine-6.integration", "2027-02-01 09:00"),
        ("closing-1", "2027-02-04 09:00"),
    ],
    "kare-alcohol": [
        ("screening-1", "2026-12-07 09:00"),
        ("first-therapy-1", "2027-01-04 09:00"),
        ("infusion-1", "2027-01-05 09:00"),
        ("infusion-1.therapy-after", "2027-01-06 09:00"),
        ("infusion-2", "2027-01-12 09:00"),
        ("infusion-2.therapy-after", "2027-01-13 09:00"),
        ("infusion-3", "2027-01-19 09:00"),
        ("infusion-3.therapy-after", "2027-01-20 09:00"),
        ("later-therapy-1", "2027-01-25 09:00"),
        ("later-therapy-2", "2027-02-01 09:00"),
        ("later-therapy-3", "2027-02-08 09:00"),
        ("follow-up-3-months-1", "2027-04-21 09:00"),
        ("follow-up-6-months-1", "2027-07-21 09:00"),
    ],
    "mindbloom-home-kap": [
        ("consult-1", "2026-12-07 09:00"),
        ("prep-one-1", "2027-01-04 09:00"),
        ("dose-one-1", "2027-01-04 09:30"),
        ("dose-one-1.guide-integration", "2027-01-05 09:00"),
        ("dose-one-1.clinician-visit", "2027-01-05 09:30"),
        ("prep-two-1", "2027-01-07 09:00"),
        ("dose-two-1", "2027-01-07 09:30"),
        ("dose-two-1.guide-integration", "2027-01-08 09:00"),
        ("medicine-1", "2027-01-11 09:00"),
        ("medicine-2", "2027-01-14 09:00"),
        ("medicine-3", "2027-01-19 09:00"),
        ("medicine-4", "2027-01-22 09:00"),
        ("program-review-1", "2027-01-25 09:00"),
    ],
    "spravato-trd": [
        ("enrollment-1", "2026-12-07 09:00"),
        ("induction-1", "2027-01-04 09:00"),
        ("induction-2", "2027-01-06 09:00"),
        ("induction-3", "2027-01-11 09:00"),
        ("induction-4", "2027-01-14 09:00"),
        ("induction-5", "2027-01-19 09:00"),
        ("induction-6", "2027-01-21 09:00"),
        ("induction-7", "2027-01-25 09:00"),
        ("induction-8", "2027-01-27 09:00"),
        ("maintenance-1", "2027-02-03 09:00"),
        ("maintenance-2", "2027-02-10 09:00"),
        ("maintenance-3", "2027-02-17 09:00"),
        ("maintenance-4", "2027-02-24 09:00"),
        ("week-9-review-1", "2027-02-25 09:00"),
    ],
}

PLANNED_DOSES = {  # 72 kg; per_kg rules round to 0.1 mg, the label dose is fixed
    "im-kap-krupitsky": (144.0, "2 mg/kg x 72 kg = 144 mg (planned, confirm before dosing)"),
    "iv-ketamine-ptsd": (36.0, "0.5 mg/kg x 72 kg = 36 mg (planned, confirm before dosing)"),
    "iv-ketamine-trd": (36.0, "0.5 mg/kg x 72 kg = 36 mg (planned, confirm before dosing)"),
    "journey-sl-kap": (None, "set by the prescriber (planned, confirm before dosing)"),
    "kap-in-office": (None, "set by the prescriber (planned, confirm before dosing)"),
    "kare-alcohol": (57.6, "0.8 mg/kg x 72 kg = 57.6 mg (planned, confirm before dosing)"),
    "mindbloom-home-kap": (None, "set by the prescriber (planned, confirm before dosing)"),
    "spravato-trd": (56.0, "fixed dose 56 mg (planned, confirm before dosing)"),
}


def client(name: str, **changes: Any) -> Client:
    """A client file with some fields changed (values as a file would write them; None drops one)."""
    data = {**load_client(DATA / name).model_dump(mode="json", exclude_none=True), **changes}
    return Client.model_validate({key: value for key, value in data.items() if value is not None})


def local_schedule(plan: Plan) -> list[tuple[str, str]]:
    return [(s.key, f"{s.start:%Y-%m-%d %H:%M}") for s in plan.sessions]


def placement_ordered(protocol: Any, sessions: list[PlannedSession]) -> list[PlannedSession]:
    """Plans list sessions by start; the checker wants placement order."""
    order = {key: i for i, (key, *_) in enumerate(expected_keys(protocol))}
    return sorted(sessions, key=lambda s: order.get(s.key, len(order)))


def check(plan: Plan, protocol: Any, who: Client, clinic: Clinic | None = None, *, relaxed: bool = False) -> None:
    """The plan is valid for its request (independent checker) and in the client's zone."""
    request = build_request(protocol, who, clinic, allow_deviations=relaxed)
    assert violations(protocol, request, placement_ordered(protocol, plan.sessions)) == []
    first_pass = schedule(replace(request, times=False))  # earliest times: the dates of SPEC §2
    assert {s.key: s.start.date() for s in plan.sessions} == {p.key: p.start.date() for p in first_pass.placements}
    assert all(s.start.utcoffset() == s.start.astimezone(request.zone).utcoffset() for s in plan.sessions)


@pytest.mark.parametrize("protocol_id", sorted(DEFAULT_SCHEDULES))
def test_bundled_protocol_for_the_example_client(protocol_id: str) -> None:
    loaded = load_protocol(protocol_id)
    who = client(NEW_YORK)
    plan = make_plan(loaded, who, None, now=NOW)
    assert local_schedule(plan) == DEFAULT_SCHEDULES[protocol_id]
    check(plan, loaded.protocol, who)
    amount, basis = PLANNED_DOSES[protocol_id]
    doses = {(s.dose.amount_mg, s.dose.basis) for s in plan.sessions if s.dose is not None}
    assert doses == {(amount, basis)}
    assert all((s.dose is not None) == (s.kind == "dosing") for s in plan.sessions)
    assert plan.deviations == []


@pytest.mark.parametrize("protocol_id", sorted(HOLIDAY_SCHEDULES))
def test_bundled_protocol_with_holidays_and_an_unavailable_range(protocol_id: str) -> None:
    loaded = load_protocol(protocol_id)
    who = client(NEW_YORK_HOLIDAYS)
    plan = make_plan(loaded, who, None, now=NOW)
    assert local_schedule(plan) == HOLIDAY_SCHEDULES[protocol_id]
    check(plan, loaded.protocol, who)


@pytest.mark.parametrize("protocol_id", sorted(DEFAULT_SCHEDULES))
def test_bundled_protocol_in_a_clinic_in_another_zone(protocol_id: str) -> None:
    loaded = load_protocol(protocol_id)
    who, clinic = client(NEW_YORK_HOLIDAYS), load_clinic(CHICAGO_CLINIC)
    plan = make_plan(loaded, who, clinic, now=NOW)
    check(plan, loaded.protocol, who, clinic)
    for s in plan.sessions:
        if s.setting == "in-person":  # 10:00-16:00 in Chicago is 11:00-17:00 in New York
            assert s.start.hour >= 11, s.key


def test_clinic_hours_closures_and_holidays_bind_in_person_sessions_only() -> None:
    loaded = load_protocol(str(V1 / "journey-sl-kap.yaml"))
    who, clinic = client(NEW_YORK), load_clinic(CHICAGO_CLINIC)
    plan = make_plan(loaded, who, clinic, now=NOW)
    assert [(key, when, s.setting) for (key, when), s in zip(local_schedule(plan), plan.sessions, strict=True)] == [
        ("intake-1", "2026-12-07 09:00", "telehealth"),
        ("preparation-1", "2026-12-08 11:00", "in-person"),
        ("preparation-2", "2026-12-09 11:00", "in-person"),
        ("medicine-1", "2026-12-10 11:00", "in-person"),
        ("medicine-1.integration", "2026-12-11 11:00", "in-person"),
        ("medicine-2", "2026-12-24 11:00", "in-person"),
        # not 12-25: the clinic's US holiday; the weekend follows
        ("medicine-2.integration", "2026-12-28 11:00", "in-person"),
        ("follow-up-1", "2027-01-06 09:00", "telehealth"),
        ("medicine-3", "2027-01-07 11:00", "in-person"),
        ("medicine-3.integration", "2027-01-08 11:00", "in-person"),
        ("medicine-4", "2027-01-21 11:00", "in-person"),
        ("medicine-4.integration", "2027-01-22 11:00", "in-person"),
        ("medicine-5", "2027-02-04 11:00", "in-person"),
        ("medicine-5.integration", "2027-02-05 11:00", "in-person"),
        ("medicine-6", "2027-02-18 11:00", "in-person"),
        ("medicine-6.integration", "2027-02-19 11:00", "in-person"),
    ]
    assert plan.clinic is not None
    assert plan.clinic["timezone"] == "America/Chicago"
    check(plan, loaded.protocol, who, clinic)


def test_titrated_per_kg_doses_are_scaled_rounded_half_up_and_capped() -> None:
    loaded = load_protocol(TITRATED)
    plan = make_plan(loaded, client(NEW_YORK, dose_scale=0.8), None, now=NOW)
    doses = [(s.key, s.dose.amount_mg, s.dose.basis) for s in plan.sessions if s.dose is not None]
    confirm = " (planned, confirm before dosing)"
    capped = "1 mg/kg x 72 kg x 0.8 = 57.6 mg, rounded to 60 mg, capped at the maximum 55 mg" + confirm
    assert doses == [
        ("medicine-1", 30.0, "0.5 mg/kg x 72 kg x 0.8 = 28.8 mg, rounded to 30 mg" + confirm),
        ("medicine-2", 35.0, "0.6 mg/kg x 72 kg x 0.8 = 34.56 mg, rounded to 35 mg" + confirm),
        ("medicine-3", 45.0, "0.75 mg/kg x 72 kg x 0.8 = 43.2 mg, rounded to 45 mg" + confirm),
        ("medicine-4", 55.0, capped),
        ("medicine-5", 55.0, capped),
    ]
    check(plan, loaded.protocol, client(NEW_YORK, dose_scale=0.8))


def test_pounds_convert_exactly_before_rounding() -> None:
    loaded = load_protocol(TITRATED)
    plan = make_plan(loaded, client(NEW_YORK, weight="158 lb"), None, now=NOW)  # 71.66759446 kg
    doses = [(s.dose.amount_mg, s.dose.basis.split(" (planned")[0]) for s in plan.sessions if s.dose is not None]
    assert doses[:3] == [
        (35.0, "0.5 mg/kg x 71.67 kg (158 lb) = 35.83 mg, rounded to 35 mg"),
        (45.0, "0.6 mg/kg x 71.67 kg (158 lb) = 43 mg, rounded to 45 mg"),
        (55.0, "0.75 mg/kg x 71.67 kg (158 lb) = 53.75 mg, rounded to 55 mg"),
    ]
    assert plan.client["weight"] == "158 lb"
    assert plan.client["weight_kg"] == 71.66759446


def test_per_kg_protocol_without_a_weight_is_refused_before_searching() -> None:
    with pytest.raises(InputError, match="give a weight such as --weight '72 kg'"):
        make_plan(load_protocol("iv-ketamine-trd"), client(NEW_YORK, weight=None), None, now=NOW)


def test_a_dose_that_rounds_to_zero_is_an_input_error() -> None:
    tiny = client(NEW_YORK, weight="20 kg", dose_scale=0.01)
    with pytest.raises(InputError) as caught:
        make_plan(load_protocol(TITRATED), tiny, None, now=NOW)
    assert [d.code for d in caught.value.diagnostics] == ["KP125"]
    assert "rounds to 0 mg" in caught.value.message


@pytest.mark.parametrize(
    ("zone", "start", "window", "expected"),
    [
        # spring forward: 01:00-01:59 (London) / 02:00-02:59 (New York) do not exist
        ("Europe/London", "2026-03-29", "Sun 01:00-03:00", "2026-03-29T02:00:00+01:00"),
        ("America/New_York", "2026-03-08", "Sun 02:00-04:00", "2026-03-08T03:00:00-04:00"),
        # fall back: 01:00-01:59 happens twice, so no session starts then
        ("America/New_York", "2026-11-01", "Sun 01:00-03:00", "2026-11-01T02:00:00-05:00"),
        ("Europe/London", "2026-10-25", "Sun 01:00-03:00", "2026-10-25T02:00:00+00:00"),
    ],
)
def test_no_session_starts_at_a_skipped_or_repeated_local_time(zone, start, window, expected) -> None:
    loaded = load_protocol(ONE_CALL)
    who = Client(id="C-1", timezone=zone, start=start, availability=[window])
    plan = make_plan(loaded, who, None, now=NOW)
    (call,) = plan.sessions
    assert call.start.isoformat() == expected
    assert (call.end - call.start).total_seconds() == 30 * 60
    check(plan, loaded.protocol, who)


def test_dst_keeps_local_times_and_changes_offsets() -> None:
    loaded = load_protocol(str(V1 / "iv-ketamine-trd.yaml"))
    who = client(NEW_YORK, start="2026-10-26")
    plan = make_plan(loaded, who, None, now=NOW)
    assert [s.start.isoformat() for s in plan.sessions] == [
        "2026-10-26T09:00:00-04:00",
        "2026-10-27T09:00:00-04:00",
        "2026-10-30T09:00:00-04:00",
        "2026-11-02T09:00:00-05:00",
        "2026-11-04T09:00:00-05:00",
        "2026-11-06T09:00:00-05:00",
        "2026-11-09T09:00:00-05:00",
    ]
    check(plan, loaded.protocol, who)


def test_infeasible_plan_names_the_session_blockers_and_a_later_start() -> None:
    who = client(NEW_YORK, unavailable=["2026-12-08..2027-11-30"])
    with pytest.raises(InfeasibleError) as caught:
        make_plan(load_protocol(str(V1 / "iv-ketamine-trd.yaml")), who, None, now=NOW)
    explanation = caught.value.explanation
    assert explanation.session == "infusion-4"
    assert explanation.blockers == [
        "infusion sessions must fall 2d..3d apart",
        "infusion takes exactly 3 per treatment week",
        "client unavailable Sat-Sun",
        "client unavailable 2026-12-08..2027-11-30",
        "the planning horizon ends 2027-12-07",
    ]
    # From 2026-12-15 the horizon reaches 2027-12-15: 12-03, 12-06, 12-08, 12-10, 12-13, 12-15.
    assert explanation.suggested_start == "2026-12-15"
    later = make_plan(load_protocol(str(V1 / "iv-ketamine-trd.yaml")), client(NEW_YORK, start="2026-12-15",
                      unavailable=["2026-12-08..2027-11-30"]), None, now=NOW)
    assert local_schedule(later)[-1] == ("infusion-6", "2027-12-15 09:00")


def test_suggested_start_after_a_long_absence_is_the_first_that_works() -> None:
    """Away until October, Mondays only: no start date before then is usable, and the
    earliest that works is the one whose horizon is just long enough (found by a
    binary search over those days, not by trying each in turn)."""
    who = client(NEW_YORK_HOLIDAYS, availability=["Mon 09:00-12:00"], unavailable=["2026-12-07..2027-10-01"])
    loaded = load_protocol(str(V1 / "journey-sl-kap.yaml"))
    with pytest.raises(InfeasibleError) as caught:
        make_plan(loaded, who, None, now=NOW)
    suggested = caught.value.explanation.suggested_start
    assert suggested == "2027-05-16"
    make_plan(loaded, client(NEW_YORK_HOLIDAYS, availability=["Mon 09:00-12:00"],
                             unavailable=["2026-12-07..2027-10-01"], start=suggested), None, now=NOW)
    with pytest.raises(InfeasibleError):
        make_plan(loaded, client(NEW_YORK_HOLIDAYS, availability=["Mon 09:00-12:00"],
                                 unavailable=["2026-12-07..2027-10-01"], start="2027-05-15"), None, now=NOW)


def test_no_plan_is_proven_not_guessed_when_the_window_is_too_short() -> None:
    """Evenings 17-19 only: a medicine session (2 h) must share its day with the
    30-minute preparation call, which never fits. The search proves that within its
    budget (it used to run out: a look-ahead refusal blamed the plan's first session,
    which only matters under max_span, so every consult time was tried again)."""
    who = client(NEW_YORK, availability=["Mon-Fri 17:00-19:00"])
    with pytest.raises(InfeasibleError) as caught:
        make_plan(load_protocol(str(V1 / "mindbloom-home-kap.yaml")), who, None, now=NOW)
    explanation = caught.value.explanation
    assert not explanation.search_limit
    assert explanation.suggested_start is None
    # The first failure is explained, not where the last dates run into the horizon.
    assert explanation.session == "medicine-1"
    assert explanation.blockers[0] == "medicine-1 must fall 0d after guide-prep-1"
    assert any(b.startswith("guide-prep-1 takes that time") for b in explanation.blockers)


def test_suggested_start_respects_holidays_past_the_first_horizon() -> None:
    """The scan for a later start looks a year further: its holidays must block too."""
    who = client(NEW_YORK_HOLIDAYS, unavailable=["2026-12-08..2027-12-20"])
    loaded = load_protocol(str(V1 / "iv-ketamine-trd.yaml"))
    with pytest.raises(InfeasibleError) as caught:
        make_plan(loaded, who, None, now=NOW)
    # 2027-12-24 and 12-31 are observed holidays: the series runs 2028-01-03..01-14.
    assert caught.value.explanation.suggested_start == "2027-01-14"
    moved = client(NEW_YORK_HOLIDAYS, unavailable=["2026-12-08..2027-12-20"], start="2027-01-14")
    plan = make_plan(loaded, moved, None, now=NOW)
    assert local_schedule(plan)[1:] == [
        ("infusion-1", "2028-01-03 09:00"),
        ("infusion-2", "2028-01-05 09:00"),
        ("infusion-3", "2028-01-07 09:00"),
        ("infusion-4", "2028-01-10 09:00"),
        ("infusion-5", "2028-01-12 09:00"),
        ("infusion-6", "2028-01-14 09:00"),
    ]
    check(plan, loaded.protocol, moved)


def test_deviations_are_recorded_in_the_plan_and_on_each_session() -> None:
    loaded = load_protocol(str(V1 / "iv-ketamine-trd.yaml"))
    who = client(NEW_YORK, availability=["Mon,Thu 09:00-17:00"])
    with pytest.raises(InfeasibleError):
        make_plan(loaded, who, None, now=NOW)
    plan = make_plan(loaded, who, None, now=NOW, allow_deviations=True)
    # Least total lateness: starting on Monday 12-14 makes only two Thu->Mon gaps late.
    assert local_schedule(plan) == [
        ("screening-1", "2026-12-07 09:00"),
        ("infusion-1", "2026-12-14 09:00"),
        ("infusion-2", "2026-12-17 09:00"),
        ("infusion-3", "2026-12-21 09:00"),
        ("infusion-4", "2026-12-24 09:00"),
        ("infusion-5", "2026-12-28 09:00"),
        ("infusion-6", "2026-12-31 09:00"),
    ]
    assert sorted((d.key, d.rule, d.allowed, d.actual, d.lateness_min) for d in plan.deviations) == [
        ("infusion-3", "gap", "2d..3d", "4d", 1440),
        ("infusion-3", "per_week", "3 per week", "2 in week 1", 0),
        ("infusion-5", "gap", "2d..3d", "4d", 1440),
        ("infusion-5", "per_week", "3 per week", "2 in week 2", 0),
    ]
    by_key = {s.key: s for s in plan.sessions}
    assert [d.rule for d in by_key["infusion-3"].deviations] == ["gap", "per_week"]
    assert by_key["infusion-4"].deviations == []
    check(plan, loaded.protocol, who, relaxed=True)


def test_allow_deviations_changes_nothing_when_a_strict_plan_exists() -> None:
    loaded = load_protocol("iv-ketamine-trd")
    plan = make_plan(loaded, client(NEW_YORK), None, now=NOW, allow_deviations=True)
    assert local_schedule(plan) == DEFAULT_SCHEDULES["iv-ketamine-trd"]
    assert plan.deviations == []


def test_plan_embeds_protocol_client_and_reproducible_series() -> None:
    loaded = load_protocol("spravato-trd")
    plan = make_plan(loaded, client(LONDON, timezone="America/New_York"), None, now=NOW, reproducible=True)
    assert plan.created == NOW
    assert plan.series == new_series("C-0044", "spravato-trd", NOW, True)
    assert plan.series == make_plan(loaded, client(LONDON), None, now=NOW, reproducible=True).series
    assert plan.protocol.sha256 == loaded.sha256
    assert plan.protocol.definition["id"] == "spravato-trd"
    assert plan.client["name"] == "Alex Rivera"
    assert plan.client["holidays"] == "NO"
    assert Plan.model_validate_json(plan.to_json()) == plan
    assert new_series("C-0044", "spravato-trd", NOW, False) != new_series("C-0044", "spravato-trd", NOW, False)


# ---------------------------------------------------------------- client merge and defaults


def test_flags_override_the_file_but_unavailable_adds() -> None:
    flags = ClientChanges(
        tz="America/New_York", weight="80 kg", available=["Tue 10:00-12:00"], unavailable=["2026-12-14"],
        holidays="US-NY", start="2027-01-04", id="C-9",
    )
    merged = merge_client(load_client(DATA / LONDON), flags)
    record = merged.model_dump(mode="json", exclude_none=True)
    assert record == {
        "kind": "client",
        "id": "C-9",
        "name": "Alex Rivera",
        "email": "alex@example.org",
        "timezone": "America/New_York",
        "start": "2027-01-04",
        "weight": "80 kg",
        "dose_scale": 0.8,
        "availability": ["Tue 10:00-12:00"],
        "unavailable": ["2026-12-24..2027-01-01", "2026-12-10", "2026-12-14"],
        "holidays": "US-NY",
        "location": "12 Main St, Suite 200",
        "therapist": {"name": "Dr. Kim", "email": "kim@clinic.example"},
    }


def test_without_flags_the_file_is_kept_as_is() -> None:
    base = load_client(DATA / LONDON)
    assert merge_client(base, ClientChanges()) == base


def test_flags_alone_make_a_client_with_defaults() -> None:
    merged = merge_client(None, ClientChanges(weight="72 kg"))
    assert (merged.id, merged.timezone, merged.start, merged.availability) == ("client", None, None, None)
    assert [str(w) for w in merged.windows] == ["Mon,Tue,Wed,Thu,Fri 09:00-17:00"]
    resolved, notes = resolve_client(merged, today=date(2026, 11, 18), system_zone="Europe/Berlin")
    assert (resolved.timezone, resolved.start) == ("Europe/Berlin", date(2026, 11, 19))
    assert [(n.code, n.message) for n in notes] == [
        ("note", "no time zone given; using the system zone Europe/Berlin")
    ]


def test_resolve_keeps_given_zone_and_start_without_a_note() -> None:
    given = load_client(DATA / NEW_YORK)
    resolved, notes = resolve_client(given, today=date(2026, 11, 18), system_zone="Europe/Berlin")
    assert resolved == given
    assert notes == []


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (ClientChanges(weight="72"), "--weight: expected a mass with a unit"),
        (ClientChanges(weight="500 kg"), "--weight: weight must lie within 20-350 kg"),
        (ClientChanges(weight="30 lb"), "--weight: weight must lie within 20-350 kg"),
        (ClientChanges(tz="Mars/Olympus_Mons"), "--tz: unknown time zone"),
        (ClientChanges(start="2026-02-30"), "--start: that day does not exist"),
        (ClientChanges(holidays="XX-YY"), "--holidays: unknown holiday calendar"),
        (ClientChanges(unavailable=["2026-13-01"]), "--unavailable: that day does not exist"),
        (ClientChanges(available=["Mon 17:00-09:00"]), "--available: the window must end after it starts"),
        (ClientChanges(id="../etc"), "--id: expected an identifier"),
    ],
)
def test_bad_flag_values_name_the_flag(flags: ClientChanges, message: str) -> None:
    with pytest.raises(InputError) as caught:
        merge_client(load_client(DATA / NEW_YORK), flags)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "KP112"
    assert diagnostic.message.startswith(message)


def test_an_unknown_system_zone_falls_back_to_utc() -> None:
    assert usable_zone("Europe/Berlin") == "Europe/Berlin"
    assert usable_zone("Foo/Bar") == "UTC"
    assert usable_zone("") == "UTC"


def test_holidays_cover_the_horizon_and_the_later_start_scan() -> None:
    days = holiday_map("US-NY", date(2026, 12, 7), HORIZON_DAYS + SCAN_DAYS)
    assert days[date(2026, 12, 25)] == "Christmas Day"
    assert days[date(2028, 11, 23)] == "Thanksgiving Day"
    assert min(days) >= date(2026, 12, 7)
    assert max(days) <= date(2028, 12, 7)
    assert holiday_map(None, date(2026, 12, 7), 30) == {}
