"""Exact splitting of an orthogonal representation into real irreducible blocks.

Any matrix commuting with every ``rho(g)`` preserves the isotypic split. For a random
symmetric ``X`` the group average

.. math::

    M = \\sum_g \\rho(g) X \\rho(g)^T

is symmetric and commutes with ``rho``; for generic ``X`` each eigenspace of ``M`` is one
copy of one real irreducible representation (the symmetric part of the commutant of ``m``
copies of an irrep with endomorphism algebra ``D`` is the ``D``-Hermitian ``m x m``
matrices, whose eigenvalues are simple). One eigendecomposition therefore does the job; an
eigenspace that is still reducible (eigenvalues closer than the tolerance) is split again
with a fresh ``X`` restricted to it.

A real irreducible block with character ``chi`` has type given by the two integers

.. math::

    \\langle \\chi, \\chi \\rangle = \\frac{1}{|G|} \\sum_g \\chi(g)^2 \\in \\{1, 2, 4\\},
    \\qquad \\nu = \\frac{1}{|G|} \\sum_g \\chi(g^2) \\in \\{1, 0, -2\\},

``(1, 1)`` real, ``(2, 0)`` complex (a conjugate pair of complex irreps), ``(4, -2)``
quaternionic (one complex irrep with Frobenius-Schur indicator ``-1``, twice). Every
reducible real representation gives a different pair, so the pair also tests
irreducibility.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from hc_lightning.algebra.gauge import (
    is_associative,
    is_latin_square,
    orthogonality_error,
    table_identity,
    validate_table,
)

logger = logging.getLogger(__name__)

__all__ = ["Irrep", "IrrepDecomposition", "conjugacy_classes", "decompose"]

# (<chi, chi>, nu) of a real irreducible block -> its type.
_TYPES = {(1, 1): "real", (2, 0): "complex", (4, -2): "quaternionic"}
_TYPE_ORDER = {"real": 0, "complex": 1, "quaternionic": 2}
# Character inner products of invariant subspaces are integers; beyond this, rho is not a
# representation of the table (or not to the requested tolerance).
_INTEGER_TOL = 0.05
_MAX_SPLIT_ATTEMPTS = 8


@dataclass(frozen=True, eq=False)
class Irrep:
    """One real irreducible representation found in ``rho``.

    Attributes:
        dimension: real dimension ``k`` of the block.
        copies: how many times the block occurs in ``rho``.
        type: ``'real'``, ``'complex'`` or ``'quaternionic'``.
        character: ``chi(g) = tr(rho_k(g))`` over the elements, shape ``(n,)``.
        matrices: the block itself ``rho_k(g)``, shape ``(n, k, k)``, orthogonal; every copy
            in :attr:`IrrepDecomposition.basis` carries exactly these matrices.
        complex_characters: characters of the complex irreps in the block, shape
            ``(1, n)`` or ``(2, n)`` (complex type: the conjugate pair).
    """

    dimension: int
    copies: int
    type: str
    character: np.ndarray
    matrices: np.ndarray
    complex_characters: np.ndarray

    @property
    def complex_dimension(self) -> int:
        """Dimension of the complex irrep(s): ``k`` for real type, ``k / 2`` otherwise."""
        return self.dimension if self.type == "real" else self.dimension // 2

    @property
    def n_complex(self) -> int:
        """Number of distinct complex irreps in the block: 2 for complex type, else 1."""
        return 2 if self.type == "complex" else 1


@dataclass(frozen=True, eq=False)
class IrrepDecomposition:
    """Result of :func:`decompose`.

    Attributes:
        irreps: distinct real irreducible blocks, ordered by dimension, type, character.
        basis: orthogonal ``Q`` (``d x d``); ``Q^T rho(g) Q`` is block diagonal with the
            blocks listed in :attr:`blocks`.
        blocks: ``(irrep index, start, stop)`` for every copy, in basis order.
        off_block_error: ``max_g`` of the largest absolute entry of ``Q^T rho(g) Q`` outside
            the blocks.
        conjugacy_classes: the classes of the table's group, identity class first.
    """

    irreps: tuple[Irrep, ...]
    basis: np.ndarray
    blocks: tuple[tuple[int, int, int], ...]
    off_block_error: float
    conjugacy_classes: tuple[np.ndarray, ...]

    @property
    def n_complex_irreps(self) -> int:
        """Distinct complex irreps found (real and quaternionic count 1, complex type 2)."""
        return sum(irrep.n_complex for irrep in self.irreps)

    @property
    def is_complete(self) -> bool:
        """Every complex irrep occurs: their number equals the number of conjugacy classes."""
        return self.n_complex_irreps == len(self.conjugacy_classes)

    @property
    def is_regular(self) -> bool:
        """Multiplicities of the regular representation: a complex irrep of dimension ``k``
        occurs ``k`` times (a quaternionic block holds it twice, so ``k / 2`` blocks)."""
        expected = [
            irrep.complex_dimension // (2 if irrep.type == "quaternionic" else 1)
            for irrep in self.irreps
        ]
        return self.is_complete and all(
            irrep.copies == count for irrep, count in zip(self.irreps, expected, strict=True)
        )

    def character_table(self) -> np.ndarray:
        """Characters of the real blocks on each class, shape ``(n_irreps, n_classes)``."""
        representatives = [members[0] for members in self.conjugacy_classes]
        return np.stack([irrep.character[representatives] for irrep in self.irreps])

    def complex_character_table(self) -> np.ndarray:
        """The complex character table, shape ``(n_complex_irreps, n_classes)``; it is
        square exactly when :attr:`is_complete`."""
        representatives = [members[0] for members in self.conjugacy_classes]
        rows = [irrep.complex_characters[:, representatives] for irrep in self.irreps]
        return np.concatenate(rows, axis=0)

    def to_dict(self) -> dict[str, Any]:
        """Plain ints, floats, strings and lists for JSON (characters, not matrices)."""
        return {
            "irreps": [
                {
                    "dimension": irrep.dimension,
                    "complex_dimension": irrep.complex_dimension,
                    "copies": irrep.copies,
                    "type": irrep.type,
                    "character": irrep.character.tolist(),
                }
                for irrep in self.irreps
            ],
            "blocks": [list(block) for block in self.blocks],
            "off_block_error": float(self.off_block_error),
            "conjugacy_classes": [members.tolist() for members in self.conjugacy_classes],
            "n_complex_irreps": self.n_complex_irreps,
            "is_complete": self.is_complete,
            "is_regular": self.is_regular,
        }


def conjugacy_classes(table: np.ndarray) -> tuple[np.ndarray, ...]:
    """Conjugacy classes ``{g x g^{-1}}`` of a group table, identity class first.

    Args:
        table: group table, shape ``(n, n)``.

    Returns:
        Sorted member arrays; classes after the identity's are ordered by smallest member.
    """
    return _classes(_check_group(table))


def _classes(table: np.ndarray) -> tuple[np.ndarray, ...]:
    identity = table_identity(table)
    inverse = np.argmax(table == identity, axis=1)  # table[g, inverse[g]] = e
    conjugates = table[table, inverse[:, None]]  # (n, n): [g, x] = g x g^{-1}
    label = np.full(table.shape[0], -1)
    classes = []
    for x in [identity, *range(table.shape[0])]:
        if label[x] < 0:
            members = np.unique(conjugates[:, x])
            label[members] = len(classes)
            classes.append(members)
    return tuple(classes)


def _check_group(table: np.ndarray) -> np.ndarray:
    table = validate_table(table)
    if not (is_latin_square(table) and table_identity(table) is not None and is_associative(table)):
        raise ValueError("`table` must be a group (Latin, with identity, associative)")
    return table


def _eigenspaces(M: np.ndarray, threshold: float) -> tuple[np.ndarray, list[slice]]:
    """Eigenvectors of symmetric ``M`` and the column ranges of its eigenspaces, merging
    eigenvalues whose consecutive gaps are at most ``threshold``."""
    eigenvalues, eigenvectors = np.linalg.eigh((M + M.T) / 2)
    cuts = [0, *(np.flatnonzero(np.diff(eigenvalues) > threshold) + 1), len(eigenvalues)]
    return eigenvectors, [slice(lo, hi) for lo, hi in itertools.pairwise(cuts)]


def _sum_products(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``sum_g left(g) right(g)^T`` for stacks of shape ``(n, k, m)`` and ``(n, l, m)``."""
    n, k, m = left.shape
    side_by_side = left.transpose(1, 0, 2).reshape(k, n * m)  # (k, n*m)
    return side_by_side @ right.transpose(1, 0, 2).reshape(right.shape[1], n * m).T


