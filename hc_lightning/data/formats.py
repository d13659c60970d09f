"""The text formats of tables: CSV grids, observation lists and JSON.

``parse_*`` read a file's text into a :class:`CayleyTable` and raise :class:`TableError`
with a one-line message naming the cell, line or observation; ``format_*`` write a table
back. :mod:`hc_lightning.data.io` chooses among them by the file's suffix.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence

import numpy as np

from hc_lightning.data.table import UNKNOWN, CayleyTable, TableError

UNKNOWN_MARKS = ("", "?", "null", "-1")  # in a grid cell that is not a label
RESERVED_LABELS = ("", "?")  # always an unknown cell, never a label
MAX_ELEMENTS = 4096
MAX_DIGITS = 100  # a longer JSON integer is out of range of any table; kept as its length
MAX_SHOWN = 40  # characters of a value quoted in an error message
INTEGER = re.compile(r"[+-]?[0-9]+")


def _csv_rows(text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), strict=True)
    rows = []
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise _csv_error(error, first_line, reader.line_num) from None
        rows.append([cell.strip() for cell in row])
    return [row for row in rows if any(row)]


def _csv_fields(line: str, line_number: int) -> list[str]:
    """The stripped fields of one line of comma-separated values."""
    try:
        return [field.strip() for field in next(csv.reader([line], strict=True))]
    except csv.Error as error:
        raise _csv_error(error, line_number, line_number) from None


def _csv_error(error: csv.Error, first_line: int, last_line: int) -> TableError:
    where = f"line {first_line}"
    if last_line > first_line:
        where = f"lines {first_line} to {last_line} (a quote left open?)"
    return TableError(f"{where}: cannot split into cells ({error}); check the quotes")


def _shown(value: object) -> str:
    """``repr(value)``, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}... ({len(text)} characters)"


def parse_grid_csv(text: str) -> CayleyTable:
    """A CSV grid: with a header row of labels, or element indices without one."""
    rows = _csv_rows(text)
    if not rows:
        raise TableError("the file holds no rows")
    has_header = rows[0][0] in ("", "*")
    if not has_header:
        return _grid_of_indices(rows)
    labels = rows[0][1:]
    _check_labels(labels, "header row")
    body = rows[1:]
    if len(body) != len(labels):
        raise TableError(f"the header names {len(labels)} elements but {len(body)} rows follow")
    index = {label: position for position, label in enumerate(labels)}
    cells = np.full((len(labels), len(labels)), UNKNOWN, dtype=np.int64)
    for row_number, row in enumerate(body, start=2):
        if len(row) != len(labels) + 1:
            raise TableError(f"row {row_number} has {len(row) - 1} cells, expected {len(labels)}")
        if row[0] != labels[row_number - 2]:
            raise TableError(
                f"row {row_number} is labelled {row[0]!r}, expected {labels[row_number - 2]!r}"
                " (rows must follow the header's order)"
            )
        for column, value in enumerate(row[1:]):
            if value in index:
                cells[row_number - 2, column] = index[value]
            elif value not in UNKNOWN_MARKS:
                raise TableError(
                    f"cell ({row[0]!r}, {labels[column]!r}) holds {_shown(value)}, not a label"
                )
    return CayleyTable.from_cells(cells, labels)


def _grid_of_indices(rows: list[list[str]]) -> CayleyTable:
    n = len(rows)
    if n > MAX_ELEMENTS:
        raise TableError(f"{n} rows is more than the {MAX_ELEMENTS} elements supported")
    for row_number, row in enumerate(rows, start=1):
        if len(row) != n:
            raise TableError(f"row {row_number} has {len(row)} cells, expected {n} (square grid)")
    cells = np.full((n, n), UNKNOWN, dtype=np.int64)
    for row, values in enumerate(rows):
        for column, value in enumerate(values):
            if value not in UNKNOWN_MARKS:
                cells[row, column] = _grid_index(value, n, (row, column))
    return CayleyTable.from_cells(cells)


