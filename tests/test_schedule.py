"""The scheduling engine against SPEC §2, as literal schedules.

Every plan found is also run through the independent checker (plan_checker),
so each test checks both the exact dates chosen and that no rule is broken.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from plan_checker import violations

from kapplan.engine import (
    BudgetExhausted,
    ClinicRules,
    ScheduleRequest,
    ScheduleResult,
    earliest_workable_start,
    placement_order,
    schedule,
)
from kapplan.models.errors import Explanation, InfeasibleError
from kapplan.models.protocol import Protocol
from kapplan.models.values import parse_date_range, parse_weekly_window

NEW_YORK = ZoneInfo("America/New_York")
DOSE = {"medication": "ketamine", "route": "IM", "by_prescriber": True}


def make_protocol(sessions: dict[str, Any], steps: list[dict[str, Any]], **constraints: str) -> Protocol:
    return Protocol.model_validate({"kind": "protocol", "id": "test", "version": "1", "title": "Test",
                                    "sessions": sessions, "schedule": steps, "constraints": constraints})


def make_request(protocol: Protocol, *, zone: str = "America/New_York", start: str = "2026-12-07",
                 available: tuple[str, ...] = ("Mon-Fri 09:00-17:00",), unavailable: tuple[str, ...] = (),
                 **options: Any) -> ScheduleRequest:
    return ScheduleRequest(
        protocol=protocol,
        zone=ZoneInfo(zone),
        start_date=date.fromisoformat(start),
        availability=tuple(parse_weekly_window(w) for w in available),
        unavailable=tuple(parse_date_range(u) for u in unavailable),
        **options,
    )


def plan(request: ScheduleRequest) -> ScheduleResult:
    """The plan, checked: no rule broken, and every date that of the first pass (earliest
    times): the time-of-day pass of SPEC §2/§12 never moves a date."""
    result = schedule(request)
    assert violations(request.protocol, request, result.placements) == []
    if request.times:
        first_pass = earliest(request)
        assert [p.start.date() for p in result.placements] == [p.start.date() for p in first_pass.placements]
    return result


def earliest(request: ScheduleRequest) -> ScheduleResult:
    """The first pass alone: every session at its earliest time on the best dates."""
    result = schedule(replace(request, times=False))
    assert violations(request.protocol, request, result.placements) == []
    return result


def local(result: ScheduleResult) -> list[str]:
    """Starts as local wall-clock text, in placement order."""
    return [p.start.strftime("%Y-%m-%d %H:%M") for p in result.placements]


def local_with_offsets(result: ScheduleResult) -> list[str]:
    return [p.start.isoformat(timespec="minutes") for p in result.placements]


def explain(request: ScheduleRequest) -> Explanation:
    with pytest.raises(InfeasibleError) as caught:
        schedule(request)
    return caught.value.explanation


def one(kind: str = "preparation", duration: str = "60min", **fields: Any) -> dict[str, Any]:
    session: dict[str, Any] = {"kind": kind, "duration": duration, **fields}
    if kind == "dosing":
        session.setdefault("dose", DOSE)
    return session


# --------------------------------------------------------------------------- basics


def test_sessions_take_the_earliest_permitted_starts() -> None:
    protocol = make_protocol({"prep": one()}, [{"session": "prep", "count": 3, "gap": "2d.."}])
    result = plan(make_request(protocol))
    assert local(result) == ["2026-12-07 09:00", "2026-12-09 09:00", "2026-12-11 09:00"]
    assert [p.end.strftime("%H:%M") for p in result.placements] == ["10:00", "10:00", "10:00"]
    assert all(p.start.tzinfo == NEW_YORK for p in result.placements)


def test_placement_order_lists_occurrences_then_their_follow_ups() -> None:
    protocol = make_protocol(
        {"medicine": one("dosing", "3h"), "integration": one("integration")},
        [{"id": "med", "session": "medicine", "count": 3, "gap": "5d..",
          "followed_by": [{"session": "integration", "offset": "1d..3d", "on": [1, 3]}]}],
    )
    assert placement_order(protocol) == [
        ("med-1", "med", "medicine", 1, None),
        ("med-1.integration", "med", "integration", 1, "med-1"),
        ("med-2", "med", "medicine", 2, None),
        ("med-3", "med", "medicine", 3, None),
        ("med-3.integration", "med", "integration", 3, "med-3"),
    ]
    result = plan(make_request(protocol))
    assert [p.key for p in result.placements] == [key for key, *_ in placement_order(protocol)]
    assert local(result) == ["2026-12-07 09:00", "2026-12-08 09:00", "2026-12-14 09:00", "2026-12-21 09:00",
                             "2026-12-22 09:00"]


def test_session_must_fit_one_window_on_an_allowed_weekday_inside_its_start_times() -> None:
    protocol = make_protocol(
        {"medicine": one("dosing", "3h", days=["Tue", "Thu"], time="10:00..11:00")},
        [{"session": "medicine", "count": 2, "gap": "1d.."}],
    )
    request = make_request(protocol, available=("Mon-Fri 08:00-12:00", "Tue 12:00-18:00", "Thu 09:00-14:00"))
    # Tuesday 10:00 would need 10:00-13:00 across two windows; Thursday's window holds it.
    assert local(plan(request)) == ["2026-12-10 10:00", "2026-12-17 10:00"]


def test_the_grid_is_local_time() -> None:
    protocol = make_protocol({"call": one("integration", "20min")}, [{"session": "call", "count": 2, "gap": "1d.."}])
    request = make_request(protocol, available=("Mon-Fri 09:10-10:00",), grid_minutes=15)
    assert local(plan(request)) == ["2026-12-07 09:15", "2026-12-08 09:15"]


# --------------------------------------------------------------------------- DST


def test_new_york_spring_forward_skips_the_missing_hour() -> None:
    protocol = make_protocol({"visit": one(time="02:00..03:00")}, [{"session": "visit", "count": 3, "gap": "1d.."}])
    request = make_request(protocol, start="2026-03-07", available=("Mon-Sun 00:00-06:00",), grid_minutes=30)
    assert local_with_offsets(earliest(request)) == [
        "2026-03-07T02:00-05:00", "2026-03-08T03:00-04:00", "2026-03-09T02:00-04:00",
    ]
    # SPEC §12: no time is preferred, so the third keeps the second's 03:00 (rank 3).
    assert local_with_offsets(plan(request)) == [
        "2026-03-07T02:00-05:00", "2026-03-08T03:00-04:00", "2026-03-09T03:00-04:00",
    ]


def test_new_york_fall_back_skips_the_repeated_hour() -> None:
    protocol = make_protocol({"visit": one(time="01:00..02:00")}, [{"session": "visit", "count": 3, "gap": "1d.."}])
    request = make_request(protocol, start="2026-10-31", available=("Mon-Sun 00:00-06:00",), grid_minutes=30)
    assert local_with_offsets(earliest(request)) == [
        "2026-10-31T01:00-04:00", "2026-11-01T02:00-05:00", "2026-11-02T01:00-05:00",
    ]
    assert local_with_offsets(plan(request)) == [  # the third keeps the second's time (SPEC §12)
        "2026-10-31T01:00-04:00", "2026-11-01T02:00-05:00", "2026-11-02T02:00-05:00",
    ]


def test_duration_is_elapsed_time_across_a_transition() -> None:
    protocol = make_protocol({"long": one(duration="3h")}, [{"session": "long"}])
    request = make_request(protocol, start="2026-03-08", available=("Sun 00:00-05:00",))
    result = plan(request)
    assert [(p.start.isoformat(), p.end.isoformat()) for p in result.placements] == [
        ("2026-03-08T00:00:00-05:00", "2026-03-08T04:00:00-04:00"),
    ]


def test_window_end_is_wall_clock_on_a_short_day() -> None:
    """00:00-04:00 on the spring-forward day is three hours long: a 3h session fits only at 00:00."""
    protocol = make_protocol({"long": one(duration="3h")}, [{"session": "long", "count": 2, "gap": "7d.."}])
    request = make_request(protocol, start="2026-03-08", available=("Sun 00:00-04:00",), grid_minutes=15)
    assert local_with_offsets(plan(request)) == ["2026-03-08T00:00-05:00", "2026-03-15T00:00-04:00"]


def test_london_transitions_skip_missing_and_repeated_times() -> None:
    protocol = make_protocol({"visit": one(duration="30min", time="01:00..02:00")},
                             [{"session": "visit", "count": 3, "gap": "1d.."}])
    spring = make_request(protocol, zone="Europe/London", start="2026-03-28", available=("Mon-Sun 00:00-06:00",),
                          grid_minutes=30)
    assert local_with_offsets(earliest(spring)) == [
        "2026-03-28T01:00+00:00", "2026-03-29T02:00+01:00", "2026-03-30T01:00+01:00",
    ]
    assert local_with_offsets(plan(spring)) == [
        "2026-03-28T01:00+00:00", "2026-03-29T02:00+01:00", "2026-03-30T02:00+01:00",
    ]
    autumn = replace(spring, start_date=date(2026, 10, 24))
    assert local_with_offsets(earliest(autumn)) == [
        "2026-10-24T01:00+01:00", "2026-10-25T02:00+00:00", "2026-10-26T01:00+00:00",
    ]
    assert local_with_offsets(plan(autumn)) == [
        "2026-10-24T01:00+01:00", "2026-10-25T02:00+00:00", "2026-10-26T02:00+00:00",
    ]


def test_lord_howe_half_hour_shift() -> None:
    """Lord Howe moves clocks by 30 minutes: back 02:00 -> 01:30 in April, on 02:00 -> 02:30 in October."""
    protocol = make_protocol({"visit": one(duration="15min", time="01:30..02:30")},
                             [{"session": "visit", "count": 2, "gap": "1d.."}])
    autumn = make_request(protocol, zone="Australia/Lord_Howe", start="2026-04-05",
                          available=("Mon-Sun 00:00-06:00",), grid_minutes=15)
    assert local_with_offsets(earliest(autumn)) == ["2026-04-05T02:00+10:30", "2026-04-06T01:30+10:30"]
    assert local_with_offsets(plan(autumn)) == ["2026-04-05T02:00+10:30", "2026-04-06T02:00+10:30"]
    spring = replace(autumn, start_date=date(2026, 10, 4))
    assert local_with_offsets(plan(spring)) == ["2026-10-04T01:30+10:30", "2026-10-05T01:30+11:00"]
    spring_late = replace(spring, protocol=make_protocol(
        {"visit": one(duration="15min", time="02:00..02:30")}, [{"session": "visit", "count": 2, "gap": "1d.."}]))
    assert local_with_offsets(earliest(spring_late)) == ["2026-10-04T02:30+11:00", "2026-10-05T02:00+11:00"]
    assert local_with_offsets(plan(spring_late)) == ["2026-10-04T02:30+11:00", "2026-10-05T02:30+11:00"]


def test_weekly_series_keeps_its_local_time_across_dst() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h")}, [{"session": "medicine", "count": 4, "gap": "7d"}])
    request = make_request(protocol, start="2026-02-24", available=("Tue 10:00-13:00",))
    assert local_with_offsets(plan(request)) == [
        "2026-02-24T10:00-05:00", "2026-03-03T10:00-05:00", "2026-03-10T10:00-04:00", "2026-03-17T10:00-04:00",
    ]


def test_zone_without_dst() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 3, "gap": "7d"}])
    request = make_request(protocol, zone="Asia/Tokyo", start="2026-03-02", available=("Mon 18:00-20:00",))
    assert local_with_offsets(plan(request)) == [
        "2026-03-02T18:00+09:00", "2026-03-09T18:00+09:00", "2026-03-16T18:00+09:00",
    ]


# --------------------------------------------------------------------------- dates off


def test_holidays_and_unavailable_dates_are_skipped() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 3, "gap": "1d.."}])
    request = make_request(protocol, start="2026-12-23", unavailable=("2026-12-28..2027-01-01", "2026-12-24"),
                           holidays={date(2026, 12, 25): "Christmas Day", date(2027, 1, 1): "New Year's Day"})
    assert local(plan(request)) == ["2026-12-23 09:00", "2027-01-04 09:00", "2027-01-05 09:00"]


def test_clinic_hours_are_compared_as_instants() -> None:
    """A London client, a New York clinic: in-person sessions start at 08:00 New York time,
    13:00 in London, but 12:00 between the two countries' DST changes."""
    protocol = make_protocol(
        {"visit": one(), "call": one("integration", setting="telehealth")},
        [{"session": "visit", "count": 2, "gap": "7d"}, {"session": "call"}],
    )
    clinic = ClinicRules(zone=NEW_YORK, hours=(parse_weekly_window("Mon-Fri 08:00-18:00"),))
    request = make_request(protocol, zone="Europe/London", start="2026-03-02", clinic=clinic)
    assert local(earliest(request)) == ["2026-03-02 13:00", "2026-03-09 12:00", "2026-03-09 13:00"]
    # SPEC §12: the second visit keeps the first's 13:00 London time, which the clinic's
    # hours (08:00 New York) still allow; the call follows it.
    assert local(plan(request)) == ["2026-03-02 13:00", "2026-03-09 13:00", "2026-03-09 14:00"]


