"""Parse iCalendar files with libical (through PyGObject) and print every
problem it reports, as JSON: ``{"FILE": ["problem", ...], ...}``.

Run as a script by the interpreter that has PyGObject and libical's
introspection data (Debian: python3-gi, gir1.2-ical-3.0), which need not be
the test environment's own. libical is an independent parser that calendar
servers use; it checks the iTIP restrictions of RFC 5546 (for example that
every component of a METHOD:PUBLISH calendar has an ORGANIZER), which the
Python parsers do not.
"""

from __future__ import annotations

import json
import sys


def problems(lib, text: str) -> list[str]:
    component = lib.Component.new_from_string(text)
    if component is None or component.isa() != lib.ComponentKind.VCALENDAR_COMPONENT:
        return ["not a VCALENDAR"]
    lib.restriction_check(component)
    found: list[str] = []
    walk(lib, component, found)
    return found


def walk(lib, component, found: list[str]) -> None:
    """Every X-LIC-ERROR libical attached while parsing and checking, with its component."""
    kind = lib.Component.kind_to_string(component.isa())
    error = component.get_first_property(lib.PropertyKind.XLICERROR_PROPERTY)
    while error is not None:
        found.append(f"{kind}: {error.get_xlicerror()}")
        error = component.get_next_property(lib.PropertyKind.XLICERROR_PROPERTY)
    child = component.get_first_component(lib.ComponentKind.ANY_COMPONENT)
    while child is not None:
        walk(lib, child, found)
        child = component.get_next_component(lib.ComponentKind.ANY_COMPONENT)


def main() -> None:
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib

    report = {}
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8", newline="") as handle:
            report[path] = problems(ICalGLib, handle.read())
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
