"""The catalog of named tables against their formulas."""

from __future__ import annotations

import numpy as np
import pytest

from hc_lightning.algebra import check_axioms
from hc_lightning.data import TableError, load
from hc_lightning.data.catalog import EXAMPLES


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("x+y mod 7", lambda x, y: (x + y) % 7),
        ("x-y mod 7", lambda x, y: (x - y) % 7),
        ("x^2+y^2 mod 7", lambda x, y: (x * x + y * y) % 7),
        ("x^2+xy+y^2 mod 7", lambda x, y: (x * x + x * y + y * y) % 7),
        ("x^3+xy mod 7", lambda x, y: (x**3 + x * y) % 7),
    ],
)
def test_modular_operations(name: str, formula) -> None:
    table = load(name)
    for x in range(7):
        for y in range(7):
            assert table.labels[table.cells[x, y]] == str(formula(x, y))


@pytest.mark.parametrize("op", ["x*y", "x/y"])
def test_unit_operations(op: str) -> None:
    table = load(f"{op} mod 11")
    assert table.n == 10
    for x in range(1, 11):
        for y in range(1, 11):
            expected = x * y % 11 if op == "x*y" else x * pow(y, -1, 11) % 11
            assert int(table.labels[table.cells[x - 1, y - 1]]) == expected


def test_permutation_operations() -> None:
    group = load("S3")
    index = {label: i for i, label in enumerate(group.labels)}
    inverse = [next(j for j in range(6) if group.cells[i, j] == index["[0 1 2]"]) for i in range(6)]
    conjugation, aba = load("S3:a*b*a^-1"), load("S3:a*b*a")
    for a in range(6):
        for b in range(6):
            ab = group.cells[a, b]
            assert conjugation.cells[a, b] == group.cells[ab, inverse[a]]
            assert aba.cells[a, b] == group.cells[ab, a]


@pytest.mark.parametrize(
    ("name", "order"),
    [("Z12", 12), ("C5", 5), ("D4", 8), ("S4", 24), ("A4", 12), ("Q8", 8), ("Z2xZ4", 8)],
)
def test_groups_are_groups(name: str, order: int) -> None:
    table = load(name)
    assert table.n == order
    assert check_axioms(table.cells).is_group


def test_every_example_loads() -> None:
    for name in EXAMPLES:
        assert load(name).is_complete


@pytest.mark.parametrize("name", ["S9", "foo", "x+z mod 7", "Z0", "x/y mod 8"])
def test_unknown_names_list_what_is_available(name: str) -> None:
    with pytest.raises(TableError) as error:
        load(name)
    assert "available" in str(error.value) or "prime modulus" in str(error.value)


def test_whitespace_is_ignored() -> None:
    np.testing.assert_array_equal(load(" x - y  mod 5").cells, load("x-y mod 5").cells)