def test_clinic_closures_bind_in_person_sessions_only() -> None:
    protocol = make_protocol(
        {"visit": one(), "call": one("integration", setting="telehealth")},
        [{"session": "visit"}, {"session": "call", "from": "visit", "after": "1d.."}],
    )
    clinic = ClinicRules(zone=NEW_YORK, hours=(parse_weekly_window("Mon-Fri 08:00-18:00"),),
                         closed=(parse_date_range("2026-12-07..2026-12-08"),),
                         holidays={date(2026, 12, 9): "Clinic day off"})
    request = make_request(protocol, start="2026-12-07", clinic=clinic)
    assert local(plan(request)) == ["2026-12-10 09:00", "2026-12-11 09:00"]


# --------------------------------------------------------------------------- rules between sessions


def test_calendar_bounds_compare_dates_and_elapsed_bounds_compare_time() -> None:
    sessions = {"intake": one(), "visit": one()}
    available = ("Mon 16:00-17:00", "Tue-Fri 09:00-17:00")
    calendar = make_protocol(sessions, [{"session": "intake"}, {"session": "visit", "after": "1d..3d"}])
    assert local(plan(make_request(calendar, available=available))) == ["2026-12-07 16:00", "2026-12-08 09:00"]
    elapsed = make_protocol(sessions, [{"session": "intake"}, {"session": "visit", "after": "24h..72h"}])
    assert local(plan(make_request(elapsed, available=available))) == ["2026-12-07 16:00", "2026-12-08 16:00"]


