"""Compare session dates of the golden plans between a git revision and the working tree.

A change that may only move times of day (the time-of-day pass of SPEC §2/§12)
must leave every session's local date alone:

    python tests/golden_dates.py main

prints each plan whose sessions differ in key set or local date, and exits 1
when there is one; plans only in one of the two are listed too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "data" / "golden"


def local_dates(text: str) -> dict[str, tuple[str, str]]:
    """key -> (local date, local time) of every session of a plan file's text."""
    plan = json.loads(text)
    out = {}
    for session in plan["sessions"]:
        start = datetime.fromisoformat(session["start"])  # carries the client's UTC offset
        out[session["key"]] = (start.date().isoformat(), start.strftime("%H:%M"))
    return out


def main(argv: list[str]) -> int:
    revision = argv[0] if argv else "main"
    root = GOLDEN.parent.parent.parent
    listed = subprocess.run(["git", "-C", str(root), "ls-tree", "--name-only", revision, "tests/data/golden/"],
                            capture_output=True, text=True, check=True).stdout.split()
    old_plans = {Path(name).name for name in listed if name.endswith(".plan.json")}
    new_plans = {path.name for path in GOLDEN.glob("*.plan.json")}
    problems = 0
    moved_times = 0
    for name in sorted(old_plans | new_plans):
        if name not in old_plans or name not in new_plans:
            print(f"{name}: only in {'the working tree' if name in new_plans else revision}")
            continue
        old_text = subprocess.run(["git", "-C", str(root), "show", f"{revision}:tests/data/golden/{name}"],
                                  capture_output=True, text=True, check=True).stdout
        old, new = local_dates(old_text), local_dates((GOLDEN / name).read_text(encoding="utf-8"))
        if old.keys() != new.keys():
            print(f"{name}: sessions differ: {sorted(old.keys() ^ new.keys())}")
            problems += 1
            continue
        dates = [k for k in old if old[k][0] != new[k][0]]
        if dates:
            print(f"{name}: dates moved: {', '.join(f'{k} {old[k][0]} -> {new[k][0]}' for k in dates)}")
            problems += 1
        moved_times += sum(old[k][1] != new[k][1] for k in old)
    print(f"{len(old_plans & new_plans)} plans compared; {moved_times} session times changed; "
          f"{problems} plan(s) with moved dates")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