def _group_average(rho: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``sum_g rho(g) X rho(g)^T``, a matrix commuting with every ``rho(g)``."""
    return _sum_products(rho @ X, rho)


def _classify(character: np.ndarray, squares: np.ndarray) -> str | None:
    """Type of an invariant subspace from its character, or ``None`` if reducible."""
    norm = float(np.mean(character**2))
    indicator = float(np.mean(character[squares]))
    rounded = (round(norm), round(indicator))
    if abs(norm - rounded[0]) > _INTEGER_TOL or abs(indicator - rounded[1]) > _INTEGER_TOL:
        raise ValueError(
            f"character inner products {norm:.4f}, {indicator:.4f} are not integers: `rho` "
            "is not an orthogonal representation of `table` within `tol`"
        )
    return _TYPES.get(rounded)


def _split(
    rho: np.ndarray, squares: np.ndarray, rng: np.random.Generator, tol: float
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Orthonormal bases, characters and types of irreducible invariant subspaces."""
    n, d, _ = rho.shape
    pending = [(np.eye(d), 0)]
    found = []
    while pending:
        basis, attempts = pending.pop()
        if attempts >= _MAX_SPLIT_ATTEMPTS:
            raise ValueError(f"could not split a reducible block of dimension {basis.shape[1]}")
        k = basis.shape[1]
        restricted = basis.T @ rho @ basis  # (n, k, k)
        X = rng.standard_normal((k, k))
        X = (X + X.T) / 2
        threshold = tol * n * np.linalg.norm(X, 2)
        vectors, spaces = _eigenspaces(_group_average(restricted, X), threshold)
        diagonal = np.einsum("ki,gki->gi", vectors, restricted @ vectors)  # (n, k)
        for space in spaces:
            character = diagonal[:, space].sum(axis=1)  # (n,): trace on the eigenspace
            kind = _classify(character, squares)
            if kind is not None:
                found.append((basis @ vectors[:, space], character, kind))
            else:
                retry = attempts + 1 if len(spaces) == 1 else 0
                pending.append((basis @ vectors[:, space], retry))
    return found


def _align(reference: np.ndarray, other: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Orthogonal ``O`` with ``O other(g) O^T = reference(g)``, from a random intertwiner.

    ``T = sum_g reference(g) Z other(g)^T`` satisfies ``T other(g) = reference(g) T``; for
    equivalent orthogonal irreps every nonzero intertwiner is a multiple of an orthogonal
    matrix, recovered by the polar factor of ``T``.
    """
    k = reference.shape[1]
    Z = rng.standard_normal((k, k))
    intertwiner = _sum_products(reference @ Z, other)
    u, _, vt = np.linalg.svd(intertwiner)
    return u @ vt


def _complex_characters(
    matrices: np.ndarray, character: np.ndarray, kind: str, rng: np.random.Generator
) -> np.ndarray:
    """Characters of the complex irreps inside one real irreducible block, ``(1|2, n)``.

    For complex type the commutant is ``span(I, J)`` with ``J^2 = -I``; the ``+i``
    eigenspace of ``J`` carries ``chi_W(g) = (chi(g) - i tr(J rho(g))) / 2``.
    """
    if kind == "real":
        return character[None, :].astype(np.complex128)
    if kind == "quaternionic":
        return (character / 2)[None, :].astype(np.complex128)
    k = matrices.shape[1]
    commuting = _group_average(matrices, rng.standard_normal((k, k)))
    antisymmetric = (commuting - commuting.T) / 2
    J = antisymmetric / np.sqrt(np.sum(antisymmetric**2) / k)
    twist = np.einsum("ij,gji->g", J, matrices)  # tr(J rho(g))
    first = (character - 1j * twist) / 2
    return np.stack([first, first.conj()])


def _sort_key(character: np.ndarray, kind: str) -> tuple:
    dimension = round(float(character.max()))  # chi(e) = dimension is the largest value
    return (dimension, _TYPE_ORDER[kind], tuple(np.round(-character, 6)))


def decompose(
    rho: np.ndarray,
    table: np.ndarray,
    rng: np.random.Generator | int | None = None,
    tol: float = 1e-6,
) -> IrrepDecomposition:
    """Split an orthogonal representation of a group table into real irreducible blocks.

    One eigendecomposition of the group-averaged random symmetric matrix
    ``M = sum_g rho(g) X rho(g)^T`` (plus rare re-splits of merged eigenspaces), no
    iterative optimisation. Copies of one irrep are rotated onto the same matrices, so
    ``Q^T rho(g) Q = direct sum over irreps i of (I_{copies_i} kron rho_i(g))``.

    Args:
        rho: orthogonal matrices, shape ``(n, d, d)``, with ``rho(x) rho(y) = rho(x * y)``,
            e.g. :attr:`GaugeResult.rho_orthogonal` with :attr:`GaugeResult.loop_table`.
        table: the group's table, shape ``(n, n)``.
        rng: seed or generator for the random symmetric matrices.
        tol: eigenvalues of ``M`` closer than ``tol * n * ||X||_2`` are one eigenspace; must
            exceed the representation's own errors (orthogonality, homomorphism).

    Returns:
        An :class:`IrrepDecomposition`.

    Raises:
        ValueError: if ``table`` is not a group, ``rho`` has the wrong shape, is not
            orthogonal within ``max(1000 tol, 1e-5)``, or its invariant subspaces have non-integer
            character inner products (``rho`` is not a representation of ``table``).

    Example:
        >>> import numpy as np
        >>> table = (np.arange(3)[:, None] + np.arange(3)[None, :]) % 3
        >>> shift = np.roll(np.eye(3), 1, axis=0)
        >>> rho = np.stack([np.linalg.matrix_power(shift, g) for g in range(3)])
        >>> [(i.dimension, i.type) for i in decompose(rho, table, rng=0).irreps]
        [(1, 'real'), (2, 'complex')]
    """
    table = _check_group(table)
    rho = np.asarray(rho, dtype=np.float64)
    n = table.shape[0]
    if rho.ndim != 3 or rho.shape[0] != n or rho.shape[1] != rho.shape[2]:
        raise ValueError(f"`rho` must have shape ({n}, d, d), got {rho.shape}")
    if not tol > 0:
        raise ValueError(f"`tol` must be positive, got {tol}")
    error = orthogonality_error(rho)
    if error > max(tol, 1e-8) * 1e3:
        raise ValueError(f"`rho` is not orthogonal (error {error:.3g}); orthogonalize it first")
    rng = np.random.default_rng(rng)
    squares = table[np.arange(n), np.arange(n)]

    pieces = _split(rho, squares, rng, tol)
    groups: list[list[tuple[np.ndarray, np.ndarray, str]]] = []
    for piece in sorted(pieces, key=lambda p: _sort_key(p[1], p[2])):
        # Distinct irreps have orthogonal characters: mean squared difference >= 2.
        for group in groups:
            if np.mean((group[0][1] - piece[1]) ** 2) < 0.5:
                group.append(piece)
                break
        else:
            groups.append([piece])

    irreps, columns, blocks = [], [], []
    start = 0
    for index, copies in enumerate(groups):
        first_basis, character, kind = copies[0]
        matrices = first_basis.T @ rho @ first_basis  # (n, k, k)
        for basis, _, _ in copies:
            restricted = basis.T @ rho @ basis  # (n, k, k)
            columns.append(basis @ _align(matrices, restricted, rng).T)
            blocks.append((index, start, start + basis.shape[1]))
            start += basis.shape[1]
        irreps.append(
            Irrep(
                dimension=first_basis.shape[1],
                copies=len(copies),
                type=kind,
                character=np.mean([c for _, c, _ in copies], axis=0),
                matrices=matrices,
                complex_characters=_complex_characters(matrices, character, kind, rng),
            )
        )
    basis = np.concatenate(columns, axis=1)
    assert start == rho.shape[1], "blocks must cover the whole space"

    block_diagonal = basis.T @ rho @ basis  # (n, d, d)
    outside = np.ones(block_diagonal.shape[1:], dtype=bool)
    for _, lo, hi in blocks:
        outside[lo:hi, lo:hi] = False
    off_block = float(np.abs(block_diagonal[:, outside]).max()) if outside.any() else 0.0
    result = IrrepDecomposition(
        irreps=tuple(irreps),
        basis=basis,
        blocks=tuple(blocks),
        off_block_error=off_block,
        conjugacy_classes=_classes(table),
    )
    logger.debug(
        "decomposed d=%d into %d irreps (%d complex, %d classes), off-block error %.3g",
        rho.shape[1],
        len(irreps),
        result.n_complex_irreps,
        len(result.conjugacy_classes),
        off_block,
    )
    return result
