"""CSV files into `geo.readers.RawTable`: Arrow's parser for the common case, the csv module for the rest.

A UTF-8 file is read as bytes by Arrow, which checks every value (`_read_plain_utf8`); any other file (GBK or
GB18030, lines in two encodings, a ragged row, a stray quote, old-Mac line ends) is decoded first
(`geo.textfiles`) and read record by record where Arrow cannot, so that every good row is kept and the others
are listed with their line. Record line numbers stay those of the file (header = line 1), across title lines
above the header and values over several lines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import InputRejected
from geo.readers import BLANKS, RawTable, _as_text, _trimmed, _unique
from geo.textfiles import HEADER_SEARCH_ROWS, Decoded, HeaderScore, decode_text, find_header, title_note


def csv_record_lines(data: bytes, n_rows: int) -> np.ndarray | None:
    """Line number (header = 1) of each non-blank data record, exact with quoted multi-line fields.

    Vectorised over the raw bytes: a newline ends a record when an even number of quote characters precede
    it. Valid for UTF-8 and GB18030 alike (neither puts 0x22 or 0x0A inside a multi-byte character).
    """
    newline_count = data.count(b"\n")
    if newline_count - (0 if data.endswith(b"\n") else -1) == n_rows + 1:
        # one newline per line and one line per record (the header's and each row's): no blank line, no
        # record over several lines, so record k is on line k + 1 (a count at memchr speed instead of the scan)
        return np.arange(2, n_rows + 2, dtype=np.int64)
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == 10)
    if len(newlines) == 0 or newlines[-1] != len(arr) - 1:
        newlines = np.append(newlines, len(arr))  # a last line without a newline
    quotes = np.flatnonzero(arr == 34)
    parity = np.searchsorted(quotes, newlines)  # quote characters before each newline
    ends = np.flatnonzero(parity % 2 == 0)  # indices into `newlines` that end a record
    starts_nl = np.r_[-1, ends[:-1]]  # index of the newline before each record (-1: file start)
    start_pos = np.where(starts_nl >= 0, newlines[np.maximum(starts_nl, 0)] + 1, 0)
    end_pos = newlines[ends]
    length = end_pos - start_pos
    blank = (length == 0) | ((length == 1) & (arr[np.minimum(start_pos, len(arr) - 1)] == 13))
    line_no = starts_nl + 2  # newline index k precedes line k + 2
    line_no = line_no[~blank]
    if len(line_no) - 1 != n_rows:  # quotes this count cannot follow: the caller falls back to the csv module
        return None
    return line_no[1:].astype(np.int64)


def read_csv(path: Path, header_score: HeaderScore | None = None) -> RawTable:
    """Read a CSV (or tab-separated) file; `header_score` finds the header below title lines."""
    raw = path.read_bytes()
    plain = _read_plain_utf8(path, raw, header_score)
    return plain if plain is not None else _read_csv_decoded(path, raw, header_score)


def _arrow_csv(data: bytes, header: list[str], delimiter: str) -> Any:
    """The records of `data` (header line first) as an Arrow table of strings; None when Arrow cannot
    read them (a ragged row, text that is not UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:
        return None


def _read_plain_utf8(path: Path, raw: bytes, header_score: HeaderScore | None) -> RawTable | None:
    """The common case read without decoding the whole file into Python text: a UTF-8 file (Arrow checks
    every value), a unique header, CR LF or LF line ends. None for anything else: `_read_csv_decoded`
    reads it (mixed encodings, GB18030, ragged rows, stray quotes), with the same result where both apply."""
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    data = raw[3:] if encoding == "utf-8-sig" else raw
    head_end = data.rfind(b"\n", 0, 1 << 16) + 1 if len(data) > 1 << 16 else len(data)
    try:
        head = data[:head_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    skip = _title_lines(head, header_score)
    if skip:
        if head.count("\n") <= skip:
            return None
        data = data[len(head[: _line_start(head, skip)].encode("utf-8")) :]
    end = data.find(b"\n")
    try:
        first = (data if end < 0 else data[:end]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not first.strip() or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None
    delimiter, header, unique = _header(first)
    out = _arrow_records(path, data, data, header, delimiter, skip, encoding) if unique else None
    if out is None:
        return None
    if skip:
        out.notes.append(title_note(skip, "line"))
    return out


def _header(first: str) -> tuple[str, list[str], bool]:
    """The delimiter and the cells of a header line, and whether its names are unique (stripped)."""
    delimiter = _delimiter(first)
    header = next(csv.reader([first.rstrip("\r")], delimiter=delimiter))
    stripped = [h.strip() for h in header]
    return delimiter, header, len(set(stripped)) == len(stripped)


def _arrow_records(
    path: Path, data: bytes, lines: bytes, header: list[str], delimiter: str, skip: int, encoding: str
) -> RawTable | None:
    """The records of `data` (UTF-8, header line first) read by Arrow, each with its line counted in `lines`
    (the same records as the file's bytes); None when Arrow cannot read them or the line count cannot follow
    its quotes (`csv_record_lines`)."""
    table = _arrow_csv(data, header, delimiter)
    if table is None:
        return None
    frame = _as_text(_trimmed(table).to_pandas(), trimmed=True)
    positions = csv_record_lines(lines, len(frame))
    if positions is None:
        return None
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(len(frame), dtype=bool)
    if blank.any():  # ",,,," rows that Excel leaves behind are blank lines, not records
        frame, positions = frame.loc[~blank].reset_index(drop=True), positions[~blank]
    return RawTable(path, "csv", frame, positions + skip, "line", encoding=encoding)


def _read_csv_decoded(path: Path, raw: bytes, header_score: HeaderScore | None = None) -> RawTable:
    decoded = decode_text(raw, path)
    text, encoding = decoded.text, decoded.encoding
    raw_for_lines = raw[3:] if encoding == "utf-8-sig" else raw
    skip = _title_lines(text, header_score)
    if skip:
        cut = _line_start(text, skip)
        raw_for_lines = raw_for_lines[len(text[:cut].encode("gb18030" if encoding == "gb18030" else "utf-8")) :]
        text = text[cut:]
    data = raw_for_lines if encoding != "gb18030" and not decoded.warned and not decoded.unreadable else None
    end = text.find("\n")
    first = text if end < 0 else text[:end]
    if not first.strip():
        raise InputRejected(f"{path}: the file is empty or starts with a blank line; it needs a header line")
    delimiter, header, unique = _header(first)
    lone_cr = "\r" in text and text.count("\r") != text.count("\r\n")
    out = None
    if unique and not lone_cr:
        # else (repeated or blank header names, old-Mac CR line ends) the record-by-record reader handles it
        arrow_data = data if data is not None else text.encode("utf-8")
        out = _arrow_records(path, arrow_data, raw_for_lines, header, delimiter, skip, encoding)
    if out is None:  # a ragged row, or a stray quote the two parsers read differently: the careful reader,
        out = _read_csv_rows(path, text, delimiter, encoding, skip)  # which keeps every good row, lists the rest
    if skip:
        out.notes.append(title_note(skip, "line"))
    return _mark_lines(out, decoded)


def _delimiter(line: str) -> str:
    return "\t" if line.count("\t") > line.count(",") else ","


def _title_lines(text: str, header_score: HeaderScore | None) -> int:
    """How many lines at the top are a title above the header (`geo.textfiles.find_header`)."""
    if header_score is None:
        return 0
    lines = text[: 1 << 16].split("\n")[:HEADER_SEARCH_ROWS]
    rows = [next(csv.reader([line.rstrip("\r")], delimiter=_delimiter(line)), []) for line in lines]
    return find_header(rows, header_score)


def _line_start(text: str, line: int) -> int:
    """The index in `text` where line `line` + 1 (0-based `line`) starts."""
    pos = 0
    for _ in range(line):
        pos = text.index("\n", pos) + 1
    return pos


def _mark_lines(table: RawTable, decoded: Decoded) -> RawTable:
    """Lines in another encoding warned of on their records; unreadable lines' records listed as malformed."""
    if not (decoded.warned or decoded.unreadable) or not len(table.positions):
        return table
    positions = table.positions

    def record_of(line: int) -> int:
        return int(np.searchsorted(positions, line, side="right")) - 1

    for line, reason in decoded.warned:
        if (i := record_of(line)) >= 0:
            table.warned.append((int(positions[i]), f"line {line}: {reason}"))
    drop = {record_of(line): f"line {line}: {reason}" for line, reason in decoded.unreadable if record_of(line) >= 0}
    if drop:
        rows = np.array(sorted(drop))
        for i in rows:
            cells = tuple(str(v) for v in table.frame.iloc[i].tolist())
            table.malformed.append((int(positions[i]), cells, drop[int(i)]))
        keep = ~np.isin(np.arange(len(positions)), rows)
        table.frame = table.frame.loc[keep].reset_index(drop=True)
        table.positions = positions[keep]
    return table


def _read_csv_rows(path: Path, text: str, delimiter: str, encoding: str, skip: int = 0) -> RawTable:
    """Record by record with the csv module: rows whose field count differs from the header's are listed
    as malformed (with their line) instead of failing the whole file. `text` starts `skip` lines into the file."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = _unique([h.strip() for h in next(reader)])
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    malformed: list[tuple[int, tuple[str, ...], str]] = []
    end = reader.line_num + skip
    for record in reader:
        start, end = end + 1, reader.line_num + skip
        if not any(cell.strip(BLANKS) for cell in record):
            continue
        if len(record) != width and end > start:
            reason = (
                f'an unbalanced quote (") joins lines {start}–{end} into one record of {len(record)} '
                f"fields; fix the quote on line {start}"
            )
            malformed += [(line, (), reason) for line in range(start, end + 1)]
            continue
        if len(record) != width:
            reason = f"{len(record)} fields where the header has {width}; check the delimiters and quotes on this line"
            malformed.append((start, tuple(c.strip(BLANKS) for c in record), reason))
            continue
        rows.append([cell.strip(BLANKS) for cell in record])
        lines.append(start)
    frame = pd.DataFrame(rows, columns=header, dtype="str") if rows else pd.DataFrame(columns=header, dtype="str")
    positions = np.asarray(lines, dtype=np.int64)
    return RawTable(path, "csv", frame, positions, "line", encoding=encoding, malformed=malformed)
