"""Gauge fixing recovers a representation from exact factors hidden behind random gauges."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _tables import (
    cyclic,
    dihedral,
    full_tensor,
    hidden_factors,
    is_group_reference,
    quaternion,
    regular_representation,
    relabel,
    structure_tensor,
    symmetric,
)

from hc_lightning.algebra.gauge import (
    gauge_fix,
    homomorphism_error,
    is_associative,
    is_latin_square,
    orthogonality_error,
    orthogonalize,
    table_identity,
)

TOL = 1e-9
GROUPS = {"C5": cyclic(5), "S3": symmetric(3), "Q8": quaternion(), "D4": dihedral(4)}
# A loop of order 5 (identity 0, 1 * 1 = 0): Latin but not a group, nor isotopic to one.
LOOP5 = np.array(
    [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]
)


def _isotope(table: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Rows, columns and results relabelled independently: t'[al(a), be(b)] = ga(t[a, b])."""
    n = table.shape[0]
    alpha, beta, gamma = (rng.permutation(n) for _ in range(3))
    out = np.empty_like(table)
    out[alpha[:, None], beta[None, :]] = gamma[table]
    return out, alpha, beta, gamma


def _check_solution(result, table: np.ndarray, A, B, C) -> None:
    """Shared checks of a gauge fix of exact factors of a group (isotope)."""
    n = table.shape[0]
    e = result.identity
    assert result.loop_is_group
    assert is_group_reference(result.loop_table)
    assert result.homomorphism_error < TOL
    assert homomorphism_error(result.rho_orthogonal, result.loop_table) < TOL
    np.testing.assert_allclose(result.rho[e], np.eye(n), atol=TOL)
    # rho is conjugate to the regular representation: trace n at the identity, 0 elsewhere.
    np.testing.assert_allclose(
        np.trace(result.rho, axis1=1, axis2=2), n * (np.arange(n) == e), atol=TOL
    )
    assert result.orthogonality_error_after < TOL
    np.testing.assert_allclose(orthogonality_error(result.rho_orthogonal), 0.0, atol=TOL)

    # Synchronised factors: A' = B' = rho_o, C' = rho_o^T, and the same predictions.
    A2, B2, C2 = result.factors
    np.testing.assert_allclose(A2, result.rho_orthogonal, atol=TOL)
    np.testing.assert_allclose(B2, result.rho_orthogonal, atol=TOL)
    np.testing.assert_allclose(C2, result.rho_orthogonal.transpose(0, 2, 1), atol=TOL)
    original = full_tensor(A, B, C)[result.row_map][:, result.col_map]
    np.testing.assert_allclose(full_tensor(A2, B2, C2), original, atol=TOL)
    np.testing.assert_allclose(
        full_tensor(A2, B2, C2), structure_tensor(result.loop_table), atol=TOL
    )

    # The explicit gauges reproduce the factors.
    G1, G2, G3 = result.gauges
    inv = np.linalg.inv
    np.testing.assert_allclose(A2, inv(G1) @ A[result.row_map] @ G2, atol=TOL)
    np.testing.assert_allclose(B2, inv(G2) @ B[result.col_map] @ G3, atol=TOL)
    np.testing.assert_allclose(C2, inv(G3) @ C @ G1, atol=TOL)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_hidden_factors_are_exact(name: str) -> None:
    table = GROUPS[name]
    A, B, C = hidden_factors(table, np.random.default_rng(0))
    np.testing.assert_allclose(full_tensor(A, B, C), structure_tensor(table), atol=1e-12)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_group_gauge_fix(name: str) -> None:
    table = GROUPS[name]
    A, B, C = hidden_factors(table, np.random.default_rng(1))
    result = gauge_fix(A, B, C, table)
    assert result.is_group and result.identity == 0
    np.testing.assert_array_equal(result.loop_table, table)
    np.testing.assert_array_equal(result.row_map, np.arange(len(table)))
    np.testing.assert_array_equal(result.col_map, np.arange(len(table)))
    assert result.orthogonality_error > 0.1  # the hidden gauges are far from orthogonal
    _check_solution(result, table, A, B, C)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_relabelled_group_finds_its_identity(name: str) -> None:
    rng = np.random.default_rng(2)
    n = len(GROUPS[name])
    perm = rng.permutation(n)
    if perm[0] == 0:
        perm[[0, 1]] = perm[[1, 0]]
    table = relabel(GROUPS[name], perm)
    A, B, C = hidden_factors(GROUPS[name], rng)
    inverse = np.argsort(perm)
    A, B, C = A[inverse], B[inverse], C[inverse]  # factor of new label perm[g] = old g
    np.testing.assert_allclose(full_tensor(A, B, C), structure_tensor(table), atol=1e-12)

    result = gauge_fix(A, B, C, table)
    assert result.is_group
    assert result.identity == perm[0] != 0
    assert (result.a0, result.b0) == (perm[0], perm[0])
    np.testing.assert_array_equal(result.loop_table, table)
    _check_solution(result, table, A, B, C)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_isotope_gauge_fix(name: str) -> None:
    rng = np.random.default_rng(3)
    base = GROUPS[name]
    table, alpha, beta, gamma = _isotope(base, rng)
    assert not is_group_reference(table)
    A, B, C = hidden_factors(base, rng)
    A, B, C = A[np.argsort(alpha)], B[np.argsort(beta)], C[np.argsort(gamma)]
    np.testing.assert_allclose(full_tensor(A, B, C), structure_tensor(table), atol=1e-12)

    result = gauge_fix(A, B, C, table)
    n = len(table)
    assert not result.is_group
    assert (result.a0, result.b0, result.identity) == (0, 0, table[0, 0])
    np.testing.assert_array_equal(table[result.row_map, 0], np.arange(n))  # R(row_map[x]) = x
    np.testing.assert_array_equal(table[0, result.col_map], np.arange(n))  # L(col_map[y]) = y
    reference = np.array(
        [
            [table[list(table[:, 0]).index(x), list(table[0]).index(y)] for y in range(n)]
            for x in range(n)
        ]
    )
    np.testing.assert_array_equal(result.loop_table, reference)
    _check_solution(result, table, A, B, C)


