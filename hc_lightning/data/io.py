"""Reading and writing Cayley tables: CSV grids, observation lists, JSON and ``.npy``.

Formats, chosen by the file's suffix:

* ``.csv`` -- an ``n x n`` grid. With labels, the first row is a header (its first cell
  empty or ``*``) and every row starts with its label; without, cells are indices
  ``0 .. n-1``. Unknown cells are empty or ``?`` (or ``null`` or ``-1`` where that is
  not a label: a label may be ``-1``, as in the quaternion group, but never empty or ``?``).
* ``.obs`` / ``.txt`` -- one observation ``a,b,c`` (meaning ``a * b = c``) per line, in
  labels; ``#`` starts a comment; a first line ``# labels: x,y,z`` fixes the order of the
  elements (otherwise it is the order of first appearance).
* ``.json`` -- ``{"labels": [...], "table": [[...], ...]}`` with labels or indices in the
  cells and ``null``, ``"?"`` or ``-1`` for unknown; or ``{"labels": [...],
  "observations": [[a, b, c], ...]}`` with labels (an integer stands for the label
  spelled by its digits).
* ``.npy`` -- an integer ``(n, n)`` array of indices with ``-1`` for unknown (a float
  array is accepted when every entry is a whole number in range).

Every format holds at most :data:`MAX_ELEMENTS` elements.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from hc_lightning.data.formats import (
    MAX_ELEMENTS,
    format_grid_csv,
    format_json,
    format_observations,
    parse_grid_csv,
    parse_json,
    parse_observations,
)
from hc_lightning.data.table import UNKNOWN, CayleyTable, TableError

FORMATS = {".csv": "csv", ".obs": "obs", ".txt": "obs", ".json": "json", ".npy": "npy"}


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
            table = {"csv": parse_grid_csv, "obs": parse_observations, "json": parse_json}[kind](
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
        text = {"csv": format_grid_csv, "obs": format_observations, "json": format_json}[kind](
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
        shape = _npy_shape(path)
    except ValueError as error:
        raise TableError(f"not a plain numeric .npy array ({error})") from None
    _check_npy_shape(shape)  # before np.load allocates what the header claims
    try:
        cells = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise TableError(f"not a plain numeric .npy array ({error})") from None
    if np.issubdtype(cells.dtype, np.floating):
        bad = np.argwhere(~np.isfinite(cells) | (cells != np.round(cells)))
        if len(bad):
            row, col = bad[0]
            raise TableError(f"cell ({row}, {col}) holds {cells[row, col]}, not an index")
        # In range before the cast: a float beyond int64 would wrap around.
        bad = np.argwhere((cells < UNKNOWN) | (cells >= len(cells)))
        if len(bad):
            row, col = bad[0]
            raise TableError(
                f"cell ({row}, {col}) holds {cells[row, col]}, outside 0..{len(cells) - 1}"
            )
        cells = cells.astype(np.int64)
    elif not np.issubdtype(cells.dtype, np.integer):
        raise TableError(f"expected an integer array, got dtype {cells.dtype}")
    return CayleyTable.from_cells(cells)


def _npy_shape(path: Path) -> tuple[int, ...]:
    """The array shape in the header of a ``.npy`` file, without reading the data."""
    with path.open("rb") as stream:
        major, _ = np.lib.format.read_magic(stream)
        # Version 3 headers differ from version 2 only in being UTF-8 (for field names).
        if major == 1:
            shape, _, _ = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(stream)
    return shape


def _check_npy_shape(shape: tuple[int, ...]) -> None:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise TableError(f"expected a square 2-d array, got shape {shape}")
    if shape[0] > MAX_ELEMENTS:
        raise TableError(
            f"a {shape[0]} x {shape[1]} array is more than the {MAX_ELEMENTS} elements supported"
        )
