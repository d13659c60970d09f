"""Never a false group: random Latin squares, isotopes and partial tables (hypothesis).

The reference here is independent of ``hc_lightning.algebra.latin``: Brandt's quadrangle
criterion. A Latin square ``T`` is isotopic to a group iff, for all rows ``a, b, a', b'``
and columns ``c, d, c', d'``,

    T[a, c] = T[a', c'],  T[a, d] = T[a', d'],  T[b, c] = T[b', c']  =>  T[b, d] = T[b', d'].

Given ``(a, a', b, c, d)`` the primed columns and row are determined by the first three
equations, so the check costs ``n^5``.
"""

from __future__ import annotations

import numpy as np
from _tables import is_group_reference
from _threads import one_thread
from hypothesis import given, settings
from hypothesis import strategies as st

from hc_lightning import complete
from hc_lightning.algebra.identify import catalog_group, identify
from hc_lightning.algebra.latin import random_isotope
from hc_lightning.callbacks.structure import describe
from hc_lightning.data.catalog import load
from hc_lightning.data.table import UNKNOWN, CayleyTable

FAST = settings(max_examples=40, deadline=None)
TRAINING = settings(max_examples=6, deadline=None)
CATALOG = ["Z5", "S3", "Z6", "Z2xZ2", "D4", "Q8", "Z2xZ4", "Z2xZ2xZ2", "Z9", "D5", "A4", "Dic3"]
seeds = st.integers(0, 2**32 - 1)


def satisfies_quadrangle_criterion(T: np.ndarray) -> bool:
    """Brandt's criterion over every ``(a, a', b, c, d)``: group isotope iff True."""
    n = len(T)
    column_of = np.argsort(T, axis=1)  # column_of[r, v]: the column where row r holds v
    row_of = np.argsort(T, axis=0)  # row_of[v, c]: the row where column c holds v
    a, a2, b, c, d = np.meshgrid(*[np.arange(n)] * 5, indexing="ij")  # each (n,)*5
    c2 = column_of[a2, T[a, c]]
    d2 = column_of[a2, T[a, d]]
    b2 = row_of[T[b, c], c2]
    return bool((T[b, d] == T[b2, d2]).all())


def loop_element_orders(T: np.ndarray) -> list[int]:
    """Sorted element orders of the loop ``x . y = T[R^-1 x, L^-1 y]``, ``R a = T[a, 0]``,
    ``L b = T[0, b]`` (isomorphic to the group when ``T`` is a group isotope)."""
    n = len(T)
    row_inverse, column_inverse = np.argsort(T[:, 0]), np.argsort(T[0, :])
    loop = T[row_inverse[:, None], column_inverse[None, :]]
    identity = T[0, 0]
    orders = []
    for x in range(n):
        power, order = x, 1
        while power != identity and order <= n:
            power, order = loop[power, x], order + 1
        orders.append(order)
    return sorted(orders)


def group_element_orders(name: str) -> list[int]:
    group = catalog_group(name)
    return sorted(int(order) for order in group.element_orders())