def test_calendar_upper_bound_is_inclusive_whatever_the_hour() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "..1d"}])
    request = make_request(protocol, available=("Mon 09:00-10:00", "Tue 16:00-17:00"))
    assert local(plan(request)) == ["2026-12-07 09:00", "2026-12-08 16:00"]
    elapsed = replace(request, protocol=make_protocol({"visit": one()},
                                                      [{"session": "visit", "count": 2, "gap": "..24h"}]))
    assert explain(elapsed).session == "visit-2"  # Tuesday 16:00 is 31 hours after Monday 09:00


def test_calendar_target_prefers_the_nearest_day_then_the_earlier() -> None:
    protocol = make_protocol({"intake": one(), "review": one()},
                             [{"session": "intake"}, {"session": "review", "after": "30d±3d"}])
    # 2027-01-06 (intake + 30) is a holiday: 01-05 and 01-07 are as near; the earlier wins.
    request = make_request(protocol, holidays={date(2027, 1, 6): "Holiday"})
    assert local(plan(request)) == ["2026-12-07 09:00", "2027-01-05 09:00"]


def test_elapsed_target_prefers_the_nearest_instant() -> None:
    protocol = make_protocol({"dose": one("dosing", "2h"), "call": one("integration", "30min")},
                             [{"session": "dose", "followed_by": [{"session": "call", "offset": "30h±6h"}]}])
    assert local(plan(make_request(protocol))) == ["2026-12-07 09:00", "2026-12-08 15:00"]


