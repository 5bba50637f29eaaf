"""Bytes -> YAML nodes with line/column -> models, with located diagnostics.

YAML is composed (never constructed) with PyYAML's safe composer, then turned
into plain data under YAML 1.2 core-schema rules, so ``on``/``no``/``NO`` stay
strings, ``10:30`` is not base-60 and dates stay text for our own parsers. Every
value keeps the position of its node, so a pydantic error's ``loc`` maps back
to ``FILE:LINE:COL``. Limits guard size, depth and alias expansion.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kapplan.models.errors import Diagnostic, InputError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_LISTED = 50
"""Structure problems listed per file. The rest are counted on one more line, at
the first of them: 100,000 unknown keys show one pattern, and locating, hinting
and printing each of them took most of a minute."""

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


@dataclass
class Document:
    """Parsed data plus the position of every node, keyed by its path."""

    file: str
    data: Any
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    flow_lists: set[Loc] = field(default_factory=set)  # sequences written inline: [a, b]

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the deepest known node on ``loc``."""
        table = self.key_positions if key else self.positions
        if key and loc in table:
            return table[loc]
        path = tuple(loc)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def diagnostic(
        self, loc: Loc, code: str, message: str, *, severity: str = "error", hint: str | None = None, key: bool = False
    ) -> Diagnostic:
        line, column = self.position(loc, key=key)
        return Diagnostic(self.file, line, column, severity, code, message, hint)


_PLAIN = "kapplan:plain"  # an untagged plain scalar, resolved below
_CORE_SCALAR_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("int", "float", "bool", "null")}


