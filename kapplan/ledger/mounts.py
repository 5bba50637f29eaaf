"""Is the ledger's folder on a local disk? (SPEC §11)

SQLite's WAL mode keeps its index in shared memory beside the database file;
over a network file system the processes of two machines each see their own,
so two coordinators can both "commit" into the same slot, and SQLite never
says so. On Linux the mount type of the folder tells; elsewhere kapplan can
only warn.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from kapplan.models.errors import UsageError

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile("[0-7]{3}")
NETWORK_PREFIXES = ("nfs", "cifs", "smb", "9p", "fuse.sshfs")
"""Mount types refused: nfs, nfs4, cifs, smb3, smbfs, 9p (WSL, VMs), sshfs."""


def _unescape(field: str) -> str:
    """Mount points in mountinfo write space, tab, newline and backslash as octal escapes."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and _OCTAL.fullmatch(field[i + 1 : i + 4]):
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_type(folder: str, mountinfo: str) -> str | None:
    """The file-system type of the mount holding ``folder`` (an absolute, resolved
    path): the longest mount point that contains it, the later line winning
    for a mount stacked over another."""
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if not sep or len(fields) < 5 or not rest:
            continue
        point = _unescape(fields[4])
        inside = folder == point or point == "/" or folder.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), rest[0])
    return best[1] if best else None


def is_network_type(kind: str) -> bool:
    return kind.startswith(NETWORK_PREFIXES)


def check_local_folder(folder: Path, *, platform: str | None = None, mountinfo: str | None = None) -> str | None:
    """Refuse (exit 2) a ledger folder on a network mount on Linux; elsewhere
    return a warning to show, since the mount type cannot be read there."""
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        return (f"{folder}: kapplan cannot tell whether this folder is on a local disk; keep the ledger on a "
                "local disk (SQLite's WAL mode does not work over network file systems)")
    if mountinfo is None:
        try:
            mountinfo = MOUNTINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    kind = mount_type(os.path.realpath(folder), mountinfo)
    if kind is not None and is_network_type(kind):
        raise UsageError(
            f"{folder}: the ledger must be on a local disk, and this folder is on a {kind} network mount "
            "(SQLite's WAL mode does not work over network file systems); keep the ledger on the machine "
            "the coordinators log in to"
        )
    return None
