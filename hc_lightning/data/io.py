"""Reading and writing Cayley tables: CSV grids, observation lists, JSON and ``.npy``.

Formats, chosen by the file's suffix:

* ``.csv`` -- an ``n x n`` grid. With labels, the first row is a header (its first cell
  empty or ``*``) and every row starts with its label; without, cells are indices
  ``0 .. n-1``. Unknown cells are empty or ``?``.
* ``.obs`` / ``.txt`` -- one observation ``a,b,c`` (meaning ``a * b = c``) per line, in
  labels; ``#`` starts a comment; a first line ``# labels: x,y,z`` fixes the order of the
  elements (otherwise it is the order of first appearance).
* ``.json`` -- ``{"labels": [...], "table": [[...], ...]}`` with labels or indices in the
  cells and ``null``, ``"?"`` or ``-1`` for unknown; or ``{"labels": [...],
  "observations": [[a, b, c], ...]}``.
* ``.npy`` -- an integer ``(n, n)`` array of indices with ``-1`` for unknown.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hc_lightning.data.table import UNKNOWN, CayleyTable, TableError

UNKNOWN_MARKS = ("", "?", "null", "-1")
FORMATS = {".csv": "csv", ".obs": "obs", ".txt": "obs", ".json": "json", ".npy": "npy"}
MAX_ELEMENTS = 4096


def table_format(path: str | Path) -> str:
    """The format name of ``path`` from its suffix; raises :class:`TableError` if unknown."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(FORMATS)
        raise TableError(f"{path}: unknown table format {suffix!r}; expected one of {known}")
    return FORMATS[suffix]