@lru_cache(maxsize=1)
def _loader() -> Any:
    """A safe loader that leaves plain scalars unresolved (no YAML 1.1 rules),
    so explicit tags stay distinguishable from implicit ones. libyaml's parser
    when PyYAML has it (several times faster), else the pure-Python one."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def resolve(self: Any, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return base.resolve(self, kind, value, implicit)

    return type("CoreLoader", (base,), {"resolve": resolve})


MAX_NUMBER = 10**12
"""No number in an input file is larger (in magnitude) than this: a weight, a
dose or a count that big is a typo, and arithmetic on it (or on the
5,000-digit integers Python refuses to convert) must never fail later."""
_MAX_NUMBER_CHARS = 40


class _OutOfBounds:
    """A number too long or too large to be meant (reported where it stands)."""


_OUT_OF_BOUNDS = _OutOfBounds()


def _scalar(value: str) -> Any:
    """Resolve a plain scalar under the YAML 1.2 core schema; a number out of
    bounds (see MAX_NUMBER) resolves to the _OUT_OF_BOUNDS marker."""
    number = _number(value)
    if number is not None:
        return number
    if _NULL.match(value):
        return None
    if _TRUE.match(value):
        return True
    if _FALSE.match(value):
        return False
    return value  # includes .inf / .nan: kept as text, no field takes infinities


def _number(value: str) -> Any:
    """An int or float under the core schema, the _OUT_OF_BOUNDS marker, or None (not a number)."""
    forms = ((_INT, lambda v: int(v)), (_OCT, lambda v: int(v[2:], 8)), (_HEX, lambda v: int(v[2:], 16)),
             (_FLOAT, float))
    for form, convert in forms:
        if form.match(value):
            if len(value) > _MAX_NUMBER_CHARS:
                return _OUT_OF_BOUNDS
            number = convert(value)
            return number if abs(number) <= MAX_NUMBER else _OUT_OF_BOUNDS
    return None


def _scalar_node(node: Any) -> tuple[bool, Any]:
    """(supported, value) of a scalar node: plain, quoted or with a core tag."""
    if node.tag == _PLAIN:
        return True, _scalar(node.value)
    if node.tag == "tag:yaml.org,2002:str":
        return True, node.value
    if node.tag in _CORE_SCALAR_TAGS:
        return True, _scalar(node.value)
    return False, None


class _Builder:
    """Walks a composed node tree into plain data, recording positions."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.nodes = 0
        self.problems: list[Diagnostic] = []

    def build(self, node: Any, loc: Loc, depth: int) -> Any:
        import yaml

        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _LimitExceeded("the document expands to too many nodes (alias expansion limit)")
        if depth > MAX_DEPTH:
            raise _LimitExceeded(f"the document is nested more than {MAX_DEPTH} levels deep")
        self.doc.positions.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.ScalarNode):
            supported, value = _scalar_node(node)
            if value is _OUT_OF_BOUNDS:
                self.problems.append(self.doc.diagnostic(
                    loc, "KP112", f"number out of range (at most {_MAX_NUMBER_CHARS} characters and "
                    f"{MAX_NUMBER:,} in magnitude)"))
                return None
            if supported:
                return value
        elif isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            if node.flow_style:
                self.doc.flow_lists.add(loc)
            return [self.build(item, (*loc, i), depth + 1) for i, item in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            return self._mapping(node, loc, depth)
        self.problems.append(self.doc.diagnostic(loc, "KP101", "unsupported YAML tag (plain values only)"))
        return None

    def _mapping(self, node: Any, loc: Loc, depth: int) -> dict[str, Any]:
        import yaml

        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key_node.tag in (_PLAIN, "tag:yaml.org,2002:merge") and key_node.value == "<<":
                self.problems.append(Diagnostic(self.doc.file, line, col, "error", "KP101",
                                                "merge keys (<<) are not supported"))
                continue
            supported, _ = _scalar_node(key_node) if isinstance(key_node, yaml.ScalarNode) else (False, None)
            if not supported:
                self.problems.append(Diagnostic(self.doc.file, line, col, "error", "KP112", "a key must be plain text"))
                continue
            key = key_node.value  # keys are names: `on`, `no`, `1` or `null` stay as written
            child = (*loc, key)
            self.doc.key_positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                self.problems.append(self.doc.diagnostic(child, "KP106", f"duplicate key '{key}'", key=True))
                continue
            out[key] = self.build(value_node, child, depth + 1)
        return out


class _LimitExceeded(Exception):
    pass


def read_bytes(path: Path) -> bytes:
    """Read a file for parsing; unreadable paths are usage errors (exit 2)."""
    from kapplan.io.files import read_input

    return read_input(path, MAX_BYTES)


def parse_document(data: bytes, file: str) -> Document:
    """Bytes -> Document; structural problems raise InputError (KP1xx)."""
    import yaml

    doc = Document(file, None)
    if len(data) > MAX_BYTES:
        raise InputError([doc.diagnostic((), "KP105", "file is larger than 1 MiB")])
    if b"\x00" in data:
        raise InputError([doc.diagnostic((), "KP102", "file is binary, not UTF-8 text")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError([Diagnostic(file, line, 1, "error", "KP102", "file is not valid UTF-8 text")]) from None
    if not text.strip() or all(
        not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()
    ):
        raise InputError([doc.diagnostic((), "KP103", "file is empty")])
    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.composer.ComposerError as err:
        raise InputError([_yaml_problem(file, err)]) from None
    except yaml.MarkedYAMLError as err:
        raise InputError([_yaml_problem(file, err)]) from None
    except yaml.YAMLError:
        raise InputError([doc.diagnostic((), "KP101", "YAML syntax error")]) from None
    except RecursionError:
        raise InputError([doc.diagnostic((), "KP105", "the document is nested too deeply")]) from None
    if node is None:
        raise InputError([doc.diagnostic((), "KP103", "file is empty")])
    builder = _Builder(doc)
    try:
        doc.data = builder.build(node, (), 0)
    except _LimitExceeded as err:
        raise InputError([doc.diagnostic((), "KP105", str(err))]) from None
    except RecursionError:
        raise InputError([doc.diagnostic((), "KP105", "the document is nested too deeply")]) from None
    if builder.problems:
        problems = builder.problems
        if len(problems) > MAX_LISTED:
            problems = [*problems[:MAX_LISTED], _not_listed(problems[MAX_LISTED], len(problems) - MAX_LISTED)]
        raise InputError(problems)
    if not isinstance(doc.data, dict):
        raise InputError([doc.diagnostic((), "KP104", "the file must be a mapping of keys to values")])
    return doc


def _yaml_problem(file: str, err: Any) -> Diagnostic:
    mark = err.problem_mark or err.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = (err.problem or err.context or "YAML syntax error").strip()
    if "found character '\\t'" in problem or "tab character" in problem:
        problem = "a tab character cannot indent YAML; use spaces"
    return Diagnostic(file, line, column, "error", "KP101", f"YAML syntax error: {problem}")


# --------------------------------------------------------------------------- pydantic errors

_CODES = {
    "duration": "KP120",
    "range": "KP121",
    "date": "KP122",
    "date_range": "KP122",
    "window": "KP123",
    "weekday": "KP123",
    "time_window": "KP123",
    "identifier": "KP124",
    "local_id": "KP124",
    "mass": "KP125",
    "dose": "KP125",
    "timezone": "KP126",
    "holidays": "KP127",
    "extra_forbidden": "KP110",
    "missing": "KP111",
}


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    field_name = next((str(p) for p in reversed(error["loc"]) if isinstance(p, str) and p != "[key]"), "value")
    if kind == "too_short":
        return f"'{field_name}' must not be empty"
    if kind == "extra_forbidden":
        return f"unknown key '{field_name}'"
    if kind == "missing":
        return f"missing required key '{field_name}'"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"'{field_name}' must be one of {expected}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"'{field_name}' must be a mapping"
    if kind == "list_type":
        return f"'{field_name}' must be a list"
    if kind in ("string_type",):
        return f"'{field_name}' must be text"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"'{field_name}' must be a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return f"'{field_name}' must be true or false"
    if kind in ("float_type", "float_parsing", "decimal_type", "decimal_parsing", "finite_number"):
        return f"'{field_name}' must be a number"
    msg = str(error["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"'{field_name}': {msg[0].lower() + msg[1:]}" if msg else f"'{field_name}' is invalid"


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union/function tags so the path matches the document's."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":  # the error is in a mapping key: point at the key itself
            break
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(part, str) and (part == "from_" and isinstance(node, dict) and "from" in node):
            path.append("from")
            node = node["from"]
        else:
            if isinstance(part, str) and not isinstance(node, dict | list):
                continue
            if isinstance(part, str) and isinstance(node, dict) and part not in node:
                path.append(part)
                node = None
    return tuple(path)


def _hint(error: dict[str, Any], loc: Loc, model: type[BaseModel], doc: Document) -> str | None:
    if error["type"] != "extra_forbidden" or not loc:
        return None
    allowed = _allowed_keys(model, loc[:-1])
    match = difflib.get_close_matches(str(loc[-1]), sorted(allowed), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else None


def _allowed_keys(model: type[BaseModel], parent: Loc) -> set[str]:
    """Field names (aliases) of the model found at ``parent``."""
    current: Any = model
    for part in parent:
        current = _descend(current, part)
        if current is None:
            return set()
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or name for name, f in current.model_fields.items()}
    return set()


def _descend(annotation: Any, part: str | int) -> Any:
    from typing import Annotated, Union, get_args, get_origin

    def unwrap(tp: Any) -> Any:
        while True:
            origin = get_origin(tp)
            if origin is Annotated:
                tp = get_args(tp)[0]
            elif origin in (Union,) or type(tp).__name__ == "UnionType":
                args = [a for a in get_args(tp) if a is not type(None)]
                tp = args[0] if len(args) == 1 else tp
                if len(args) != 1:
                    return tp
            else:
                return tp

    annotation = unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
        fields = {f.alias or n: f for n, f in annotation.model_fields.items()}
        fld = fields.get(part)
        return unwrap(fld.annotation) if fld else None
    origin = get_origin(annotation)
    if origin in (list, tuple) and isinstance(part, int):
        return unwrap(get_args(annotation)[0])
    if origin is dict:
        return unwrap(get_args(annotation)[1])
    return None


def validation_diagnostics(err: ValidationError, model: type[BaseModel], doc: Document) -> list[Diagnostic]:
    """Pydantic errors -> located diagnostics built from ``loc`` and message only
    (the first MAX_LISTED, then one line counting the rest)."""
    out: list[Diagnostic] = []
    seen: set[tuple[Loc, str]] = set()
    unlisted: Diagnostic | None = None  # the first problem past MAX_LISTED
    more = 0
    for details in err.errors(include_input=False, include_url=False):
        error: dict[str, Any] = dict(details)
        loc = _clean_loc(tuple(error["loc"]), doc.data)
        message = _message(error)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        code = _CODES.get(error["type"], "KP112")
        key = error["type"] == "extra_forbidden" or "[key]" in error["loc"]
        if len(out) >= MAX_LISTED:
            unlisted = unlisted or doc.diagnostic(loc, code, message, key=key)
            more += 1
            continue
        hint = _hint(error, loc, model, doc)
        if error["type"] == "window" and loc and loc[:-1] in doc.flow_lists:
            pieces = _window_pieces(doc, loc)
            if pieces == []:
                continue  # a later piece of a window already reported
            if pieces:
                message, hint = _split_window_message(loc, pieces)
        out.append(doc.diagnostic(loc, code, message, hint=hint, key=key))
    if unlisted is not None:
        out.append(_not_listed(unlisted, more))
    return out


def _not_listed(first: Diagnostic, count: int) -> Diagnostic:
    """One line for ``count`` problems past MAX_LISTED, placed at the first of them."""
    return replace(first, severity="error", code="KP105", hint=None,
                   message=f"{count} more problem(s) not listed, the first of them here "
                           f"(a file lists its first {MAX_LISTED})")


def _window_pieces(doc: Document, loc: Loc) -> list[str] | None:
    """The YAML flow-sequence trap: ``[Mon,Wed,Fri 13:00-17:00]`` is three items,
    since a comma separates items inside brackets. For the first bare-weekday
    item of such a run, the pieces of the window it began (up to the piece with
    times); ``[]`` for its later pieces (one message per window); None when the
    item is some other mistake."""
    from kapplan.models.values import parse_days

    items = _at(doc.data, loc[:-1])
    index = loc[-1]
    if not isinstance(items, list) or not isinstance(index, int):
        return None

    def bare_days(item: Any) -> bool:
        try:
            return isinstance(item, str) and bool(parse_days(item.strip()))
        except ValueError:  # pydantic's custom errors are ValueErrors
            return False

    if not bare_days(items[index]):
        return None
    if index > 0 and bare_days(items[index - 1]):
        return []
    end = index
    while end < len(items) and bare_days(items[end]):
        end += 1
    return [str(item).strip() for item in items[index:end + 1]]


def _split_window_message(loc: Loc, pieces: list[str]) -> tuple[str, str]:
    """Message and hint: the pieces rejoined and quoted (times left to fill in when none followed)."""
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_weekly_window

    joined = ",".join(pieces)
    try:
        parse_weekly_window(joined)
    except PydanticCustomError:
        days = [p for p in pieces if not any(ch.isdigit() for ch in p)]
        joined = ",".join(days) + " HH:MM-HH:MM"
    field_name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")
    message = (f"'{field_name}': '{pieces[0]}' is a weekday without times: inside [...] a comma separates "
               "list items, so a window written with commas was split into pieces")
    return message, f"quote the window: ['{joined}']"


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def to_model(doc: Document, model: type[ModelT]) -> ModelT:
    """Validate a document against ``model``; every error located at once."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        raise InputError(validation_diagnostics(err, model, doc)) from None


FILE_KINDS = ("protocol", "client", "clinic")


def document_kind(doc: Document) -> str:
    """The ``kind`` a file declares; a missing or unknown kind is KP104."""
    kind = doc.data.get("kind")
    if kind in FILE_KINDS:
        return str(kind)
    if kind is None:
        raise InputError([doc.diagnostic((), "KP104", "missing 'kind' (protocol, client or clinic)")])
    match = difflib.get_close_matches(str(kind), FILE_KINDS, n=1)
    hint = f"did you mean '{match[0]}'?" if match else None
    raise InputError([doc.diagnostic(("kind",), "KP104", "'kind' must be protocol, client or clinic", hint=hint)])


def load_document(path: Path | str) -> Document:
    path = Path(path)
    return parse_document(read_bytes(path), str(path))
