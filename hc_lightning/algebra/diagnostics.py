"""Theory diagnostics of HyperCube factors on a complete Latin-square table (float64).

With the normalised norm ``||X||^2 = tr(X^T X) / n`` and
``T[a, b, c] = (1/n) tr(A_a B_b C_c) = <A_a^T, B_b C_c>``, the regularizer is

.. math::

    H = \\sum_{a,b} \\|A_a B_b\\|^2 + \\sum_{b,c} \\|B_b C_c\\|^2 + \\sum_{c,a} \\|C_c A_a\\|^2 .

In a Latin square every pair of each of the three pairings lies in exactly one cell
``a * b = c``, so each sum runs over the ``n^2`` cells. Cauchy-Schwarz,
``T^2 <= ||A_a||^2 ||B_b C_c||^2`` and its two cyclic versions, splits ``H = Bnd + R`` with

.. math::

    \\mathrm{Bnd} = \\sum_{a * b = c} T[a,b,c]^2 \\Big(\\frac{1}{\\|A_a\\|^2}
        + \\frac{1}{\\|B_b\\|^2} + \\frac{1}{\\|C_c\\|^2}\\Big),

and ``R >= 0`` the sum of the squared residuals of projecting ``B_b C_c`` on ``A_a^T``,
``C_c A_a`` on ``B_b^T`` and ``A_a B_b`` on ``C_c^T``, e.g.
``||B_b C_c - (T / ||A_a||^2) A_a^T||^2 = ||B_b C_c||^2 - T^2 / ||A_a||^2``.
On the collinear manifold ``R = 0`` the ratio
``kappa = ||A_a||^2 ||B_b||^2 ||C_c||^2 / T[a,b,c]^2`` is the same on every cell and
``n kappa`` is the rank of the shared Gram matrix (``n`` for unitary factors).
"""

from __future__ import annotations

import numpy as np

from hc_lightning.algebra.gauge import is_latin_square, validate_table

__all__ = ["cell_values", "decomposition", "regularizer"]

# Upper bound on the entries of one temporary array in the chunked O(n^5) cell contraction.
_CHUNK_ENTRIES = 4_000_000


def _check_factors(*factors: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(f, dtype=np.float64) for f in factors)
    for name, array in zip("ABC", arrays, strict=True):
        n = array.shape[0] if array.ndim else 0
        if array.shape != (n, n, n) or n == 0:
            raise ValueError(f"`{name}` must have shape (n, n, n), got {array.shape}")
    if len({array.shape for array in arrays}) != 1:
        raise ValueError(f"factor shapes differ: {[array.shape for array in arrays]}")
    return arrays


def _pair_sum(left: np.ndarray, right: np.ndarray) -> float:
    """``sum_{x,y} ||left_x right_y||_F^2 = <sum_x left_x^T left_x, sum_y right_y right_y^T>_F``."""
    d = left.shape[-1]
    stacked_left = left.reshape(-1, d)  # (n*d, d): rows of every left_x
    stacked_right = right.transpose(0, 2, 1).reshape(-1, d)  # (n*d, d): columns of right_y
    return float(np.sum((stacked_left.T @ stacked_left) * (stacked_right.T @ stacked_right)))


