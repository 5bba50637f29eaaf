"""Bundled protocols, shipped inside the package and addressable by id."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path


@lru_cache(maxsize=1)
def bundled_paths() -> dict[str, Path]:
    """Protocol id (the file stem) -> path of the bundled YAML file."""
    found: dict[str, Path] = {}
    for entry in _protocol_folder().iterdir():
        if entry.name.endswith(".yaml"):
            found[entry.name.removesuffix(".yaml")] = Path(str(entry))
    return dict(sorted(found.items()))


def _protocol_folder() -> Path:
    """The installed ``kapplan.protocols`` package, or ``protocols/`` of a source
    checkout (where the top-level folder is not importable as a subpackage)."""
    try:
        return Path(str(resources.files("kapplan.protocols")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "protocols"


def resolve_protocol_path(name: str, base: Path | None = None) -> Path:
    """A path when one exists (relative to ``base``), else a bundled id.

    Unknown names are returned as paths so the caller reports "no such file".
    """
    candidate = Path(name) if base is None else base / name
    if candidate.exists():
        return candidate
    paths = bundled_paths()
    if name in paths:
        return paths[name]
    return candidate
