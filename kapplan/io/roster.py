"""Rosters (SPEC §4): CSV, JSON Lines, JSON arrays and YAML lists, one record at a time.

A roster of ten thousand clients must not be held in memory, so CSV, JSON Lines
and YAML are read as a stream: one record is parsed, handed on, and dropped.
Only a JSON array is read whole (up to ``MAX_JSON_ARRAY_BYTES``), because its
syntax can only be trusted once the closing bracket is seen.

Problems in one record (bad JSON on a line, a CSV row with too many cells,
invalid UTF-8) become that record's ``problem`` so the others still run;
problems with the roster as a whole (no header, no ``id`` column, not a list,
YAML syntax) raise InputError (exit 1). Messages never repeat cell values: they
may be personal data.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from kapplan.io.documents import Document, _Builder, _LimitExceeded, _loader, _yaml_problem
from kapplan.io.files import open_input
from kapplan.models.errors import Diagnostic, InputError, UsageError

MAX_LINE_BYTES = 1024 * 1024
MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024
YAML_ALIAS_ALLOWANCE = 200_000  # nodes that aliases may add beyond those written out
LIST_SEPARATOR = "|"
LIST_FIELDS = frozenset({"availability", "unavailable", "prefer"})
PERSON_COLUMNS = frozenset(f"{who}.{part}" for who in ("therapist", "prescriber") for part in ("name", "email"))
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class RosterRecord:
    """One record: its ordinal, the file line it starts on, and its fields or its problem."""

    number: int
    row: int
    data: dict[str, Any] | None = None
    problem: str | None = None


class Roster:
    """An open roster: iterate for records; close (or use ``with``) when done."""

    def __init__(self, name: str, base: Path, fmt: str, stream: BinaryIO, owned: bool) -> None:
        self.name = name
        self.base = base
        self.format = fmt
        self._stream = stream
        self._owned = owned
        self._lines = _LineReader(stream)
        if fmt == "sniff":
            self.format = _sniff(self._lines.first_significant())
        elif fmt == "json":
            self.format = "json" if self._lines.first_significant().startswith(b"[") else "jsonl"

    def __iter__(self) -> Iterator[RosterRecord]:
        readers: dict[str, Callable[[], Iterator[RosterRecord]]] = {
            "csv": self._csv,
            "jsonl": self._jsonl,
            "json": self._json_array,
            "yaml": self._yaml,
        }
        return readers[self.format]()

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def __enter__(self) -> Roster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def error(self, line: int, code: str, message: str, hint: str | None = None) -> InputError:
        return InputError([Diagnostic(self.name, line, 1, "error", code, message, hint)], f"{self.name}: {message}")

    # ------------------------------------------------------------------ CSV

    def _csv(self) -> Iterator[RosterRecord]:
        lines = self._decoded_lines()
        header_line, header = self._csv_header(lines)
        delimiter = _delimiter(header)
        columns = self._columns(next(csv.reader([header], delimiter=delimiter)), header_line)
        feed = _LineFeed(lines)
        reader = csv.reader(feed, delimiter=delimiter)
        number = 0
        while True:
            feed.start_record()
            try:
                cells = next(reader)
                error = None
            except StopIteration:
                return
            except csv.Error:
                cells, error = [], "the row is not valid CSV (an unclosed quote, or a cell over 128 KiB)"
            row, last = feed.span()
            if last > row and _swallows_rows(cells, delimiter, len(columns)):
                feed.give_back()  # the rows after it are records of their own
                cells, last = [], row
                error = f"a quote opened on row {row} is not closed on that row; close it or remove it"
            problem = lines.problem_between(row, last) or error
            if not problem and all(not cell.strip() for cell in cells):
                continue
            number += 1
            problem = problem or _cell_count_problem(cells, columns)
            if problem:
                yield RosterRecord(number, row, problem=problem)
            else:
                yield RosterRecord(number, row, data=_csv_record(columns, cells))

    def _csv_header(self, lines: _DecodedLines) -> tuple[int, str]:
        for number, text, problem in lines:
            if problem:
                raise self.error(number, "KP102", problem)
            if text.strip():
                return number, text
        raise self.error(1, "KP103", "the roster is empty")

    def _columns(self, names: list[str], line: int) -> list[str]:
        from kapplan.models.client import Client

        allowed = {f.alias or n for n, f in Client.model_fields.items()} | {"protocol", ""} | PERSON_COLUMNS
        columns = [name.strip().lower() for name in names]
        if "id" not in columns:
            raise self.error(line, "KP111", "the header has no 'id' column", "is this a CSV roster?")
        for name in filter(None, columns):  # unnamed columns (spreadsheets add them) must stay empty
            if name not in allowed:
                match = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
                hint = f"did you mean '{match[0]}'?" if match else None
                raise self.error(line, "KP110", f"unknown column '{name[:40]}' in the header", hint)
            if columns.count(name) > 1:
                raise self.error(line, "KP106", f"column '{name}' appears twice in the header")
        return columns

    # ------------------------------------------------------------------ JSON

    def _jsonl(self) -> Iterator[RosterRecord]:
        number = 0
        for line, text, problem in self._decoded_lines():
            if not problem and not text.strip():
                continue
            number += 1
            if problem:
                yield RosterRecord(number, line, problem=problem)
                continue
            try:
                value = json.loads(text, object_pairs_hook=_unique_keys, parse_int=_bounded_int,
                                   parse_float=_bounded_float, parse_constant=_no_constant)
            except json.JSONDecodeError as err:
                yield RosterRecord(number, line, problem=f"not valid JSON ({err.msg}, column {err.colno})")
                continue
            except (_DuplicateKey, _OutOfRange) as err:
                yield RosterRecord(number, line, problem=str(err))
                continue
            except (ValueError, RecursionError):
                yield RosterRecord(number, line, problem="the record is nested too deeply or holds a value "
                                   "JSON cannot represent")
                continue
            yield _mapping_record(number, line, value)
        if number == 0:
            raise self.error(1, "KP103", "the roster is empty")

    def _json_array(self) -> Iterator[RosterRecord]:
        data = b"".join(self._lines.raw())
        if len(data) > MAX_JSON_ARRAY_BYTES:
            raise self.error(1, "KP105", "a JSON array roster is larger than 64 MiB; write it as JSON Lines")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise self.error(
                data[: err.start].count(b"\n") + 1, "KP102", "the roster is not valid UTF-8 text"
            ) from None
        return iter(self._array_items(text))

    def _array_items(self, text: str) -> list[RosterRecord]:
        """Every element of a JSON array with its line; syntax errors stop everything."""
        decoder = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_int=_bounded_int,
                                   parse_float=_bounded_float, parse_constant=_no_constant)
        lines = _LineCounter(text)
        records: list[RosterRecord] = []
        index = _skip_space(text, 0)
        if not text.startswith("[", index):
            raise self.error(lines.at(index), "KP101", "JSON syntax error: expected '['")
        index = _skip_space(text, index + 1)
        closed = text.startswith("]", index)
        while not closed:
            line = lines.at(index)
            try:
                value, index = decoder.raw_decode(text, index)
                records.append(_mapping_record(len(records) + 1, line, value))
            except json.JSONDecodeError as err:
                raise self.error(err.lineno, "KP101", f"JSON syntax error: {err.msg}") from None
            except (_DuplicateKey, _OutOfRange) as err:
                records.append(RosterRecord(len(records) + 1, line, problem=str(err)))
                index = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str).raw_decode(text, index)[1]
            except RecursionError:
                raise self.error(line, "KP105", "a record of the roster is nested too deeply") from None
            index = _skip_space(text, index)
            closed = text.startswith("]", index)
            if not closed and not text.startswith(",", index):
                raise self.error(lines.at(index), "KP101", "JSON syntax error: expected ',' or ']'")
            index = _skip_space(text, index + 1) if not closed else index
        index = _skip_space(text, index + 1)
        if index < len(text):
            raise self.error(lines.at(index), "KP101", "JSON syntax error: text after the closing ']'")
        return records

    # ------------------------------------------------------------------ YAML

    def _yaml(self) -> Iterator[RosterRecord]:
        import yaml

        loader = _roster_loader()(_ByteSource(self._lines.raw()))
        try:
            yield from self._yaml_items(loader)
        except yaml.MarkedYAMLError as err:
            raise InputError([_yaml_problem(self.name, err)], f"{self.name}: YAML syntax error") from None
        except yaml.reader.ReaderError as err:
            raise self.error(
                1, "KP102", f"the roster is not UTF-8 text, or holds a control character ({err.reason})"
            ) from None
        except yaml.YAMLError:
            raise self.error(1, "KP101", "YAML syntax error") from None
        except RecursionError:
            raise self.error(1, "KP105", "the roster is nested too deeply") from None
        finally:
            loader.dispose()

    def _yaml_items(self, loader: Any) -> Iterator[RosterRecord]:
        import yaml

        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            raise self.error(1, "KP103", "the roster is empty")
        loader.get_event()  # document start
        if not loader.check_event(yaml.SequenceStartEvent):
            line = loader.peek_event().start_mark.line + 1
            raise self.error(line, "KP104", "a YAML roster must be a list of records")
        loader.get_event()
        number, built = 0, 0
        while not loader.check_event(yaml.SequenceEndEvent):
            row = loader.peek_event().start_mark.line + 1  # an alias record: where the alias is
            node = loader.compose_node(None, None)
            number += 1
            builder = _RecordBuilder(Document(self.name, None), loader.written + YAML_ALIAS_ALLOWANCE - built)
            try:
                value = builder.build(node, (), 0)
            except _LimitExceeded as err:
                raise self.error(row, "KP105", str(err)) from None
            built += builder.nodes
            if builder.problems:
                yield RosterRecord(number, row, problem="; ".join(p.message for p in builder.problems))
            else:
                yield _mapping_record(number, row, value)
        loader.get_event()  # sequence end
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            line = loader.peek_event().start_mark.line + 1
            raise self.error(line, "KP101", "a roster holds a single YAML document")

    # ------------------------------------------------------------------ lines

    def _decoded_lines(self) -> _DecodedLines:
        return _DecodedLines(self._lines.numbered())


def open_roster(source: str, stdin: BinaryIO | None = None) -> Roster:
    """Open ``source`` (a path, or ``-`` for ``stdin``); unreadable paths are UsageError (exit 2).

    The format follows the extension; ``.json`` holds JSON Lines or one JSON
    array (told apart by the first character); standard input and unknown
    extensions are sniffed from the first line that is not blank or a comment.
    """
    if source == "-":
        if stdin is None:
            raise UsageError("no standard input to read the roster from")
        return Roster("<stdin>", Path.cwd(), "sniff", stdin, owned=False)
    path = Path(source)
    stream = open_input(path, "roster file")
    suffix = path.suffix.lower()
    fmt = "json" if suffix == ".json" else _EXTENSIONS.get(suffix, "sniff")
    try:
        return Roster(str(path), path.parent, fmt, stream, owned=True)
    except BaseException:
        stream.close()
        raise


def _sniff(first: bytes) -> str:
    """Format of a roster from its first significant line."""
    if first.startswith(b"{"):
        return "jsonl"
    if first.startswith(b"["):
        return "json"
    if first.startswith((b"---", b"%", b"- ")) or first.rstrip() == b"-":
        return "yaml"
    return "csv"


def _delimiter(header: str) -> str:
    """``;`` when it splits the header into more columns than ``,`` does."""
    fields = {d: len(next(csv.reader([header], delimiter=d))) for d in (",", ";")}
    return ";" if fields[";"] > fields[","] else ","


def _swallows_rows(cells: list[str], delimiter: str, columns: int) -> bool:
    """Did an unclosed quote run on into the next rows? A cell may hold a line
    break (a two-line address), but a continuation line with a whole row's
    worth of delimiters is the next record, swallowed."""
    enough = max(2, columns - 1)
    return any(line.count(delimiter) >= enough for cell in cells for line in cell.splitlines()[1:])


def _cell_count_problem(cells: list[str], columns: list[str]) -> str | None:
    extra = cells[len(columns) :]
    if any(cell.strip() for cell in extra):
        return f"the row has {len(cells)} cells but the header has {len(columns)} columns"
    if any(cell.strip() for column, cell in zip(columns, cells, strict=False) if not column):
        return "the row has a value in a column without a name"
    return None


def _csv_record(columns: list[str], cells: list[str]) -> dict[str, Any]:
    """Cells -> a client mapping; empty cells are "not given"."""
    record: dict[str, Any] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if not value or not column:
            continue
        if column in LIST_FIELDS:
            record[column] = [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]
        elif column in PERSON_COLUMNS:
            who, part = column.split(".")
            record.setdefault(who, {})[part] = value
        else:
            record[column] = value
    return record


def _mapping_record(number: int, row: int, value: Any) -> RosterRecord:
    if not isinstance(value, dict):
        return RosterRecord(number, row, problem="the record is not a mapping of fields to values")
    return RosterRecord(number, row, data=value)


class _DuplicateKey(ValueError):
    pass


class _OutOfRange(ValueError):
    """A JSON number too long or too large to be meant: that record fails alone."""


MAX_NUMBER_CHARS = 40
MAX_NUMBER = 10**12
_OUT_OF_RANGE = f"number out of range (at most {MAX_NUMBER_CHARS} characters and {MAX_NUMBER:,} in magnitude)"


def _bounded_int(text: str) -> int:
    """A JSON integer, refused before conversion when too long (Python refuses
    5,000-digit ones with a ValueError) or too large."""
    if len(text) > MAX_NUMBER_CHARS or abs(int(text)) > MAX_NUMBER:
        raise _OutOfRange(_OUT_OF_RANGE)
    return int(text)


def _bounded_float(text: str) -> float:
    number = float(text) if len(text) <= MAX_NUMBER_CHARS else float("inf")
    if not abs(number) <= MAX_NUMBER:
        raise _OutOfRange(_OUT_OF_RANGE)
    return number


def _no_constant(text: str) -> float:
    raise _OutOfRange(f"'{text}' is not a number a roster may hold")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key '{key}'")
        out[key] = value
    return out


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


class _LineCounter:
    """Line numbers of ascending offsets into a text, counted once."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset = 0
        self._line = 1

    def at(self, index: int) -> int:
        self._line += self._text.count("\n", self._offset, index)
        self._offset = index
        return self._line


