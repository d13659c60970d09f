"""Small multiplication tables and exact factors for the algebra tests.

Independent of ``hc_lightning.algebra.group`` on purpose: each builder is a few lines of
arithmetic that can be checked by eye.
"""

from __future__ import annotations

import itertools

import numpy as np


def cyclic(n: int) -> np.ndarray:
    """C_n: ``a * b = (a + b) mod n``."""
    labels = np.arange(n)
    return (labels[:, None] + labels[None, :]) % n


def dihedral(m: int) -> np.ndarray:
    """D_m of order ``2m``: element ``k + m f`` is ``r^k s^f``; ``s r = r^{-1} s``."""
    k, f = np.divmod(np.arange(2 * m), m)[::-1]
    sign = 1 - 2 * f[:, None]  # s^f1 r^k2 = r^{(-1)^f1 k2} s^f1
    rotation = (k[:, None] + sign * k[None, :]) % m
    flip = f[:, None] ^ f[None, :]
    return rotation + m * flip


def _permutation_table(perms: list[tuple[int, ...]]) -> np.ndarray:
    """Table of composition ``(p q)(i) = p(q(i))`` over the given list of permutations."""
    index = {p: i for i, p in enumerate(perms)}
    table = np.empty((len(perms), len(perms)), dtype=np.int64)
    for i, p in enumerate(perms):
        for j, q in enumerate(perms):
            table[i, j] = index[tuple(p[x] for x in q)]
    return table


def symmetric(k: int) -> np.ndarray:
    """S_k on ``k!`` elements; element 0 is the identity permutation."""
    return _permutation_table(list(itertools.permutations(range(k))))


def permutation_representation(k: int) -> np.ndarray:
    """S_k acting on ``k`` points, ``M_p e_i = e_{p(i)}``, in the order of :func:`symmetric`."""
    perms = list(itertools.permutations(range(k)))
    rho = np.zeros((len(perms), k, k))
    for g, p in enumerate(perms):
        rho[g, list(p), range(k)] = 1.0
    return rho


def alternating(k: int) -> np.ndarray:
    """A_k: the even permutations of ``k`` points."""

    def even(p: tuple[int, ...]) -> bool:
        inversions = sum(p[i] > p[j] for i in range(k) for j in range(i + 1, k))
        return inversions % 2 == 0

    return _permutation_table([p for p in itertools.permutations(range(k)) if even(p)])


# Quaternion units 1, i, j, k as 0..3: product of units is (sign, unit).
_UNIT_PRODUCT = {
    (0, 0): (1, 0), (0, 1): (1, 1), (0, 2): (1, 2), (0, 3): (1, 3),
    (1, 0): (1, 1), (1, 1): (-1, 0), (1, 2): (1, 3), (1, 3): (-1, 2),
    (2, 0): (1, 2), (2, 1): (-1, 3), (2, 2): (-1, 0), (2, 3): (1, 1),
    (3, 0): (1, 3), (3, 1): (1, 2), (3, 2): (-1, 1), (3, 3): (-1, 0),
}  # fmt: skip


def quaternion() -> np.ndarray:
    """Q8: element ``u + 4 s`` is ``(-1)^s`` times unit ``u`` of (1, i, j, k)."""
    table = np.empty((8, 8), dtype=np.int64)
    for x in range(8):
        for y in range(8):
            sign, unit = _UNIT_PRODUCT[(x % 4, y % 4)]
            negative = (x // 4 + y // 4 + (sign < 0)) % 2
            table[x, y] = unit + 4 * negative
    return table


def relabel(table: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """The same group with element ``g`` renamed ``perm[g]``."""
    out = np.empty_like(table)
    out[perm[:, None], perm[None, :]] = perm[table]
    return out


def regular_representation(table: np.ndarray) -> np.ndarray:
    """Left regular representation ``P_g e_h = e_{g h}``, shape ``(n, n, n)``."""
    n = table.shape[0]
    rho = np.zeros((n, n, n))
    g, h = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rho[g, table, h] = 1.0  # column h of P_g has its one in row g * h
    return rho


def hidden_factors(
    table: np.ndarray, rng: np.random.Generator, orthogonal: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact factors ``A_a = G1 P_a G2^{-1}``, ``B_b = G2 P_b G3^{-1}``, ``C_c = G3 P_c^T G1^{-1}``.

    ``table`` must be a group. The gauges are random orthogonal matrices, or (by default)
    ``U diag(s) V^T`` with random orthogonal ``U, V`` and scales ``s`` in ``[1/e, e]``: far
    from orthogonal yet well conditioned.
    """
    n = table.shape[0]
    P = regular_representation(table)
    rotations = np.linalg.qr(rng.standard_normal((6, n, n)))[0]
    scales = np.ones((3, 1, n)) if orthogonal else np.exp(rng.uniform(-1.0, 1.0, (3, 1, n)))
    G1, G2, G3 = (rotations[:3] * scales) @ rotations[3:]
    A = G1 @ P @ np.linalg.inv(G2)
    B = G2 @ P @ np.linalg.inv(G3)
    C = G3 @ P.transpose(0, 2, 1) @ np.linalg.inv(G1)
    return A, B, C


def full_tensor(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Slow reference ``T[a, b, c] = (1/d) tr(A_a B_b C_c)``, shape ``(n, n, n)``."""
    d = A.shape[-1]
    return np.einsum("aij,bjk,cki->abc", A, B, C, optimize=True) / d


def structure_tensor(table: np.ndarray) -> np.ndarray:
    """``delta[a, b, c] = 1`` iff ``table[a, b] = c``."""
    n = table.shape[0]
    delta = np.zeros((n, n, n))
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    delta[a, b, table] = 1.0
    return delta


def is_group_reference(table: np.ndarray) -> bool:
    """Slow reference: Latin, two-sided identity and associative, by explicit loops."""
    n = table.shape[0]
    labels = list(range(n))
    latin = all(sorted(table[i]) == labels and sorted(table[:, i]) == labels for i in range(n))
    has_identity = any(
        all(table[e, x] == x and table[x, e] == x for x in range(n)) for e in range(n)
    )
    associative = all(
        table[table[a, b], c] == table[a, table[b, c]]
        for a in range(n)
        for b in range(n)
        for c in range(n)
    )
    return latin and has_identity and associative