def test_elapsed_target_across_a_half_hour_shift_counts_instants_and_ties_go_earlier() -> None:
    """Lord Howe's clocks go back 30 minutes at 02:00 on 2026-04-05: 30h after Sat 04:00
    (+11:00) is Sun 09:30 (+10:30). 09:00 and 10:00 both lie 30 minutes from it; the
    earlier wins. Wall-clock arithmetic would aim at 10:00 instead."""
    protocol = make_protocol({"dose": one("dosing"), "call": one("integration")},
                             [{"session": "dose", "followed_by": [
                                 {"session": "call", "offset": {"min": "24h", "target": "30h", "max": "36h"}}]}])
    request = make_request(protocol, zone="Australia/Lord_Howe", start="2026-04-04",
                           available=("Sat 04:00-06:00", "Sun 09:00-11:00"), grid_minutes=60)
    assert local_with_offsets(plan(request)) == ["2026-04-04T04:00+11:00", "2026-04-05T09:00+10:30"]


def test_steps_follow_each_other_in_file_order() -> None:
    protocol = make_protocol(
        {"intake": one(), "prep": one(duration="90min"), "medicine": one("dosing", "3h")},
        [{"session": "intake"}, {"session": "prep", "count": 2, "gap": "3d..14d", "after": "1d..21d"},
         {"session": "medicine", "count": 2, "gap": "5d..14d"}],
    )
    assert local(earliest(make_request(protocol))) == [
        "2026-12-07 09:00", "2026-12-08 09:00", "2026-12-11 09:00", "2026-12-11 10:30", "2026-12-16 09:00",
    ]
    # SPEC §12: medicine-2 keeps medicine-1's time of day.
    assert local(plan(make_request(protocol))) == [
        "2026-12-07 09:00", "2026-12-08 09:00", "2026-12-11 09:00", "2026-12-11 10:30", "2026-12-16 10:30",
    ]


