"""Outputs stay byte-identical unless a change means them to differ.

Every bundled protocol with the example clients, through the command line,
under SOURCE_DATE_EPOCH (tests/golden_outputs.py lists the cases and
rewrites the files after a deliberate change)."""

from __future__ import annotations

import difflib

import pytest
from golden_outputs import GOLDEN, produce


@pytest.fixture(scope="module")
def fresh() -> dict[str, bytes]:
    return produce()


def test_the_same_outputs_are_produced(fresh: dict[str, bytes]) -> None:
    recorded = {path.name for path in GOLDEN.iterdir()}
    assert set(fresh) == recorded


def test_every_output_is_byte_identical_to_its_golden_file(fresh: dict[str, bytes]) -> None:
    changed = []
    for name, data in sorted(fresh.items()):
        golden = GOLDEN / name
        if golden.exists() and golden.read_bytes() != data:
            diff = difflib.unified_diff(
                golden.read_text(errors="replace").splitlines(), data.decode(errors="replace").splitlines(),
                f"golden/{name}", "now", lineterm="", n=1,
            )
            changed.append("\n".join(list(diff)[:30]))
    assert not changed, f"{len(changed)} output(s) changed:\n" + "\n\n".join(changed[:5])


def test_plan_files_written_before_read_back_and_rewrite_to_the_same_bytes() -> None:
    """Plans users already have (these were written by the code before the layers moved) stay
    readable, and a command that rewrites one changes nothing it did not mean to."""
    from kapplan.api import read_plan

    plans = sorted(GOLDEN.glob("*plan.json"))
    assert len(plans) > 20
    for path in plans:
        assert read_plan(path).to_json().encode() == path.read_bytes(), path.name
