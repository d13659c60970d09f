"""Latin squares, principal loops and isotopy to groups.

A Latin square on symbols 0..n-1 is a table in which every row and every column is a
permutation. Two tables are isotopic when one becomes the other by renaming rows, columns and
entries independently. Following DESIGN section 4: pick a0, b0, put c0 = a0*b0, R(a) = a*b0,
L(b) = a0*b; the principal loop x.y = R^{-1}(x) * L^{-1}(y) has identity c0 and is isotopic
to the table. The table is isotopic to a group iff this loop is associative (and then the loop
is that group).

Example:
    >>> import numpy as np
    >>> residues = np.arange(5)
    >>> result = isotope_to_group((residues[:, None] - residues[None, :]) % 5)
    >>> result.is_group_isotope, result.failing_triples
    (True, 0)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from hc_lightning.algebra.group import as_table, count_non_associative


@dataclasses.dataclass(frozen=True)
class LatinReport:
    """Where a square table fails to be Latin.

    Attributes:
        is_latin: every row and every column holds each symbol 0..n-1 exactly once.
        out_of_range: number of entries outside 0..n-1.
        row_repeat: (row, value, column1, column2) for the first row with a repeated value,
            which appears in both columns; None if no row repeats a value.
        column_repeat: (column, value, row1, row2) likewise for the first such column.
    """

    is_latin: bool
    out_of_range: int
    row_repeat: tuple[int, int, int, int] | None
    column_repeat: tuple[int, int, int, int] | None

    def message(self) -> str:
        """One line describing the first problem ('' for a Latin square)."""
        if self.out_of_range:
            return f"{self.out_of_range} entries lie outside 0..n-1"
        if self.row_repeat is not None:
            row, value, first, second = self.row_repeat
            return f"row {row} repeats {value} in columns {first} and {second}"
        if self.column_repeat is not None:
            column, value, first, second = self.column_repeat
            return f"column {column} repeats {value} in rows {first} and {second}"
        return ""


@dataclasses.dataclass(frozen=True)
class IsotopeResult:
    """Outcome of :func:`isotope_to_group` for a Latin square.

    With the group operation x.y = ``group_table[x, y]`` the isotopy reads
    ``table[a, b] = gamma[group_table[alpha[a], beta[b]]]`` for all a, b.

    Attributes:
        is_group_isotope: the principal loop is associative, i.e. the table is a group isotope.
        failing_triples: triples (x, y, z) with (x.y).z != x.(y.z) in the principal loop.
        group_table: the loop table (a group iff ``is_group_isotope``), identity ``identity``.
        identity: the loop identity c0 = table[0, 0].
        alpha: row map a -> a*b0 = table[a, 0].
        beta: column map b -> a0*b = table[0, b].
        gamma: entry map; the identity permutation for this choice of loop.
    """

    is_group_isotope: bool
    failing_triples: int
    group_table: np.ndarray
    identity: int
    alpha: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray


def _first_repeat(table: np.ndarray) -> tuple[int, int, int, int] | None:
    """(row, value, column1, column2) of the first repeated value in a row, or None."""
    for row, values in enumerate(table):
        _, first_index, counts = np.unique(values, return_index=True, return_counts=True)
        if np.any(counts > 1):
            value = values[first_index[np.argmax(counts > 1)]]
            first, second = np.flatnonzero(values == value)[:2]
            return row, int(value), int(first), int(second)
    return None


def latin_report(table: np.ndarray | Sequence[Sequence[int]]) -> LatinReport:
    """Check that a square table is a Latin square and name the first row/column that is not.

    Raises:
        ValueError: if ``table`` is not a square 2-d integer array.
    """
    table = as_table(table)
    n = table.shape[0]
    out_of_range = int(np.count_nonzero((table < 0) | (table >= n)))
    row_repeat = _first_repeat(table)
    column_repeat = _first_repeat(table.T)
    is_latin = out_of_range == 0 and row_repeat is None and column_repeat is None
    return LatinReport(is_latin, out_of_range, row_repeat, column_repeat)


def is_latin_square(table: np.ndarray | Sequence[Sequence[int]]) -> bool:
    """True iff every row and every column of the square table is a permutation of 0..n-1."""
    table = as_table(table)
    n = table.shape[0]
    if np.any((table < 0) | (table >= n)):
        return False
    expected = np.arange(n)
    rows_ok = np.array_equal(np.sort(table, axis=1), np.broadcast_to(expected, (n, n)))
    return rows_ok and np.array_equal(
        np.sort(table, axis=0), np.broadcast_to(expected[:, None], (n, n))
    )


def _inverse_permutation(perm: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    return inverse


def principal_loop(
    table: np.ndarray | Sequence[Sequence[int]], a0: int, b0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal loop isotope x.y = R^{-1}(x) * L^{-1}(y) with R(a) = a*b0, L(b) = a0*b.

    Args:
        table: a Latin square of shape (n, n).
        a0: row used for L.
        b0: column used for R.

    Returns:
        ``(loop_table, row_map, col_map)`` with ``row_map = R^{-1}``, ``col_map = L^{-1}`` and
        ``loop_table[x, y] = table[row_map[x], col_map[y]]``. The loop identity is
        c0 = table[a0, b0]: c0.y = y and x.c0 = x.

    Raises:
        ValueError: if ``table`` is not a Latin square or a0, b0 are out of range.
    """
    table = as_table(table)
    n = table.shape[0]
    for name, value in (("a0", a0), ("b0", b0)):
        if not 0 <= value < n:
            raise ValueError(f"{name} must lie in 0..{n - 1}, got {value}")
    report = latin_report(table)
    if not report.is_latin:
        raise ValueError(f"table must be a Latin square: {report.message()}")
    row_map = _inverse_permutation(table[:, b0])
    col_map = _inverse_permutation(table[a0, :])
    return table[row_map[:, None], col_map[None, :]], row_map, col_map


def isotope_to_group(table: np.ndarray | Sequence[Sequence[int]]) -> IsotopeResult | None:
    """Decide whether a Latin square is isotopic to a group, via its principal loop at (0, 0).

    Returns:
        None if ``table`` is not a Latin square. Otherwise an :class:`IsotopeResult`; it
        is a group isotope iff the loop has no non-associative triple, and then
        ``table[a, b] = gamma[group_table[alpha[a], beta[b]]]`` with alpha = R, beta = L.

    Raises:
        ValueError: if ``table`` is not a square 2-d integer array.
    """
    table = as_table(table)
    if not is_latin_square(table):
        return None
    loop, row_map, col_map = principal_loop(table, 0, 0)
    failing = count_non_associative(loop)
    alpha, beta = _inverse_permutation(row_map), _inverse_permutation(col_map)
    identity_map = np.arange(table.shape[0])
    return IsotopeResult(failing == 0, failing, loop, int(table[0, 0]), alpha, beta, identity_map)


def random_isotope(
    table: np.ndarray | Sequence[Sequence[int]], rng: np.random.Generator
) -> np.ndarray:
    """Isotope ``new[a, b] = gamma[table[alpha[a], beta[b]]]`` for random permutations.

    alpha, beta and gamma are drawn independently from ``rng``; a Latin square stays Latin.

    Raises:
        ValueError: if ``table`` is not square or has entries outside 0..n-1.
    """
    table = as_table(table)
    n = table.shape[0]
    if np.any((table < 0) | (table >= n)):
        raise ValueError(f"table entries must lie in 0..{n - 1}, got {table.min()}..{table.max()}")
    alpha, beta, gamma = rng.permutation(n), rng.permutation(n), rng.permutation(n)
    return gamma[table[alpha[:, None], beta[None, :]]]
