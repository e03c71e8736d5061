"""Reading and writing CSV tables: the one place that decodes a CSV file and names what is wrong with it.

Every CSV audiocnn reads (manifests, corpus metadata, AudioSet segment lists, class indices) goes
through :func:`read_csv_table`. It decodes UTF-8 (with or without a byte-order mark); a file in
another encoding stops with a :class:`CSVFormatError` that names the file, the row and the byte
that failed, never with a bare ``UnicodeDecodeError``. Cells are stripped of surrounding spaces.
Only an empty cell counts as missing (:func:`is_missing`): ``"none"``, ``"NA"``, ``"null"`` and
``"nan"`` are values the user wrote.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiocnn.atomic import write_text_atomic

__all__ = [
    "CSVFormatError",
    "CSVTable",
    "is_missing",
    "read_csv_header",
    "read_csv_table",
    "read_text",
    "write_csv",
]

_ENCODINGS = ("utf-8", "utf-8-sig")


class CSVFormatError(ValueError):
    """A CSV file that cannot be used as a whole (encoding, missing columns, malformed rows).

    Attributes:
        path: the file.
        row: the row (1 = the header line) or None when the problem is not tied to one row.
        reason: what is wrong and what was expected.
    """

    def __init__(self, path: str | os.PathLike, reason: str, row: int | None = None):
        self.path = str(path)
        self.row = row
        self.reason = reason
        where = f"{self.path}: row {row}" if row is not None else self.path
        super().__init__(f"{where}: {reason}")


def is_missing(cell: str | None) -> bool:
    """True only for an absent or empty (whitespace-only) cell; any text the user wrote is a value."""
    return cell is None or not str(cell).strip()


def read_text(path: str | os.PathLike) -> str:
    """The text of ``path``, decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises:
        FileNotFoundError: the file does not exist.
        CSVFormatError: the bytes are not UTF-8 text (or hold a NUL byte); the message names the
            row and byte that failed and how to fix it.
    """
    path = Path(path)
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CSVFormatError(path, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                                   "save it as UTF-8 (spreadsheets: 'CSV UTF-8') and retry", row=1)
    failure: UnicodeDecodeError | None = None
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as e:
            failure = failure or e
            continue
        if "\x00" in text:
            raise CSVFormatError(path, "NUL byte in the text (a binary file such as .xlsx, or UTF-16 without a "
                                       "byte-order mark?); save it as a UTF-8 CSV and retry",
                                 row=text[: text.index("\x00")].count("\n") + 1)
        return text[1:] if text.startswith("\ufeff") else text
    assert failure is not None
    row = data[: failure.start].count(b"\n") + 1
    byte = data[failure.start: failure.start + 1].hex()
    raise CSVFormatError(
        path,
        f"not valid text in {' or '.join(_ENCODINGS)} (byte 0x{byte} cannot be decoded: "
        f"{failure.reason}); save the file as UTF-8 (spreadsheets: 'CSV UTF-8') and retry",
        row=row,
    )


@dataclass(frozen=True)
class CSVTable:
    """A decoded CSV file.

    Attributes:
        path: the file.
        header: column names, stripped, in file order.
        rows: one dict per data row (column -> stripped cell; ``""`` for a short row's missing cells).
        lines: the row number of each entry of ``rows`` in the file (the header is row 1).
    """

    path: Path
    header: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    lines: tuple[int, ...]

    def numbered(self) -> Iterable[tuple[int, dict[str, str]]]:
        """``(row number, row)`` pairs."""
        return zip(self.lines, self.rows)

    def require(self, columns: Iterable[str], what: str = "") -> None:
        """Raise :class:`CSVFormatError` (row 1) unless every column in ``columns`` is present."""
        missing = [c for c in columns if c not in self.header]
        if missing:
            names = ", ".join(repr(c) for c in missing)
            raise CSVFormatError(self.path, f"missing column(s) {names}{' ' + what if what else ''}; "
                                            f"found columns {list(self.header)}", row=1)


def read_csv_table(path: str | os.PathLike) -> CSVTable:
    """Read a CSV file with a header row (see the module docstring for decoding and stripping).

    Raises:
        CSVFormatError: undecodable text, no header, a repeated column name, a NUL byte or an
            unterminated quote (the message names the row).
    """
    path = Path(path)
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    try:
        raw_header = next(reader, None)
        if raw_header is None:
            raise CSVFormatError(path, "the file is empty (expected a header row)", row=1)
        header = tuple(h.strip() for h in raw_header)
        dup = sorted({h for h in header if h and header.count(h) > 1})
        if dup:
            raise CSVFormatError(path, f"column(s) {dup} appear more than once in the header", row=1)
        rows: list[dict[str, str]] = []
        lines: list[int] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue  # blank line
            row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header) if h}
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise CSVFormatError(path, f"malformed CSV ({e})", row=reader.line_num) from None
    return CSVTable(path=path, header=header, rows=tuple(rows), lines=tuple(lines))


def read_csv_header(path: str | os.PathLike) -> list[str]:
    """The column names of a CSV file, or ``[]`` when it cannot be read (for layout detection only:
    undecodable bytes are replaced, so the real reader can report them later)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
            return [h.strip() for h in next(csv.reader(f, skipinitialspace=True), [])]
    except (OSError, csv.Error):
        return []


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    """Write a UTF-8 CSV (``\\n`` line ends, minimal quoting) atomically; returns ``path``.

    Raises:
        audiocnn.atomic.OutputError: the file cannot be written (names the file and the reason).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(header))
    writer.writerows(list(r) for r in rows)
    return write_text_atomic(path, buf.getvalue())
