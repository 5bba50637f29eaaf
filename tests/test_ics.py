"""iCalendar export (SPEC §8), checked with two independent parsers (icalendar, vobject)
and, for VTIMEZONE, by evaluating its RRULEs with dateutil against zoneinfo."""

from __future__ import annotations

import re
import uuid
from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from plan_factory import (
    BRING_DEVICE,
    CLIENT_EMAIL,
    CLIENT_NAME,
    DOSE_NOTE,
    DOSING_TITLE,
    NO_FOOD,
    OTHER_SERIES,
    PROTOCOL_ID,
    PROTOCOL_TITLE,
    RIDE_HOME,
    SERIES,
    THERAPIST,
    kap_sessions,
    local,
    make_plan_obj,
    make_session,
)

from kapplan.export.ics import (
    COMBINED_NAME,
    WITHHELD,
    calendar_head,
    calendar_tail,
    plan_events,
    plan_span,
    plan_to_ics,
    timezone_block,
)
from kapplan.models.errors import InputError
from kapplan.models.plan import HistoryEntry, PlannedReminder

DATA = Path(__file__).parent / "data"
LEVELS = ("minimal", "standard", "full")
AUDIENCES = ("client", "clinic")

STANDARD_CLIENT_SUMMARIES = [
    "Screening session",
    "Preparation session 1 of 2",
    "Preparation session 2 of 2",
    "Medicine session 1 of 2",
    "Integration session 1 of 2",
    "Medicine session 2 of 2",
    "Integration session 2 of 2",
    "Follow-up session",
]


# --------------------------------------------------------------------------- helpers


def naive(*parts: int) -> datetime:
    """A wall-clock time without a zone, as a calendar displays it."""
    return datetime(*parts, tzinfo=UTC).replace(tzinfo=None)


