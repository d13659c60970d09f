"""Latin squares, principal loops and isotopy to groups."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hc_lightning.algebra import constructions as cons
from hc_lightning.algebra.group import check_axioms
from hc_lightning.algebra.identify import identify
from hc_lightning.algebra.latin import (
    IsotopeResult,
    is_latin_square,
    isotope_to_group,
    latin_report,
    principal_loop,
    random_isotope,
)


def difference_table(p: int) -> np.ndarray:
    residues = np.arange(p)
    return (residues[:, None] - residues[None, :]) % p


def division_table(p: int) -> np.ndarray:
    """x / y = x y^{-1} mod p on the nonzero residues 1..p-1 (element i stands for i + 1)."""
    residues = np.arange(1, p)
    inverses = np.array([pow(int(y), -1, p) for y in residues])
    return (residues[:, None] * inverses[None, :]) % p - 1


def intercalates(table: np.ndarray) -> int:
    """Number of 2x2 Latin subsquares, an isotopy invariant (counted by brute force)."""
    n = len(table)
    return sum(
        table[r1, c1] == table[r2, c2] and table[r1, c2] == table[r2, c1]
        for r1, r2 in itertools.combinations(range(n), 2)
        for c1, c2 in itertools.combinations(range(n), 2)
    )


def random_latin_square(n: int, rng: np.random.Generator) -> np.ndarray:
    """Fill cells row by row, trying symbols in random order, backtracking on dead ends."""
    table = np.full((n, n), -1)

    def fill(cell: int) -> bool:
        if cell == n * n:
            return True
        row, column = divmod(cell, n)
        for symbol in rng.permutation(n):
            if symbol not in table[row, :column] and symbol not in table[:row, column]:
                table[row, column] = symbol
                if fill(cell + 1):
                    return True
        table[row, column] = -1
        return False

    fill(0)
    return table


def assert_isotopy(table: np.ndarray, result: IsotopeResult) -> None:
    group, alpha, beta, gamma = result.group_table, result.alpha, result.beta, result.gamma
    for perm in (alpha, beta, gamma):
        assert sorted(perm) == list(range(len(table)))
    assert np.array_equal(table, gamma[group[alpha[:, None], beta[None, :]]])


def test_group_tables_and_isotopes_are_latin() -> None:
    rng = np.random.default_rng(0)
    for table, _ in (cons.symmetric(4), cons.quaternion(), cons.cyclic(9)):
        assert is_latin_square(table) and latin_report(table).is_latin
        assert is_latin_square(random_isotope(table, rng))


def test_sum_of_squares_mod_7_is_not_latin_and_report_names_the_repeat() -> None:
    residues = np.arange(7)
    table = (residues[:, None] ** 2 + residues[None, :] ** 2) % 7
    report = latin_report(table)
    assert not is_latin_square(table) and not report.is_latin
    # Row 0 holds y^2 mod 7 = 0 1 4 2 2 4 1: the smallest repeated value 1 sits in columns 1, 6.
    assert report.row_repeat == (0, 1, 1, 6)
    assert report.column_repeat == (0, 1, 1, 6)
    assert report.message() == "row 0 repeats 1 in columns 1 and 6"
    assert isotope_to_group(table) is None
    with pytest.raises(ValueError, match="Latin square"):
        principal_loop(table, 0, 0)


def test_out_of_range_entries_are_reported() -> None:
    table = cons.cyclic(3)[0].copy()
    table[1, 1] = 7
    assert not is_latin_square(table)
    assert latin_report(table).out_of_range == 1


def test_principal_loop_identity_and_maps() -> None:
    rng = np.random.default_rng(1)
    table = random_isotope(cons.symmetric(3)[0], rng)
    for a0, b0 in [(0, 0), (2, 5), (4, 1)]:
        loop, row_map, col_map = principal_loop(table, a0, b0)
        c0 = table[a0, b0]
        assert np.array_equal(loop, table[row_map[:, None], col_map[None, :]])
        assert np.array_equal(table[row_map, b0], np.arange(6))  # R(R^{-1}(x)) = x
        assert np.array_equal(table[a0, col_map], np.arange(6))  # L(L^{-1}(y)) = y
        assert np.array_equal(loop[c0], np.arange(6)) and np.array_equal(loop[:, c0], np.arange(6))
        assert check_axioms(loop).is_group
        assert identify(loop).name == "S3"


@pytest.mark.parametrize("p", [5, 7, 11])
def test_difference_mod_p_is_an_isotope_of_cyclic_p(p: int) -> None:
    table = difference_table(p)
    assert not check_axioms(table).is_group
    result = isotope_to_group(table)
    assert result is not None and result.is_group_isotope and result.failing_triples == 0
    assert result.identity == 0
    assert_isotopy(table, result)
    found = identify(result.group_table)
    assert found.name == f"C{p}"


@pytest.mark.parametrize("p", [7, 11, 13])
def test_division_mod_p_is_an_isotope_of_cyclic_p_minus_1(p: int) -> None:
    table = division_table(p)
    result = isotope_to_group(table)
    assert result is not None and result.is_group_isotope
    assert_isotopy(table, result)
    assert identify(result.group_table).name == f"C{p - 1}"


@pytest.mark.parametrize("name", ["S3", "Q8", "A4"])
def test_random_isotopes_of_non_abelian_groups_recover_the_group(name: str) -> None:
    rng = np.random.default_rng(2)
    base = {"S3": cons.symmetric(3), "Q8": cons.quaternion(), "A4": cons.alternating(4)}[name]
    table = random_isotope(base[0], rng)
    result = isotope_to_group(table)
    assert result is not None and result.is_group_isotope
    assert_isotopy(table, result)
    assert identify(result.group_table).name == name


def test_random_latin_square_of_order_6_is_not_a_group_isotope() -> None:
    table = random_latin_square(6, np.random.default_rng(5))
    assert is_latin_square(table)
    # Independent evidence: the intercalate count differs from both groups of order 6.
    group_counts = {intercalates(cons.cyclic(6)[0]), intercalates(cons.symmetric(3)[0])}
    assert intercalates(table) not in group_counts

    result = isotope_to_group(table)
    assert result is not None and not result.is_group_isotope
    loop = result.group_table
    slow = sum(
        loop[loop[x, y], z] != loop[x, loop[y, z]]
        for x, y, z in itertools.product(range(6), repeat=3)
    )
    assert result.failing_triples == slow > 0
    assert_isotopy(table, result)
