"""The documentation keeps up with the code: every lint rule is explained in
docs/protocol-format.md with its severity, and every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from kapplan.cli import app
from kapplan.lint.registry import all_rules
from kapplan.models.client import Client, Clinic, Person
from kapplan.models.protocol import (
    Constraints,
    Decision,
    Dose,
    FollowUp,
    Gate,
    Measure,
    Protocol,
    Reference,
    Reminder,
    SessionType,
    Step,
)

ROOT = Path(__file__).parent.parent
FORMAT = (ROOT / "docs" / "protocol-format.md").read_text(encoding="utf-8")


def test_every_rule_is_in_the_format_doc_with_its_severity_and_summary() -> None:
    for code, rule in all_rules().items():
        assert f"\n| {code} | {rule.severity} | {rule.summary} | " in FORMAT, code


def test_the_doc_lists_no_rule_that_does_not_exist() -> None:
    documented = set(re.findall(r"^\| (KP\d{3}) \|", FORMAT, re.MULTILINE))
    assert documented == set(all_rules())


def test_every_command_is_documented() -> None:
    docs = (ROOT / "README.md").read_text(encoding="utf-8") + FORMAT
    docs += "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert len(commands) >= 11
    for name in commands:
        assert f"kapplan {name}" in docs, name


def test_every_key_is_in_the_format_doc() -> None:
    for model in (Protocol, SessionType, Dose, Reminder, Reference, Step, FollowUp, Gate, Decision, Measure,
                  Constraints, Client, Clinic,
                  Person):
        for name, field in model.model_fields.items():
            assert f"`{field.alias or name}`" in FORMAT, f"{model.__name__}.{name}"