def test_a_step_with_from_interleaves_without_overlapping() -> None:
    protocol = make_protocol(
        {"intake": one(), "medicine": one("dosing", "2h"), "check": one("assessment", "30min"), "close": one()},
        [{"session": "intake"},
         {"session": "medicine", "count": 3, "gap": "7d", "after": "1d"},
         {"session": "check", "from": "intake", "after": "8d..9d"},
         {"session": "close", "after": "1d.."}],
    )
    request = make_request(protocol, available=("Mon-Tue 09:00-11:00", "Wed-Fri 09:00-17:00"))
    # intake + 8d is Tuesday 12-15, whose only window medicine-2 fills; the check takes
    # Wednesday, between medicine-2 and medicine-3. close follows every earlier step.
    result = plan(request)
    assert [(p.key, p.start.strftime("%m-%d %H:%M")) for p in result.placements] == [
        ("intake-1", "12-07 09:00"), ("medicine-1", "12-08 09:00"), ("medicine-2", "12-15 09:00"),
        ("medicine-3", "12-22 09:00"), ("check-1", "12-16 09:00"), ("close-1", "12-23 09:00"),
    ]


def test_a_dosing_day_stays_free_after_the_dose() -> None:
    protocol = make_protocol(
        {"prep": one(), "medicine": one("dosing", "2h"), "call": one("integration", "30min")},
        [{"session": "prep"},
         {"session": "medicine", "followed_by": [{"session": "call", "offset": "0d.."}]}],
    )
    # prep earlier the same day is fine; the call may not follow the dose that day.
    assert local(plan(make_request(protocol))) == ["2026-12-07 09:00", "2026-12-07 10:00", "2026-12-08 09:00"]


