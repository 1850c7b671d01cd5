"""Text files from outside: their encoding (per line when a file mixes two) and where their header is.

Encodings: UTF-8 with BOM, UTF-8, else GB18030 (a superset of GBK and GB2312, what Excel writes on Chinese
Windows). A file that is UTF-8 up to some line and has Chinese text before it, but not after, was put together
from two files: it is read as UTF-8, each line that is not UTF-8 is read as GB18030 (with a warning naming the
line) or, when it is neither, rejected with its line; the rest of the file is kept.

Header: a census table often has a title (merged cells, a "填报单位" line) above its header. `find_header` takes
the first of the first `HEADER_SEARCH_ROWS` rows that names every required field (else the one naming the most
fields, at least two); the rows above it are skipped and line numbers stay those of the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from geo.errors import InputRejected

#: How many rows from the top the header is looked for in.
HEADER_SEARCH_ROWS = 10
#: How well a row's cells name the expected fields: (names every required field, number of fields named).
HeaderScore = Callable[[list[str]], tuple[bool, int]]


@dataclass
class Decoded:
    """A file's text and encoding, with the lines read otherwise (warned of) and the lines unreadable (rejected)."""

    text: str
    encoding: str
    warned: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def decode_text(data: bytes, path: Path) -> Decoded:
    """Decode CSV bytes: UTF-8 with BOM, UTF-8, mixed UTF-8 and GB18030 by line, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return _utf8_or_mixed(data[3:], path, "utf-8-sig")
    return _utf8_or_mixed(data, path, "utf-8")


def _utf8_or_mixed(data: bytes, path: Path, name: str) -> Decoded:
    try:
        return Decoded(data.decode("utf-8"), name)
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    before = data[: data.rfind(b"\n", 0, first_bad) + 1]
    if name == "utf-8-sig" or not before.isascii():  # Chinese text read as UTF-8 before the bad line
        return _mixed(data, name)
    try:
        return Decoded(data.decode("gb18030"), "gb18030")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputRejected(
            f"{path}: line {line}: text is neither UTF-8 nor GBK/GB18030; save the file as UTF-8 CSV"
        ) from exc


def _mixed(data: bytes, name: str) -> Decoded:
    """A UTF-8 file with lines in another encoding: each line decoded on its own."""
    out: list[str] = []
    warned: list[tuple[int, str]] = []
    unreadable: list[tuple[int, str]] = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if number < len(lines):
            line += b"\n"
        try:
            out.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        try:
            out.append(line.decode("gb18030"))
            warned.append((number, "this line is GBK/GB18030, the rest of the file UTF-8; read as GB18030, check it"))
        except UnicodeDecodeError:
            out.append(line.decode("utf-8", errors="replace"))
            unreadable.append((number, "this line is neither UTF-8 (like the rest of the file) nor GBK/GB18030"))
    return Decoded("".join(out), name, warned, unreadable)


def find_header(rows: list[list[str]], score: HeaderScore | None) -> int:
    """The index of the header among `rows` (the first rows of a table; see the module); 0 without `score`."""
    if score is None or not rows:
        return 0
    scores = [score([c.strip() for c in row]) for row in rows[:HEADER_SEARCH_ROWS]]
    for i, (complete, _) in enumerate(scores):
        if complete:
            return i
    best = max(range(len(scores)), key=lambda i: (scores[i][1], -i))
    return best if scores[best][1] >= 2 and scores[best][1] > scores[0][1] else 0


def title_note(skipped: int, label: str) -> str:
    """The note for a header found below title rows."""
    above = f"the {label}" if skipped == 1 else f"the {skipped} {label}s"
    return f"header on {label} {skipped + 1}: {above} above it skipped as a title"
