"""The time-of-day pass (SPEC §2, §12): preferred and predictable times, dates kept.

Literal schedules through the command line for clients who could come at any
hour, the h-target follow-up that moves with its infusion, and the ranking
itself on small engine requests.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from plan_checker import violations
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.engine import Preference, ScheduleRequest, schedule
from kapplan.models.errors import InfeasibleError
from kapplan.models.protocol import Protocol
from kapplan.models.values import parse_weekly_window

runner = CliRunner()
ANY_HOUR = ["--available", "Mon-Sun 06:00-22:00"]
FLAGS = ["--start", "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg"]

# The bundled protocols as they were when these tests were written: they are
# about the time-of-day pass, not about the current bundled content.
V1 = Path(__file__).parent / "data" / "bundled_v1"


def planned(protocol: str, *flags: str) -> list[tuple[str, str, str]]:
    """(key, local date, local start) of each session of `kapplan plan ... --format json`."""
    result = runner.invoke(app, ["plan", protocol, *FLAGS, *flags, "--format", "json"],
                           env={"SOURCE_DATE_EPOCH": "1795000000"})
    assert result.exit_code == 0, result.output
    sessions = json.loads(result.stdout)["sessions"]
    return [(s["key"], s["start"][:10], s["start"][11:16]) for s in sessions]


def test_a_client_free_all_day_gets_working_hours_and_one_time_of_day() -> None:
    """06:00-22:00 every day, no preference: the default Mon-Fri 09:00-17:00 wins, and each
    step keeps one time (Saturdays have no preferred window: the previous time, rank 3)."""
    assert planned(str(V1 / "iv-ketamine-ptsd.yaml"), *ANY_HOUR) == [
        ("baseline-1", "2026-12-07", "09:00"),
        ("infusion-1", "2026-12-08", "09:00"),
        ("infusion-1.assessment-24h", "2026-12-09", "09:00"),  # 24 h after its infusion, which moved
        ("infusion-2", "2026-12-10", "09:00"),
        ("infusion-3", "2026-12-12", "09:00"),
        ("infusion-4", "2026-12-15", "09:00"),
        ("infusion-5", "2026-12-17", "09:00"),
        ("infusion-6", "2026-12-19", "09:00"),
    ]
    assert planned(str(V1 / "journey-sl-kap.yaml"), *ANY_HOUR) == [
        ("intake-1", "2026-12-07", "09:00"),
        ("preparation-1", "2026-12-08", "09:00"),
        ("preparation-2", "2026-12-09", "09:00"),
        ("medicine-1", "2026-12-10", "09:00"),
        ("medicine-1.integration", "2026-12-11", "09:00"),
        ("medicine-2", "2026-12-24", "09:00"),
        ("medicine-2.integration", "2026-12-25", "09:00"),
        ("follow-up-1", "2027-01-06", "09:00"),
        ("medicine-3", "2027-01-07", "09:00"),
        ("medicine-3.integration", "2027-01-08", "09:00"),
        ("medicine-4", "2027-01-21", "09:00"),
        ("medicine-4.integration", "2027-01-22", "09:00"),
        ("medicine-5", "2027-02-04", "09:00"),
        ("medicine-5.integration", "2027-02-05", "09:00"),
        ("medicine-6", "2027-02-18", "09:00"),
        ("medicine-6.integration", "2027-02-19", "09:00"),
    ]


def test_times_never_move_a_date_of_the_earliest_plan() -> None:
    """The same client with earliest times (the first pass alone): 06:00 everywhere, same dates."""
    for protocol in ("iv-ketamine-ptsd", "journey-sl-kap"):
        timed = planned(protocol, *ANY_HOUR)
        request = _request_for(protocol)
        first_pass = schedule(replace(request, times=False))
        assert {p.start.strftime("%H:%M") for p in first_pass.placements} == {"06:00"}
        assert sorted((k, d) for k, d, _ in timed) == sorted(
            (p.key, p.start.date().isoformat()) for p in first_pass.placements)


def _request_for(protocol_id: str) -> ScheduleRequest:
    from kapplan.api import client_from, load_protocol
    from kapplan.models.changes import ClientChanges
    from kapplan.planning.build import build_request

    client = client_from(changes=ClientChanges(start="2026-12-07", tz="America/New_York", weight="72 kg",
                                               available=["Mon-Sun 06:00-22:00"]))
    return build_request(load_protocol(protocol_id).protocol, client, None)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the ranking, literally

NEW_YORK = ZoneInfo("America/New_York")


def request(steps: list[dict[str, Any]], available: str = "Mon-Sun 06:00-22:00", start: str = "2026-12-07",
            **options: Any) -> ScheduleRequest:
    sessions = {"visit": {"kind": "preparation", "duration": "60min"},
                "call": {"kind": "integration", "duration": "30min", "setting": "telehealth"}}
    protocol = Protocol.model_validate({"kind": "protocol", "id": "t", "version": "1", "title": "T",
                                        "sessions": sessions, "schedule": steps})
    return ScheduleRequest(protocol=protocol, zone=NEW_YORK, start_date=date.fromisoformat(start),
                           availability=(parse_weekly_window(available),), **options)


def starts(req: ScheduleRequest) -> list[str]:
    result = schedule(req)
    assert violations(req.protocol, req, result.placements) == []
    return [p.start.strftime("%a %m-%d %H:%M") for p in result.placements]


def test_a_client_preference_is_read_in_the_clients_zone() -> None:
    prefer = Preference(NEW_YORK, (parse_weekly_window("Mon-Fri 13:00-15:00"),))
    req = request([{"session": "visit", "count": 3, "gap": "1d"}], prefer=prefer)
    assert starts(req) == ["Mon 12-07 13:00", "Tue 12-08 13:00", "Wed 12-09 13:00"]


def test_a_preference_in_another_zone_is_compared_as_instants() -> None:
    """A clinic's hours_preferred in London: 14:00-16:00 there is 09:00-11:00 in New York."""
    prefer = Preference(ZoneInfo("Europe/London"), (parse_weekly_window("Mon-Fri 14:00-16:00"),))
    req = request([{"session": "visit", "count": 2, "gap": "1d"}], prefer=prefer)
    assert starts(req) == ["Mon 12-07 09:00", "Tue 12-08 09:00"]


