"""A store's cache directory: files derived from the store's tables, each named by a hash of what it comes from.

Everything here is an optimisation and is treated as one. A file that is missing, unreadable, damaged or of an
unexpected shape is made again; a file that cannot be written (a full disk, a read-only store) is not kept,
and the caller goes on with what it made. Several processes may read and write the directory at once: files
are written to a temporary name and renamed, and a file another process removes mid-way is not an error.

The directory is used only when it belongs to this process's user and nobody else may write into it: a store
on a shared machine (a database store's working directory is under the system's temporary directory) must not
take cell grids another user planted there.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: Part of every key: a release that changes how a cached file is made changes this, so that no file made the
#: old way is read.
VERSION = "1"
#: Temporary files older than this are a crashed writer's and are removed.
STALE_AFTER_S = 3600.0


def usable(directory: Path) -> Path | None:
    """`directory` (created, mode 0700) when this user owns it and no one else may write into it; else None."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    return directory


def write(path: Path, writer: Callable[[Path], None], pattern: str, keep: int) -> None:
    """Write `path` by `writer(temporary path)` and rename it into place; then keep only the `keep` newest
    files of `pattern` (and remove stale temporary files). Nothing is raised when the disk refuses."""
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        writer(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
    prune(path.parent, pattern, keep)


def prune(directory: Path, pattern: str, keep: int) -> None:
    """Keep the `keep` newest files of `pattern` in `directory`, and no temporary file older than
    `STALE_AFTER_S`; files that vanish meanwhile (another process pruning) are skipped."""
    dated: list[tuple[float, Path]] = []
    for p in directory.glob(pattern):
        with contextlib.suppress(OSError):
            dated.append((p.stat().st_mtime, p))
    dated.sort(reverse=True)
    old = [p for _, p in dated[keep:]]
    now = time.time()
    for p in directory.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < now - STALE_AFTER_S:
                old.append(p)
    for p in old:
        with contextlib.suppress(OSError):
            p.unlink()