def unfolded(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n ", "")


def searchable(data: bytes) -> str:
    """The file's text with folding and TEXT escapes undone, for leak searches."""
    text = unfolded(data)
    return text.replace("\\n", "\n").replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def events_icalendar(data: bytes) -> list[icalendar.Event]:
    return list(icalendar.Calendar.from_ical(data).walk("VEVENT"))


def events_vobject(data: bytes) -> list[object]:
    return list(vobject.readOne(data.decode("utf-8")).vevent_list)


def wall(moment: datetime) -> tuple[datetime, timedelta | None]:
    """Naive local time and UTC offset: what a calendar shows, and when it really is."""
    return moment.replace(tzinfo=None), moment.utcoffset()


def assert_events_match(data: bytes, plan, summaries: list[str] | None = None) -> None:
    """Both parsers read every session back: UID, local start/end in the client's zone, summary."""
    zone = ZoneInfo(plan.client["timezone"])
    expected = [
        (
            str(uuid.uuid5(uuid.UUID(plan.series), s.key)),
            wall(s.start.astimezone(zone)),
            wall(s.end.astimezone(zone)),
        )
        for s in plan.sessions
    ]
    ical = events_icalendar(data)
    vobj = events_vobject(data)
    assert len(ical) == len(vobj) == len(plan.sessions)
    for event, (uid, start, end) in zip(ical, expected, strict=True):
        assert str(event["UID"]) == uid
        assert event.decoded("DTSTART").astimezone(zone).replace(tzinfo=None) == start[0]
        assert event["DTSTART"].params["TZID"] == plan.client["timezone"]
        assert event.decoded("DTSTART").utcoffset() == start[1]
        assert event.decoded("DTEND").astimezone(zone).replace(tzinfo=None) == end[0]
        assert event.decoded("DTEND").utcoffset() == end[1]
    for event, (uid, start, end) in zip(vobj, expected, strict=True):
        assert event.uid.value == uid
        # vobject evaluates our VTIMEZONE itself (dateutil tzical), not zoneinfo.
        assert wall(event.dtstart.value) == start
        assert wall(event.dtend.value) == end
    if summaries is not None:
        assert [str(e["SUMMARY"]) for e in ical] == summaries
        assert [e.summary.value for e in vobj] == summaries


def vtimezone_offsets(data: bytes) -> dict[str, list[tuple[datetime, timedelta]]]:
    """Each VTIMEZONE evaluated independently: sorted (UTC onset, offset) from its
    observances' DTSTART and RRULE (dateutil.rrule), 1970-2100."""
    out: dict[str, list[tuple[datetime, timedelta]]] = {}
    for tz in icalendar.Calendar.from_ical(data).walk("VTIMEZONE"):
        onsets = []
        for obs in tz.subcomponents:
            start = obs.decoded("DTSTART")
            offset_from = obs["TZOFFSETFROM"].td
            offset_to = obs["TZOFFSETTO"].td
            assert "RDATE" not in obs
            if "RRULE" in obs:
                rule = obs["RRULE"].to_ical().decode()
                times = list(rrulestr(rule, dtstart=start).between(start, naive(2100, 1, 1), inc=True))
            else:
                times = [start]
            onsets += [((t - offset_from).replace(tzinfo=UTC), offset_to) for t in times]
        out[str(tz["TZID"])] = sorted(onsets)
    return out


def offset_at(onsets: list[tuple[datetime, timedelta]], instant: datetime) -> timedelta:
    position = bisect_right([o[0] for o in onsets], instant)
    assert position > 0, "instant before every observance"
    return onsets[position - 1][1]


def weekly(zone: str, first: str, weeks: int, minutes: int = 60) -> list:
    """One session a week at the same wall-clock time (crossing DST on purpose)."""
    start = local(first, zone)
    return [
        make_session(f"weekly-{n}", "integration", start + timedelta(weeks=n - 1), minutes,
                     zone=zone, index=n, count=weeks)
        for n in range(1, weeks + 1)
    ]


# --------------------------------------------------------------------------- RFC 5545 shape


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("privacy", LEVELS)
def test_every_export_is_well_formed_rfc5545(audience, privacy):
    data = plan_to_ics(make_plan_obj(), audience=audience, privacy=privacy)
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 75
    text = unfolded(data)
    name = "C-0042" if audience == "clinic" else "Therapy sessions"
    if privacy == "full":  # the client's name, and an ORGANIZER in every event: PUBLISH allowed
        name = f"{CLIENT_NAME} (C-0042)" if audience == "clinic" else f"Therapy sessions: {CLIENT_NAME}"
    method = ["METHOD:PUBLISH"] if privacy == "full" else []
    head = text.split("\r\n")[: 6 + len(method)]
    assert head == [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kapplan//kapplan//EN", "CALSCALE:GREGORIAN",
        *method, f"NAME:{name}", f"X-WR-CALNAME:{name}",
    ]
    events = events_icalendar(data)
    assert len(events) == 8
    for event in events:
        assert event.decoded("DTSTAMP") == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
        assert str(event["CLASS"]) == "PRIVATE"
        assert "ATTENDEE" not in event
    used = set(re.findall(r";TZID=([^:;]+)", text))
    defined = set(re.findall(r"\r\nTZID:([^\r]+)", text))
    assert used == defined == {"America/New_York"}


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("privacy", LEVELS)
def test_both_parsers_read_back_every_session(audience, privacy):
    plan = make_plan_obj()
    assert_events_match(plan_to_ics(plan, audience=audience, privacy=privacy), plan)


def test_standard_summaries_are_generic_by_kind_and_number():
    plan = make_plan_obj()
    assert_events_match(plan_to_ics(plan), plan, STANDARD_CLIENT_SUMMARIES)
    clinic = plan_to_ics(plan, audience="clinic")
    assert_events_match(clinic, plan, [f"C-0042: {s}" for s in STANDARD_CLIENT_SUMMARIES])


def test_minimal_summary_is_appointment():
    plan = make_plan_obj()
    assert_events_match(plan_to_ics(plan, privacy="minimal"), plan, ["Appointment"] * 8)
    assert_events_match(
        plan_to_ics(plan, privacy="minimal", audience="clinic"), plan, ["C-0042: Appointment"] * 8
    )


def test_full_summary_uses_protocol_session_titles():
    plan = make_plan_obj()
    titles = [s.replace("Screening session", "Medical intake and screening") for s in STANDARD_CLIENT_SUMMARIES]
    titles = [t.replace("Medicine session", DOSING_TITLE) for t in titles]
    titles[-1] = "Follow-up call"
    assert_events_match(plan_to_ics(plan, privacy="full"), plan, titles)


def test_golden_standard_client_calendar():
    assert plan_to_ics(make_plan_obj()) == (DATA / "golden_kap_standard_client.ics").read_bytes()


def test_golden_full_clinic_calendar_without_alarms():
    data = plan_to_ics(make_plan_obj(), audience="clinic", privacy="full", alarms=False)
    assert data == (DATA / "golden_kap_full_clinic_noalarms.ics").read_bytes()


def test_streaming_pieces_compose_the_calendar():
    plan = make_plan_obj()
    first, last = plan_span(plan)
    assert (first, last) == (date(2026, 12, 7), date(2027, 1, 11))
    pieces = (
        calendar_head("Therapy sessions")
        + timezone_block("America/New_York", first, last)
        + plan_events(plan, audience="client", privacy="standard", alarms=True)
        + calendar_tail()
    )
    assert pieces == plan_to_ics(plan)


def test_combined_calendar_of_two_plans_parses():
    one = make_plan_obj()
    two = make_plan_obj(client_id="C-0043", series=OTHER_SERIES, zone="Europe/London")
    data = (
        calendar_head(COMBINED_NAME)
        + timezone_block("America/New_York", *plan_span(one))
        + timezone_block("Europe/London", *plan_span(two))
        + plan_events(one, audience="clinic", privacy="standard", alarms=False)
        + plan_events(two, audience="clinic", privacy="standard", alarms=False)
        + calendar_tail()
    )
    assert "NAME:Clinic sessions" in unfolded(data)
    summaries = [e.summary.value for e in events_vobject(data)]
    assert summaries[0] == "C-0042: Screening session"
    assert summaries[8] == "C-0043: Screening session"
    london = [e.dtstart.value for e in events_vobject(data)][8:]
    assert wall(london[0]) == (naive(2026, 12, 7, 9, 0), timedelta(0))


# --------------------------------------------------------------------------- UIDs, stability


def test_uid_is_uuid5_of_series_and_key():
    events = events_icalendar(plan_to_ics(make_plan_obj()))
    assert str(events[0]["UID"]) == str(uuid.uuid5(uuid.UUID(SERIES), "intake-1"))
    assert str(events[0]["UID"]) == "3eed85b7-41d5-5f77-9f1c-8e447daf188d"


def test_reexport_is_byte_identical():
    assert plan_to_ics(make_plan_obj()) == plan_to_ics(make_plan_obj())
    assert plan_to_ics(make_plan_obj(), privacy="full") == plan_to_ics(make_plan_obj(), privacy="full")


def test_reschedule_keeps_uid_and_raises_sequence():
    plan = make_plan_obj()
    before = {str(e["UID"]): e for e in events_icalendar(plan_to_ics(plan))}
    moved = plan.model_copy(deep=True)
    session = moved.sessions[5]  # medicine-2
    session.start, session.end = local("2026-12-23 09:00"), local("2026-12-23 12:00")
    session.sequence = 1
    moved.history.append(HistoryEntry(at=datetime(2026, 12, 20, 8, 0, tzinfo=UTC), command="reschedule"))
    after = {str(e["UID"]): e for e in events_icalendar(plan_to_ics(moved))}
    assert before.keys() == after.keys()
    uid = str(uuid.uuid5(uuid.UUID(SERIES), "medicine-2"))
    assert after[uid]["SEQUENCE"] == 1
    assert before[uid]["SEQUENCE"] == 0
    assert after[uid].decoded("DTSTART").replace(tzinfo=None) == naive(2026, 12, 23, 9, 0)
    assert after[uid].decoded("DTSTAMP") == datetime(2026, 12, 20, 8, 0, tzinfo=UTC)


def test_two_series_of_one_client_never_share_a_uid():
    first = {str(e["UID"]) for e in events_icalendar(plan_to_ics(make_plan_obj()))}
    second = {str(e["UID"]) for e in events_icalendar(plan_to_ics(make_plan_obj(series=OTHER_SERIES)))}
    assert len(first) == len(second) == 8
    assert not first & second


def test_malformed_series_or_zone_is_a_plan_error():
    with pytest.raises(InputError, match="series"):
        plan_to_ics(make_plan_obj(series="C-0042"))
    with pytest.raises(InputError, match="time zone"):
        plan_to_ics(make_plan_obj().model_copy(update={"client": {"id": "C-1", "timezone": "Mars/Base"}}))


# --------------------------------------------------------------------------- status, alarms, location


@pytest.mark.parametrize(
    ("status", "expected"),
    [("planned", "CONFIRMED"), ("done", "CONFIRMED"), ("missed", "CANCELLED"), ("cancelled", "CANCELLED")],
)
def test_status_mapping(status, expected):
    plan = make_plan_obj()
    plan.sessions[3].status = status
    event = events_icalendar(plan_to_ics(plan, audience="clinic"))[3]
    assert str(event["STATUS"]) == expected
    assert (f"Status: {status}" in str(event["DESCRIPTION"])) is (status != "planned")
    assert len(event.walk("VALARM")) == (3 if expected == "CONFIRMED" else 0)


def test_one_display_alarm_per_reminder():
    event = events_icalendar(plan_to_ics(make_plan_obj()))[3]
    alarms = event.walk("VALARM")
    assert [str(a["ACTION"]) for a in alarms] == ["DISPLAY"] * 3
    assert [a["TRIGGER"].to_ical() for a in alarms] == [b"-P1D", b"-PT4H", b"-PT2H"]
    assert [str(a["DESCRIPTION"]) for a in alarms] == [RIDE_HOME, NO_FOOD, WITHHELD]


def test_no_alarms_leaves_every_valarm_out():
    for privacy in LEVELS:
        assert b"VALARM" not in plan_to_ics(make_plan_obj(), privacy=privacy, alarms=False)


def test_location_only_for_in_person_sessions():
    events = events_icalendar(plan_to_ics(make_plan_obj()))
    assert [str(e.get("LOCATION", "")) for e in events] == [
        "12 Main St, Suite 200", "12 Main St, Suite 200", "12 Main St, Suite 200",
        "12 Main St, Suite 200", "", "12 Main St, Suite 200", "", "",
    ]


def test_clinic_location_when_the_client_has_none():
    plan = make_plan_obj(location=None, clinic={"id": "northside", "location": "4 Side Rd"})
    assert str(events_icalendar(plan_to_ics(plan))[0]["LOCATION"]) == "4 Side Rd"
    assert "LOCATION" not in events_icalendar(plan_to_ics(make_plan_obj(location=None)))[0]


def test_followups_are_numbered_by_their_occurrence():
    sessions = [
        make_session("medicine-1", "dosing", "2026-12-07 09:00", 120, index=1, count=3),
        make_session("medicine-2", "dosing", "2026-12-14 09:00", 120, index=2, count=3),
        make_session("medicine-2.talk", "integration", "2026-12-15 09:00", 60, index=2, count=3,
                     follows="medicine-2"),
        make_session("medicine-3", "dosing", "2026-12-21 09:00", 120, index=3, count=3),
        make_session("medicine-3.talk", "integration", "2026-12-22 09:00", 60, index=3, count=3,
                     follows="medicine-3"),
    ]
    summaries = [str(e["SUMMARY"]) for e in events_icalendar(plan_to_ics(make_plan_obj(sessions)))]
    assert summaries == [
        "Medicine session 1 of 3", "Medicine session 2 of 3", "Integration session 1 of 2",
        "Medicine session 3 of 3", "Integration session 2 of 2",
    ]


# --------------------------------------------------------------------------- privacy


PERSONAL = [CLIENT_NAME, "Alex", "Rivera", CLIENT_EMAIL, THERAPIST["email"], THERAPIST["name"]]
PROTOCOL_WORDS = [PROTOCOL_ID, PROTOCOL_TITLE, DOSING_TITLE, "Medical intake and screening"]
MEDICATION = ["ketamine", "esketamine", "arketamine", "ketalar", "spravato", "ketanest", "vesierra"]
DOSE = re.compile(r"\d\s*mg|mg/kg", re.IGNORECASE)


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("privacy", ["minimal", "standard"])
def test_below_full_nothing_personal_medication_dose_or_protocol(audience, privacy):
    text = searchable(plan_to_ics(make_plan_obj(), audience=audience, privacy=privacy)).lower()
    for word in PERSONAL + PROTOCOL_WORDS + MEDICATION:
        assert word.lower() not in text, word
    assert not DOSE.search(text)
    assert "organizer" not in text
    assert "attendee" not in text


@pytest.mark.parametrize("audience", AUDIENCES)
def test_standard_withholds_sensitive_protocol_text(audience):
    data = plan_to_ics(make_plan_obj(), audience=audience)
    medicine = events_icalendar(data)[3]
    description = str(medicine["DESCRIPTION"]).split("\n")
    expected = [
        "Instructions: Wear comfortable clothes.",
        f"Reminder 1 day before: {RIDE_HOME}",
        f"Reminder 4 hours before: {NO_FOOD}",
        f"Reminder 2 hours before: {WITHHELD}",
    ]
    if audience == "clinic":
        expected += [
            f"Notes: {WITHHELD}",
            "Staff: therapist, nurse",
            "Monitoring: blood-pressure-before, blood-pressure-40min-after",
        ]
    assert description == expected
    intake = str(events_icalendar(data)[0]["DESCRIPTION"]).split("\n")
    assert intake[0] == "Instructions: Bring a list of the medicines you take."
    if audience == "clinic":
        assert intake[1:] == [f"Notes: {WITHHELD}", "Staff: prescriber", "Assessments: PHQ-9, PCL-5"]


@pytest.mark.parametrize("audience", AUDIENCES)
def test_minimal_description_is_reminders_only(audience):
    events = events_icalendar(plan_to_ics(make_plan_obj(), audience=audience, privacy="minimal"))
    assert str(events[3]["DESCRIPTION"]).split("\n") == [
        f"Reminder 1 day before: {RIDE_HOME}",
        f"Reminder 4 hours before: {NO_FOOD}",
        f"Reminder 2 hours before: {WITHHELD}",
    ]
    assert "DESCRIPTION" not in events[0]
    assert {str(e["CATEGORIES"].cats[0]) for e in events} == {"appointment"}


@pytest.mark.parametrize("audience", AUDIENCES)
def test_full_shows_titles_name_dose_staff_and_organizer(audience):
    data = plan_to_ics(make_plan_obj(), audience=audience, privacy="full")
    medicine = events_icalendar(data)[3]
    lines = str(medicine["DESCRIPTION"]).split("\n")
    assert lines[:3] == [
        f"Protocol: {PROTOCOL_TITLE} ({PROTOCOL_ID} 1.0.0)",
        f"Client: {CLIENT_NAME}",
        "Planned dose: ketamine IM 36 mg (0.5 mg/kg x 72 kg = 36 mg (planned, confirm before dosing))",
    ]
    assert f"Reminder 2 hours before: {BRING_DEVICE}" in lines
    assert "Staff: therapist, nurse" in lines
    assert (f"Notes: {DOSE_NOTE}" in lines) is (audience == "clinic")
    assert str(medicine["ORGANIZER"]) == "mailto:kim@clinic.example"
    assert medicine["ORGANIZER"].params["CN"] == "Dr. Kim"
    assert "ATTENDEE" not in medicine
    assert CLIENT_EMAIL not in searchable(data)


def test_full_without_therapist_email_has_no_organizer_and_no_method():
    data = plan_to_ics(make_plan_obj(therapist={"name": "Dr. Kim"}), privacy="full")
    assert "ORGANIZER" not in events_icalendar(data)[0]
    assert "METHOD" not in icalendar.Calendar.from_ical(data)


@pytest.mark.parametrize("audience", AUDIENCES)
def test_full_names_the_client_in_the_calendar_name_and_clinic_summaries(audience):
    data = plan_to_ics(make_plan_obj(), audience=audience, privacy="full")
    calendar = icalendar.Calendar.from_ical(data)
    assert CLIENT_NAME in str(calendar["NAME"])
    summaries = [str(e["SUMMARY"]) for e in events_icalendar(data)]
    if audience == "clinic":
        assert all(s.startswith(f"{CLIENT_NAME} (C-0042): ") for s in summaries)
    else:
        assert not any(CLIENT_NAME in s for s in summaries)
    for event in events_icalendar(data):
        assert f"Client: {CLIENT_NAME}" in str(event["DESCRIPTION"])


def test_medication_hidden_in_compatibility_characters_is_still_withheld():
    plan = make_plan_obj()
    plan.sessions[1].instructions = "Ｋｅｔａｍｉｎｅ prep"  # full-width letters
    plan.sessions[2].instructions = "keta\u200bmine prep"  # zero-width space
    events = events_icalendar(plan_to_ics(plan))
    assert str(events[1]["DESCRIPTION"]) == f"Instructions: {WITHHELD}"
    assert str(events[2]["DESCRIPTION"]) == f"Instructions: {WITHHELD}"


# --------------------------------------------------------------------------- injection


HOSTILE = "x\r\nATTENDEE:mailto:evil@example.org\r\nBEGIN:VALARM\nEND:VEVENT\rSTATUS:CANCELLED\x00\x07\x1b\u2028y"


def hostile_plan():
    sessions = kap_sessions()
    for session in sessions:
        session.title = HOSTILE
        session.notes = HOSTILE
        session.instructions = HOSTILE
        session.staff = [HOSTILE]
        session.monitoring = [HOSTILE]
        session.assessments = [HOSTILE]
        session.reminders = [PlannedReminder(before="P1D", text=HOSTILE)]
    return make_plan_obj(
        sessions, name=HOSTILE, location=HOSTILE, protocol_title=HOSTILE, client_id=HOSTILE,
        therapist={"name": HOSTILE, "email": HOSTILE},
    )


def assert_no_injection(data: bytes, alarms_per_event: int | None = 1) -> None:
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines:
        assert not re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line)
        assert len(line) <= 75
        line.decode("utf-8")  # folding never splits a UTF-8 sequence
    assert not any(line.startswith((b"ATTENDEE", b"ORGANIZER:mailto:evil")) for line in lines)
    assert b"\xe2\x80\xa8" not in data  # U+2028 line separator
    calendar = icalendar.Calendar.from_ical(data)
    assert not calendar.errors
    for component in calendar.walk():
        assert "ATTENDEE" not in component
        assert not getattr(component, "errors", [])
    events = calendar.walk("VEVENT")
    assert all(str(e["STATUS"]) == "CONFIRMED" for e in events)
    if alarms_per_event is not None:
        assert [len(e.walk("VALARM")) for e in events] == [alarms_per_event] * len(events)
    vcal = vobject.readOne(data.decode("utf-8"))
    for event in vcal.vevent_list:
        assert "attendee" not in event.contents


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("privacy", LEVELS)
def test_crlf_and_properties_in_text_cannot_inject(audience, privacy):
    data = plan_to_ics(hostile_plan(), audience=audience, privacy=privacy)
    assert_no_injection(data)
    if privacy == "full":
        description = str(events_icalendar(data)[0]["DESCRIPTION"])
        assert "x ATTENDEE:mailto:evil@example.org BEGIN:VALARM END:VEVENT STATUS:CANCELLED y" in description
        assert "ORGANIZER" not in events_icalendar(data)[0]  # the "email" is not an address


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=0, max_size=120),
    audience=st.sampled_from(AUDIENCES),
    privacy=st.sampled_from(LEVELS),
)
def test_any_text_keeps_the_file_well_formed(text, audience, privacy):
    sessions = kap_sessions()[:4]
    for session in sessions:
        session.title = session.notes = session.instructions = text
        session.reminders = [PlannedReminder(before="PT4H", text=text)]
    plan = make_plan_obj(sessions, name=text, location=text, protocol_title=text,
                         therapist={"name": text, "email": "kim@clinic.example"})
    data = plan_to_ics(plan, audience=audience, privacy=privacy)
    assert_no_injection(data)
    assert_events_match(data, plan)


