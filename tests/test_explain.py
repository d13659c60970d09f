"""What the explanation callbacks find after training, against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hc_lightning import complete
from hc_lightning.algebra.latin import isotope_to_group
from hc_lightning.data import CayleyTable, load

EXPECTED = {
    # name: (identity label, catalog name, [(real dimension, copies, type), ...])
    "S3": ("[0 1 2]", "S3", [(1, 1, "real"), (1, 1, "real"), (2, 2, "real")]),
    "Q8": ("1", "Q8", [(1, 1, "real")] * 4 + [(4, 1, "quaternionic")]),
    "D4": ("r0", "D4", [(1, 1, "real")] * 4 + [(2, 2, "real")]),
    "A4": ("[0 1 2 3]", "A4", [(1, 1, "real"), (2, 1, "complex"), (3, 3, "real")]),
    "Z2xZ4": ("(0,0)", "C2xC4", [(1, 1, "real")] * 4 + [(2, 1, "complex")] * 2),
}

# A loop of order 5 in which every element is its own inverse: no group has that shape,
# so it is not isotopic to any group.
NON_GROUP_LATIN_SQUARE = [
    [0, 1, 2, 3, 4],
    [1, 0, 3, 4, 2],
    [2, 4, 0, 1, 3],
    [3, 2, 4, 0, 1],
    [4, 3, 1, 2, 0],
]


def irreps_of(report: dict) -> list[tuple[int, int, str]]:
    return [(irrep["dimension"], irrep["copies"], irrep["type"]) for irrep in report["irreps"]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_groups_are_explained(name: str, tmp_path) -> None:
    identity, group, irreps = EXPECTED[name]
    result = complete(name, train_fraction=0.6, seed=0, default_root_dir=tmp_path)
    report = result.report
    assert report["exact"] and report["is_group"]
    assert report["identity"] == identity and report["gauge"]["identity"] == identity
    assert report["group"] == group
    assert irreps_of(report) == irreps
    assert report["homomorphism_error"] < 1e-5
    assert report["homomorphism_error_factors"] < 1e-4
    check = report["irreps_check"]
    assert check["dimension_sum"] == check["n"] == load(name).n
    assert check["complex_irreps"] == check["conjugacy_classes"]
    assert check["off_block_error"] < 1e-8


def test_synchronised_gauge_after_training(tmp_path) -> None:
    result = complete("S3", train_fraction=0.6, seed=0, default_root_dir=tmp_path)
    factors = result.module.factors
    A, B, C = (f.detach().double().numpy() for f in (factors.A, factors.B, factors.C))
    np.testing.assert_allclose(A, B, atol=1e-4)
    np.testing.assert_allclose(A, C.transpose(0, 2, 1), atol=1e-4)
    assert result.report["heldout_accuracy"] == 1.0


@pytest.mark.parametrize(("name", "order"), [("x-y mod 7", 7), ("x/y mod 7", 6)])
def test_isotopes_of_cyclic_groups(name: str, order: int, tmp_path) -> None:
    result = complete(name, train_fraction=0.6, seed=0, default_root_dir=tmp_path)
    report = result.report
    assert not report["is_group"] and report["is_group_isotope"]
    assert report["group"] == f"C{order}"
    assert report["homomorphism_error"] < 1e-5
    labels = result.table.labels
    index = {label: position for position, label in enumerate(labels)}
    row_map = [index[label] for label in report["gauge"]["row_map"]]
    col_map = [index[label] for label in report["gauge"]["col_map"]]
    loop = result.table.cells[np.ix_(row_map, col_map)]
    assert isotope_to_group(loop).is_group_isotope
    identity = index[report["gauge"]["identity"]]
    np.testing.assert_array_equal(loop[identity], np.arange(order))


def test_non_group_latin_square_gets_the_verdict(tmp_path) -> None:
    table = CayleyTable.from_cells(NON_GROUP_LATIN_SQUARE)
    assert not isotope_to_group(table.cells).is_group_isotope
    report = complete(table, 1.0, seed=0, max_steps=4000, default_root_dir=tmp_path).report
    assert report["latin_square"] and not report["is_group_isotope"]
    assert report["group"] is None and report["irreps"] is None
    assert report["failing_associativity_triples"] > 0
    assert "not isotopic to any group" in report["verdict"]
    assert report["h_over_3n2"] > 1.001


def test_non_latin_operation_claims_nothing(tmp_path) -> None:
    report = complete("x^2+y^2 mod 7", seed=0, max_steps=2000, default_root_dir=tmp_path).report
    assert report["group"] is None and report["irreps"] is None and not report["is_group"]
    assert report["verdict"].startswith("not a Latin square")


def test_representation_file_loads_without_lightning(tmp_path) -> None:
    from hc_lightning.cli import main

    main(["fit", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}"])
    (path,) = tmp_path.glob("**/representation.npz")
    saved = np.load(path)
    rho, basis, table = saved["rho_orthogonal"], saved["basis"], saved["loop_table"]
    assert rho.shape == (6, 6, 6) and basis.shape == (6, 6)
    products = np.einsum("xij,yjk->xyik", rho, rho)
    np.testing.assert_allclose(products, rho[table], atol=1e-8)
    blocks = basis.T @ rho @ basis
    for _, start, stop in saved["blocks"]:
        blocks[:, start:stop, start:stop] = 0
    assert np.abs(blocks).max() < 1e-8
