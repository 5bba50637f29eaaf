"""Reading files: YAML 1.2 scalars, limits, and a located KP1xx diagnostic
for every malformed input a new user might produce, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from kapplan.io.documents import MAX_BYTES, parse_document, read_bytes
from kapplan.io.readers import load_client, load_clinic
from kapplan.lint.checks import check_file, load_protocol
from kapplan.models.errors import InputError, UsageError

DATA = Path(__file__).parent / "data"


def problems(data: bytes) -> list[tuple[int, int, str]]:
    """(line, column, code) of every diagnostic parse_document raises."""
    with pytest.raises(InputError) as caught:
        parse_document(data, "f.yaml")
    return [(d.line, d.column, d.code) for d in caught.value.diagnostics]


def parsed(text: str) -> object:
    return parse_document(text.encode(), "f.yaml").data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", [(1, 1, "KP103")]),
        (b"   \n\n", [(1, 1, "KP103")]),
        (b"# only a comment\n# and another\n", [(1, 1, "KP103")]),
        (b"\x00\x01\x02binary", [(1, 1, "KP102")]),
        (b"kind: client\nname: caf\xe9\n", [(2, 1, "KP102")]),
        (b"- a\n- b\n", [(1, 1, "KP104")]),
        (b"just a sentence\n", [(1, 1, "KP104")]),
        (b"42\n", [(1, 1, "KP104")]),
        (b"kind: client\nkind: clinic\n", [(2, 1, "KP106")]),
        (b"kind: client\nid: x\n\tname: y\n", [(3, 1, "KP101")]),
        (b"kind: client\nid: [unclosed\n", [(3, 1, "KP101")]),
        (b"kind: client\nid: \"C-1\n", [(3, 1, "KP101")]),
        (b"kind: client\n---\nkind: client\n", [(2, 1, "KP101")]),
        (b"kind: client\nid: !!python/object:os.system x\n", [(2, 5, "KP101")]),
        (b"kind: client\nids: !!set {a, b}\n", [(2, 6, "KP101")]),
        (b"kind: client\nid: !custom x\n", [(2, 5, "KP101")]),
        (b"base: &b {id: x}\n<<: *b\n", [(2, 1, "KP101")]),
        (b"kind: client\n? [a, b]\n: c\n", [(2, 3, "KP112")]),
    ],
)
def test_malformed_files_are_located(data: bytes, expected: list[tuple[int, int, str]]) -> None:
    assert problems(data) == expected


def test_tab_indentation_says_so() -> None:
    with pytest.raises(InputError) as caught:
        parse_document(b"kind: client\n\tid: x\n", "f.yaml")
    assert caught.value.diagnostics[0].message == "YAML syntax error: a tab character cannot indent YAML; use spaces"


def test_size_limit() -> None:
    big = b"kind: client\nname: " + b"a" * MAX_BYTES + b"\n"
    assert problems(big) == [(1, 1, "KP105")]


def test_a_flood_of_duplicate_keys_lists_the_first_50_and_counts_the_rest() -> None:
    found = problems(b"kind: client\n" + b"kind: client\n" * 1000)
    assert found == [(line, 1, "KP106") for line in range(2, 52)] + [(52, 1, "KP105")]


def test_deep_nesting() -> None:
    assert problems(b"k: " + b"[" * 200 + b"]" * 200 + b"\n") == [(1, 1, "KP105")]


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    assert problems("\n".join(lines).encode()) == [(1, 1, "KP105")]


def test_small_aliases_are_fine() -> None:
    assert parsed("a: &w Mon-Fri 09:00-17:00\nb: [*w, *w]\n") == {"a": "Mon-Fri 09:00-17:00",
                                                                  "b": ["Mon-Fri 09:00-17:00"] * 2}


def test_yaml_1_2_core_scalars() -> None:
    data = parsed(
        "on: [1, 2]\nno: NO\nyes: off\nclock: 10:30\nday: 2026-02-30\nhex: 0x1F\noct: 0o17\n"
        "float: 1.5\nexp: 1e3\nnull: ~\nempty:\ntrue: True\nquoted: '5'\ninf: .inf\nsexagesimal: 1:30:00\n"
    )
    assert data == {
        "on": [1, 2], "no": "NO", "yes": "off", "clock": "10:30", "day": "2026-02-30", "hex": 31, "oct": 15,
        "float": 1.5, "exp": 1000.0, "null": None, "empty": None, "true": True, "quoted": "5", "inf": ".inf",
        "sexagesimal": "1:30:00",
    }


def test_keys_stay_as_written() -> None:
    assert list(parsed("1: a\n0x10: b\nnull: c\n'on': d\n")) == ["1", "0x10", "null", "on"]


def test_json_is_accepted_with_positions() -> None:
    doc = parse_document(b'{\n  "kind": "clinic",\n  "hours": ["Mon-Fri 08:00-18:00"]\n}\n', "c.json")
    assert doc.data == {"kind": "clinic", "hours": ["Mon-Fri 08:00-18:00"]}
    assert doc.position(("hours", 0)) == (3, 13)


def test_byte_order_mark_and_crlf() -> None:
    assert parsed("\ufeffkind: client\r\nid: C-1\r\n") == {"kind": "client", "id": "C-1"}


def test_positions_of_values_and_keys() -> None:
    doc = parse_document(b"kind: protocol\nsessions:\n  intake:\n    duration: 1h\n", "p.yaml")
    assert doc.position(("sessions", "intake", "duration")) == (4, 15)
    assert doc.position(("sessions", "intake"), key=True) == (3, 3)
    assert doc.position(("sessions", "intake", "missing")) == (4, 5)


def write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def located(path: Path) -> list[tuple[int, int, str]]:
    return [(d.line, d.column, d.code) for d in check_file(path)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: client\nid: C-1\nstart: 2026-02-30\n", [(3, 8, "KP122")]),
        ("kind: client\nid: C-1\nweight: 72\n", [(3, 9, "KP125")]),
        ("kind: client\nid: C-1\nweight: 500 kg\n", [(3, 9, "KP125")]),
        ("kind: client\nid: C-1\nweight: 20 lb\n", [(3, 9, "KP125")]),
        ("kind: client\nid: C-1\ntimezone: Mars/Olympus\n", [(3, 11, "KP126")]),
        ("kind: client\nid: C-1\nholidays: XX\n", [(3, 11, "KP127")]),
        ("kind: client\nid: C-1\nholidays: NO\ntimezone: Europe/Oslo\n", []),
        ("kind: client\nid: ../etc\n", [(2, 5, "KP124")]),
        ("kind: client\nid: C-1\ndose_scale: 0\n", [(3, 13, "KP112")]),
        ("kind: client\nid: C-1\ndose_scale: 1.5\n", [(3, 13, "KP112")]),
        ("kind: client\nid: C-1\navailability: [Mon 17:00-09:00]\n", [(3, 16, "KP123")]),
        ("kind: client\nid: C-1\navailability: Mon-Fri 09:00-17:00\n", [(3, 15, "KP112")]),
        ("kind: client\nid: C-1\nunavailable: [2027-01-01..2026-12-24]\n", [(3, 15, "KP122")]),
        ("kind: client\nid: C-1\nemial: a@b.example\n", [(3, 1, "KP110")]),
        ("kind: client\nname: Alex\n", [(1, 1, "KP111")]),
        ("kind: clinic\nid: n\ntimezone: UTC\nhours: []\n", [(4, 8, "KP112")]),
        ("kind: clinic\nid: n\ntimezone: UTC\n", [(1, 1, "KP111")]),
        ("id: C-1\n", [(1, 1, "KP104")]),
        ("kind: protcol\n", [(1, 7, "KP104")]),
        ("kind: 5\n", [(1, 7, "KP104")]),
    ],
)
def test_client_and_clinic_mistakes_are_located(tmp_path: Path, text: str, expected: list) -> None:
    assert located(write(tmp_path, text)) == expected


def test_unknown_key_hint_and_kind_hint(tmp_path: Path) -> None:
    [unknown] = check_file(write(tmp_path, "kind: client\nid: C-1\nemial: a@b.example\n"))
    assert (unknown.message, unknown.hint) == ("unknown key 'emial'", "did you mean 'email'?")
    [kind] = check_file(write(tmp_path, "kind: protcol\n"))
    assert kind.hint == "did you mean 'protocol'?"


def test_messages_never_echo_personal_values(tmp_path: Path) -> None:
    text = "kind: client\nid: C-1\nname: Alex Secretname\nemail: [alex@secret.example]\nweight: heavy-Secretname\n"
    diagnostics = check_file(write(tmp_path, text))
    assert len(diagnostics) == 2
    assert all("Secretname" not in d.as_text() and "secret.example" not in d.as_text() for d in diagnostics)


PROTOCOL_HEAD = "kind: protocol\nid: p\nversion: 1\ntitle: T\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("sessions:\n  Bad_Id: {kind: screening, duration: 1h}\nschedule: [{session: a}]\n", [(6, 3, "KP124")]),
        ("sessions: {}\nschedule: []\n", [(5, 11, "KP112"), (6, 11, "KP112")]),
        ("sessions:\n  a: {kind: screening, durration: 1h}\nschedule: [{session: a}]\n",
         [(6, 6, "KP111"), (6, 24, "KP110")]),
        ("sessions:\n  a: {kind: screen, duration: 1h}\nschedule: [{session: a}]\n", [(6, 13, "KP112")]),
        ("sessions:\n  a: {kind: screening, duration: 90 min}\nschedule: [{session: a}]\n", [(6, 34, "KP120")]),
        ("sessions:\n  a: {kind: screening, duration: 1h}\nschedule: [{session: a, gap: 3d...}]\n",
         [(7, 30, "KP121")]),
        ("sessions:\n  a: {kind: screening, duration: 1h, time: 25:00..26:00}\nschedule: [{session: a}]\n",
         [(6, 44, "KP123")]),
        ("sessions:\n  a: {kind: screening, duration: 1h, days: [Mon, Funday]}\nschedule: [{session: a}]\n",
         [(6, 50, "KP123")]),
        ("sessions:\n  a: {kind: dosing, duration: 1h, dose: {medication: ketamine, route: IM, fixed: 5}}\n"
         "schedule: [{session: a}]\n", [(6, 82, "KP125")]),
        ("sessions:\n  a: {kind: screening, duration: 1h}\nschedule: [{session: a, count: 0}]\n",
         [(7, 32, "KP112")]),
        ("sessions:\n  a: {kind: screening, duration: 1h}\nschedule:\n  - session: a\n    followed_by:\n"
         "      - {session: a, on: [0]}\n", [(10, 27, "KP112")]),
    ],
)
def test_protocol_structure_mistakes_are_located(tmp_path: Path, body: str, expected: list) -> None:
    assert located(write(tmp_path, PROTOCOL_HEAD + body)) == expected


def test_unreadable_paths_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        read_bytes(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="is a folder"):
        read_bytes(tmp_path)


def test_loaders_by_kind(tmp_path: Path) -> None:
    client = load_client(write(tmp_path, "kind: client\nid: C-1\nweight: 158 lb\nholidays: us-ny\n"))
    assert (client.id, str(client.weight), client.holidays) == ("C-1", "158 lb", "US-NY")
    text = '{"kind": "clinic", "id": "n", "timezone": "UTC", "hours": ["Sat 09:00-13:00"]}'
    clinic = load_clinic(write(tmp_path, text, "c.json"))
    assert [str(w) for w in clinic.hours] == ["Sat 09:00-13:00"]
    with pytest.raises(InputError) as caught:
        load_protocol(write(tmp_path, "kind: client\nid: C-1\n"))
    assert caught.value.diagnostics[0].code == "KP104"


def test_protocol_errors_refuse_loading_but_warnings_ride_along(tmp_path: Path) -> None:
    loaded = load_protocol(DATA / "lint_kp304_no_observation.yaml")
    assert [w.code for w in loaded.warnings] == ["KP304"]
    assert len(loaded.sha256) == 64
    with pytest.raises(InputError) as caught:
        load_protocol(DATA / "lint_kp201_unknown_session.yaml")
    assert {d.code for d in caught.value.diagnostics} == {"KP201"}
