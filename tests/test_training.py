"""Completing tables end to end with a Lightning Trainer."""

from __future__ import annotations

import numpy as np
import pytest

from hc_lightning import complete, load, read_table
from hc_lightning.algebra.group import check_axioms
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


def test_finish_table_stops_at_the_first_exact_group() -> None:
    by_factors = complete("S4", train_fraction=0.5, seed=0, explain=False)
    by_table = complete(
        "S4", train_fraction=0.5, seed=0, explain=False, model_kwargs={"finish": "table"}
    )
    np.testing.assert_array_equal(by_table.table.cells, load("S4").cells)
    report = by_table.report
    assert report["exact"] and report["heldout_accuracy"] == 1.0
    assert report["steps"] == by_table.module.schedule.done_step
    # Stopped where the fit phase ended, its completion being S4 already; the factors run
    # goes on to fit the completed table with the regularizer, then without.
    assert report["steps"] == report["completed_step"] == by_factors.report["completed_step"]
    assert report["eps_off_step"] is None
    assert by_factors.report["steps"] > report["steps"]


def test_finish_table_goes_on_when_the_completion_is_not_a_group() -> None:
    runs = [
        complete("x-y mod 7", train_fraction=0.6, seed=0, explain=False, model_kwargs=kwargs)
        for kwargs in ({}, {"finish": "table"})
    ]
    assert runs[0].report["exact"] and not check_axioms(runs[0].table.cells).is_group
    assert runs[1].report["steps"] == runs[0].report["steps"]
    np.testing.assert_array_equal(runs[1].table.cells, runs[0].table.cells)


def test_finish_must_be_named() -> None:
    with pytest.raises(ValueError, match="`finish` must be 'factors' or 'table', got 'early'"):
        complete("S3", model_kwargs={"finish": "early"})


def test_finish_table_says_why_there_are_no_irreps() -> None:
    result = complete("S4", train_fraction=0.5, seed=0, model_kwargs={"finish": "table"})
    report = result.report
    assert report["exact"] and report["group"] == "S4" and report["irreps"] is None
    assert report["irreps_skipped"].startswith("no irreps: the factors are not exact")
    assert report["irreps_skipped"].endswith("the run stopped at the table (finish='table')")
