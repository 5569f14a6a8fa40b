"""The data directory is private: 0700, and what is in it 0600 (or 0700 for folders).

It holds every embedding (``faces.sqlite3`` and its ``-wal``/``-shm``), the audit trail and
its key, the principals and their master key, the admin credentials and the replay cache.
``rekognito`` sets its umask to 0077 when it starts and the stores create their files with
explicit modes, so a new data directory is private from its first write;
:func:`check_private` is what ``rekognito serve`` runs at start, refusing a directory that
other users can read (for instance one made by an older version, or copied with ``cp -r``).
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

# Folders whose content is checked too (one level down; video: job results, docs/video.md).
NESTED = ("audit", "security", "video")


class DataDirError(RuntimeError):
    """The data directory or something in it is open to other users."""


def _loose(path: Path) -> int | None:
    """The mode of ``path`` if group or others have any access to it, else None."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return None
    return stat.S_IMODE(mode) if mode & 0o077 else None


def loose_paths(data_dir: Path) -> list[tuple[Path, int]]:
    """The data dir and the entries in it (and in :data:`NESTED`) that are not owner-only."""
    found: list[tuple[Path, int]] = []
    candidates = [data_dir]
    if data_dir.is_dir():
        for entry in sorted(data_dir.iterdir()):
            candidates.append(entry)
            if entry.name in NESTED and entry.is_dir() and not entry.is_symlink():
                candidates.extend(sorted(entry.iterdir()))
    for path in candidates:
        mode = _loose(path)
        if mode is not None:
            found.append((path, mode))
    return found


def ensure_private_dir(data_dir: Path) -> None:
    """Create ``data_dir`` as 0700 if it does not exist (parents as the umask says)."""
    if not data_dir.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(data_dir, 0o700)


def check_private(data_dir: Path) -> None:
    """Raise :class:`DataDirError`, naming the paths and the command that fixes them."""
    loose = loose_paths(data_dir)
    if not loose:
        return
    listed = "\n".join(f"  {oct(mode)[2:].rjust(4, '0')} {path}" for path, mode in loose[:20])
    more = f"\n  ... and {len(loose) - 20} more" if len(loose) > 20 else ""
    raise DataDirError(
        f"the data directory {data_dir} holds biometric data but other users can access it:\n"
        f"{listed}{more}\n"
        f"fix it with:  chmod -R go-rwx {shlex.quote(str(data_dir))}\n"
        "(and keep it on an encrypted filesystem; see docs/governance.md, 'Data at rest')"
    )