def test_a_series_keeps_its_time_of_day_across_the_weekend() -> None:
    """The visits follow a Friday intake at 16:00 (rank 2 that day); on Saturday and Sunday
    no window is preferred, so they copy 16:00 anywhere (rank 3); on Monday 16:00 is
    preferred again and wins over the earlier 15:00 (rank 1)."""
    req = request([{"session": "call"}, {"session": "visit", "count": 4, "gap": "1d", "after": "0d"}],
                  available="Mon-Sun 15:30-22:00", start="2026-12-11")
    assert starts(req) == ["Fri 12-11 15:30", "Fri 12-11 16:00", "Sat 12-12 16:00", "Sun 12-13 16:00",
                           "Mon 12-14 16:00"]


def test_without_a_preferred_fit_the_day_opens_at_the_preferred_start() -> None:
    """Rank 4: a 60-minute visit cannot lie inside 10:00-10:30, so it takes the earliest
    time from 10:00 on, not the 06:00 availability allows; with nothing from there, 06:00."""
    prefer = Preference(NEW_YORK, (parse_weekly_window("Mon-Fri 10:00-10:30"),))
    assert starts(request([{"session": "visit"}], available="Mon-Sun 06:00-12:00", prefer=prefer)) == [
        "Mon 12-07 10:00"]
    assert starts(request([{"session": "visit"}], available="Mon-Sun 06:00-10:30", prefer=prefer)) == [
        "Mon 12-07 06:00"]


# --------------------------------------------------------------------------- where preferences come from


def test_prefer_flags_are_repeatable_and_soft() -> None:
    trd = str(V1 / "iv-ketamine-trd.yaml")
    assert planned(trd, *ANY_HOUR, "--prefer", "Mon-Fri 14:00-18:00", "--prefer", "Sat 10:00-12:00") == [
        ("screening-1", "2026-12-07", "14:00"),
        ("infusion-1", "2026-12-08", "14:00"),
        ("infusion-2", "2026-12-10", "14:00"),
        ("infusion-3", "2026-12-12", "10:00"),  # Saturday's own window
        ("infusion-4", "2026-12-15", "14:00"),
        ("infusion-5", "2026-12-17", "14:00"),
        ("infusion-6", "2026-12-19", "10:00"),
    ]
    # a preference nothing fits never makes a plan infeasible
    assert [t for _, _, t in planned(str(V1 / "iv-ketamine-trd.yaml"), "--prefer", "Sun 05:00-06:00")] == ["09:00"] * 7