def test_folding_keeps_multibyte_characters_whole():
    sessions = kap_sessions()[:1]
    sessions[0].title = "Séance d'intégration 🌿" * 12
    plan = make_plan_obj(sessions, name="Zoë Ångström-Þórsdóttir 😀")
    data = plan_to_ics(plan, privacy="full")
    assert_no_injection(data, alarms_per_event=None)
    assert str(events_icalendar(data)[0]["SUMMARY"]) == "Séance d'intégration 🌿" * 12
    assert "Client: Zoë Ångström-Þórsdóttir 😀" in events_vobject(data)[0].description.value


def test_lone_surrogates_and_invisible_characters_are_dropped():
    sessions = kap_sessions()[:1]
    sessions[0].title = "Intake\ud800 \u202eevil\u202c session"
    data = plan_to_ics(make_plan_obj(sessions), privacy="full")
    assert str(events_icalendar(data)[0]["SUMMARY"]) == "Intake evil session"


def test_unknown_kind_is_not_shown_below_full():
    sessions = [make_session("odd-1", "ketamine-infusion", "2026-12-07 09:00", 60)]
    events = events_icalendar(plan_to_ics(make_plan_obj(sessions)))
    assert str(events[0]["SUMMARY"]) == "Session"
    assert events[0]["CATEGORIES"].cats == ["session"]


