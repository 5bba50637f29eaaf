"""Every calendar the tests keep as a golden file parses cleanly in libical,
iTIP restrictions included (SPEC §8), besides icalendar and vobject.

libical comes from the system (python3-gi and gir1.2-ical-3.0; .ci/run installs
them on Debian); without it these tests are skipped, never passed silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from plan_factory import make_plan_obj

from kapplan.export.ics import plan_to_ics

DATA = Path(__file__).parent / "data"
CHECKER = Path(__file__).parent / "libical_check.py"
GOLDEN = sorted([*DATA.glob("*.ics"), *(DATA / "golden").glob("*.ics")])


@cache
def interpreter() -> str | None:
    """A Python that can import libical's bindings: this one, or the system's."""
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    for candidate in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if candidate and Path(candidate).exists():
            found = subprocess.run([candidate, "-c", probe], capture_output=True, check=False)
            if found.returncode == 0:
                return candidate
    return None


def libical_problems(*paths: Path) -> dict[str, list[str]]:
    python = interpreter()
    if python is None:
        pytest.skip("libical bindings not installed (Debian: apt-get install python3-gi gir1.2-ical-3.0)")
    done = subprocess.run([python, str(CHECKER), *map(str, paths)], capture_output=True, check=True, text=True)
    return json.loads(done.stdout)


def test_every_golden_calendar_passes_libical():
    assert len(GOLDEN) > 50
    report = libical_problems(*GOLDEN)
    assert set(report) == {str(p) for p in GOLDEN}
    assert {path: found for path, found in report.items() if found} == {}


def test_libical_rejects_publish_without_organizer(tmp_path):
    """The checker itself: the defect the contract names is found."""
    data = plan_to_ics(make_plan_obj())
    bad = tmp_path / "bad.ics"
    bad.write_bytes(data.replace(b"CALSCALE:GREGORIAN\r\n", b"CALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n"))
    found = libical_problems(bad)[str(bad)]
    assert any("ORGANIZER" in problem for problem in found)


@pytest.mark.parametrize("privacy", ["minimal", "standard", "full"])
@pytest.mark.parametrize("audience", ["client", "clinic"])
def test_fresh_exports_pass_libical(tmp_path, audience, privacy):
    path = tmp_path / "plan.ics"
    path.write_bytes(plan_to_ics(make_plan_obj(), audience=audience, privacy=privacy))
    assert libical_problems(path) == {str(path): []}