def test_a_client_file_prefer_and_a_clinic_hours_preferred(tmp_path) -> None:
    client = tmp_path / "client.yaml"
    client.write_text("kind: client\nid: C-1\ntimezone: America/New_York\nstart: 2026-12-07\nweight: 72 kg\n"
                      "availability: [Mon-Sun 06:00-22:00]\nprefer: [Mon-Fri 11:00-13:00]\n")
    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: north\ntimezone: America/Chicago\nhours: [Mon-Sun 05:00-21:00]\n"
                      "hours_preferred: [Mon-Sun 07:00-09:00]\n")
    def times(*flags: str) -> set[str]:
        result = runner.invoke(app, ["plan", str(V1 / "iv-ketamine-trd.yaml"), "--format", "json", *flags],
                               env={"SOURCE_DATE_EPOCH": "1795000000"})
        assert result.exit_code == 0, result.output
        return {s["start"][11:16] for s in json.loads(result.stdout)["sessions"]}
    assert times("--client", str(client)) == {"11:00"}
    # the clinic's preference (Chicago 07:00 = New York 08:00) applies only without the client's
    assert times("--client", str(client), "--clinic", str(clinic)) == {"11:00"}
    plain = tmp_path / "plain.yaml"
    plain.write_text(client.read_text().replace("prefer: [Mon-Fri 11:00-13:00]\n", ""))
    assert times("--client", str(plain), "--clinic", str(clinic)) == {"08:00"}


def test_a_roster_prefer_column_splits_its_windows_by_bar(tmp_path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,protocol,start,timezone,weight,availability,prefer\n"
                      'C-1,iv-ketamine-trd,2026-12-07,America/New_York,72 kg,Mon-Sun 06:00-22:00,'
                      '"Mon-Fri 15:00-18:00 | Sat 07:00-09:00"\n')
    result = runner.invoke(app, ["batch", str(roster), "--out", str(tmp_path / "out"), "--format", "json"])
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "out" / "C-1.plan.json").read_text())
    assert plan["client"]["prefer"] == ["Mon,Tue,Wed,Thu,Fri 15:00-18:00", "Sat 07:00-09:00"]
    assert [(s["start"][:10], s["start"][11:16]) for s in plan["sessions"]][2:4] == [
        ("2026-12-10", "15:00"), ("2026-12-12", "07:00")]


# --------------------------------------------------------------------------- brute-force reference

# The random small instances of test_schedule_properties: a 3-week horizon, an hourly grid.
from datetime import UTC, datetime, time  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from plan_checker import expected_keys, partial_violations  # noqa: E402
from test_schedule_properties import Slot, _preference, _static_slots, requests  # noqa: E402

REFERENCE_LIMIT = 20_000