# ---------------------------------------------------------------------- line reading


class _LineReader:
    """A roster stream read as lines or as raw bytes, after a look at its start.

    The look-ahead for sniffing is replayed, so nothing is read twice from the
    stream (standard input cannot be rewound). Overlong lines are yielded as
    ``None`` (their bytes skipped), so a file without newlines cannot make one
    line fill the memory.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._head = b""
        self._reader: io.BufferedReader | None = None

    def first_significant(self) -> bytes:
        """The start of the first line that is not blank or a ``#`` comment."""
        read = getattr(self._stream, "read1", self._stream.read)
        while True:
            text = self._head.removeprefix(_BOM)
            lines = text.split(b"\n")
            for number, line in enumerate(lines):
                content = line.strip()
                complete = number < len(lines) - 1
                if content and not content.startswith(b"#"):
                    return content
                if not complete:
                    break
            chunk = read(65536) if len(self._head) <= MAX_LINE_BYTES else b""
            if not chunk:
                return b""
            self._head += chunk

    def _buffered(self) -> io.BufferedReader:
        if self._reader is None:
            self._reader = io.BufferedReader(_Replay(self._head, self._stream))
        return self._reader

    def numbered(self) -> Iterator[tuple[int, bytes | None]]:
        reader = self._buffered()
        number = 0
        while line := reader.readline(MAX_LINE_BYTES + 1):
            number += 1
            if number == 1:
                line = line.removeprefix(_BOM)
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = reader.readline(MAX_LINE_BYTES)
                yield number, None
            else:
                yield number, line

    def raw(self) -> Iterator[bytes]:
        """Every byte of the stream, for parsers that take the whole text."""
        reader = self._buffered()
        while chunk := reader.read(65536):
            yield chunk