def _grid_index(value: str, n: int, where: tuple[int, int]) -> int:
    """The element index written as ``value`` in a grid without labels."""
    if not INTEGER.fullmatch(value):
        raise TableError(
            f"cell {where} holds {_shown(value)}: without a header row of labels, cells must"
            " be element indices"
        )
    digits = value.lstrip("+-").lstrip("0")
    if len(digits) > len(str(n)) or not 0 <= int(value) < n:  # int() refuses 4300+ digits
        shown = value if len(value) <= MAX_SHOWN else repr(_LongInteger(len(digits)))
        raise TableError(f"cell {where} holds {shown}, outside 0..{n - 1}")
    return int(value)


def _check_labels(labels: Sequence[str], where: str) -> None:
    if not labels:
        raise TableError(f"the {where} names no elements")
    if len(labels) > MAX_ELEMENTS:
        raise TableError(f"the {where} names {len(labels)} elements, over {MAX_ELEMENTS}")
    seen: set[str] = set()
    for label in labels:
        if label in RESERVED_LABELS:
            raise TableError(f"the {where} has an empty or reserved label {label!r}")
        if label in seen:
            raise TableError(f"the {where} repeats the label {label!r}")
        seen.add(label)


def parse_observations(text: str) -> CayleyTable:
    """Observations ``a,b,c`` one per line, with an optional ``# labels:`` line."""
    labels: list[str] = []
    declared = False
    triples: list[tuple[int, str, str, str]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.lower().startswith("# labels:"):
            labels = _csv_fields(stripped[9:].strip(), line_number)
            _check_labels(labels, f"labels line {line_number}")
            declared = True
            continue
        if not stripped or stripped.startswith("#"):
            continue
        fields = _csv_fields(stripped, line_number)
        if len(fields) != 3 or not all(fields):
            raise TableError(f"line {line_number}: expected 'a,b,c', got {_shown(stripped)}")
        triples.append((line_number, *fields))
    if not triples:
        raise TableError("the file holds no observations")
    if not declared:
        labels = _labels_in_order(triples)
    return _table_from_triples(labels, triples, "line")


def _labels_in_order(triples: list[tuple[int, str, str, str]]) -> list[str]:
    """The labels of the observations in order of first appearance; refuses more than
    :data:`MAX_ELEMENTS` as soon as they pass it."""
    seen: dict[str, None] = {}
    for _, *fields in triples:
        for label in fields:
            seen.setdefault(label)
        if len(seen) > MAX_ELEMENTS:
            raise TableError(
                f"the observations name more than the {MAX_ELEMENTS} elements supported"
            )
    return list(seen)


def _table_from_triples(
    labels: list[str], triples: list[tuple[int, str, str, str]], unit: str
) -> CayleyTable:
    """The table of observations ``(k, a, b, c)``, each ``a * b = c`` found at ``unit k``."""
    if len(labels) > MAX_ELEMENTS:
        raise TableError(f"{len(labels)} elements is more than the {MAX_ELEMENTS} supported")
    index = {label: position for position, label in enumerate(labels)}
    cells = np.full((len(labels), len(labels)), UNKNOWN, dtype=np.int64)
    first_seen: dict[tuple[int, int], int] = {}
    for number, *fields in triples:
        for label in fields:
            if label not in index:
                raise TableError(f"{unit} {number}: unknown label {_shown(label)}")
        a, b, c = (index[label] for label in fields)
        if cells[a, b] != UNKNOWN and cells[a, b] != c:
            left, right, product = (_shown(label) for label in fields)
            raise TableError(
                f"{unit} {number}: {left} * {right} = {product} contradicts {left} * {right}"
                f" = {_shown(labels[cells[a, b]])} on {unit} {first_seen[a, b]}"
            )
        first_seen.setdefault((a, b), number)
        cells[a, b] = c
    return CayleyTable.from_cells(cells, labels)


def parse_json(text: str) -> CayleyTable:
    """``{"labels": [...], "table": [[...]]}`` or ``{"labels": [...], "observations": [...]}``."""
    try:
        document = json.loads(text, parse_int=_json_integer)
    except json.JSONDecodeError as error:
        raise TableError(f"invalid JSON at line {error.lineno}: {error.msg}") from None
    except RecursionError:
        raise TableError("invalid JSON: nested too deeply") from None
    if not isinstance(document, dict) or not ({"table", "observations"} & document.keys()):
        raise TableError('expected an object with "table" or "observations" (and "labels")')
    labels = document.get("labels")
    if labels is not None and (
        not isinstance(labels, list) or not all(isinstance(label, str) for label in labels)
    ):
        raise TableError('"labels" must be a list of strings')
    if "observations" in document:
        return _json_observations(document["observations"], labels)
    return _json_grid(document["table"], labels)


class _LongInteger:
    """A JSON integer of more than :data:`MAX_DIGITS` digits, kept as its length only:
    Python refuses to convert more than 4300 digits, and no table has such an index."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a {self.digits}-digit integer"


def _json_integer(text: str) -> int | _LongInteger:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= MAX_DIGITS else _LongInteger(digits)


def _json_observations(observations: object, labels: list[str] | None) -> CayleyTable:
    if not isinstance(observations, list):
        raise TableError('"observations" must be a list of [a, b, c] triples')
    triples = []
    for position, item in enumerate(observations):
        if not isinstance(item, list) or len(item) != 3:
            raise TableError(f"observation {position} is {_shown(item)}, expected [a, b, c]")
        for value in item:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise TableError(
                    f"observation {position} holds {_shown(value)}, expected a label"
                    " (a string or an integer)"
                )
        triples.append((position, *(str(value) for value in item)))
    if labels is None:
        labels = _labels_in_order(triples)
    _check_labels(labels, '"labels" list')
    return _table_from_triples(list(labels), triples, "observation")


def _json_grid(grid: object, labels: list[str] | None) -> CayleyTable:
    if not isinstance(grid, list) or not all(isinstance(row, list) for row in grid):
        raise TableError('"table" must be a list of rows')
    n = len(grid)
    if n == 0:
        raise TableError('"table" has no rows')
    if labels is None:
        labels = [str(index) for index in range(n)]
    _check_labels(labels, '"labels" list')
    if len(labels) != n:
        raise TableError(f'"labels" names {len(labels)} elements but "table" has {n} rows')
    index = {label: position for position, label in enumerate(labels)}
    cells = np.full((n, n), UNKNOWN, dtype=np.int64)
    for row, values in enumerate(grid):
        # Cells first, then the row's length: the first problem in reading order is named.
        cells_of_row = [
            _json_cell(value, index, n, (row, column)) for column, value in enumerate(values)
        ]
        if len(values) != n:
            raise TableError(f"row {row} has {len(values)} cells, expected {n}")
        cells[row] = cells_of_row
    return CayleyTable.from_cells(cells, labels)


def _json_cell(value: object, index: dict[str, int], n: int, where: tuple[int, int]) -> int:
    if value is None or value == "?" or value == -1:
        return UNKNOWN
    if isinstance(value, _LongInteger):
        raise TableError(f"cell {where} holds {value!r}, outside 0..{n - 1}")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TableError(f"cell {where} holds {_shown(value)}, expected a label, an index or null")
    if isinstance(value, str):
        if value not in index:
            raise TableError(f"cell {where} holds {_shown(value)}, not a label")
        return index[value]
    if not 0 <= value < n:
        raise TableError(f"cell {where} holds {value}, outside 0..{n - 1}")
    return value


def format_grid_csv(table: CayleyTable) -> str:
    """The CSV grid of ``table`` with a header row of labels; unknown cells empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["", *table.labels])
    for label, row in zip(table.labels, table.cells, strict=True):
        writer.writerow([label, *(table.labels[c] if c != UNKNOWN else "" for c in row)])
    return buffer.getvalue()


def format_observations(table: CayleyTable) -> str:
    """One observation per known cell, after a ``# labels:`` line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write("# labels: ")
    writer.writerow(table.labels)
    # Quoted, so that a label starting with '#' does not turn its line into a comment.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for a, b, c in zip(*table.observations(), strict=True):
        quoted.writerow([table.labels[a], table.labels[b], table.labels[c]])
    return buffer.getvalue()


def format_json(table: CayleyTable) -> str:
    """``{"labels": [...], "table": [[...]]}`` with labels in the cells, null for unknown."""
    grid = [[table.labels[c] if c != UNKNOWN else None for c in row] for row in table.cells]
    return json.dumps({"labels": list(table.labels), "table": grid}, indent=1) + "\n"