def _window_edges(day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The default preference (Mon-Fri 09:00-17:00 local) on ``day``, as UTC instants."""
    if day.weekday() >= 5:
        return None
    return (datetime.combine(day, time(9), tzinfo=zone).astimezone(UTC),
            datetime.combine(day, time(17), tzinfo=zone).astimezone(UTC))


def _ranked(slots: list[Slot], previous: Slot | None, zone: ZoneInfo) -> list[Slot]:
    """SPEC §12's ranking, written from the spec: slots are one day's, earliest first."""
    edges = _window_edges(slots[0].start.astimezone(zone).date(), zone) if slots else None

    def inside(slot: Slot) -> bool:
        return edges is not None and edges[0] <= slot.start.astimezone(UTC) and slot.end.astimezone(UTC) <= edges[1]

    copied = []
    if previous is not None:
        clock = previous.start.astimezone(zone).strftime("%H:%M")
        copied = [s for s in slots if s.start.astimezone(zone).strftime("%H:%M") == clock]
    order = [s for s in copied if inside(s)] + [s for s in slots if inside(s)] + copied
    if edges is not None:
        order += [s for s in slots if s.start.astimezone(UTC) >= edges[0]]
    order += slots
    return list(dict.fromkeys(order))


def _previous_key(keys: list[tuple[Any, ...]], i: int) -> str | None:
    """The step's previous occurrence, or the previous follow-up of the same entry."""
    key, step, _, n, follows = keys[i]
    if follows is None:
        return f"{step}-{n - 1}" if n > 1 else None
    suffix = key.split(".", 1)[1]
    earlier = [k[0] for k in keys[:i] if k[1] == step and k[4] is not None and k[0].split(".", 1)[1] == suffix]
    return earlier[-1] if earlier else None


def _elapsed_target(req: ScheduleRequest, key: tuple[Any, ...]) -> bool:
    step = req.protocol.step(key[1])
    assert step is not None
    if key[4] is not None:
        rng = next(f for f in step.followed_by if f"{key[4]}.{f.id or f.session}" == key[0]).offset
    elif key[3] > 1:
        rng = step.gap
    elif step.from_ is None and req.protocol.schedule.index(step) == 0:
        return False  # the first step's `after` measures from nothing
    else:
        rng = step.after
    return rng.target is not None and not rng.target.calendar


def reference_times(req: ScheduleRequest, dates: dict[str, date]) -> list[datetime] | str:
    """Each session in turn takes the first option of its ranking (or nearest its h-target)
    that still lets every later session be placed on its date: brute force throughout."""
    protocol, zone = req.protocol, req.zone
    keys = expected_keys(protocol)
    day_slots = [[s for s in _static_slots(req, key) if s.start.astimezone(zone).date() == dates[key[0]]]
                 for key in keys]
    nodes = 0

    def completes(i: int, placed: dict[str, Slot]) -> bool:
        nonlocal nodes
        if i == len(keys):
            return True
        for slot in day_slots[i]:
            nodes += 1
            if nodes > REFERENCE_LIMIT:
                raise TimeoutError
            placed[slot.key] = slot
            if not partial_violations(protocol, req, list(placed.values())) and completes(i + 1, placed):
                del placed[slot.key]
                return True
            del placed[slot.key]
        return False

    chosen: dict[str, Slot] = {}
    try:
        for i, key in enumerate(keys):
            if _elapsed_target(req, key):
                options = sorted(day_slots[i], key=_preference(protocol, chosen, key, zone))
            else:
                previous = _previous_key(keys, i)
                options = _ranked(day_slots[i], chosen.get(previous) if previous else None, zone)
            for slot in options:
                chosen[slot.key] = slot
                if not partial_violations(protocol, req, list(chosen.values())) and completes(i + 1, chosen):
                    break
                del chosen[slot.key]
            else:
                return "none"
    except TimeoutError:
        return "unknown"
    return [chosen[k[0]].start for k in keys]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_each_time_is_the_first_ranking_option_that_stands(req: ScheduleRequest) -> None:
    """The engine's times equal the brute-force reference's, and its dates the first pass's."""
    try:
        result = schedule(req)
    except InfeasibleError:
        return
    assert violations(req.protocol, req, result.placements) == []
    first_pass = schedule(replace(req, times=False))
    dates = {p.key: p.start.date() for p in first_pass.placements}
    assert {p.key: p.start.date() for p in result.placements} == dates
    expected = reference_times(req, dates)
    if expected != "unknown":
        assert expected == [p.start for p in result.placements]


def test_the_time_pass_stays_within_its_node_budget() -> None:
    """Every check spends at most one search's budget and the pass at most what is left of
    it: a tiny budget still gives a valid plan (the earliest times stand)."""
    req = request([{"session": "visit", "count": 6, "gap": "1d..3d"},
                   {"session": "call", "after": "0d..2d", "count": 3, "gap": "1d"}])
    for budget in (40, 80, 200, 40_000):
        small = replace(req, budget=budget)
        try:
            result = schedule(small)
        except InfeasibleError:  # the date pass itself may run out at these budgets
            continue
        assert violations(small.protocol, small, result.placements) == []
        earliest = schedule(replace(small, times=False))
        assert [p.start.date() for p in result.placements] == [p.start.date() for p in earliest.placements]