def backtracking_latin_square(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random Latin square, filled cell by cell in random order of symbols."""
    T = np.full((n, n), -1, dtype=np.int64)

    def fill(cell: int) -> bool:
        if cell == n * n:
            return True
        row, column = divmod(cell, n)
        used = set(T[row, :column]) | set(T[:row, column])
        for symbol in rng.permutation(n):
            if symbol not in used:
                T[row, column] = symbol
                if fill(cell + 1):
                    return True
        T[row, column] = -1
        return False

    fill(0)
    return T


def shuffled_cyclic_square(n: int, rng: np.random.Generator) -> np.ndarray:
    """``C_n``'s table with rows, columns and symbols permuted at random."""
    cyclic = (np.arange(n)[:, None] + np.arange(n)[None, :]) % n
    rows, columns, symbols = rng.permutation(n), rng.permutation(n), rng.permutation(n)
    return symbols[cyclic[rows][:, columns]]


@st.composite
def latin_squares(draw: st.DrawFn, orders: tuple[int, ...] = (3, 4, 5, 6, 7)) -> np.ndarray:
    n = draw(st.sampled_from(orders))
    rng = np.random.default_rng(draw(seeds))
    if draw(st.booleans()):
        return backtracking_latin_square(n, rng)
    return shuffled_cyclic_square(n, rng)


def non_group_latin_square(n: int, seed: int) -> np.ndarray:
    """The first backtracking square from ``seed`` that is not a group isotope."""
    rng = np.random.default_rng(seed)
    while True:
        T = backtracking_latin_square(n, rng)
        if not satisfies_quadrangle_criterion(T):
            return T


def test_the_reference_criterion_knows_groups_from_non_groups() -> None:
    for name in CATALOG:
        assert satisfies_quadrangle_criterion(load(name).cells), name
    # The smallest Latin square that is no group isotope (order 5; its loop is not
    # associative): rows 0 1 2 3 4 / 1 0 3 4 2 / 2 4 0 1 3 / 3 2 4 0 1 / 4 3 1 2 0.
    loop = np.array([[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1]])
    loop = np.vstack([loop, [4, 3, 1, 2, 0]])
    assert not satisfies_quadrangle_criterion(loop)
    assert not is_group_reference(loop)
    assert loop_element_orders(load("Z2xZ2").cells) == [1, 2, 2, 2]


@FAST
@given(latin_squares())
def test_describe_agrees_with_the_quadrangle_criterion(T: np.ndarray) -> None:
    found = describe(CayleyTable.from_cells(T))
    isotope = satisfies_quadrangle_criterion(T)
    assert found["is_group_isotope"] == isotope
    assert found["is_group"] == is_group_reference(T)
    if not isotope:
        assert found["group"] is None
        assert "not isotopic to any group" in found["verdict"]
    else:
        assert found["group"] is not None
        assert loop_element_orders(T) == group_element_orders(found["group"])


@FAST
@given(st.sampled_from(CATALOG), seeds)
def test_isotopes_of_catalog_groups_are_recognised(name: str, seed: int) -> None:
    cells = load(name).cells
    T = random_isotope(cells, np.random.default_rng(seed))
    found = describe(CayleyTable.from_cells(T))
    assert satisfies_quadrangle_criterion(T)
    assert found["is_group_isotope"]
    assert found["group"] == identify(cells).name is not None
    assert found["is_group"] == is_group_reference(T)


@FAST
@given(latin_squares(), seeds, st.floats(0.02, 0.9))
def test_a_partial_table_is_never_called_a_group(T: np.ndarray, seed: int, hidden: float):
    rng = np.random.default_rng(seed)
    mask = rng.random(T.shape) < hidden
    mask.flat[rng.integers(T.size)] = True  # at least one unknown cell
    found = describe(CayleyTable.from_cells(np.where(mask, UNKNOWN, T)))
    assert not found["is_group"] and not found["is_group_isotope"]
    assert found["group"] is None


@FAST
@given(st.integers(1, 6), seeds)
def test_arbitrary_operations_are_groups_only_when_they_are(n: int, seed: int) -> None:
    T = np.random.default_rng(seed).integers(0, n, size=(n, n))
    found = describe(CayleyTable.from_cells(T))
    assert found["is_group"] == is_group_reference(T)
    latin = all(len(set(line)) == n for line in (*T, *T.T))
    isotope = latin and satisfies_quadrangle_criterion(T)
    assert found["is_group_isotope"] == isotope
    assert (found["group"] is not None) == (found["is_group"] or isotope)


@TRAINING
@given(st.sampled_from([5, 6]), seeds)
def test_training_on_a_non_group_never_reports_a_group(n: int, seed: int) -> None:
    T = non_group_latin_square(n, seed)
    with one_thread():
        result = complete(CayleyTable.from_cells(T), train_fraction=1.0, seed=0, max_steps=3000)
    report = result.report
    assert report["group"] is None and not report["is_group"] and not report["is_group_isotope"]
    assert report["irreps"] is None
    assert report["h_over_3n2"] > 1