# --------------------------------------------------------------------------- time zones


def test_new_york_series_across_the_november_change_keeps_local_time():
    plan = make_plan_obj(weekly("America/New_York", "2026-10-19 10:00", 5))
    data = plan_to_ics(plan)
    assert_events_match(data, plan)
    starts = [wall(e.dtstart.value) for e in events_vobject(data)]
    assert [s[0].hour for s in starts] == [10] * 5
    assert [s[1] for s in starts] == [timedelta(hours=-4)] * 2 + [timedelta(hours=-5)] * 3


def test_london_series_across_the_march_change_keeps_local_time():
    plan = make_plan_obj(weekly("Europe/London", "2027-03-15 09:30", 5), zone="Europe/London")
    data = plan_to_ics(plan)
    assert_events_match(data, plan)
    starts = [wall(e.dtstart.value) for e in events_vobject(data)]
    assert [s[0].time().isoformat() for s in starts] == ["09:30:00"] * 5
    assert [s[1] for s in starts] == [timedelta(0)] * 2 + [timedelta(hours=1)] * 3
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in unfolded(data)
    assert "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in unfolded(data)


def test_new_york_vtimezone_is_in_rrule_form():
    block = timezone_block("America/New_York", date(2026, 12, 7), date(2027, 1, 11)).decode()
    assert block.split("\r\n") == [
        "BEGIN:VTIMEZONE", "TZID:America/New_York",
        "BEGIN:DAYLIGHT", "DTSTART:20250309T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
        "TZOFFSETFROM:-0500", "TZOFFSETTO:-0400", "TZNAME:EDT", "END:DAYLIGHT",
        "BEGIN:STANDARD", "DTSTART:20251102T020000", "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
        "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "TZNAME:EST", "END:STANDARD",
        "END:VTIMEZONE", "",
    ]


