"""Group constructions, axiom checks and FiniteGroup structure against known mathematics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hc_lightning.algebra import constructions as cons
from hc_lightning.algebra.group import (
    FiniteGroup,
    NotAGroupError,
    check_axioms,
    count_non_associative,
    find_isomorphism,
)

CONSTRUCTIONS = {
    "C1": (cons.cyclic(1), 1),
    "C7": (cons.cyclic(7), 7),
    "D1": (cons.dihedral(1), 2),
    "D4": (cons.dihedral(4), 8),
    "D7": (cons.dihedral(7), 14),
    "Dic2": (cons.dicyclic(2), 8),
    "Dic5": (cons.dicyclic(5), 20),
    "Q8": (cons.quaternion(), 8),
    "Pauli": (cons.pauli(), 16),
    "C4:C4": (cons.metacyclic(4, 4, 3), 16),
    "SD32": (cons.semidihedral(32), 32),
    "M16": (cons.modular(16), 16),
    "S1": (cons.symmetric(1), 1),
    "S4": (cons.symmetric(4), 24),
    "A4": (cons.alternating(4), 12),
    "A5": (cons.alternating(5), 60),
    "C2xC3xC4": (cons.abelian([2, 3, 4]), 24),
    "S3xQ8": (cons.direct_product(cons.symmetric(3), cons.quaternion()), 48),
    "perm": (cons.from_permutations([[1, 2, 3, 4, 0], [0, 4, 3, 2, 1]]), 10),
    "C3:C4": (
        cons.semidirect_product(
            cons.cyclic(3), cons.cyclic(4), lambda k: [(-1) ** k * x % 3 for x in range(3)]
        ),
        12,
    ),
}


def slow_non_associative(table: np.ndarray) -> int:
    n = len(table)
    return sum(
        table[table[a, b], c] != table[a, table[b, c]]
        for a, b, c in itertools.product(range(n), repeat=3)
    )


def perm_of(label: str) -> tuple[int, ...]:
    return tuple(int(v) for v in label.strip("[]").split())


@pytest.mark.parametrize("name", CONSTRUCTIONS)
def test_constructions_satisfy_axioms_over_all_triples(name: str) -> None:
    (table, labels), order = CONSTRUCTIONS[name]
    report = check_axioms(table)
    assert table.shape == (order, order) and table.dtype == np.int64
    assert len(set(labels)) == order
    assert report.is_group and report.failing_triples == 0 and report.identity == 0


def test_count_non_associative_matches_triple_loop() -> None:
    rng = np.random.default_rng(0)
    for n in (3, 4, 5):
        table = rng.integers(0, n, size=(n, n))
        assert count_non_associative(table) == slow_non_associative(table)


def test_difference_mod_5_fails_associativity_for_100_triples() -> None:
    # (a-b)-c = a-(b-c) iff 2c = 0 mod 5 iff c = 0, so 25 * 4 triples fail.
    residues = np.arange(5)
    report = check_axioms((residues[:, None] - residues[None, :]) % 5)
    assert report.closure and not report.associative
    assert report.failing_triples == 100
    assert report.identity is None and not report.has_inverses and not report.is_group
    with pytest.raises(NotAGroupError, match="identity"):
        FiniteGroup((residues[:, None] - residues[None, :]) % 5)


def test_other_hand_made_non_groups() -> None:
    residues = np.arange(6)
    product = check_axioms((residues[:, None] * residues[None, :]) % 6)
    assert product.identity == 1 and product.associative and not product.has_inverses
    maximum = check_axioms(np.maximum(residues[:, None], residues[None, :]))
    assert maximum.identity == 0 and maximum.associative and not maximum.is_group

    cyclic_table = cons.cyclic(4)[0].copy()
    cyclic_table[3, 3] = -1
    report = check_axioms(cyclic_table)
    assert not report.closure and report.failing_triples > 0
    with pytest.raises(ValueError, match=r"lie in 0\.\.3"):
        FiniteGroup(cyclic_table)

    # A loop of order 5 with x*x = 0 for all x: identity and inverses hold, but a group of
    # order 5 is cyclic and has no elements of order 2, so associativity must fail.
    loop = np.array(
        [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]
    )
    report = check_axioms(loop)
    assert report.identity == 0 and report.has_inverses and not report.associative
    assert report.failing_triples == slow_non_associative(loop) > 0
    message = f"associativity fails for {report.failing_triples} triples"
    with pytest.raises(NotAGroupError, match=message):
        FiniteGroup(loop)


def test_bad_tables_and_labels_raise_value_error() -> None:
    with pytest.raises(ValueError, match="square"):
        FiniteGroup(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        check_axioms(np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="labels"):
        FiniteGroup(cons.cyclic(3)[0], labels=["a", "a", "b"])


@pytest.mark.parametrize(
    ("construction", "classes", "center"),
    [
        (cons.symmetric(3), 3, ["[0 1 2]"]),
        (cons.dihedral(4), 5, ["r0", "r2"]),
        (cons.dihedral(5), 4, ["r0"]),
        (cons.dihedral(6), 6, ["r0", "r3"]),
        (cons.quaternion(), 5, ["1", "-1"]),
        (cons.alternating(4), 4, ["[0 1 2 3]"]),
        (cons.symmetric(4), 5, ["[0 1 2 3]"]),
        (cons.alternating(5), 5, ["[0 1 2 3 4]"]),
        (cons.symmetric(5), 7, ["[0 1 2 3 4]"]),
        (cons.pauli(), 10, ["I", "iI", "-I", "-iI"]),
    ],
)
def test_conjugacy_classes_and_centres(
    construction: cons.Construction, classes: int, center: list[str]
) -> None:
    group = FiniteGroup(*construction)
    found = group.conjugacy_classes()
    assert len(found) == classes
    assert found[0] == [group.identity]
    assert sorted(g for members in found for g in members) == list(range(group.order))
    table, inverse = group.table, group.inverse
    for members in found:
        conjugates = {int(table[table[g, members[0]], inverse[g]]) for g in range(group.order)}
        assert conjugates == set(members)
    assert [group.labels[z] for z in group.center()] == center
    assert group.is_abelian == (len(center) == group.order)


def test_element_orders_inverses_and_identity() -> None:
    group = FiniteGroup(*cons.symmetric(4))
    for g in range(group.order):
        power, k = g, 1
        while power != group.identity:
            power, k = group.mul(power, g), k + 1
        assert group.element_orders()[g] == k
        assert group.mul(g, int(group.inverse[g])) == group.identity
    assert np.bincount(group.element_orders()).tolist() == [0, 1, 9, 8, 6]


def test_permutation_composition_is_a_after_b() -> None:
    table, labels = cons.symmetric(4)
    for a, b in itertools.product(range(24), repeat=2):
        pa, pb = perm_of(labels[a]), perm_of(labels[b])
        assert perm_of(labels[table[a, b]]) == tuple(pa[pb[x]] for x in range(4))


def test_named_elements_multiply_as_documented() -> None:
    q8 = FiniteGroup(*cons.quaternion())
    index = {label: g for g, label in enumerate(q8.labels)}
    for x, y, z in [("i", "j", "k"), ("j", "k", "i"), ("k", "i", "j"), ("j", "i", "-k")]:
        assert q8.mul(index[x], index[y]) == index[z]
    assert q8.mul(index["i"], index["i"]) == index["-1"]

    d5 = FiniteGroup(*cons.dihedral(5))
    index = {label: g for g, label in enumerate(d5.labels)}
    assert d5.mul(index["r1"], index["s0"]) == index["s1"]  # r * s = r^1 s
    assert d5.mul(index["s0"], index["r1"]) == index["s4"]  # s r = r^{-1} s

    pauli = FiniteGroup(*cons.pauli())
    index = {label: g for g, label in enumerate(pauli.labels)}
    assert pauli.mul(index["X"], index["Z"]) == index["XZ"]
    assert pauli.mul(index["Z"], index["X"]) == index["-XZ"]
    assert pauli.mul(index["XZ"], index["XZ"]) == index["-I"]


def test_subgroup_generated() -> None:
    group = FiniteGroup(*cons.symmetric(4))
    index = {perm_of(label): g for g, label in enumerate(group.labels)}
    four_cycle, swap01, swap23, swap12 = (
        index[p] for p in [(1, 2, 3, 0), (1, 0, 2, 3), (0, 1, 3, 2), (0, 2, 1, 3)]
    )
    assert len(group.subgroup_generated([four_cycle])) == 4
    assert len(group.subgroup_generated([swap01, swap23])) == 4
    assert len(group.subgroup_generated([swap01, swap12])) == 6
    assert len(group.subgroup_generated([four_cycle, swap01])) == 24
    assert group.subgroup_generated([]) == [group.identity]
    with pytest.raises(ValueError, match="gens"):
        group.subgroup_generated([24])


def test_relabel_and_isomorphisms_are_verified() -> None:
    rng = np.random.default_rng(3)
    group = FiniteGroup(*cons.symmetric(4))
    perm = rng.permutation(24)
    copy = group.relabel(perm)
    assert np.array_equal(copy.table[np.ix_(perm, perm)], perm[group.table])
    assert copy.labels[perm[5]] == group.labels[5] and copy.identity == perm[group.identity]

    phi = copy.isomorphic_to(group)
    assert phi is not None and sorted(phi) == list(range(24))
    assert np.array_equal(phi[copy.table], group.table[phi[:, None], phi[None, :]])
    assert FiniteGroup(*cons.dihedral(4)).isomorphic_to(FiniteGroup(*cons.quaternion())) is None
    assert (
        find_isomorphism(FiniteGroup(*cons.dicyclic(2)), FiniteGroup(*cons.quaternion()))
        is not None
    )
    with pytest.raises(ValueError, match="perm"):
        group.relabel(np.zeros(24, dtype=int))


def test_repr_and_read_only_table() -> None:
    group = FiniteGroup(*cons.quaternion())
    assert repr(group).startswith("FiniteGroup(order=8, non-abelian")
    with pytest.raises(ValueError):
        group.table[0, 0] = 1


def test_construction_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="r must be a unit"):
        cons.metacyclic(8, 2, 2)
    with pytest.raises(ValueError, match="not an automorphism"):
        cons.semidirect_product(
            cons.cyclic(4), cons.cyclic(2), lambda k: [0, 2, 1, 3] if k else [0, 1, 2, 3]
        )
    with pytest.raises(ValueError, match="homomorphism"):
        cons.semidirect_product(
            cons.cyclic(3), cons.cyclic(3), lambda k: [0, 2, 1] if k else [0, 1, 2]
        )
    with pytest.raises(ValueError, match="permutation"):
        cons.from_permutations([[0, 0, 1]])
    with pytest.raises(ValueError, match="power of two"):
        cons.semidihedral(24)
    with pytest.raises(ValueError, match="n must be an integer"):
        cons.dihedral(0)