def test_explicit_base_point_gives_principal_isotope() -> None:
    table = symmetric(3)
    A, B, C = hidden_factors(table, np.random.default_rng(4))
    result = gauge_fix(A, B, C, table, a0=2, b0=4)
    assert result.identity == table[2, 4]
    assert result.is_group
    _check_solution(result, table, A, B, C)


def test_non_isotope_is_flagged() -> None:
    rng = np.random.default_rng(5)
    A, B, C = rng.standard_normal((3, 5, 5, 5))
    result = gauge_fix(A, B, C, LOOP5)
    assert not result.is_group and not result.loop_is_group
    np.testing.assert_array_equal(result.loop_table, LOOP5)  # already a loop with identity 0
    np.testing.assert_allclose(result.rho[0], np.eye(5), atol=1e-12)
    assert result.homomorphism_error > 0.1


def test_to_dict_is_json() -> None:
    table = cyclic(4)
    A, B, C = hidden_factors(table, np.random.default_rng(6))
    result = gauge_fix(A, B, C, table)
    data = json.loads(json.dumps(result.to_dict(include_matrices=True)))
    assert data["identity"] == 0 and data["is_group"] is True
    assert data["loop_table"] == table.tolist()
    np.testing.assert_allclose(np.array(data["rho_orthogonal"]), result.rho_orthogonal)
    assert "rho" not in result.to_dict()


def test_homomorphism_error_matches_slow_reference() -> None:
    rng = np.random.default_rng(7)
    table = symmetric(3)
    rho = rng.standard_normal((6, 4, 4))
    expected = max(
        np.linalg.norm(rho[x] @ rho[y] - rho[table[x, y]]) / 2.0  # Frobenius / sqrt(d)
        for x in range(6)
        for y in range(6)
    )
    np.testing.assert_allclose(homomorphism_error(rho, table), expected, rtol=1e-12)


def test_orthogonalize_makes_orthogonal_and_conjugates() -> None:
    rng = np.random.default_rng(8)
    table = dihedral(3)
    gauge = rng.standard_normal((6, 6)) + 3 * np.eye(6)
    rho = gauge @ regular_representation(table) @ np.linalg.inv(gauge)
    rho_o, P, P_inv = orthogonalize(rho)
    np.testing.assert_allclose(P @ P_inv, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(P, P.T, atol=1e-12)
    np.testing.assert_allclose(rho_o, P @ rho @ P_inv, atol=1e-12)
    assert orthogonality_error(rho) > 0.1 > 1e-10 > orthogonality_error(rho_o)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_table_utilities_match_references(name: str) -> None:
    table = GROUPS[name]
    isotope = _isotope(table, np.random.default_rng(9))[0]
    for candidate in (table, isotope, LOOP5):
        identity = table_identity(candidate)
        n = len(candidate)
        expected = [
            e for e in range(n) if all(candidate[e, x] == x == candidate[x, e] for x in range(n))
        ]
        assert identity == (expected[0] if expected else None)
        assert is_latin_square(candidate)
        assert (
            is_latin_square(candidate) and identity is not None and is_associative(candidate)
        ) == (is_group_reference(candidate))
    broken = table.copy()
    broken[0, 0] = broken[0, 1]
    assert not is_latin_square(broken)


def test_bad_input_raises() -> None:
    table = cyclic(3)
    A, B, C = hidden_factors(table, np.random.default_rng(10))
    with pytest.raises(ValueError, match="table"):
        gauge_fix(A, B, C, np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        gauge_fix(A, B, C, table + 1)
    with pytest.raises(ValueError, match="`A`"):
        gauge_fix(A[:2], B, C, table)
    with pytest.raises(ValueError, match="a0"):
        gauge_fix(A, B, C, table, a0=3)
    with pytest.raises(ValueError, match="row a0=0"):
        gauge_fix(A, B, C, np.array([[0, 0, 1], [1, 2, 0], [2, 1, 2]]))
    singular = C.copy()
    singular[1] = 0.0
    with pytest.raises(ValueError, match="singular"):
        gauge_fix(A, B, singular, table)