class _Replay(io.RawIOBase):
    """The bytes already looked at, then the rest of the stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = getattr(self._stream, "read1", self._stream.read)(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _LineFeed:
    """Lines for ``csv.reader``, remembering which lines the current record
    took, so that the lines an unclosed quote swallowed can be read again."""

    def __init__(self, lines: Iterable[tuple[int, str, str | None]]) -> None:
        self._source = iter(lines)
        self._again: deque[tuple[int, str]] = deque()
        self._taken: list[tuple[int, str]] = []

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self._again:
            number, text = self._again.popleft()
        else:
            number, text, _ = next(self._source)
        self._taken.append((number, text))
        return text

    def start_record(self) -> None:
        self._taken = []

    def span(self) -> tuple[int, int]:
        """First and last line of the record just read."""
        return (self._taken[0][0], self._taken[-1][0]) if self._taken else (0, 0)

    def give_back(self) -> None:
        """Every line of the record after its first is read again, as rows of their own."""
        self._again.extendleft(reversed(self._taken[1:]))
        self._taken = self._taken[:1]


class _DecodedLines:
    """Numbered text lines; a line that is not UTF-8 text is flagged, not fatal."""

    def __init__(self, numbered: Iterator[tuple[int, bytes | None]]) -> None:
        self._numbered = numbered
        self._bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[tuple[int, str, str | None]]:
        for number, line in self._numbered:
            text, problem = _decode(line)
            if problem:
                self._bad[number] = problem
            yield number, text, problem

    def texts(self) -> Iterator[str]:
        for _, text, _ in self:
            yield text

    def problem_between(self, first: int, last: int) -> str | None:
        """The problem of any line in ``first..last``, forgetting those up to ``last``."""
        found = next((self._bad[n] for n in sorted(self._bad) if first <= n <= last), None)
        for number in [n for n in self._bad if n <= last]:
            del self._bad[number]
        return found


def _decode(line: bytes | None) -> tuple[str, str | None]:
    if line is None:
        return "\n", "the line is longer than 1 MiB"
    if b"\x00" in line:
        return "\n", "the line is binary, not text"
    try:
        return line.decode("utf-8"), None
    except UnicodeDecodeError:
        return "\n", "the line is not valid UTF-8 text"


class _ByteSource:
    """A ``read(size)`` file for PyYAML over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._left = memoryview(chunk)
        size = len(self._left) if size < 0 else size
        out, self._left = self._left[:size], self._left[size:]
        return bytes(out)


@lru_cache(maxsize=1)
def _roster_loader() -> Any:
    """loading's YAML 1.2 core loader (libyaml's parser when present), with
    PyYAML's Python composer so that records can be composed one at a time,
    counting the nodes written out (aliases excluded)."""
    import yaml

    class RosterLoader(_loader(), yaml.composer.Composer):  # type: ignore[misc]
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.anchors: dict[str, Any] = {}
            self.written = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if not self.check_event(yaml.AliasEvent):
                self.written += 1
            return super().compose_node(parent, index)

    return RosterLoader


class _RecordBuilder(_Builder):
    """loading's YAML 1.2 builder with a node budget shared across the roster."""

    def __init__(self, doc: Document, budget: int) -> None:
        super().__init__(doc)
        self.budget = budget

    def build(self, node: Any, loc: Any, depth: int) -> Any:
        if self.nodes >= self.budget:
            raise _LimitExceeded("aliases expand the roster to too many nodes (alias expansion limit)")
        return super().build(node, loc, depth)
