"""Noisy observations: the given cells that contradict the discovered group are flagged."""

from __future__ import annotations

import numpy as np
import pytest

from hc_lightning import complete, load
from hc_lightning.callbacks.consistency import ConsistencyCallback, compare_given_cells
from hc_lightning.callbacks.structure import describe
from hc_lightning.data.table import UNKNOWN, CayleyTable

# eps = 0.2 rather than 0.1: a stronger pull towards unitary factors keeps the fit phase from
# memorising the wrong cells (0.3 collapses some S4 runs); no early completion, which ends
# the fit exactly when the argmax agrees with every given cell, wrong ones included
# (docs/noise.md).
NOISY_MODEL = {"distrust_known_cells": True, "eps": 0.2, "early_completion": False}


pytestmark = pytest.mark.usefixtures("one_thread")


def corrupted(name: str, known: float, count: int, seed: int) -> tuple[CayleyTable, np.ndarray]:
    """``known`` of the table given, ``count`` given cells replaced by a wrong value."""
    truth = load(name)
    rng = np.random.default_rng(seed)
    given = truth.mask(known, seed)
    cells = np.where(given, truth.cells, UNKNOWN)
    wrong = np.zeros_like(given)
    for index in rng.choice(np.flatnonzero(given), size=count, replace=False):
        a, b = divmod(int(index), truth.n)
        cells[a, b] = (truth.cells[a, b] + rng.integers(1, truth.n)) % truth.n
        wrong[a, b] = True
    return truth.with_cells(cells), wrong


def test_disagreeing_cells_are_listed_least_supported_first() -> None:
    table = CayleyTable.from_cells([[0, 1, 2], [1, 2, 0], [2, 0, 0]], labels=["e", "a", "b"])
    rows = np.zeros((9, 3))
    rows[np.arange(9), [0, 1, 2, 1, 2, 0, 2, 0, 1]] = 1.0  # the model answers C3
    rows[3] = [0.2, 0.5, 0.3]  # a * e: given a, the model says a with support 0.5
    rows[8] = [0.4, 0.6, 0.0]  # b * b: given e, the model says a with T = 0.6 vs 0.4
    rows[5] = [0.9, 0.0, 0.1]  # a * b: given e (right)
    given = np.ones((3, 3), dtype=bool)
    given[0, 0] = False  # e * e was not given: its row is dropped
    result = compare_given_cells(table, given, np.delete(rows, 0, axis=0))
    assert result.given_cells == 8 and result.disagreeing_cells == 1
    (cell,) = result.suspicious
    assert (cell.row, cell.column, cell.given, cell.predicted) == ("b", "b", "e", "a")
    assert (cell.score_given, cell.score_predicted) == (0.4, 0.6)
    assert result.flagged.tolist() == [[False] * 3, [False] * 3, [False, False, True]]
    assert result.verdict.startswith("the known cells are inconsistent")
    assert "1 of 8 cells" in result.verdict


def test_flagged_cells_are_sorted_by_the_support_of_the_given_answer() -> None:
    table = CayleyTable.from_cells([[1, 1], [1, 1]])
    rows = np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.5, 0.45]])
    result = compare_given_cells(table, np.ones((2, 2), dtype=bool), rows)
    assert [c.score_given for c in result.suspicious] == [0.1, 0.3, 0.4, 0.45]
    order = [(c.row, c.column) for c in result.suspicious]
    assert order == [("0", "0"), ("1", "0"), ("0", "1"), ("1", "1")]
    assert result.as_dict(max_listed=2)["disagreeing_cells"] == 4
    assert len(result.as_dict(max_listed=2)["suspicious_cells"]) == 2


def test_a_failed_fit_is_not_blamed_on_the_data() -> None:
    table = CayleyTable.from_cells([[0, 1], [1, 0]])
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # rows e, e / x, x
    result = compare_given_cells(table, table.known, rows, structure_found=False)
    assert result.disagreeing_cells == 2
    assert result.verdict == (
        "no structure found: the model's table is not a Latin square, and 2 of 4 known cells"
        " disagree with it"
    )
    assert result.as_dict()["structure_found"] is False


def test_bad_arguments_are_named() -> None:
    table = CayleyTable.from_cells([[0, -1], [1, 0]])
    with pytest.raises(ValueError, match="`given`"):
        compare_given_cells(table, np.ones((2, 2), dtype=bool), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="`rows` must have shape \\(3, 2\\)"):
        compare_given_cells(table, table.known, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="`max_listed`"):
        ConsistencyCallback(max_listed=-1)


def test_corrupted_cells_are_flagged_and_overruled() -> None:
    table, wrong = corrupted("A4", known=0.6, count=3, seed=0)
    check = ConsistencyCallback()
    result = complete(table, seed=0, model_kwargs=NOISY_MODEL, callbacks=[check], explain=False)
    flagged = check.result.flagged
    assert (flagged & wrong).sum() == 3  # every corrupted cell is flagged
    assert flagged.sum() == 3  # and nothing else
    assert check.result.verdict.startswith("the known cells are inconsistent")
    np.testing.assert_array_equal(result.table.cells, load("A4").cells)
    entry = result.report["consistency"]
    assert entry["disagreeing_cells"] == 3 and entry["given_cells"] == 86
    assert entry["structure_found"]
    truth = load("A4")
    for cell in entry["suspicious_cells"]:
        a, b = truth.index(cell["row"]), truth.index(cell["column"])
        assert wrong[a, b]
        assert cell["predicted"] == truth.labels[truth.cells[a, b]]
        assert cell["score_given"] < 0.5 < cell["score_predicted"]
    assert describe(result.table)["group"] == "A4"
    assert any("inconsistent" in line for line in result.summary_lines)


def test_clean_cells_are_consistent() -> None:
    table, wrong = corrupted("A4", known=0.6, count=0, seed=0)
    check = ConsistencyCallback()
    result = complete(table, seed=0, model_kwargs=NOISY_MODEL, callbacks=[check], explain=False)
    assert not wrong.any()
    assert check.result.disagreeing_cells == 0 and not check.result.flagged.any()
    assert check.result.verdict == "consistent: all 86 known cells agree with the structure found"
    np.testing.assert_array_equal(result.table.cells, load("A4").cells)
    assert result.report["consistency"]["suspicious_cells"] == []
