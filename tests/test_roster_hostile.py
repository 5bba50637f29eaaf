"""Hostile roster lines: one bad line fails its own record and never stops the
others (no exit 70, no lost good record), whatever the line holds."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapplan import api
from kapplan.io.roster import open_roster

PROTOCOL = str(Path(__file__).parent / "data" / "protocol_four_doses_weekly_integration.yaml")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def good(ident: str) -> str:
    return json.dumps({"id": ident, "protocol": PROTOCOL, "start": "2026-12-07", "timezone": "America/New_York",
                       "weight": "72 kg"})


def records(data: bytes) -> list:
    with open_roster("-", io.BytesIO(data)) as roster:
        return list(roster)


def run_batch(tmp_path: Path, lines: list[str], name: str = "roster.jsonl"):
    roster = tmp_path / name
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    return api.batch(roster, out=out, formats="json", jobs=1, now=NOW), out


def test_huge_and_deep_json_lines_fail_alone(tmp_path: Path) -> None:
    lines = [good("A"), good("B").replace('"72 kg"', "9" * 5000), "[" * 5000 + "]" * 5000,
             '{"a": ' * 5000 + "1" + "}" * 5000, good("C").replace('"72 kg"', "1e400"),
             good("D").replace('"72 kg"', "NaN"), good("E")]
    summary, out = run_batch(tmp_path, lines)
    assert summary.records == 7
    assert summary.ok == 2
    assert (out / "A.plan.json").exists()
    assert (out / "E.plan.json").exists()
    results = json.loads((out / "summary.json").read_text())["records"]
    assert [r["row"] for r in results if r["status"] == "failed"] == [2, 3, 4, 5, 6]
    assert "number out of range" in results[1]["error"]


def test_json_array_roster_with_a_huge_number_fails_that_record_only() -> None:
    data = ("[" + good("A") + ", " + good("B").replace('"72 kg"', "9" * 5000) + ", " + good("C") + "]").encode()
    found = records(data)
    assert [r.problem is None for r in found] == [True, False, True]


def test_csv_unclosed_quote_is_reported_on_its_row_and_the_next_rows_still_plan() -> None:
    data = (b"id,protocol,start,timezone,weight\n"
            b'A,p,2026-12-07,America/New_York,"72 kg\n'
            b"B,p,2026-12-07,America/New_York,72 kg\n"
            b'C,p,2026-12-07,"America/New_York",72 kg\n')
    found = records(data)
    assert [(r.row, r.data is not None) for r in found] == [(2, False), (3, True), (4, True)]
    assert "quote opened on row 2" in found[0].problem
    assert found[2].data["timezone"] == "America/New_York"


def test_csv_two_line_address_is_still_one_cell() -> None:
    data = b'id,protocol,location\nA,p,"12 Main St, Suite 200\nFloor 2"\nB,p,\n'
    found = records(data)
    assert [(r.row, r.problem) for r in found] == [(2, None), (4, None)]
    assert found[0].data["location"] == "12 Main St, Suite 200\nFloor 2"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
bad_lines = st.one_of(
    st.text(max_size=200).map(lambda t: t.replace("\n", " ").replace("\r", " ")),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["id", "protocol", "start", "timezone", "weight", "availability", "x"]),
                    json_values, max_size=6).map(json.dumps),
    st.integers(min_value=1, max_value=6000).map(lambda n: '{"id": "Z", "weight": ' + "7" * n + "}"),
    st.integers(min_value=1, max_value=6000).map(lambda n: "[" * n + "]" * n),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=bad_lines.filter(lambda line: "G-" not in line.upper()), where=st.integers(min_value=0, max_value=2))
def test_one_bad_line_never_stops_the_others(tmp_path_factory, bad: str, where: int) -> None:
    """Whatever one line holds, the good records around it are all planned."""
    tmp_path = tmp_path_factory.mktemp("fuzz")
    lines = [good("G-1"), good("G-2")]
    lines.insert(where, bad)
    summary, out = run_batch(tmp_path, lines)
    assert summary.fault is None
    assert (out / "G-1.plan.json").exists()
    assert (out / "G-2.plan.json").exists()
    assert summary.ok >= 2
    results = json.loads((out / "summary.json").read_text())["records"]
    assert all("internal error" not in (r["error"] or "") for r in results)