def test_zone_without_dst_gets_one_standard_block():
    block = timezone_block("Asia/Kolkata", date(2026, 1, 1), date(2027, 6, 1)).decode()
    assert block.split("\r\n") == [
        "BEGIN:VTIMEZONE", "TZID:Asia/Kolkata", "BEGIN:STANDARD", "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0530", "TZOFFSETTO:+0530", "TZNAME:IST", "END:STANDARD", "END:VTIMEZONE", "",
    ]


def test_rules_changed_within_the_span_fall_back_to_explicit_observances():
    # Brazil abolished DST in 2019; the US changed its rules in 2007.
    for tzid, first, last in (("America/Sao_Paulo", date(2019, 1, 1), date(2019, 12, 1)),
                              ("America/New_York", date(2007, 1, 1), date(2007, 12, 1))):
        block = timezone_block(tzid, first, last).decode()
        assert "RRULE" not in block
        assert "RDATE" not in block
        assert block.count("BEGIN:") > 3


ZONES = [
    "America/New_York", "Europe/London", "Europe/Berlin", "Europe/Dublin", "Australia/Sydney",
    "Australia/Lord_Howe", "Pacific/Auckland", "Pacific/Chatham", "America/Santiago", "Asia/Jerusalem",
    "Africa/Casablanca", "Asia/Tehran", "America/Sao_Paulo", "Asia/Kolkata", "Antarctica/Troll",
    "America/St_Johns", "UTC",
]
SPANS = [(date(2026, 12, 7), date(2027, 5, 20)), (date(2019, 1, 1), date(2019, 12, 31)),
         (date(2021, 6, 1), date(2023, 2, 1))]


