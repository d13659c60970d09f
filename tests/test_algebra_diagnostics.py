"""H = Bnd + R and n kappa, checked against slow references and exact solutions."""

from __future__ import annotations

import numpy as np
import pytest
from _tables import (
    cyclic,
    full_tensor,
    hidden_factors,
    permutation_representation,
    quaternion,
    symmetric,
)

from hc_lightning.algebra.diagnostics import cell_values, decomposition, regularizer

# A loop of order 5 (identity 0, 1 * 1 = 0): a Latin square that is no group isotope.
LOOP5 = np.array(
    [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]
)
TABLES = {"S3": symmetric(3), "Q8": quaternion(), "C5": cyclic(5), "loop5": LOOP5}


def _random_factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((3, n, n, n)) / np.sqrt(n)


def _norm2(X: np.ndarray) -> float:
    """Normalised squared norm tr(X^T X) / n."""
    return float(np.sum(X * X) / X.shape[-1])


def _slow_regularizer(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> float:
    n = A.shape[0]
    pairs = (A, B), (B, C), (C, A)
    return sum(_norm2(X[i] @ Y[j]) for X, Y in pairs for i in range(n) for j in range(n))


def _slow_remainder(A: np.ndarray, B: np.ndarray, C: np.ndarray, table: np.ndarray) -> float:
    """R as the sum over cells of the three squared projection residuals."""
    n = A.shape[0]
    total = 0.0
    for a in range(n):
        for b in range(n):
            c = table[a, b]
            value = np.trace(A[a] @ B[b] @ C[c]) / n
            total += _norm2(A[a] @ B[b] - value / _norm2(C[c]) * C[c].T)
            total += _norm2(B[b] @ C[c] - value / _norm2(A[a]) * A[a].T)
            total += _norm2(C[c] @ A[a] - value / _norm2(B[b]) * B[b].T)
    return total


@pytest.mark.parametrize("seed", [0, 1])
def test_regularizer_matches_slow_reference(seed: int) -> None:
    A, B, C = _random_factors(5, seed)
    np.testing.assert_allclose(regularizer(A, B, C), _slow_regularizer(A, B, C), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_cell_values_match_full_tensor(name: str) -> None:
    table = TABLES[name]
    n = len(table)
    A, B, C = _random_factors(n, 2)
    full = full_tensor(A, B, C)
    expected = full[np.arange(n)[:, None], np.arange(n)[None, :], table]
    np.testing.assert_allclose(cell_values(A, B, C, table), expected, atol=1e-13)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_split_is_exact_for_random_factors(name: str) -> None:
    table = TABLES[name]
    A, B, C = _random_factors(len(table), 3)
    stats = decomposition(A, B, C, table)
    remainder = _slow_remainder(A, B, C, table)
    assert stats["remainder"] > 0.0
    assert abs(stats["remainder"] - remainder) < 1e-10 * stats["h"]
    assert stats["h"] == pytest.approx(stats["bound"] + remainder, rel=1e-12)
    scale = 3 * len(table) ** 2
    for key in ("h", "bound", "remainder"):
        assert stats[f"{key}_normalized"] == pytest.approx(stats[key] / scale, rel=1e-14)


@pytest.mark.parametrize("name", ["S3", "Q8", "C5"])
def test_unitary_group_solution(name: str) -> None:
    table = TABLES[name]
    n = len(table)
    A, B, C = hidden_factors(table, np.random.default_rng(4), orthogonal=True)
    stats = decomposition(A, B, C, table)
    assert stats["h_normalized"] == pytest.approx(1.0, abs=1e-12)
    assert stats["bound_normalized"] == pytest.approx(1.0, abs=1e-12)
    assert abs(stats["remainder"]) < 1e-10
    assert stats["n_kappa"] == pytest.approx(n, abs=1e-10)
    assert stats["n_kappa_std"] < 1e-10
    assert stats["n_kappa_min"] == pytest.approx(stats["n_kappa_max"], abs=1e-10)


@pytest.mark.parametrize("name", ["S3", "Q8", "C5"])
def test_non_orthogonal_solution_pays_in_h(name: str) -> None:
    """Same T = delta behind non-orthogonal gauges: misaligned, so R > 0 and H > 3 n^2."""
    table = TABLES[name]
    A, B, C = hidden_factors(table, np.random.default_rng(5))
    stats = decomposition(A, B, C, table)
    assert stats["remainder_normalized"] > 0.1
    assert stats["h_normalized"] > 1.1
    assert stats["n_kappa_std"] > 0.1


def test_n_kappa_is_the_rank_on_the_collinear_manifold() -> None:
    """S3 acting on 3 points, embedded in 6 x 6 and scaled so T = 1 on the cells: rank 3."""
    table = symmetric(3)
    n, rank = 6, 3
    permutations = permutation_representation(rank)  # (6, 3, 3)
    embed = np.linalg.qr(np.random.default_rng(6).standard_normal((n, n)))[0][:, :rank]
    scale = (n / rank) ** (1 / 3)  # (1/n) tr(s^3 I_rank) = 1
    A = scale * embed @ permutations @ embed.T
    C = A.transpose(0, 2, 1)
    np.testing.assert_allclose(cell_values(A, A, C, table), 1.0, atol=1e-12)
    stats = decomposition(A, A, C, table)
    assert abs(stats["remainder"]) < 1e-10
    assert stats["n_kappa"] == pytest.approx(rank, abs=1e-10)
    assert stats["n_kappa_std"] < 1e-10


def test_bad_input_raises() -> None:
    A, B, C = _random_factors(3, 7)
    table = cyclic(3)
    with pytest.raises(ValueError, match="Latin"):
        decomposition(A, B, C, np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="`B`"):
        regularizer(A, B[:, :2], C)
    with pytest.raises(ValueError, match="order"):
        cell_values(A, B, C, cyclic(4))
    zero = C.copy()
    zero[1] = 0.0
    with pytest.raises(ValueError, match="zero"):
        decomposition(A, B, zero, table)
