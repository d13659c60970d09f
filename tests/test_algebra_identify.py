"""Identification of groups by explicit, verified isomorphisms onto the catalog."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from hc_lightning.algebra import constructions as cons
from hc_lightning.algebra.group import (
    FiniteGroup,
    NotAGroupError,
    find_isomorphism,
    invariant_signature,
)
from hc_lightning.algebra.identify import (
    abelian_invariants,
    catalog_group,
    identify,
    small_group_names,
)

# Number of isomorphism classes of groups of order 1..16.
GROUP_COUNTS = [1, 1, 1, 2, 1, 2, 1, 5, 2, 2, 1, 5, 1, 2, 1, 14]
SMALL_NAMES = [name for order in range(1, 17) for name in small_group_names(order)]


def assert_isomorphism(source: FiniteGroup, phi: np.ndarray, target_table: np.ndarray) -> None:
    assert sorted(phi.tolist()) == list(range(source.order))
    assert np.array_equal(phi[source.table], target_table[phi[:, None], phi[None, :]])


def test_catalog_has_every_group_of_order_up_to_16() -> None:
    assert [len(small_group_names(order)) for order in range(1, 17)] == GROUP_COUNTS
    assert sum(GROUP_COUNTS) == len(set(SMALL_NAMES)) == 42
    for order in range(1, 17):
        for name in small_group_names(order):
            assert catalog_group(name).order == order
    with pytest.raises(ValueError, match="order"):
        small_group_names(17)


@pytest.mark.parametrize("order", range(1, 17))
def test_catalog_groups_of_one_order_are_pairwise_non_isomorphic(order: int) -> None:
    groups = [catalog_group(name) for name in small_group_names(order)]
    for first, second in itertools.combinations(groups, 2):
        assert find_isomorphism(first, second) is None
        assert find_isomorphism(second, first) is None


@pytest.mark.parametrize(("first", "second"), [("C4:C4", "C2xQ8"), ("C2xQ8", "C4:C4")])
def test_search_separates_groups_with_equal_invariants(first: str, second: str) -> None:
    # Same order, centre size and (element order, class size) counts: only the search decides.
    group1, group2 = catalog_group(first), catalog_group(second)
    assert invariant_signature(group1) == invariant_signature(group2)
    assert find_isomorphism(group1, group2) is None


@pytest.mark.parametrize("name", SMALL_NAMES)
def test_every_small_group_is_identified_after_random_relabelling(name: str) -> None:
    group = catalog_group(name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    shuffled = group.relabel(rng.permutation(group.order))
    found = identify(shuffled.table)
    assert found.name == name
    assert np.array_equal(found.catalog_table, group.table)
    assert_isomorphism(shuffled, found.isomorphism, found.catalog_table)


@pytest.mark.parametrize(
    "name", ["S4", "A5", "S5", "D64", "C128", "Q32", "Dic6", "SD32", "M64", "C2xC2xC6", "C3xC9"]
)
def test_larger_groups_are_identified_on_demand(name: str) -> None:
    group = catalog_group(name)
    shuffled = group.relabel(np.random.default_rng(7).permutation(group.order))
    start = time.perf_counter()
    found = identify(shuffled)
    elapsed = time.perf_counter() - start
    assert found.name == name
    assert_isomorphism(shuffled, found.isomorphism, found.catalog_table)
    assert elapsed < 1.0


def test_independent_constructions_get_the_expected_names() -> None:
    four_cycle, reflection = [1, 2, 3, 0], [0, 3, 2, 1]
    expected = {
        "S3": cons.dihedral(3),
        "C2xC2": cons.dihedral(2),
        "Q8": cons.dicyclic(2),
        "Dic3": cons.metacyclic(3, 4, 2),
        "D4": cons.from_permutations([four_cycle, reflection]),
        "D6": cons.direct_product(cons.cyclic(2), cons.symmetric(3)),
        "C2xC6": cons.direct_product(cons.cyclic(6), cons.cyclic(2)),
        "C6": cons.direct_product(cons.cyclic(2), cons.cyclic(3)),
        # Pauli group as (C4 x C2) x| C2: Z maps X to -X = i^2 X on (i^p, X^x), index 2p + x.
        "C4oD4": cons.semidirect_product(
            cons.abelian([4, 2]),
            cons.cyclic(2),
            lambda k: [(i + 4 * (i % 2) * k) % 8 for i in range(8)],
        ),
        "C2xD4": cons.direct_product(cons.dihedral(4), cons.cyclic(2)),
        "A4": cons.from_permutations([[1, 2, 0, 3], [1, 0, 3, 2]]),
    }
    for name, construction in expected.items():
        group = FiniteGroup(*construction)
        found = identify(group)
        assert found.name == name
        assert_isomorphism(group, found.isomorphism, found.catalog_table)


def test_unknown_groups_and_explicit_candidates() -> None:
    frobenius21 = FiniteGroup(*cons.metacyclic(7, 3, 2))  # C7 x| C3, non-abelian of order 21
    unnamed = identify(frobenius21)
    assert unnamed.name is None and unnamed.isomorphism is None

    c2_s4 = FiniteGroup(*cons.direct_product(cons.cyclic(2), cons.symmetric(4)))
    assert identify(c2_s4).name is None
    found = identify(c2_s4, candidates=["S4", "C2xA4", "C2xS4"])
    assert found.name == "C2xS4"
    assert_isomorphism(c2_s4, found.isomorphism, found.catalog_table)


def test_non_groups_and_bad_names_raise() -> None:
    residues = np.arange(5)
    with pytest.raises(NotAGroupError):
        identify((residues[:, None] - residues[None, :]) % 5)
    with pytest.raises(ValueError, match="catalog group"):
        catalog_group("C2xFoo")


@pytest.mark.parametrize(
    ("orders", "invariants"),
    [
        ([6, 4], [2, 12]),
        ([2, 3, 4], [2, 12]),
        ([9, 3, 3], [3, 3, 9]),
        ([5], [5]),
        ([8, 2, 2], [2, 2, 8]),
    ],
)
def test_abelian_invariant_factors(orders: list[int], invariants: list[int]) -> None:
    group = FiniteGroup(*cons.abelian(orders))
    assert abelian_invariants(group.element_orders()) == invariants