@pytest.mark.parametrize("tzid", ZONES)
@pytest.mark.parametrize(("first", "last"), SPANS)
def test_vtimezone_reproduces_zoneinfo_offsets(tzid, first, last):
    """Our VTIMEZONE, evaluated with dateutil.rrule, gives zoneinfo's offset every 3 hours of the span."""
    data = calendar_head("t") + timezone_block(tzid, first, last) + calendar_tail()
    onsets = vtimezone_offsets(data)[tzid]
    zone = ZoneInfo(tzid)
    moment = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    while moment <= end:
        assert offset_at(onsets, moment) == moment.astimezone(zone).utcoffset(), moment
        moment += timedelta(hours=3)
    for line in unfolded(data).split("\r\n"):
        if line.startswith("RRULE:"):  # the only RRULE shape Outlook understands
            assert re.fullmatch(r"RRULE:FREQ=YEARLY;BYMONTH=\d{1,2};BYDAY=(-1|[1-4])(MO|TU|WE|TH|FR|SA|SU)", line)


@pytest.mark.parametrize("tzid", ["America/New_York", "Europe/London", "Australia/Sydney", "Europe/Dublin",
                                  "Pacific/Auckland", "America/Santiago"])
def test_zones_with_steady_rules_are_written_as_rrules(tzid):
    block = timezone_block(tzid, date(2026, 12, 7), date(2027, 6, 1)).decode()
    assert block.count("RRULE:") == 2
    assert block.count("BEGIN:DAYLIGHT") == block.count("BEGIN:STANDARD") == 1


def test_event_offsets_match_zoneinfo_through_our_vtimezone():
    plan = make_plan_obj(weekly("America/New_York", "2026-10-19 10:00", 5))
    data = plan_to_ics(plan)
    onsets = vtimezone_offsets(data)["America/New_York"]
    for session in plan.sessions:
        for moment in (session.start, session.end):
            assert offset_at(onsets, moment.astimezone(UTC)) == moment.utcoffset()


def test_end_in_the_repeated_hour_is_written_in_utc():
    # 00:30 EDT + 90 min = 01:00 EST on 2026-11-01: a local time that occurs twice.
    session = make_session("talk-1", "integration", "2026-11-01 00:30", 90)
    plan = make_plan_obj([session])
    data = plan_to_ics(plan)
    assert "DTEND:20261101T060000Z" in unfolded(data)
    event = events_icalendar(data)[0]
    assert event.decoded("DTEND").astimezone(UTC) == session.end.astimezone(UTC)
    assert events_vobject(data)[0].dtend.value.astimezone(UTC) == session.end.astimezone(UTC)