def test_follow_ups_come_between_their_occurrence_and_the_next() -> None:
    protocol = make_protocol(
        {"medicine": one("dosing", "2h"), "integration": one("integration")},
        [{"session": "medicine", "count": 2, "gap": "2d..",
          "followed_by": [{"session": "integration", "offset": "1d..5d"}]}],
    )
    request = make_request(protocol, available=("Mon,Wed 09:00-12:00", "Thu 09:00-10:00"))
    # medicine-2 starts after medicine-1's integration; that integration may share its morning
    assert local(plan(request)) == ["2026-12-07 09:00", "2026-12-09 09:00", "2026-12-09 10:00",
                                    "2026-12-10 09:00"]


def test_per_week_places_exactly_n_per_treatment_week() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 5, "per_week": 2, "gap": "1d.."}])
    request = make_request(protocol, start="2026-12-09")
    # treatment weeks run Wednesday to Tuesday from the first session
    assert local(plan(request)) == ["2026-12-09 09:00", "2026-12-10 09:00", "2026-12-16 09:00",
                                    "2026-12-17 09:00", "2026-12-23 09:00"]


def test_within_limits_every_occurrence_from_the_first() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 3, "gap": "6d..", "within": "2w"}])
    request = make_request(protocol, unavailable=("2026-12-14..2026-12-20",))
    # any start before the blocked week leaves the third visit more than 14 days out
    assert local(plan(request)) == ["2026-12-21 09:00", "2026-12-28 09:00", "2027-01-04 09:00"]


def test_min_dosing_interval_applies_across_steps() -> None:
    protocol = make_protocol(
        {"a": one("dosing", "2h"), "b": one("dosing", "1h")},
        [{"session": "a", "count": 2, "gap": "1d.."}, {"session": "b", "from": "a", "after": "0d.."}],
        min_dosing_interval="72h",
    )
    assert local(plan(make_request(protocol))) == ["2026-12-07 09:00", "2026-12-10 09:00", "2026-12-14 09:00"]
    calendar = replace(make_request(protocol), protocol=make_protocol(
        {"a": one("dosing", "2h"), "b": one("dosing", "1h")},
        [{"session": "a", "count": 2, "gap": "1d.."}, {"session": "b", "from": "a", "after": "0d.."}],
        min_dosing_interval="2d"))
    assert local(plan(calendar)) == ["2026-12-07 09:00", "2026-12-09 09:00", "2026-12-11 09:00"]


def test_max_span_bounds_first_to_last() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 3, "gap": "7d.."}], max_span="14d")
    request = make_request(protocol, unavailable=("2026-12-15",))
    assert local(plan(request)) == ["2026-12-07 09:00", "2026-12-14 09:00", "2026-12-21 09:00"]
    blocked = replace(request, unavailable=(parse_date_range("2026-12-21"),))
    assert local(plan(blocked)) == ["2026-12-08 09:00", "2026-12-15 09:00", "2026-12-22 09:00"]


# --------------------------------------------------------------------------- reschedule input


def test_fixed_sessions_are_kept_and_count_for_every_rule() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h"), "integration": one("integration")},
                             [{"session": "medicine", "count": 3, "gap": "5d..10d",
                               "followed_by": [{"session": "integration", "offset": "1d..2d"}]}])
    done = datetime(2026, 12, 7, 9, 7, tzinfo=NEW_YORK)  # off the grid: kept as it happened
    request = make_request(
        protocol, start="2026-12-08",
        fixed={"medicine-1": (done, done + timedelta(hours=2))},
        not_before=datetime(2026, 12, 9, 12, 0, tzinfo=NEW_YORK),
    )
    assert local(earliest(request)) == ["2026-12-07 09:07", "2026-12-09 12:00", "2026-12-14 09:00",
                                        "2026-12-15 09:00", "2026-12-21 09:00", "2026-12-22 09:00"]
    # SPEC §12: medicine-2 copies 09:07 snapped to the grid (09:00); each integration keeps
    # the previous integration's 12:00.
    result = plan(request)
    assert local(result) == ["2026-12-07 09:07", "2026-12-09 12:00", "2026-12-14 09:00", "2026-12-15 12:00",
                             "2026-12-21 09:00", "2026-12-22 12:00"]
    assert result.placements[0].end == datetime(2026, 12, 7, 11, 7, tzinfo=NEW_YORK)


# --------------------------------------------------------------------------- infeasible


