"""`kapplan handout`: the client's guide, through the command line on real files.

A plan is made by `kapplan plan` from fixture files named for what they hold:
a protocol with hostile titles and safety texts that name medications and
doses, a client with personal data and a video link in Los Angeles (the series
crosses the start of daylight saving time), and a clinic with contact details.
"""

from __future__ import annotations

import json
import re
import stat
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.export.guide_render import markdown_text
from kapplan.io.bundled import bundled_paths
from kapplan.models.sensitive import mentions_medication_or_dose, soften

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_guide_hostile_titles_medication_in_safety_text.yaml"
CLIENT = DATA / "client_los_angeles_named_with_therapist_and_video_link.yaml"
CLINIC = DATA / "clinic_los_angeles_contact_long_address.yaml"
LEVELS = ("minimal", "standard", "full")
NS = {"h": "http://www.w3.org/1999/xhtml"}
runner = CliRunner()

RIDE_HOME = "Arrange a ride home after your"
FASTING = "Fasting: no food from now until after"
NO_DRIVING = "No driving until the next day"
PERSONAL = ("Rivera", "alex@example.org", "kim@clinic.example", "guide-test", "KAP \"series\"")


@pytest.fixture(scope="module")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("guide")
    path = folder / "plan.json"
    result = runner.invoke(app, ["plan", str(PROTOCOL), "--client", str(CLIENT), "--clinic", str(CLINIC),
                                 "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def guides(plan_file: Path) -> dict[tuple[str, str], str]:
    """Every level in both formats, each written by the command line to a file."""
    out: dict[tuple[str, str], str] = {}
    for level in LEVELS:
        for ext in ("html", "md"):
            target = plan_file.parent / f"guide-{level}.{ext}"
            result = runner.invoke(app, ["handout", str(plan_file), "-o", str(target), "--privacy", level])
            assert result.exit_code == 0, result.output
            assert "a guide to 3 visit(s) written" in result.stderr
            assert stat.S_IMODE(target.stat().st_mode) == 0o600  # personal data: owner only
            out[level, ext] = target.read_text(encoding="utf-8")
    return out


def parse(text: str):
    """Strict HTML5 parsing: any parse error fails the test."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=True).parse(text)


def visible_text(text: str) -> str:
    tree = parse(text)
    body = tree.find("h:body", NS)
    return " ".join("".join(body.itertext()).split())


def sessions(plan_file: Path):
    return api.read_plan(plan_file).sessions


@pytest.mark.parametrize("level", LEVELS)
def test_html_parses_and_is_one_self_contained_file(guides, level):
    text = guides[level, "html"]
    tree = parse(text)
    tags = {el.tag.split("}")[1] for el in tree.iter() if isinstance(el.tag, str)}
    assert tags.isdisjoint({"script", "img", "link", "iframe", "object", "embed", "svg", "form", "base"})
    style = "".join(el.text or "" for el in tree.iter("{http://www.w3.org/1999/xhtml}style"))
    assert "@media print" in style
    assert "url(" not in style
    assert "@import" not in style
    for el in tree.iter():
        for name, value in getattr(el, "attrib", {}).items():
            assert not name.lower().startswith("on")
            if name in ("href", "src"):
                assert re.match(r"(tel:|mailto:|https://video\.example/)", value), value
    policy = tree.find(".//h:meta[@http-equiv='Content-Security-Policy']", NS)
    assert "default-src 'none'" in policy.get("content")


@pytest.mark.parametrize("level", LEVELS)
def test_every_session_date_and_time_in_the_clients_zone(guides, plan_file, level):
    zone = ZoneInfo("America/Los_Angeles")
    text = visible_text(guides[level, "html"])
    tree = parse(guides[level, "html"])
    stamps = [datetime.fromisoformat(el.get("datetime")) for el in tree.iter("{http://www.w3.org/1999/xhtml}time")]
    planned = sessions(plan_file)
    assert stamps == [s.start for s in planned]
    assert [s.utcoffset() for s in stamps] == [s.start.astimezone(zone).utcoffset() for s in planned]
    markdown = guides[level, "md"]
    for session in planned:
        for moment in (session.start.astimezone(zone), session.end.astimezone(zone)):
            day = f"{moment:%A} {moment.day} {moment:%B} {moment.year}"
            hour = f"{moment.hour % 12 or 12}:{moment:%M} {moment:%p}".lower()
            assert day in text
            assert hour in text
            assert day in markdown
            assert hour in markdown
    # The series crosses the spring-forward change: the second dose keeps 9:00 local.
    assert "Monday 15 March 2027" in text
    assert "America/Los_Angeles time zone" in text


@pytest.mark.parametrize("level", ["minimal", "standard"])
@pytest.mark.parametrize("ext", ["html", "md"])
def test_no_medication_dose_or_personal_data_below_full(guides, level, ext):
    raw = unicodedata.normalize("NFKC", guides[level, ext])
    assert not mentions_medication_or_dose(raw)
    for word in PERSONAL:
        assert word not in raw
    assert "IM" not in re.findall(r"\b[A-Z]{2}\b", raw)  # the route says what the medicine is


def test_standard_names_people_by_name_and_minimal_names_nobody(guides):
    assert "Dr. Kim" in visible_text(guides["standard", "html"])
    assert "Dr. Kim" not in guides["minimal", "html"]
    assert "Dr. Kim" not in guides["minimal", "md"]
    for level in LEVELS:
        assert "kim@clinic.example" not in guides[level, "html"]  # never a person's email


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("ext", ["html", "md"])
def test_fasting_ride_home_and_after_care_survive_at_every_level(guides, level, ext):
    text = visible_text(guides[level, ext]) if ext == "html" else guides[level, ext]
    for safety in (RIDE_HOME, FASTING, NO_DRIVING, "Clear liquids are fine until 2 hours before"):
        assert text.count(safety) == 2, (safety, level)  # one per medicine session
    if level != "full":
        assert "until after the planned amount" in text
        assert "after your medicine session; do not drive until the next day" in text


def test_full_shows_the_planned_dose_and_the_clients_name(guides):
    text = visible_text(guides["full", "html"])
    assert "35 mg (planned; your prescriber confirms it on the day)" in text
    assert 'Your visits, Alex <Rivera> & "Sam"' in text


@pytest.mark.parametrize("ext", ["html", "md"])
def test_hostile_titles_are_text_never_markup(guides, ext):
    raw = guides["full", ext]
    assert "<script" not in raw.lower()
    assert "<img" not in raw.lower()
    assert "<b>" not in raw
    if ext == "html":
        text = visible_text(raw)
        assert '<script>alert("t")</script> & KAP "series"' in text
        assert "<script>alert(1)</script> Ketamine 0.5 mg/kg 1 of 2" in text
        assert "<b>Prep</b> & 'talk'" in text
        assert "<img src=x onerror=alert(1)>" in text
    else:
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Ketamine 0.5 mg/kg 1 of 2" in raw
        assert "Bring a \"comfort\" item &amp; wear soft clothes." in raw


@pytest.mark.parametrize("level", LEVELS)
def test_urgent_line_comes_first_then_the_clinic(guides, level):
    text = visible_text(guides[level, "html"])
    urgent = text.index("In a crisis, call or text 988, or call 911.")
    assert urgent < text.index("Phone: +1 (310) 555-0100") < text.index("About this guide")
    assert text.index("If you need help") < urgent
    assert 'href="tel:+13105550100"' in guides[level, "html"]


def test_trauma_informed_wording_and_the_video_link(guides):
    text = visible_text(guides["standard", "html"])
    for sentence in ("You can ask questions at any time", "ask to stop, at any time",
                     "Your care team explains each step before it happens", "Who is with you",
                     "Your therapist (Dr. Kim) and a nurse."):
        assert sentence in text
    assert 'href="https://video.example/room/77?a=1&amp;b=2"' in guides["standard", "html"]
    assert "<https://video.example/room/77?a=1&b=2>" in guides["standard", "md"]


def test_tentative_sessions_are_marked_and_their_reminders_conditional(tmp_path):
    """A gated second dose (SPEC §13) is planned tentatively: the guide says so."""
    plan_path = tmp_path / "gated.json"
    made = runner.invoke(app, ["plan", str(DATA / "protocol_guide_gated_second_dose_tentative.yaml"), "--id", "C-9",
                               "--start", "2026-12-07", "--tz", "Europe/Berlin", "--weight", "60 kg",
                               "-o", str(plan_path)])
    assert made.exit_code == 0, made.output
    plan = api.read_plan(plan_path)
    assert [s.status for s in plan.sessions] == ["planned", "planned", "planned", "tentative"]
    text = visible_text(api.handout(plan, privacy="standard"))
    assert text.count("Not confirmed yet.") == 1
    assert text.index("Wednesday 9 December 2026") > text.index("Not confirmed yet.") > text.index("Follow-up session")
    assert text.count("If confirmed: Arrange a ride home") == 1
    assert text.count("Arrange a ride home") == 2
    markdown = api.handout(plan, format="md")
    assert "**Not confirmed yet. This visit takes place only if your care team confirms it.**" in markdown


def test_done_missed_and_cancelled_sessions_are_left_out(plan_file):
    plan = api.read_plan(plan_file)
    first = plan.sessions[0].model_copy(update={"status": "done"})
    plan = plan.model_copy(update={"sessions": [first, *plan.sessions[1:]]})
    text = visible_text(api.handout(plan))
    assert "Your visits (2)" in text
    assert "1 visit that already took place or will not take place is not listed." in text
    assert "Monday 8 March 2027 9:00 am" not in text


def test_without_clinic_contact_the_guide_still_says_whom_to_call(plan_file):
    plan = api.read_plan(plan_file).model_copy(update={"clinic": None})
    text = visible_text(api.handout(plan))
    assert text.index("call your local emergency number now") < text.index("Ask your care team for a phone number")
    assert text.count("At the clinic. Your care team will tell you the address.") == 2  # no address known
    assert "Video call. Use the link below." in text


def test_stdout_and_format_option(plan_file):
    result = runner.invoke(app, ["handout", str(plan_file), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Your visits\n")
    html_out = runner.invoke(app, ["handout", str(plan_file), "-o", "-"])
    assert html_out.stdout.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "{tmp}/guide.pdf"], 2, "name the output FILE.html or FILE.md"),
        (["--privacy", "secret"], 2, "Invalid value"),
        (["-o", "{plan}"], 2, "that is the plan file itself"),
    ],
)
def test_bad_options_are_usage_errors(plan_file, args, code, message):
    args = [a.format(tmp=plan_file.parent, plan=plan_file) for a in args]
    result = runner.invoke(app, ["handout", str(plan_file), *args])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_and_invalid_plans(tmp_path):
    missing = runner.invoke(app, ["handout", str(tmp_path / "none.json"), "-o", str(tmp_path / "g.html")])
    assert missing.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "plan"}), encoding="utf-8")
    invalid = runner.invoke(app, ["handout", str(bad), "-o", str(tmp_path / "g.html")])
    assert invalid.exit_code == 1
    assert not (tmp_path / "g.html").exists()  # nothing half-written


@pytest.mark.parametrize("stem", sorted(bundled_paths()))
def test_every_bundled_protocol_reads_at_about_a_twelve_year_old_level(tmp_path, stem):
    """Flesch-Kincaid grade of the standard guide's words (a US school grade; a
    reading age of 12 is about grade 6-7). The same text is measured in the
    closing note of the change that added the guide."""
    import textstat

    client = api.client_from(DATA / "client_new_york_72kg.yaml")
    plan = api.make_plan(stem, client, now=datetime.fromisoformat("2026-12-01T12:00:00+00:00"))
    text = guide_prose(api.handout(plan))
    assert textstat.flesch_kincaid_grade(text) <= 7.5
    assert not mentions_medication_or_dose(unicodedata.normalize("NFKC", text))


def guide_prose(document: str) -> str:
    """The sentences of a guide, one per line (headings, dates and times left out:
    they are not prose, and a readability formula misreads them)."""
    tree = parse(document)
    blocks = [el for el in tree.iter() if isinstance(el.tag, str) and el.tag.split("}")[1] in ("p", "dd", "li")
              and el.get("class") not in ("when", "zone")]
    lines = [" ".join("".join(b.itertext()).split()) for b in blocks]
    return "\n".join(line for line in lines if line and not line.startswith(("Phone:", "Email:", "http")))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ketamin esKETAMINE spravato mg/kg 0123456789.,-® or and  ")),
               max_size=60))
def test_softened_text_never_names_a_medication_or_dose(text):
    assert not mentions_medication_or_dose(soften(text))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_markdown_values_carry_no_markup(text):
    escaped = markdown_text(text)
    assert "<" not in escaped
    assert not re.search(r"(?<!\\)[*_`\[\]|]", escaped)


HOSTILE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["<script>x</script>", "</style><script>", "]]>", "&amp;", "\"'`", "ketamine 56 mg", "\u202eevil", "**x**",
     "[a](javascript:x)", "{{ guide }}", "{% raw %}"])


@settings(max_examples=40, deadline=None)
@given(title=HOSTILE, purpose=HOSTILE, reminder=HOSTILE, location=HOSTILE, urgent=HOSTILE, name=HOSTILE)
def test_any_text_anywhere_gives_a_well_formed_guide(plan_file, title, purpose, reminder, location, urgent, name):
    """Whatever a protocol, client or clinic file says, the guide parses, carries
    no markup of its own making, and names no medication or dose below full."""
    plan = api.read_plan(plan_file)
    definition = json.loads(json.dumps(plan.protocol.definition))
    definition["sessions"]["med"]["purpose"] = purpose
    definition["sessions"]["med"]["aftercare"] = purpose
    reminders = [s.reminders[0].model_copy(update={"text": reminder}) for s in plan.sessions[1:2]]
    sessions = [plan.sessions[0], plan.sessions[1].model_copy(update={"title": title, "reminders": reminders}),
                *plan.sessions[2:]]
    plan = plan.model_copy(update={
        "sessions": sessions,
        "protocol": plan.protocol.model_copy(update={"definition": definition, "title": title}),
        "client": {**plan.client, "name": name},
        "clinic": {**plan.clinic, "location": location, "contact": {"urgent": urgent}},
    })
    for level in LEVELS:
        document = api.handout(plan, privacy=level)
        tree = parse(document)
        tags = {el.tag.split("}")[1] for el in tree.iter() if isinstance(el.tag, str)}
        assert tags.isdisjoint({"script", "img", "iframe", "object", "b"})
        markdown = api.handout(plan, format="md", privacy=level)
        assert "<" not in markdown.replace("<https://video.example/room/77?a=1&b=2>", "")
        if level != "full":
            for text in (visible_text(document), markdown):
                assert not mentions_medication_or_dose(unicodedata.normalize("NFKC", text))


def test_assigned_clinic_staff_are_named_at_standard_never_by_email(tmp_path):
    plan_path = tmp_path / "staffed.json"
    made = runner.invoke(app, ["plan", str(PROTOCOL), "--client", str(CLIENT), "--clinic",
                               str(DATA / "clinic_los_angeles_named_staff_with_emails.yaml"), "-o", str(plan_path)])
    assert made.exit_code == 0, made.output
    plan = api.read_plan(plan_path)
    assert {a.id for s in plan.sessions for a in s.assigned or []} == {"mara", "lee"}
    standard = visible_text(api.handout(plan))
    assert "Your therapist (Mara Okafor) and a nurse (Lee Park)." in standard
    for level in LEVELS:
        for fmt in ("html", "md"):
            document = api.handout(plan, privacy=level, format=fmt)
            assert "@westside.example" not in document
            if level == "minimal":
                assert "Okafor" not in document
                assert "Lee Park" not in document
