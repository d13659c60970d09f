"""CayleyTable.from_actions: tables observed by composing black-box transformations.

The reference for every cell is the product computed independently of the callables: for the
symmetries of the square, the pixel permutations composed as index arrays; for permutations of
a vector, composition of the permutation arrays. Transformations that are not closed under
composition, or that the probes cannot tell apart, must leave cells unknown and say so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hc_lightning.algebra.constructions import dihedral
from hc_lightning.algebra.group import FiniteGroup, find_isomorphism
from hc_lightning.data.actions import ActionReport, table_from_actions
from hc_lightning.data.table import UNKNOWN, CayleyTable
from hc_lightning.nn.lifting import d4_action


def rotation(quarter_turns: int):
    return lambda x: torch.rot90(x, quarter_turns, dims=(-2, -1))


def square_symmetries() -> list:
    """The 8 symmetries as (quarter turns, mirror) pairs: x -> rot90^k(mirror^j(x))."""
    return [(k, j) for j in range(2) for k in range(4)]


def symmetry_callable(k: int, j: int):
    def transform(x: torch.Tensor) -> torch.Tensor:
        x = torch.flip(x, dims=(-1,)) if j else x
        return torch.rot90(x, k, dims=(-2, -1))

    return transform


def reference_square_table(size: int = 5) -> np.ndarray:
    """``a * b`` of the 8 symmetries from numpy index maps, composed inner one first."""
    grid = np.arange(size * size).reshape(size, size)
    maps = [np.rot90(grid[:, ::-1] if j else grid, k).reshape(-1) for k, j in square_symmetries()]
    table = np.empty((8, 8), dtype=np.int64)
    for a, outer in enumerate(maps):
        for b, inner in enumerate(maps):
            composed = inner[outer]  # gather form: apply inner, then outer
            table[a, b] = next(c for c, m in enumerate(maps) if np.array_equal(m, composed))
    return table


@pytest.fixture
def probes() -> torch.Tensor:
    return torch.rand(3, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_square_symmetries_give_the_dihedral_table(probes: torch.Tensor) -> None:
    actions = [symmetry_callable(k, j) for k, j in square_symmetries()]
    table, report = CayleyTable.from_actions(actions, probes)

    assert table.is_complete
    np.testing.assert_array_equal(table.cells, reference_square_table())
    np.testing.assert_array_equal(table.cells, d4_action()[0])
    group = FiniteGroup(table.cells)
    assert find_isomorphism(group, FiniteGroup(*dihedral(4))) is not None
    assert (report.observed, report.matched, report.unmatched, report.ambiguous) == (64, 64, 0, 0)
    assert report.is_consistent and report.indistinct == ()
    assert report.summary() == (
        "observed 64 of 64 products (100%): 64 matched, 0 unmatched, 0 ambiguous"
    )


def test_composition_order_is_inner_first() -> None:
    """On permutations of a vector, ``(a * b)(x) = a(b(x))``, not ``b(a(x))``."""
    perms = [np.array(perm) for perm in _s3_permutations()]
    actions = [lambda x, p=p: x[..., p] for p in perms]
    probes = torch.arange(3.0)[None]
    observed, report = table_from_actions(actions, probes)

    for a, b in np.ndindex(6, 6):
        inner_first = perms[b][perms[a]]  # x[..., pb][..., pa] = x[..., pb[pa]]
        c = observed.cells[a, b]
        np.testing.assert_array_equal(perms[c], inner_first)
    assert not np.array_equal(observed.cells, observed.cells.T)  # S3 is not abelian
    assert report.is_consistent


def _s3_permutations() -> list[tuple[int, ...]]:
    return [(0, 1, 2), (1, 2, 0), (2, 0, 1), (1, 0, 2), (0, 2, 1), (2, 1, 0)]


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.9])
def test_fraction_observes_a_seeded_subset(probes: torch.Tensor, fraction: float) -> None:
    actions = [symmetry_callable(k, j) for k, j in square_symmetries()]
    table, report = CayleyTable.from_actions(actions, probes, fraction=fraction, seed=3)
    again, _ = CayleyTable.from_actions(actions, probes, fraction=fraction, seed=3)
    other, _ = CayleyTable.from_actions(actions, probes, fraction=fraction, seed=4)

    count = round(fraction * 64)
    assert report.observed == report.matched == int(table.known.sum()) == count
    reference = reference_square_table()
    np.testing.assert_array_equal(table.cells[table.known], reference[table.known])
    np.testing.assert_array_equal(again.cells, table.cells)
    assert not np.array_equal(other.known, table.known)
    full = CayleyTable.from_cells(reference)
    np.testing.assert_array_equal(table.known, full.mask(fraction, seed=3))


def test_missing_inverse_leaves_the_square_of_rot90_unknown() -> None:
    """{identity, rot90} is not closed: rot90 * rot90 = rot180 is none of them."""
    probes = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))
    table, report = CayleyTable.from_actions([rotation(0), rotation(1)], probes, labels=["e", "r"])

    assert table.cells.tolist() == [[0, 1], [1, UNKNOWN]]
    assert not table.is_complete
    assert (report.observed, report.matched, report.unmatched, report.ambiguous) == (4, 3, 1, 0)
    assert report.unmatched_pairs == ((1, 1),)
    assert not report.is_consistent
    assert report.summary() == (
        "observed 4 of 4 products (100%): 3 matched, 1 unmatched, 0 ambiguous; "
        "not closed: r * r is none of the transformations"
    )


def test_rotations_without_270_stay_partial() -> None:
    """0, 90 and 180 degrees: 90 * 180 and 180 * 90 give 270, which is missing."""
    probes = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(0))
    table, report = table_from_actions(
        [rotation(k) for k in range(3)], probes, labels=["r0", "r1", "r2"]
    )

    expected = [[0, 1, 2], [1, 2, UNKNOWN], [2, UNKNOWN, 0]]
    assert table.cells.tolist() == expected
    assert report.unmatched_pairs == ((1, 2), (2, 1))
    assert (report.matched, report.unmatched) == (7, 2)
    assert "not closed: r1 * r2" in report.summary()


def test_duplicated_transformations_are_ambiguous() -> None:
    """Two callables with the same effect: every product landing on them matches both."""
    probes = torch.rand(2, 4, 4, generator=torch.Generator().manual_seed(0))

    def both_flips(x: torch.Tensor) -> torch.Tensor:  # the same map as rot180
        return torch.flip(x, dims=(-2, -1))

    actions = [rotation(0), rotation(2), both_flips]
    table, report = table_from_actions(actions, probes, labels=["e", "h", "h'"])

    assert report.indistinct == ((1, 2),)
    # Products equal to e are unique; products equal to h (= h') are ambiguous.
    assert table.cells.tolist() == [[0, UNKNOWN, UNKNOWN], [UNKNOWN, 0, 0], [UNKNOWN, 0, 0]]
    assert (report.matched, report.ambiguous, report.unmatched) == (5, 4, 0)
    assert "h and h' agree on the probes" in report.summary()


def test_symmetric_probes_cannot_tell_rotations_apart() -> None:
    """A constant image is fixed by every rotation: every product is ambiguous."""
    table, report = table_from_actions([rotation(k) for k in range(4)], torch.ones(1, 3, 3))

    assert not table.known.any()
    assert report.ambiguous == 16 and report.matched == 0
    assert len(report.indistinct) == 6


def test_atol_decides_what_counts_as_equal() -> None:
    """A transformation off by 1e-3 matches within atol=1e-2 and not within 1e-6."""
    probes = torch.rand(1, 3, 3, generator=torch.Generator().manual_seed(0))
    nudged = [rotation(0), lambda x: torch.rot90(x, 2, dims=(-2, -1)) + 1e-3]
    loose, _ = table_from_actions(nudged, probes, atol=1e-2)
    strict, report = table_from_actions(nudged, probes, atol=1e-6)

    assert loose.cells.tolist() == [[0, 1], [1, 0]]
    assert strict.cells.tolist() == [[0, 1], [1, UNKNOWN]]  # (h + d) applied twice is 2 d off
    assert report.unmatched_pairs == ((1, 1),)


def test_numpy_transformations_are_accepted() -> None:
    probes = np.random.default_rng(0).random((2, 3, 3))
    actions = [lambda x: x, lambda x: np.swapaxes(x, -2, -1)]
    table, report = table_from_actions(actions, probes)
    assert table.cells.tolist() == [[0, 1], [1, 0]]
    assert isinstance(report, ActionReport) and report.is_consistent


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"actions": []}, "actions must be a non-empty sequence"),
        ({"actions": [rotation(0), "rot90"]}, r"actions\[1\] must be callable"),
        ({"fraction": 0.0}, "fraction must be in"),
        ({"fraction": 1.5}, "fraction must be in"),
        ({"atol": -1.0}, "atol must be non-negative"),
        ({"labels": ["a", "a"]}, "labels must be 2 distinct strings"),
        ({"actions": [rotation(0), lambda x: object()]}, r"actions\[1\] must return"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    arguments = {"actions": [rotation(0), rotation(2)], "probes": torch.rand(1, 3, 3)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        table_from_actions(**arguments)
