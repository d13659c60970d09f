"""Completing tables end to end with a Lightning Trainer."""

from __future__ import annotations

import numpy as np
import pytest

from hc_lightning import complete, load, read_table
from hc_lightning.data import CayleyTable, write_table


def test_s3_from_sixty_percent_is_exact() -> None:
    result = complete("S3", train_fraction=0.6, seed=0)
    report = result.report
    assert report["heldout_accuracy"] == 1.0
    assert report["exact"] and report["latin_square"]
    assert abs(report["h_over_3n2"] - 1) < 1e-3
    np.testing.assert_array_equal(result.table.cells, load("S3").cells)


@pytest.mark.parametrize("name", ["Z12", "D4", "S4", "x-y mod 31"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_half_known_tables_are_recovered(name: str, seed: int) -> None:
    report = complete(name, train_fraction=0.5, seed=seed).report
    assert report["heldout_accuracy"] == 1.0
    assert report["exact"]


def test_partial_csv_with_string_labels_is_filled(tmp_path) -> None:
    truth = load("D4")
    hidden = truth.mask(0.3, seed=0)  # hide 30 % of the cells
    cells = np.where(hidden, -1, truth.cells)
    labels = [f"g{label}" for label in truth.labels]
    path = write_table(CayleyTable.from_cells(cells, labels), tmp_path / "partial.csv")
    partial = read_table(path)
    assert "" in path.read_text().splitlines()[1].split(",")
    result = complete(partial, seed=0)
    assert result.table.labels == tuple(labels)
    np.testing.assert_array_equal(result.table.cells, truth.cells)
    assert result.report["heldout_accuracy"] is None
    assert result.report["exact"]


def test_non_latin_operation_is_reported_as_such() -> None:
    report = complete("x^2+y^2 mod 7", train_fraction=0.6, seed=0, max_steps=3000).report
    assert report["latin_square"] is False
    assert "repeats" in report["latin_violation"]
