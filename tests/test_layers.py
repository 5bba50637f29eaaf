"""The package's layers point one way: read every module's imports and fail
when one reaches upward (the ``ast`` of the source, so imports inside
functions and under TYPE_CHECKING count too).

    models                         values, protocol, client, clinic, plan, errors
    io, wording                    files -> located models; how plan facts read
    lint                           rules over a protocol
    engine                         placement search (imports models only)
    planning                       protocol + client -> Plan
    lifecycle, export, ledger      mark / status / reschedule; iCalendar, CSV; bookings
    batch, api                     every job as a typed function
    cli, render, startup           the terminal: Typer and Rich live here only
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kapplan"

LAYERS = {
    "models": 0,
    "io": 1,
    "wording": 1,
    "lint": 2,
    "engine": 2,
    "planning": 3,
    "lifecycle": 4,
    "export": 4,
    "ledger": 4,
    "clock": 5,
    "batch": 5,
    "api": 5,
    "cli": 6,
    "render": 6,
    "startup": 6,
    "__main__": 6,
}
"""Rank of each top-level part: a part may import its own rank or lower (and the
root package for ``__version__``), never higher."""

ALLOWED = {
    "engine": {"models", "engine"},
    "models": {"models"},
}
"""Parts held to a narrower list than their rank gives."""

TERMINAL = {"cli", "render"}
"""The only parts that may import typer or rich."""


def part_of(module: str) -> str:
    """``kapplan.engine.search`` -> ``engine``; ``kapplan`` -> ``kapplan``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    here = module.split(".")
    package = here if is_package else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names
                      if name == "kapplan" and not alias.name.startswith("__")]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {part_of(module_name(path)) for path in SOURCES} - {"kapplan"}
    assert parts <= set(LAYERS), parts - set(LAYERS)


def upward_imports(module: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports of ``module`` that reach a higher layer (or outside its narrower list)."""
    mine = part_of(module)
    if mine == "kapplan":
        return []  # the root package re-exports the API lazily
    upward = []
    for line, name in imports:
        theirs = part_of(name)
        if not name.startswith("kapplan") or theirs == "kapplan":
            continue
        allowed = ALLOWED.get(mine)
        if LAYERS[theirs] > LAYERS[mine] or (allowed is not None and theirs not in allowed):
            upward.append(f"{module}:{line}: {mine} imports {name}")
    return upward


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    upward = upward_imports(module_name(path), imports_of(path))
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_terminal_layer_imports_typer_or_rich(path: Path) -> None:
    if part_of(module_name(path)) in TERMINAL:
        return
    found = [f"{path.name}:{line}: {name}" for line, name in imports_of(path)
             if name.split(".")[0] in ("typer", "rich", "click")]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_outside_the_engine_only_its_interface_is_imported(path: Path) -> None:
    """``kapplan.engine`` is the engine's one public module; search, bounds,
    look-ahead and the rest are its inside."""
    if part_of(module_name(path)) == "engine":
        return
    inside = [f"{path.name}:{line}: {name}" for line, name in imports_of(path) if name.startswith("kapplan.engine.")]
    assert not inside, "\n".join(inside)


def test_the_cli_calls_the_api_not_the_layers_below() -> None:
    """The command line is argument parsing, one API call and rendering."""
    reached = {part_of(name) for _, name in imports_of(PACKAGE / "cli.py") if name.startswith("kapplan.")}
    assert reached <= {"api", "render", "startup", "models"}, reached


def test_the_checker_catches_what_it_must() -> None:
    """The checker itself, on made-up modules: upward and relative imports, lazy ones included."""
    engine = "import heapq\nfrom kapplan.models.values import Range\nfrom .layout import Layout\n" \
             "def f():\n    from kapplan.planning.build import make_plan\n"
    found = upward_imports("kapplan.engine.fake", imports_in(engine, "kapplan.engine.fake"))
    assert found == ["kapplan.engine.fake:5: engine imports kapplan.planning.build"]
    lint = "from kapplan.io.documents import Document\nfrom kapplan.engine import schedule\n"
    assert upward_imports("kapplan.lint.fake", imports_in(lint, "kapplan.lint.fake")) == []
    models = "from ..io.files import atomic_write\nfrom kapplan import __version__\n"
    assert upward_imports("kapplan.models.fake", imports_in(models, "kapplan.models.fake")) == [
        "kapplan.models.fake:1: models imports kapplan.io.files"
    ]


def test_the_api_docs_name_every_part_of_the_package() -> None:
    layout = (PACKAGE.parent / "docs" / "api.md").read_text(encoding="utf-8")
    for path in PACKAGE.iterdir():
        if path.is_dir() and (path / "__init__.py").exists():
            assert f"kapplan/{path.name}/" in layout, path.name
