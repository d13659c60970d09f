"""A partially observed Cayley table with string labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hc_lightning.data.actions import ActionReport

UNKNOWN = -1


class TableError(ValueError):
    """A table that cannot be read or built; the message is one line naming the problem."""


@dataclass(frozen=True, eq=False)
class CayleyTable:
    """A binary operation on ``n`` labelled elements with some products unknown.

    ``cells[a, b] = c`` means ``a * b = c`` (element indices); ``-1`` marks an unknown
    product. Nothing requires the operation to be a group or a Latin square: those are
    findings, reported by :meth:`latin_violation` and the algebra package.

    Args:
        cells: integer array of shape ``(n, n)`` with entries in ``[-1, n)``.
        labels: one distinct string per element; defaults to ``"0" .. "n-1"``.
        name: where the table came from (a catalog name or a file), for reports.
        source_format: the file format it was read from, so that a completed table is
            written back the same way.

    Example:
        >>> table = CayleyTable.from_cells([[0, 1], [1, -1]], labels=["e", "x"])
        >>> table.n, table.known_fraction
        (2, 0.75)
    """

    cells: np.ndarray
    labels: tuple[str, ...]
    name: str | None = None
    source_format: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        cells = np.asarray(self.cells)
        if cells.ndim != 2 or cells.shape[0] != cells.shape[1]:
            raise TableError(f"a Cayley table must be a square grid, got shape {cells.shape}")
        if cells.shape[0] == 0:
            raise TableError("a Cayley table needs at least one element, got an empty grid")
        if not np.issubdtype(cells.dtype, np.integer):
            raise TableError(f"table cells must be integers, got dtype {cells.dtype}")
        n = cells.shape[0]
        bad = np.argwhere((cells < UNKNOWN) | (cells >= n))
        if len(bad):
            row, col = bad[0]
            raise TableError(
                f"cell ({row}, {col}) holds {cells[row, col]}, outside the elements 0..{n - 1}"
            )
        labels = tuple(str(label) for label in self.labels)
        if len(labels) != n:
            raise TableError(f"expected {n} labels for a {n} x {n} table, got {len(labels)}")
        if len(set(labels)) != n:
            duplicate = next(label for label in labels if labels.count(label) > 1)
            raise TableError(f"label {duplicate!r} names more than one element")
        cells = cells.astype(np.int64, copy=True)
        cells.setflags(write=False)
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "labels", labels)

    @classmethod
    def from_cells(
        cls,
        cells: Sequence[Sequence[int]] | np.ndarray,
        labels: Sequence[str] | None = None,
        name: str | None = None,
    ) -> CayleyTable:
        """Build a table from an index grid (``-1`` for unknown) and optional labels."""
        cells = np.asarray(cells)
        if labels is None:
            labels = [str(index) for index in range(len(cells))]
        return cls(cells, tuple(labels), name=name)

    @classmethod
    def from_actions(
        cls,
        actions: Sequence[Callable[[Any], Any]],
        probes: Any,
        fraction: float = 1.0,
        seed: int = 0,
        atol: float = 1e-6,
        labels: Sequence[str] | None = None,
    ) -> tuple[CayleyTable, ActionReport]:
        """Observe ``a * b`` by composing transformations, ``(a * b)(x) = a(b(x))``.

        See :func:`hc_lightning.data.actions.table_from_actions` for the arguments and the
        returned ``(table, report)``.
        """
        from hc_lightning.data.actions import table_from_actions

        return table_from_actions(actions, probes, fraction, seed, atol, labels)

    @property
    def n(self) -> int:
        """Number of elements."""
        return self.cells.shape[0]

    @property
    def known(self) -> np.ndarray:
        """Boolean mask of the known cells, shape ``(n, n)``."""
        return self.cells != UNKNOWN

    @property
    def known_fraction(self) -> float:
        """Fraction of the ``n^2`` products that are known."""
        return float(self.known.mean())

    @property
    def is_complete(self) -> bool:
        """Whether every product is known."""
        return bool(self.known.all())

    def observations(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Known products as index arrays ``(a, b, c)`` with ``a * b = c``, row-major order."""
        a, b = np.nonzero(self.known)
        return a, b, self.cells[a, b]

    def index(self, label: str) -> int:
        """Index of the element called ``label``."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise TableError(f"unknown label {label!r}; the elements are {self.labels}") from None

    def with_cells(self, cells: np.ndarray, name: str | None = None) -> CayleyTable:
        """The same elements and labels with new cells (for instance, completed ones)."""
        return CayleyTable(cells, self.labels, name or self.name, self.source_format)

    def latin_violation(self) -> str | None:
        """The first repeated value in a row or column of known cells, or ``None``.

        A table with no repeats among its known cells is consistent with a Latin square;
        a complete one without repeats is a Latin square (a quasigroup).
        """
        for axis, kind in ((1, "row"), (0, "column")):
            lines = self.cells if axis == 1 else self.cells.T
            for index, line in enumerate(lines):
                values = line[line != UNKNOWN]
                unique, counts = np.unique(values, return_counts=True)
                if (counts > 1).any():
                    repeated = self.labels[unique[counts > 1][0]]
                    return f"{kind} {self.labels[index]!r} repeats {repeated!r}"
        return None

    @property
    def is_latin_square(self) -> bool:
        """Whether the table is complete and every element appears once per row and column."""
        return self.is_complete and self.latin_violation() is None

    def mask(self, fraction: float, seed: int) -> np.ndarray:
        """A seeded random subset of ``round(fraction * n^2)`` known cells, as a mask.

        Args:
            fraction: share of all ``n^2`` cells to keep, in ``(0, 1]``.
            seed: seed of the permutation; the same seed gives the same cells.
        """
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"`fraction` must be in (0, 1], got {fraction}")
        known = np.flatnonzero(self.known)
        count = max(1, round(fraction * self.n**2))
        if count > len(known):
            raise ValueError(
                f"`fraction`={fraction} asks for {count} cells but only {len(known)} are known"
            )
        chosen = np.random.default_rng(seed).permutation(known)[:count]
        mask = np.zeros(self.n * self.n, dtype=bool)
        mask[chosen] = True
        return mask.reshape(self.n, self.n)

    def format_cell(self, a: int, b: int) -> str:
        """A human-readable name of cell ``(a, b)``, e.g. ``"x * y"``."""
        return f"{self.labels[a]} * {self.labels[b]}"

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"CayleyTable{name}(n={self.n}, known={self.known_fraction:.0%})"
