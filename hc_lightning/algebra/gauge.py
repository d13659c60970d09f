"""Gauge fixing: one representation ``rho`` from the three HyperCube factors.

At an exact solution of a group (or group isotope) table the factors satisfy
``A[a] B[b] C[c] = I`` whenever ``a * b = c``. Pick two labels ``a0, b0`` and let
``c0 = a0 * b0``. With the row and column maps ``R(a) = a * b0`` and ``L(b) = a0 * b``,

.. math::

    \\rho(x) = C_x^{-1} C_{c_0}, \\qquad x \\cdot y = R^{-1}(x) * L^{-1}(y),

satisfies ``rho(x) rho(y) = rho(x . y)`` and ``rho(c0) = I``. The loop ``x . y`` is the
table's own operation when the table is a group and ``a0 = b0 = e``; for any other Latin
square it is the principal loop isotope, which is a group exactly when the table is isotopic
to a group. Inverses (never transposes) are used because learned factors carry scale.

The module also holds the small table utilities gauge fixing needs (identity, Latin square,
associativity), shared with :mod:`hc_lightning.algebra.irreps` and
:mod:`hc_lightning.algebra.diagnostics`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "GaugeResult",
    "gauge_fix",
    "homomorphism_error",
    "is_associative",
    "is_latin_square",
    "orthogonality_error",
    "orthogonalize",
    "refine_representation",
    "table_identity",
    "validate_table",
]

# Upper bound on the entries of one temporary array in the chunked O(n^2 d^3) check.
_CHUNK_ENTRIES = 4_000_000


def validate_table(table: Any, name: str = "table") -> np.ndarray:
    """Return ``table`` as an ``int64`` array of shape ``(n, n)`` with entries in ``0..n-1``.

    Raises:
        ValueError: if the shape is not square or an entry is out of range.
    """
    array = np.asarray(table)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(f"`{name}` must be a non-empty square (n, n) array, got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer labels, got dtype {array.dtype}")
    n = array.shape[0]
    if array.min() < 0 or array.max() >= n:
        raise ValueError(
            f"`{name}` entries must lie in 0..{n - 1}, got range {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def is_latin_square(table: np.ndarray) -> bool:
    """True when every row and every column of ``table`` is a permutation of ``0..n-1``."""
    table = validate_table(table)
    n = table.shape[0]
    expected = np.arange(n)
    rows_ok = (np.sort(table, axis=1) == expected).all()
    cols_ok = (np.sort(table, axis=0) == expected[:, None]).all()
    return bool(rows_ok and cols_ok)


def table_identity(table: np.ndarray) -> int | None:
    """The two-sided identity ``e`` (``e * x = x * e = x`` for all ``x``), or ``None``."""
    table = validate_table(table)
    labels = np.arange(table.shape[0])
    left = (table == labels[None, :]).all(axis=1)  # row e is the identity map
    right = (table == labels[:, None]).all(axis=0)  # column e is the identity map
    found = np.flatnonzero(left & right)
    return int(found[0]) if found.size else None


def is_associative(table: np.ndarray) -> bool:
    """True when ``(a * b) * c == a * (b * c)`` for all triples (``O(n^3)``, chunked)."""
    table = validate_table(table)
    n = table.shape[0]
    step = max(1, _CHUNK_ENTRIES // (n * n))
    for start in range(0, n, step):
        rows = table[start : start + step]  # (k, n): a * b for a in the chunk
        left = table[rows]  # (k, n, n): (a * b) * c
        right = rows[:, table]  # (k, n, n): a * (b * c)
        if not np.array_equal(left, right):
            return False
    return True


def _normalised_norms(diff: np.ndarray) -> np.ndarray:
    """``||X|| = sqrt(tr(X^T X) / d)`` over the last two axes, so that ``||I|| = 1``."""
    d = diff.shape[-1]
    return np.sqrt(np.einsum("...ij,...ij->...", diff, diff) / d)


def homomorphism_error(rho: np.ndarray, table: np.ndarray) -> float:
    """Largest normalised Frobenius error ``max_{x,y} ||rho(x) rho(y) - rho(x * y)||``.

    The norm is ``||X|| = sqrt(tr(X^T X) / d)``, so ``||I|| = 1`` in any dimension. Costs
    ``n^2 d^3`` multiply-adds, done as one matrix product per chunk of left factors.

    Args:
        rho: matrices, shape ``(n, d, d)``.
        table: multiplication table, shape ``(n, n)``, ``table[x, y] = x * y``.
    """
    table = validate_table(table)
    n, d, _ = rho.shape
    if n != table.shape[0]:
        raise ValueError(f"`rho` has {n} matrices but `table` has order {table.shape[0]}")
    side_by_side = rho.transpose(1, 0, 2).reshape(d, n * d)  # (d, n*d) = [rho(0) | rho(1) ...]
    step = max(1, _CHUNK_ENTRIES // (n * d * d))
    worst = 0.0
    for start in range(0, n, step):
        left = rho[start : start + step]
        k = left.shape[0]
        products = (left @ side_by_side).reshape(k, d, n, d).transpose(0, 2, 1, 3)  # (k, n, d, d)
        diff = products - rho[table[start : start + step]]  # (k, n, d, d)
        worst = max(worst, float(_normalised_norms(diff).max()))
    return worst


def refine_representation(rho: np.ndarray, table: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Move an approximate representation onto an exact one nearby, by group averaging.

    Each iteration replaces ``rho`` by

    .. math::

        \rho'(x) = \frac{1}{n} \\sum_y \rho(x * y)\\, \rho(y)^{-1},

    which leaves an exact representation unchanged and squares the homomorphism error of
    a near one (the averaging step behind the stability of almost-representations of
    finite groups). Costs ``n^2 d^3`` per iteration, as one matrix product per chunk.

    Args:
        rho: invertible matrices, shape ``(n, d, d)``, approximately a representation.
        table: the group's table, shape ``(n, n)``.
        iterations: number of averaging steps.

    Returns:
        The refined matrices, shape ``(n, d, d)``.
    """
    table = validate_table(table)
    n, d, _ = rho.shape
    for _ in range(iterations):
        inverses = np.linalg.inv(rho).reshape(n * d, d)  # (n*d, d): rho(y)^{-1} stacked
        step = max(1, _CHUNK_ENTRIES // (n * d * d))
        refined = np.empty_like(rho)
        for start in range(0, n, step):
            products = rho[table[start : start + step]]  # (k, n, d, d): rho(x * y)
            side_by_side = products.transpose(0, 2, 1, 3).reshape(-1, d, n * d)  # (k, d, n*d)
            refined[start : start + step] = side_by_side @ inverses / n
        rho = refined
    return rho


def orthogonality_error(rho: np.ndarray) -> float:
    """Largest normalised Frobenius error ``max_g ||rho(g)^T rho(g) - I||``."""
    d = rho.shape[-1]
    gram = np.swapaxes(rho, -1, -2) @ rho  # (n, d, d)
    return float(_normalised_norms(gram - np.eye(d)).max())


def orthogonalize(rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conjugate ``rho`` to an orthogonal representation with the group-averaged Gram matrix.

    With ``S = (1/n) sum_g rho(g)^T rho(g)`` and ``P = S^{1/2}``, the matrices
    ``P rho(g) P^{-1}`` are orthogonal whenever ``rho`` is a representation, because
    ``rho(g)^T S rho(g) = S``.

    Args:
        rho: invertible matrices, shape ``(n, d, d)``.

    Returns:
        ``(P rho P^{-1}, P, P^{-1})``; shapes ``(n, d, d)``, ``(d, d)``, ``(d, d)``.
    """
    gram = np.einsum("gki,gkj->ij", rho, rho) / rho.shape[0]  # (d, d): mean rho^T rho
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    if eigenvalues.min() <= 0.0:
        raise ValueError("`rho` is singular: the averaged Gram matrix is not positive definite")
    root = np.sqrt(eigenvalues)
    sqrt_gram = (eigenvectors * root) @ eigenvectors.T
    inv_sqrt_gram = (eigenvectors / root) @ eigenvectors.T
    return sqrt_gram @ rho @ inv_sqrt_gram, sqrt_gram, inv_sqrt_gram


@dataclass(frozen=True, eq=False)
class GaugeResult:
    """Outcome of :func:`gauge_fix`.

    Elements of the loop ``x . y = table[row_map[x], col_map[y]]`` are the table's result
    labels; ``rho`` and ``rho_orthogonal`` are indexed by them.

    Attributes:
        rho: ``rho(x) = C_x^{-1} C_{c0}``, shape ``(n, d, d)``; ``rho(identity) = I``.
        rho_orthogonal: ``P rho(x) P^{-1}`` with ``P = S^{1/2}`` (see :func:`orthogonalize`).
        gauges: ``(G1, G2, G3)``, each ``(d, d)``, with ``G1 = P^{-1}``,
            ``G2 = A_{a0}^{-1} P^{-1}``, ``G3 = C_{c0} P^{-1}``.
        factors: synchronised factors ``A'[x] = G1^{-1} A[row_map[x]] G2``,
            ``B'[y] = G2^{-1} B[col_map[y]] G3``, ``C'[z] = G3^{-1} C[z] G1``; at a solution
            ``A' = B' = rho_orthogonal`` and ``C' = rho_orthogonal^T``, and always
            ``tr(A'_x B'_y C'_z) = tr(A_{row_map[x]} B_{col_map[y]} C_z)``.
        identity: identity of the loop, ``c0 = table[a0, b0]``.
        a0: row label used for the column map ``L(b) = a0 * b``.
        b0: column label used for the row map ``R(a) = a * b0``.
        loop_table: ``x . y``, shape ``(n, n)``; equals ``table`` for a group with
            ``a0 = b0 = e``.
        row_map: ``row_map[x] = R^{-1}(x)``, the row ``a`` with ``a * b0 = x``.
        col_map: ``col_map[y] = L^{-1}(y)``, the column ``b`` with ``a0 * b = y``.
        is_group: the input table is a group (Latin, two-sided identity, associative).
        loop_is_group: the loop is associative, i.e. the table is isotopic to a group.
        homomorphism_error: ``max_{x,y} ||rho(x) rho(y) - rho(x . y)||`` (normalised
            Frobenius norm ``sqrt(tr(X^T X) / d)``) of ``rho``.
        orthogonality_error: ``max_x ||rho(x)^T rho(x) - I||`` before orthogonalising.
        orthogonality_error_after: the same for ``rho_orthogonal``.
    """

    rho: np.ndarray
    rho_orthogonal: np.ndarray
    gauges: tuple[np.ndarray, np.ndarray, np.ndarray]
    factors: tuple[np.ndarray, np.ndarray, np.ndarray]
    identity: int
    a0: int
    b0: int
    loop_table: np.ndarray
    row_map: np.ndarray
    col_map: np.ndarray
    is_group: bool
    loop_is_group: bool
    homomorphism_error: float
    orthogonality_error: float
    orthogonality_error_after: float

    def to_dict(self, include_matrices: bool = False) -> dict[str, Any]:
        """Plain ints, floats, bools and lists for JSON.

        Args:
            include_matrices: also store ``rho`` and ``rho_orthogonal`` as nested lists
                (``2 n d^2`` numbers).
        """
        out: dict[str, Any] = {
            "identity": self.identity,
            "a0": self.a0,
            "b0": self.b0,
            "is_group": self.is_group,
            "loop_is_group": self.loop_is_group,
            "homomorphism_error": float(self.homomorphism_error),
            "orthogonality_error": float(self.orthogonality_error),
            "orthogonality_error_after": float(self.orthogonality_error_after),
            "row_map": self.row_map.tolist(),
            "col_map": self.col_map.tolist(),
            "loop_table": self.loop_table.tolist(),
        }
        if include_matrices:
            out["rho"] = self.rho.tolist()
            out["rho_orthogonal"] = self.rho_orthogonal.tolist()
        return out


def _check_factors(A: np.ndarray, B: np.ndarray, C: np.ndarray, n: int) -> None:
    for name, factor in (("A", A), ("B", B), ("C", C)):
        shape = np.shape(factor)
        if len(shape) != 3 or shape[0] != n or shape[1] != shape[2]:
            raise ValueError(f"`{name}` must have shape ({n}, d, d), got {shape}")
    if not A.shape == B.shape == C.shape:
        raise ValueError(f"factor shapes differ: A {A.shape}, B {B.shape}, C {C.shape}")


def _inverse_permutation(values: np.ndarray, name: str) -> np.ndarray:
    n = values.shape[0]
    if not np.array_equal(np.sort(values), np.arange(n)):
        raise ValueError(f"{name} is not a permutation of 0..{n - 1}: {values.tolist()}")
    inverse = np.empty(n, dtype=np.int64)
    inverse[values] = np.arange(n)
    return inverse


def _pick_base(
    table: np.ndarray, a0: int | None, b0: int | None, is_group: bool
) -> tuple[int, int]:
    n = table.shape[0]
    identity = table_identity(table) if is_group else None
    default = identity if identity is not None else 0
    a0 = default if a0 is None else int(a0)
    b0 = default if b0 is None else int(b0)
    for name, value in (("a0", a0), ("b0", b0)):
        if not 0 <= value < n:
            raise ValueError(f"`{name}` must be a label in 0..{n - 1}, got {value}")
    return a0, b0


def gauge_fix(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray,
    table: np.ndarray,
    a0: int | None = None,
    b0: int | None = None,
) -> GaugeResult:
    """Turn three factors into one representation ``rho(x) = C_x^{-1} C_{c0}``.

    When ``a0``/``b0`` are not given: for a group table both default to its identity
    (found from the table), so ``rho`` represents the table's own operation; otherwise both
    default to ``0`` and ``rho`` represents the loop ``x . y = R^{-1}(x) * L^{-1}(y)``.

    Args:
        A: factor, shape ``(n, d, d)`` (``d = n`` for HyperCube).
        B: factor, shape ``(n, d, d)``.
        C: factor, shape ``(n, d, d)``; every slice must be invertible.
        table: multiplication table, ``int`` array of shape ``(n, n)``; row ``a0`` and
            column ``b0`` must be permutations.
        a0: row label of the base point.
        b0: column label of the base point.

    Returns:
        A :class:`GaugeResult`.

    Example:
        >>> import numpy as np
        >>> table = (np.arange(3)[:, None] + np.arange(3)[None, :]) % 3
        >>> shift = np.roll(np.eye(3), 1, axis=0)
        >>> P = np.stack([np.linalg.matrix_power(shift, g) for g in range(3)])
        >>> result = gauge_fix(P, P, P.transpose(0, 2, 1), table)
        >>> result.identity, result.homomorphism_error < 1e-12
        (0, True)
    """
    table = validate_table(table)
    n = table.shape[0]
    A, B, C = (np.asarray(f, dtype=np.float64) for f in (A, B, C))
    _check_factors(A, B, C, n)
    is_group = is_latin_square(table) and table_identity(table) is not None
    is_group = is_group and is_associative(table)
    a0, b0 = _pick_base(table, a0, b0, is_group)
    c0 = int(table[a0, b0])

    row_map = _inverse_permutation(table[:, b0], f"column b0={b0} of `table`")
    col_map = _inverse_permutation(table[a0, :], f"row a0={a0} of `table`")
    loop_table = table[row_map[:, None], col_map[None, :]]  # (n, n): x . y

    try:
        rho = np.linalg.solve(C, np.broadcast_to(C[c0], C.shape))  # (n, d, d): C_x^{-1} C_c0
        a0_inverse = np.linalg.inv(A[a0])
        c0_inverse = np.linalg.inv(C[c0])
    except np.linalg.LinAlgError as error:
        raise ValueError(f"a slice of `A` or `C` is singular: {error}") from error
    rho_orthogonal, sqrt_gram, inv_sqrt_gram = orthogonalize(rho)

    gauges = (inv_sqrt_gram, a0_inverse @ inv_sqrt_gram, C[c0] @ inv_sqrt_gram)
    factors = (
        sqrt_gram @ A[row_map] @ gauges[1],
        sqrt_gram @ A[a0] @ B[col_map] @ gauges[2],
        sqrt_gram @ c0_inverse @ C @ inv_sqrt_gram,
    )
    result = GaugeResult(
        rho=rho,
        rho_orthogonal=rho_orthogonal,
        gauges=gauges,
        factors=factors,
        identity=c0,
        a0=a0,
        b0=b0,
        loop_table=loop_table,
        row_map=row_map,
        col_map=col_map,
        is_group=bool(is_group),
        loop_is_group=is_associative(loop_table),
        homomorphism_error=homomorphism_error(rho, loop_table),
        orthogonality_error=orthogonality_error(rho),
        orthogonality_error_after=orthogonality_error(rho_orthogonal),
    )
    logger.debug(
        "gauge fix: identity %d, homomorphism error %.3g, orthogonality error %.3g -> %.3g",
        c0,
        result.homomorphism_error,
        result.orthogonality_error,
        result.orthogonality_error_after,
    )
    return result
