"""Property: random rosters booked into random clinics never over-book anyone (SPEC §11).

Each example makes a clinic (people with roles, zones, hours, leave,
``concurrent`` and ``max_per_day``; rooms with kinds and capacities;
continuity on or off; sometimes a ``combine`` pair) and books a roster of
clients one after the other, as ``batch --clinic`` does. The checker in
tests/capacity_checker.py, which shares no code with the engine, then finds
no person or room over capacity, every assignment holding its role in
working time, no person filling two roles of a session unless ``combine``
allows it, one person per continuity role; and every plan still satisfies its
protocol (tests/plan_checker.py).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from capacity_checker import capacity_violations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_checker import expected_keys, violations

from kapplan import api
from kapplan.ledger.memory import MemoryLedger
from kapplan.models.client import Clinic
from kapplan.models.errors import InfeasibleError
from kapplan.planning.build import build_request

DATA = Path(__file__).parent / "data"
PROTOCOLS = [api.load_protocol(DATA / "protocol_staffed_prep_three_doses.yaml"),
             api.load_protocol(DATA / "protocol_co_therapists_partial_prescriber.yaml")]
NOW = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)
ZONES = ["America/New_York", "America/Chicago", "Europe/London", "Australia/Sydney"]
HOURS = ["Mon-Fri 08:00-18:00", "Mon-Fri 09:00-17:00", "Mon,Wed,Fri 09:00-15:00", "Tue-Sat 10:00-19:00",
         "Mon-Thu 07:00-13:00"]
ROLES = ["therapist", "nurse", "prescriber"]


@st.composite
def members(draw: Any, index: int) -> dict[str, Any]:
    member: dict[str, Any] = {"id": f"p{index}", "roles": draw(st.lists(st.sampled_from(ROLES), min_size=1,
                                                                           max_size=2, unique=True))}
    if draw(st.booleans()):
        member["timezone"] = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        member["hours"] = [draw(st.sampled_from(HOURS))]
    if draw(st.booleans()):
        first = date(2026, 12, 7) + timedelta(days=draw(st.integers(0, 40)))
        member["off"] = [f"{first}..{first + timedelta(days=draw(st.integers(0, 9)))}"]
    if draw(st.booleans()):
        member["concurrent"] = {"dosing": draw(st.integers(2, 3))}
    if draw(st.booleans()):
        member["max_per_day"] = draw(st.integers(1, 4))
    return member


@st.composite
def clinics(draw: Any) -> dict[str, Any]:
    size = draw(st.integers(2, 6))
    staff = [draw(members(i)) for i in range(size)]
    rooms = [{"id": f"r{i}", "capacity": draw(st.integers(1, 2)),
              **({"for": [draw(st.sampled_from(["dosing", "preparation"]))]} if draw(st.booleans()) else {})}
             for i in range(draw(st.integers(0, 3)))]
    data: dict[str, Any] = {"kind": "clinic", "id": "random", "timezone": draw(st.sampled_from(ZONES)),
                            "hours": [draw(st.sampled_from(HOURS[:2] + HOURS[3:]))],
                            "closed": ["2026-12-24..2026-12-26"], "staff": staff, "rooms": rooms,
                            "continuity": draw(st.sampled_from([["therapist"], [], ["therapist", "prescriber"]]))}
    if draw(st.booleans()):
        data["combine"] = [["prescriber", "therapist"]]
    return data


@st.composite
def rosters(draw: Any) -> list[dict[str, Any]]:
    return [{"id": f"C-{i}", "protocol": draw(st.integers(0, len(PROTOCOLS) - 1)),
             "tz": draw(st.sampled_from(ZONES)),
             "start": str(date(2026, 12, 7) + timedelta(days=draw(st.integers(0, 10)))),
             "available": draw(st.sampled_from([[], ["Mon-Sun 00:00-23:59"], ["Mon-Fri 07:00-20:00"]]))}
            for i in range(draw(st.integers(2, 6)))]


def _in_placement_order(protocol: Any, sessions: list[Any]) -> list[Any]:
    order = {key: i for i, (key, *_) in enumerate(expected_keys(protocol))}
    return sorted(sessions, key=lambda s: order[s.key])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clinics(), rosters())
def test_random_rosters_never_over_book_a_random_clinic(clinic_data: dict[str, Any],
                                                       roster: list[dict[str, Any]]) -> None:
    clinic = Clinic.model_validate(clinic_data)
    ledger = MemoryLedger(clinic)
    plans = []
    for record in roster:
        loaded = PROTOCOLS[record["protocol"]]
        who = api.client_from(changes=api.ClientChanges(id=record["id"], start=record["start"], tz=record["tz"],
                                                        weight="72 kg", available=record["available"]))
        try:
            plan = api.make_plan(loaded, who, clinic, now=NOW, bookings=ledger.index)
        except InfeasibleError:
            continue  # a full clinic: the record fails, nothing is booked
        ledger.book(plan)
        plans.append(plan)
        request = build_request(loaded.protocol, plan_client(plan), clinic)
        assert violations(loaded.protocol, request, _in_placement_order(loaded.protocol, plan.sessions)) == []
    problems = capacity_violations(clinic_data, [p.model_dump(mode="json") for p in plans])
    assert problems == []


def plan_client(plan: Any) -> Any:
    from kapplan.planning.embedded import client_of

    return client_of(plan)