def test_explains_a_session_longer_than_any_window() -> None:
    protocol = make_protocol({"medicine": one("dosing", "3h")}, [{"session": "medicine"}])
    found = explain(make_request(protocol, available=("Mon-Fri 09:00-11:00",)))
    assert found.session == "medicine-1"
    assert not found.search_limit
    assert "session needs 3h but the longest availability window is 2h" in found.blockers


def test_explains_weekdays_start_times_and_holidays() -> None:
    protocol = make_protocol({"intake": one(), "integration": one("integration", time="08:00..11:00")},
                             [{"session": "intake",
                               "followed_by": [{"session": "integration", "offset": "1d..3d"}]}])
    request = make_request(protocol, start="2026-12-24", horizon_days=3,
                           holidays={date(2026, 12, 25): "Christmas Day"})
    found = explain(request)
    assert found.session == "intake-1.integration"
    assert "integration must fall 1d..3d after intake-1" in found.blockers
    assert "2026-12-25 is a holiday (Christmas Day)" in found.blockers
    assert "client unavailable Sat-Sun" in found.blockers
    assert "integration sessions must start 08:00..11:00" in found.blockers


def test_explains_unavailable_ranges_and_clinic_closures() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit"}])
    clinic = ClinicRules(zone=NEW_YORK, hours=(parse_weekly_window("Mon-Fri 08:00-18:00"),),
                         closed=(parse_date_range("2026-12-07..2026-12-09"),))
    request = make_request(protocol, unavailable=("2026-12-10..2026-12-31",), clinic=clinic, horizon_days=20)
    found = explain(request)
    assert "client unavailable 2026-12-10..2026-12-31" in found.blockers
    assert "clinic closed 2026-12-07..2026-12-09" in found.blockers
    assert "the planning horizon ends 2026-12-27" in found.blockers


def test_explains_within_and_names_the_deepest_session() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h")},
                             [{"session": "medicine", "count": 3, "gap": "7d..", "within": "10d"}])
    found = explain(make_request(protocol, available=("Mon 09:00-12:00",)))
    assert found.session == "medicine-3"
    assert "medicine-3 must start within 10d of medicine-1" in found.blockers


def test_search_limit_is_not_a_claim_of_infeasibility() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h")},
                             [{"session": "medicine", "count": 3, "gap": "7d..", "within": "10d"}])
    found = explain(make_request(protocol, available=("Mon 09:00-12:00",), budget=3))
    assert found.search_limit
    assert found.lines()[0].startswith("search limit reached")


def test_reports_leave_out_holidays_that_block_nothing_more() -> None:
    """A holiday inside a listed unavailable range, or on a weekday the client is
    never free, adds nothing to the reasons; one on an open day does."""
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "1d..2d"}])
    holidays = {date(2026, 12, 9): "Inside", date(2026, 12, 12): "Saturday", date(2026, 12, 14): "Open day"}
    request = make_request(protocol, unavailable=("2026-12-08..2026-12-10",), holidays=holidays, horizon_days=7)
    found = explain(request)
    assert "client unavailable 2026-12-08..2026-12-10" in found.blockers
    assert "2026-12-14 is a holiday (Open day)" in found.blockers
    assert not [b for b in found.blockers if "Inside" in b or "Saturday" in b]


def test_earliest_workable_start_looks_past_the_horizon() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "1d.."}])
    request = make_request(protocol, unavailable=("2026-12-07..2026-12-20",), horizon_days=10)
    assert explain(request).session == "visit-1"
    assert earliest_workable_start(request) == date(2026, 12, 12)
    never = make_request(protocol, available=("Mon 09:00-09:30",))
    assert earliest_workable_start(never, limit_days=30) is None


