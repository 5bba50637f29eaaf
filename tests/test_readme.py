"""The README's promises: its first command runs, its example files validate."""

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from kapplan.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def first_block_lines() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_an_install_and_run_command_and_an_install_and_test_command() -> None:
    run, test = first_block_lines()[:2]
    assert run.startswith("pip install . && kapplan ")
    assert test == 'pip install ".[test]" && python -m pytest'


def test_the_main_job_on_the_bundled_example_plans() -> None:
    command = first_block_lines()[0].split("&& ", 1)[1]
    args = shlex.split(command)[1:]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "infusion-6" in result.stdout
    assert "Mon 2026-12-21" in result.stdout


def test_example_client_validates_and_plans() -> None:
    runner = CliRunner()
    client = str(ROOT / "docs" / "examples" / "client.yaml")
    assert runner.invoke(app, ["validate", client]).exit_code == 0
    result = runner.invoke(app, ["plan", "im-kap-krupitsky", "--client", client])
    assert result.exit_code == 0, result.output
    assert "Mon 2027-01-04" in result.stdout  # counselling moved past the client's winter break
    assert "143.3 mg IM" in result.stdout