def regularizer(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> float:
    """``H = (1/n) [sum_{a,b} ||A_a B_b||_F^2 + sum_{b,c} ||B_b C_c||_F^2
    + sum_{c,a} ||C_c A_a||_F^2]`` in ``O(n^4)`` through Gram matrices.

    Args:
        A: factor, shape ``(n, n, n)``.
        B: factor, shape ``(n, n, n)``.
        C: factor, shape ``(n, n, n)``.

    Example:
        >>> import numpy as np
        >>> eye = np.broadcast_to(np.eye(3), (3, 3, 3))
        >>> regularizer(eye, eye, eye)  # 3 n^2
        27.0
    """
    A, B, C = _check_factors(A, B, C)
    n = A.shape[0]
    return (_pair_sum(A, B) + _pair_sum(B, C) + _pair_sum(C, A)) / n


def cell_values(A: np.ndarray, B: np.ndarray, C: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``T[a, b, table[a, b]]`` for every pair, shape ``(n, n)``; ``O(n^5)``, chunked over ``a``.

    Args:
        A: factor, shape ``(n, n, n)``.
        B: factor, shape ``(n, n, n)``.
        C: factor, shape ``(n, n, n)``.
        table: complete table, shape ``(n, n)``.
    """
    A, B, C = _check_factors(A, B, C)
    table = validate_table(table)
    n = A.shape[0]
    if table.shape[0] != n:
        raise ValueError(f"`table` has order {table.shape[0]} but the factors have n = {n}")
    side_by_side = B.transpose(1, 0, 2).reshape(n, n * n)  # (n, n*n) = [B_0 | B_1 | ...]
    step = max(1, _CHUNK_ENTRIES // n**3)
    values = np.empty((n, n))
    for start in range(0, n, step):
        left = A[start : start + step]
        k = left.shape[0]
        products = (left @ side_by_side).reshape(k, n, n, n).transpose(0, 2, 1, 3)  # (k, b, i, j)
        closing = C[table[start : start + step]]  # (k, b, j, i): C at c = a * b
        values[start : start + k] = np.einsum("abij,abji->ab", products, closing) / n
    return values


def decomposition(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, table: np.ndarray
) -> dict[str, float]:
    """Split ``H = Bnd + R`` and measure ``n kappa`` on the cells of a Latin square.

    Costs ``O(n^5)`` for the cell values ``T[a, b, a * b]`` (see :func:`cell_values`); the
    rest is ``O(n^4)``. ``R`` is computed as ``H - Bnd``; the identity with the sum of the
    squared projection residuals is exact for any factors (tested).

    Args:
        A: factor, shape ``(n, n, n)``; no slice may vanish.
        B: factor, shape ``(n, n, n)``.
        C: factor, shape ``(n, n, n)``.
        table: complete Latin square, shape ``(n, n)``.

    Returns:
        Plain floats: ``h``, ``bound``, ``remainder`` and the same divided by ``3 n^2``
        (``h_normalized``, ``bound_normalized``, ``remainder_normalized``; ``1, 1, 0`` at a
        unitary group solution), and ``n_kappa`` (mean over the cells) with its spread
        ``n_kappa_std``, ``n_kappa_min``, ``n_kappa_max``.

    Example:
        >>> import numpy as np
        >>> table = (np.arange(3)[:, None] + np.arange(3)[None, :]) % 3
        >>> shift = np.roll(np.eye(3), 1, axis=0)
        >>> P = np.stack([np.linalg.matrix_power(shift, g) for g in range(3)])
        >>> stats = decomposition(P, P, P.transpose(0, 2, 1), table)
        >>> round(stats["h_normalized"], 12), round(stats["n_kappa"], 12)
        (1.0, 3.0)
    """
    A, B, C = _check_factors(A, B, C)
    table = validate_table(table)
    if not is_latin_square(table):
        raise ValueError("`table` must be a complete Latin square for the H = Bnd + R split")
    n = A.shape[0]
    norms = [np.einsum("xij,xij->x", f, f) / n for f in (A, B, C)]  # ||X_x||^2, each (n,)
    if min(float(norm.min()) for norm in norms) <= 0.0:
        raise ValueError("a factor slice is zero: ||A_a||, ||B_b||, ||C_c|| must be positive")

    h = regularizer(A, B, C)
    values = cell_values(A, B, C, table)  # (n, n): T at c = a * b
    norm_a = norms[0][:, None]  # (n, 1) over a
    norm_b = norms[1][None, :]  # (1, n) over b
    norm_c = norms[2][table]  # (n, n) at c = a * b
    bound = float(np.sum(values**2 * (1 / norm_a + 1 / norm_b + 1 / norm_c)))
    with np.errstate(divide="ignore"):
        n_kappa = n * norm_a * norm_b * norm_c / values**2
    scale = 3 * n**2
    return {
        "h": h,
        "bound": bound,
        "remainder": h - bound,
        "h_normalized": h / scale,
        "bound_normalized": bound / scale,
        "remainder_normalized": (h - bound) / scale,
        "n_kappa": float(n_kappa.mean()),
        "n_kappa_std": float(n_kappa.std()),
        "n_kappa_min": float(n_kappa.min()),
        "n_kappa_max": float(n_kappa.max()),
    }
