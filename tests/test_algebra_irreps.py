"""Exact irreducible decomposition of regular representations of small groups."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from _tables import (
    alternating,
    cyclic,
    dihedral,
    hidden_factors,
    permutation_representation,
    quaternion,
    regular_representation,
    relabel,
    symmetric,
)

from hc_lightning.algebra.gauge import gauge_fix, homomorphism_error
from hc_lightning.algebra.irreps import conjugacy_classes, decompose

TOL = 1e-9
GROUPS = {
    "C3": cyclic(3),
    "C4": cyclic(4),
    "S3": symmetric(3),
    "Q8": quaternion(),
    "D4": dihedral(4),
    "A4": alternating(4),
    "S4": symmetric(4),
}
# (real dimension, copies, type) of every real irrep in the regular representation.
EXPECTED = {
    "C3": [(1, 1, "real"), (2, 1, "complex")],
    "C4": [(1, 1, "real"), (1, 1, "real"), (2, 1, "complex")],
    "S3": [(1, 1, "real"), (1, 1, "real"), (2, 2, "real")],
    "Q8": [(1, 1, "real")] * 4 + [(4, 1, "quaternionic")],
    "D4": [(1, 1, "real")] * 4 + [(2, 2, "real")],
    "A4": [(1, 1, "real"), (2, 1, "complex"), (3, 3, "real")],
    "S4": [(1, 1, "real"), (1, 1, "real"), (2, 2, "real"), (3, 3, "real"), (3, 3, "real")],
}
CLASS_COUNTS = {"C3": 3, "C4": 4, "S3": 3, "Q8": 5, "D4": 5, "A4": 4, "S4": 5}
# (<chi, chi>, (1/|G|) sum_g chi(g^2)) of a real irreducible block of each type.
TYPE_INVARIANTS = {"real": (1, 1), "complex": (2, 0), "quaternionic": (4, -2)}


def _random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((d, d)))[0]


def _summary(decomposition) -> list[tuple[int, int, str]]:
    return [(irrep.dimension, irrep.copies, irrep.type) for irrep in decomposition.irreps]


def _check_decomposition(decomposition, rho: np.ndarray, table: np.ndarray) -> None:
    """Block structure, characters and orthogonality relations of a decomposition."""
    n, d, _ = rho.shape
    Q = decomposition.basis
    np.testing.assert_allclose(Q.T @ Q, np.eye(d), atol=TOL)
    assert decomposition.off_block_error < TOL
    assert sum(irrep.dimension * irrep.copies for irrep in decomposition.irreps) == d

    # Q^T rho Q is the direct sum of the irreps' own matrices, copy after copy.
    expected = np.zeros_like(rho)
    for index, start, stop in decomposition.blocks:
        expected[:, start:stop, start:stop] = decomposition.irreps[index].matrices
    np.testing.assert_allclose(Q.T @ rho @ Q, expected, atol=TOL)

    squares = table[np.arange(n), np.arange(n)]
    characters = np.stack([irrep.character for irrep in decomposition.irreps])
    gram = characters @ characters.T / n
    for i, irrep in enumerate(decomposition.irreps):
        assert homomorphism_error(irrep.matrices, table) < TOL
        np.testing.assert_allclose(
            np.trace(irrep.matrices, axis1=1, axis2=2), irrep.character, atol=TOL
        )
        assert irrep.character.max() == pytest.approx(irrep.dimension)
        norm, indicator = TYPE_INVARIANTS[irrep.type]
        assert gram[i, i] == pytest.approx(norm, abs=TOL)
        assert irrep.character[squares].mean() == pytest.approx(indicator, abs=TOL)
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=TOL)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_regular_representation(name: str) -> None:
    table = GROUPS[name]
    rho = regular_representation(table)
    decomposition = decompose(rho, table, rng=0)
    assert _summary(decomposition) == EXPECTED[name]
    assert len(decomposition.conjugacy_classes) == CLASS_COUNTS[name]
    assert decomposition.is_complete and decomposition.is_regular
    _check_decomposition(decomposition, rho, table)


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_complex_character_table(name: str) -> None:
    table = GROUPS[name]
    n = len(table)
    decomposition = decompose(regular_representation(table), table, rng=1)
    chars = decomposition.complex_character_table()
    sizes = np.array([len(members) for members in decomposition.conjugacy_classes])
    assert chars.shape == (CLASS_COUNTS[name], CLASS_COUNTS[name])
    # Row orthogonality weighted by class sizes, column orthogonality by centraliser orders.
    np.testing.assert_allclose((chars * sizes) @ chars.conj().T / n, np.eye(len(sizes)), atol=TOL)
    np.testing.assert_allclose(chars.conj().T @ chars, np.diag(n / sizes), atol=TOL)
    np.testing.assert_allclose(chars[:, 0].real, np.round(chars[:, 0].real), atol=TOL)
    assert np.sum(chars[:, 0].real ** 2) == pytest.approx(n)
    real_table = decomposition.character_table()
    assert real_table.shape == (len(decomposition.irreps), CLASS_COUNTS[name])


@pytest.mark.parametrize("name", sorted(GROUPS))
def test_conjugated_and_relabelled_input(name: str) -> None:
    rng = np.random.default_rng(2)
    n = len(GROUPS[name])
    perm = rng.permutation(n)
    table = relabel(GROUPS[name], perm)
    rotation = _random_orthogonal(n, rng)
    rho = rotation @ regular_representation(table) @ rotation.T
    decomposition = decompose(rho, table, rng=rng)
    assert _summary(decomposition) == EXPECTED[name]
    assert decomposition.is_regular
    _check_decomposition(decomposition, rho, table)


def test_c4_complex_pair() -> None:
    table = cyclic(4)
    decomposition = decompose(regular_representation(table), table, rng=3)
    pair = decomposition.irreps[2].complex_characters
    # The conjugate pair of C4: g -> i^g and g -> (-i)^g, in some order.
    candidates = {
        tuple(np.round(1j ** np.arange(4), 12)),
        tuple(np.round((-1j) ** np.arange(4), 12)),
    }
    assert {tuple(np.round(row, 12)) for row in pair} == candidates


def test_conjugacy_classes_match_brute_force() -> None:
    table = relabel(symmetric(4), np.random.default_rng(4).permutation(24))
    n = len(table)
    identity = next(e for e in range(n) if all(table[e, x] == x for x in range(n)))
    inverse = [next(h for h in range(n) if table[g, h] == identity) for g in range(n)]
    expected = {frozenset(table[table[g, x], inverse[g]] for g in range(n)) for x in range(n)}
    classes = conjugacy_classes(table)
    assert {frozenset(members.tolist()) for members in classes} == expected
    assert classes[0].tolist() == [identity]
    assert sorted(len(members) for members in classes) == [1, 3, 6, 6, 8]


def test_permutation_representation_is_not_regular() -> None:
    """S3 acting on three points: trivial plus the 2-dim irrep once, not every irrep."""
    table = symmetric(3)
    rho = permutation_representation(3)
    decomposition = decompose(rho, table, rng=5)
    assert _summary(decomposition) == [(1, 1, "real"), (2, 1, "real")]
    assert not decomposition.is_complete and not decomposition.is_regular
    _check_decomposition(decomposition, rho, table)


def test_end_to_end_from_hidden_factors() -> None:
    rng = np.random.default_rng(6)
    perm = rng.permutation(8)
    table = relabel(quaternion(), perm)
    result = gauge_fix(*hidden_factors(table, rng), table)
    assert result.is_group and result.identity == perm[0]
    decomposition = decompose(result.rho_orthogonal, result.loop_table, rng=rng)
    assert _summary(decomposition) == EXPECTED["Q8"]
    _check_decomposition(decomposition, result.rho_orthogonal, result.loop_table)
    assert json.loads(json.dumps(decomposition.to_dict()))["is_regular"] is True


def test_s4_and_s5_are_fast() -> None:
    for table, bound in ((symmetric(4), 1.0), (symmetric(5), 10.0)):
        rho = regular_representation(table)
        start = time.perf_counter()
        decomposition = decompose(rho, table, rng=7)
        elapsed = time.perf_counter() - start
        assert elapsed < bound, f"decomposition of order {len(table)} took {elapsed:.2f} s"
        assert decomposition.is_regular
    dims = [(irrep.dimension, irrep.copies) for irrep in decomposition.irreps]
    assert dims == [(1, 1), (1, 1), (4, 4), (4, 4), (5, 5), (5, 5), (6, 6)]
    assert decomposition.off_block_error < TOL


def test_bad_input_raises() -> None:
    table = symmetric(3)
    rho = regular_representation(table)
    with pytest.raises(ValueError, match="group"):
        decompose(rho, np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]]))
    with pytest.raises(ValueError, match="rho"):
        decompose(rho[:5], table)
    with pytest.raises(ValueError, match="orthogonal"):
        decompose(2.0 * rho, table)
    with pytest.raises(ValueError, match="tol"):
        decompose(rho, table, tol=0.0)
    wrong = np.stack([_random_orthogonal(6, np.random.default_rng(g)) for g in range(6)])
    with pytest.raises(ValueError, match="representation"):
        decompose(wrong, table, rng=8)


@pytest.mark.parametrize("tol", [1e-2, 3e-2, 1e-1])
def test_coarse_tolerance_resplits_merged_eigenspaces(tol: float) -> None:
    """At these tolerances the first eigendecomposition of S4 merges several copies; the
    merged eigenspaces must be split again with fresh random matrices."""
    table = symmetric(4)
    rho = regular_representation(table)
    decomposition = decompose(rho, table, rng=0, tol=tol)
    assert _summary(decomposition) == EXPECTED["S4"]
    _check_decomposition(decomposition, rho, table)