def read_table(path: str | Path) -> CayleyTable:
    """Read a table from ``path``; the format follows the suffix (see the module docs).

    Raises:
        TableError: a one-line message naming the file, the cell or line, and the problem.
    """
    path = Path(path)
    kind = table_format(path)
    if path.is_dir():
        raise TableError(f"{path}: is a directory, not a table file")
    if path.exists() and not path.is_file():
        raise TableError(f"{path}: is not a regular file")
    try:
        if kind == "npy":
            table = _read_npy(path)
        else:
            text = path.read_text(encoding="utf-8-sig")
            table = {"csv": _parse_grid_csv, "obs": _parse_observations, "json": _parse_json}[kind](
                text
            )
    except TableError as error:
        raise TableError(f"{path}: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TableError(f"{path}: cannot read the file ({reason})") from None
    return CayleyTable(table.cells, table.labels, name=path.name, source_format=kind)


def write_table(table: CayleyTable, path: str | Path, kind: str | None = None) -> Path:
    """Write ``table`` atomically (a temporary file renamed into place).

    Args:
        table: the table to write.
        path: destination; its suffix chooses the format unless ``kind`` is given.
        kind: ``"csv"``, ``"obs"``, ``"json"`` or ``"npy"``.
    """
    path = Path(path)
    kind = kind or table_format(path)
    if kind == "npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(table.cells))
        write_bytes_atomic(path, buffer.getvalue())
    else:
        text = {"csv": _format_grid_csv, "obs": _format_observations, "json": _format_json}[kind](
            table
        )
        write_bytes_atomic(path, text.encode("utf-8"))
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` so that readers never see half a file."""
    path = Path(path)
    write_bytes_atomic(path, text.encode("utf-8"))
    return path


def write_bytes_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        # mkstemp creates 0600; give the file the mode any other new file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_npy(path: Path) -> CayleyTable:
    try:
        cells = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise TableError(f"not a plain numeric .npy array ({error})") from None
    if cells.ndim != 2 or cells.shape[0] != cells.shape[1]:
        raise TableError(f"expected a square 2-d array, got shape {cells.shape}")
    if np.issubdtype(cells.dtype, np.floating):
        bad = np.argwhere(~np.isfinite(cells) | (cells != np.round(cells)))
        if len(bad):
            row, col = bad[0]
            raise TableError(f"cell ({row}, {col}) holds {cells[row, col]}, not an index")
        cells = cells.astype(np.int64)
    elif not np.issubdtype(cells.dtype, np.integer):
        raise TableError(f"expected an integer array, got dtype {cells.dtype}")
    return CayleyTable.from_cells(cells)


def _csv_rows(text: str) -> list[list[str]]:
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]
    return [row for row in rows if any(row)]


def _parse_grid_csv(text: str) -> CayleyTable:
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
            if value in UNKNOWN_MARKS:
                continue
            if value not in index:
                raise TableError(
                    f"cell ({row[0]!r}, {labels[column]!r}) holds {value!r}, not a label"
                )
            cells[row_number - 2, column] = index[value]
    return CayleyTable.from_cells(cells, labels)


def _grid_of_indices(rows: list[list[str]]) -> CayleyTable:
    n = len(rows)
    if n > MAX_ELEMENTS:
        raise TableError(f"{n} rows is more than the {MAX_ELEMENTS} elements supported")
    for row_number, row in enumerate(rows, start=1):
        if len(row) != n:
            raise TableError(f"row {row_number} has {len(row)} cells, expected {n} (square grid)")
    cells = np.full((n, n), UNKNOWN, dtype=np.int64)
    for row_number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if value in UNKNOWN_MARKS:
                continue
            try:
                cells[row_number - 1, column] = int(value)
            except ValueError:
                raise TableError(
                    f"cell ({row_number - 1}, {column}) holds {value!r}: without a header row"
                    " of labels, cells must be element indices"
                ) from None
            if not 0 <= int(value) < n:
                raise TableError(
                    f"cell ({row_number - 1}, {column}) holds {value}, outside 0..{n - 1}"
                )
    return CayleyTable.from_cells(cells)


def _check_labels(labels: Sequence[str], where: str) -> None:
    if not labels:
        raise TableError(f"the {where} names no elements")
    if len(labels) > MAX_ELEMENTS:
        raise TableError(f"the {where} names {len(labels)} elements, over {MAX_ELEMENTS}")
    seen: set[str] = set()
    for label in labels:
        if label in UNKNOWN_MARKS:
            raise TableError(f"the {where} has an empty or reserved label {label!r}")
        if label in seen:
            raise TableError(f"the {where} repeats the label {label!r}")
        seen.add(label)


def _parse_observations(text: str) -> CayleyTable:
    labels: list[str] = []
    declared = False
    triples: list[tuple[int, str, str, str]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.lower().startswith("# labels:"):
            labels = [label.strip() for label in next(csv.reader([stripped[9:].strip()]))]
            _check_labels(labels, f"labels line {line_number}")
            declared = True
            continue
        if not stripped or stripped.startswith("#"):
            continue
        fields = [field.strip() for field in next(csv.reader([stripped]))]
        if len(fields) != 3 or not all(fields):
            raise TableError(f"line {line_number}: expected 'a,b,c', got {stripped!r}")
        triples.append((line_number, *fields))
    if not triples:
        raise TableError("the file holds no observations")
    if not declared:
        for _, *fields in triples:
            labels.extend(label for label in fields if label not in labels)
    return _table_from_triples(labels, triples)


def _table_from_triples(labels: list[str], triples: list[tuple[int, str, str, str]]) -> CayleyTable:
    if len(labels) > MAX_ELEMENTS:
        raise TableError(f"{len(labels)} elements is more than the {MAX_ELEMENTS} supported")
    index = {label: position for position, label in enumerate(labels)}
    cells = np.full((len(labels), len(labels)), UNKNOWN, dtype=np.int64)
    first_seen: dict[tuple[int, int], int] = {}
    for line_number, *fields in triples:
        for label in fields:
            if label not in index:
                raise TableError(f"line {line_number}: unknown label {label!r}")
        a, b, c = (index[label] for label in fields)
        if cells[a, b] != UNKNOWN and cells[a, b] != c:
            raise TableError(
                f"line {line_number}: {fields[0]} * {fields[1]} = {fields[2]} contradicts"
                f" {fields[0]} * {fields[1]} = {labels[cells[a, b]]} on line {first_seen[a, b]}"
            )
        first_seen.setdefault((a, b), line_number)
        cells[a, b] = c
    return CayleyTable.from_cells(cells, labels)


def _parse_json(text: str) -> CayleyTable:
    try:
        document = json.loads(text)
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


def _json_observations(observations: object, labels: list[str] | None) -> CayleyTable:
    if not isinstance(observations, list):
        raise TableError('"observations" must be a list of [a, b, c] triples')
    triples = []
    for position, item in enumerate(observations):
        if not isinstance(item, list) or len(item) != 3:
            raise TableError(f"observation {position} is {item!r}, expected [a, b, c]")
        triples.append((position, *(str(value) for value in item)))
    if labels is None:
        labels = []
        for _, *fields in triples:
            labels.extend(label for label in fields if label not in labels)
    _check_labels(labels, '"labels" list')
    return _table_from_triples(list(labels), triples)


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
        if len(values) != n:
            raise TableError(f"row {row} has {len(values)} cells, expected {n}")
        for column, value in enumerate(values):
            cells[row, column] = _json_cell(value, index, n, (row, column))
    return CayleyTable.from_cells(cells, labels)


def _json_cell(value: object, index: dict[str, int], n: int, where: tuple[int, int]) -> int:
    if value is None or value == "?" or value == -1:
        return UNKNOWN
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TableError(f"cell {where} holds {value!r}, expected a label, an index or null")
    if isinstance(value, str):
        if value not in index:
            raise TableError(f"cell {where} holds {value!r}, not a label")
        return index[value]
    if not 0 <= value < n:
        raise TableError(f"cell {where} holds {value}, outside 0..{n - 1}")
    return value


def _format_grid_csv(table: CayleyTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["", *table.labels])
    for label, row in zip(table.labels, table.cells, strict=True):
        writer.writerow([label, *(table.labels[c] if c != UNKNOWN else "" for c in row)])
    return buffer.getvalue()


def _format_observations(table: CayleyTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write("# labels: ")
    writer.writerow(table.labels)
    # Quoted, so that a label starting with '#' does not turn its line into a comment.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for a, b, c in zip(*table.observations(), strict=True):
        quoted.writerow([table.labels[a], table.labels[b], table.labels[c]])
    return buffer.getvalue()


def _format_json(table: CayleyTable) -> str:
    grid = [[table.labels[c] if c != UNKNOWN else None for c in row] for row in table.cells]
    return json.dumps({"labels": list(table.labels), "table": grid}, indent=1) + "\n"
