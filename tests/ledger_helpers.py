"""Shared by the ledger tests: running kapplan against one clinic's ledger, and
an independent reading of the ledger file (plain SQL, not kapplan's code) to
find double bookings and compare bookings with plan files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_therapist_two_doses.yaml"
CLINIC = DATA / "clinic_one_therapist_one_room.yaml"
EPOCH = "1796137200"  # 2026-12-01 15:00 UTC: the clock of every ledger test
ACTIVE = ("planned", "done", "tentative")


def env(**extra: str) -> dict[str, str]:
    values = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "NO_COLOR": "1", "KAPPLAN_LOCK_WAIT": "600"}
    values.pop("COLUMNS", None)
    return {**values, **extra}


def plan_args(client: str, out: Path, ledger: Path, *, start: str = "2026-12-07",
              available: str = "Mon-Fri 09:00-12:00") -> list[str]:
    return ["plan", str(PROTOCOL), "--id", client, "--start", start, "--tz", "America/New_York",
            "--available", available, "--clinic", str(CLINIC), "--ledger", str(ledger), "-o", str(out)]


def kapplan(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kapplan", *map(str, args)], capture_output=True, text=True,
                          env=env(), timeout=timeout, check=False)


def stored(ledger: Path) -> dict[str, list[tuple[str, int, int, str, tuple[str, ...], str | None]]]:
    """Every booking by series: (key, start, end, status, people, room), read with plain SQL."""
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        people: dict[tuple[str, str], list[str]] = defaultdict(list)
        for series, key, person in db.execute("SELECT series, key, person FROM assignments ORDER BY position"):
            people[(series, key)].append(person)
        found: dict[str, list[tuple[str, int, int, str, tuple[str, ...], str | None]]] = defaultdict(list)
        query = "SELECT series, key, start_at, end_at, status, room FROM bookings ORDER BY series, key"
        for series, key, start, end, status, room in db.execute(query):
            found[series].append((key, start, end, status, tuple(people[(series, key)]), room))
        return dict(found)
    finally:
        db.close()


def double_bookings(ledger: Path) -> list[str]:
    """Every pair of active bookings holding the same person or room at once (capacity 1 each here)."""
    holds: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for series, rows in stored(ledger).items():
        for key, start, end, status, people, room in rows:
            if status not in ACTIVE:
                continue
            for resource in [*(f"person {p}" for p in people), *([f"room {room}"] if room else [])]:
                holds[resource].append((start, end, f"{series}/{key}"))
    clashes = []
    for resource, spans in holds.items():
        spans.sort()
        for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
            if start < end:
                clashes.append(f"{resource}: {first} and {second}")
    return clashes


def integrity(ledger: Path) -> str:
    db = sqlite3.connect(ledger)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def file_bookings(plan_file: Path) -> list[tuple[str, int, int, str, tuple[str, ...], str | None]]:
    """The plan file's sessions as the ledger should hold them (those with people or a room)."""
    from datetime import datetime

    plan = json.loads(plan_file.read_text(encoding="utf-8"))
    rows = []
    for s in plan["sessions"]:
        people = tuple(a["id"] for a in s.get("assigned") or [])
        if not people and s.get("room") is None:
            continue
        start = int(datetime.fromisoformat(s["start"]).timestamp())
        end = int(datetime.fromisoformat(s["end"]).timestamp())
        rows.append((s["key"], start, end, s["status"], people, s.get("room")))
    return sorted(rows)


def series_of(plan_file: Path) -> str:
    return str(json.loads(plan_file.read_text(encoding="utf-8"))["series"])
