"""Archives from outside (a zipped Shapefile, an XLSX workbook) checked before anything is inflated.

A zip's central directory declares each member's compressed and uncompressed size. `check_archive` refuses,
from those numbers alone and before any byte is inflated, an archive with too many members, a member or a
total larger than the limits, or a member whose size is out of proportion to its compressed size (a zip
bomb: a gigabyte of zeros deflates to a megabyte). `extract_members` then inflates the members asked for in
chunks, counting, and stops at the declared size or the limit, whichever comes first: a member whose stream
inflates beyond what it declared fails its CRC check or the count, never fills memory or disk.

Members are written under names of our choosing inside a new directory, never under the archive's own
paths (no ``../`` escapes). The limits are `ARCHIVE_LIMITS`; see docs/security.md.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from geo.errors import InputRejected

MIB = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """What an archive from outside may hold. A Shapefile of a million census records is a few hundred MB."""

    #: uncompressed bytes of one member
    member_bytes: int = 2048 * MIB
    #: uncompressed bytes of every member read, together
    total_bytes: int = 4096 * MIB
    #: uncompressed size over compressed size, for members larger than `ratio_from` (text and .dbf padding
    #: deflate 5–50 times; zeros over 1000 times)
    ratio: float = 200.0
    #: the ratio is not judged below this size (a tiny .prj or .cpg may have any ratio and cannot hurt)
    ratio_from: int = 1 * MIB
    #: members in the archive (a Shapefile has up to a dozen files; a workbook a few dozen parts)
    members: int = 10_000


ARCHIVE_LIMITS = ArchiveLimits()
_CHUNK = 1 * MIB


def check_archive(path: Path, zf: zipfile.ZipFile, limits: ArchiveLimits = ARCHIVE_LIMITS) -> None:
    """Refuse an archive whose central directory declares too much (see the module); nothing is inflated."""
    infos = zf.infolist()
    if len(infos) > limits.members:
        raise InputRejected(f"{path}: the archive holds {len(infos)} members, more than the limit of {limits.members}")
    total = 0
    for info in infos:
        _check_member(path, info, limits)
        total += info.file_size
    if total > limits.total_bytes:
        raise InputRejected(
            f"{path}: the archive's members inflate to {total / MIB:,.0f} MiB together, more than the limit of "
            f"{limits.total_bytes / MIB:,.0f} MiB; split the data into several files"
        )


def _check_member(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    size, packed = info.file_size, info.compress_size
    if size > limits.member_bytes:
        raise InputRejected(
            f"{path}: member '{info.filename}' inflates to {size / MIB:,.0f} MiB, more than the limit of "
            f"{limits.member_bytes / MIB:,.0f} MiB; split the data into several files"
        )
    if size > limits.ratio_from and size > limits.ratio * max(packed, 1):
        raise InputRejected(
            f"{path}: member '{info.filename}' declares {size:,} bytes from {packed:,} compressed (ratio "
            f"{size / max(packed, 1):,.0f}:1, more than the limit of {limits.ratio:g}:1); refused as a zip bomb"
        )


def extract_members(
    path: Path,
    zf: zipfile.ZipFile,
    members: dict[str, str],
    into: Path,
    limits: ArchiveLimits = ARCHIVE_LIMITS,
) -> dict[str, Path]:
    """Inflate `members` (archive name -> file name to write) into the directory `into`, in chunks, each capped
    at its declared size and at the limits; the archive must have passed `check_archive`."""
    out: dict[str, Path] = {}
    total = 0
    for name, target_name in members.items():
        info = zf.getinfo(name)
        target = into / Path(target_name).name  # our name, never the archive's path
        written = 0
        try:
            with zf.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    total += len(chunk)
                    if written > min(info.file_size, limits.member_bytes) or total > limits.total_bytes:
                        raise InputRejected(
                            f"{path}: member '{name}' inflates beyond its declared {info.file_size:,} bytes or the "
                            "limits; the archive is damaged or hostile"
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise InputRejected(f"{path}: member '{name}' cannot be extracted ({exc})") from exc
        out[name] = target
    return out


def open_zip(path: Path, what: str) -> zipfile.ZipFile:
    """The archive, checked against the limits (`check_archive`); `what` names what it should be."""
    if not zipfile.is_zipfile(path):
        raise InputRejected(f"{path}: not a zip archive; {what} is expected")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputRejected(f"{path}: an unreadable zip archive ({exc}); {what} is expected") from exc
    try:
        check_archive(path, zf)
    except BaseException:
        zf.close()
        raise
    return zf


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