def test_the_later_start_scan_that_runs_out_of_nodes_says_so() -> None:
    """Out of budget, the scan raises rather than answer "none"; with enough nodes the
    same scans find the date, or prove there is none."""
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "1d.."}])
    request = make_request(protocol, unavailable=("2026-12-07..2026-12-20",), horizon_days=10)
    with pytest.raises(BudgetExhausted):
        earliest_workable_start(request, budget=3)
    assert earliest_workable_start(request, budget=1_000) == date(2026, 12, 12)
    next_day = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "1d..1d"}])
    never = make_request(next_day, available=("Mon 09:00-10:00",))
    with pytest.raises(BudgetExhausted):
        earliest_workable_start(never, limit_days=30, budget=3)
    assert earliest_workable_start(never, limit_days=30, budget=10_000) is None


# --------------------------------------------------------------------------- deviations


def test_deviations_relax_upper_bounds_only_when_needed() -> None:
    protocol = make_protocol(
        {"intake": one(), "medicine": one("dosing", "2h"), "integration": one("integration")},
        [{"session": "intake"},
         {"session": "medicine", "count": 4, "gap": "5d..14d", "after": "1d..7d", "per_week": 1, "within": "5w",
          "followed_by": [{"session": "integration", "offset": "1d..2d"}]}],
        max_span="6w",
    )
    at = datetime(2026, 3, 2, 9, tzinfo=NEW_YORK)
    fixed = {"intake-1": (at, at + timedelta(hours=1)),
             "medicine-1": (at + timedelta(days=2), at + timedelta(days=2, hours=2)),
             "medicine-1.integration": (at + timedelta(days=3), at + timedelta(days=3, hours=1))}
    request = make_request(protocol, start="2026-03-06", unavailable=("2026-03-10..2026-04-05",), fixed=fixed,
                           not_before=datetime(2026, 3, 6, tzinfo=NEW_YORK))
    assert explain(request).session == "medicine-2"
    relaxed = replace(request, allow_deviations=True)
    result = plan(relaxed)
    assert local(result)[3:] == ["2026-04-06 09:00", "2026-04-07 09:00", "2026-04-13 09:00", "2026-04-14 09:00",
                                 "2026-04-20 09:00", "2026-04-21 09:00"]
    assert [(d.key, d.rule, d.allowed, d.actual, d.lateness_min) for d in result.deviations] == [
        ("medicine-2", "gap", "5d..14d", "33d", 19 * 1440),
        ("medicine-4", "within", "5w", "47d", 12 * 1440),
        ("medicine-2", "per_week", "1 per week", "0 in weeks 2-4", 0),
        ("medicine-4.integration", "max_span", "6w", "50d", 8 * 1440),
    ]


def test_deviations_never_relax_minimum_gaps_or_availability() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h")},
                             [{"session": "medicine", "count": 2, "gap": "3d..4d"}])
    request = make_request(protocol, available=("Mon 09:00-12:00",), allow_deviations=True, horizon_days=5)
    assert explain(request).session == "medicine-2"


def test_a_plan_without_need_for_deviations_reports_none() -> None:
    protocol = make_protocol({"visit": one()}, [{"session": "visit", "count": 2, "gap": "1d..2d"}])
    result = plan(make_request(protocol, allow_deviations=True))
    assert result.deviations == []
    assert local(result) == ["2026-12-07 09:00", "2026-12-08 09:00"]


# --------------------------------------------------------------------------- the checker itself


def test_checker_flags_broken_plans() -> None:
    protocol = make_protocol({"medicine": one("dosing", "2h"), "call": one("integration", "30min")},
                             [{"session": "medicine", "count": 2, "gap": "2d..3d",
                               "followed_by": [{"session": "call", "offset": "1d"}]}])
    request = make_request(protocol)
    good = schedule(request).placements
    assert violations(protocol, request, good) == []
    shifted = [replace(good[0], start=good[0].start + timedelta(minutes=5), end=good[0].end + timedelta(minutes=5)),
               *good[1:]]
    assert any("grid" in v for v in violations(protocol, request, shifted))
    same_day_call = [good[0], replace(good[1], start=good[0].end, end=good[0].end + timedelta(minutes=30)),
                     *good[2:]]
    found = violations(protocol, request, same_day_call)
    assert any("dosing day" in v for v in found)
    assert any("offset" in v for v in found)
    assert violations(protocol, request, good[::-1])[0].startswith("sessions differ")
