"""The reproduction studies of experiments/, each at a tiny size, with their real outcomes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# experiments/ is a top-level folder of the checkout, not part of the installed package.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments import common, fraction, isotopes, latin_survey, regularizers  # noqa: E402
from hc_lightning.algebra.constructions import symmetric  # noqa: E402
from hc_lightning.algebra.latin import is_latin_square  # noqa: E402
from hc_lightning.data import catalog  # noqa: E402


def _outputs(tmp_path: Path) -> list[str]:
    return ["--doc", str(tmp_path / "experiments.md"), "--figures", str(tmp_path / "figures")]


def test_regularizer_ablation_on_s3(tmp_path: Path) -> None:
    arms = regularizers.main(["--groups", "S3", "--max-steps", "400", *_outputs(tmp_path)])
    found = {arm["regularizer"]: arm for arm in arms}
    hypercube, l2, none = found["hypercube"], found["l2"], found["none"]

    assert hypercube["heldout_accuracy"] == 1.0 and hypercube["exact_table"]
    # Unitary factors: every singular value of every unfolding is 1.
    assert abs(hypercube["sv_min"] - 1) < 1e-3 and abs(hypercube["sv_max"] - 1) < 1e-3

    # No regularizer: the known cells are fitted, the held-out ones are not.
    assert none["train_loss"] < 1e-6
    assert none["heldout_accuracy"] < 0.5 and none["heldout_loss"] > 0.5
    # L2: some unfoldings lose rank, and the table is not recovered exactly.
    assert min(l2["ranks"]) < 6 and not l2["exact_table"]

    text = (tmp_path / "experiments.md").read_text()
    assert "## 1. Regularizer ablation" in text
    assert (tmp_path / "figures" / "regularizers.png").stat().st_size > 0


def test_steps_fall_with_the_known_fraction(tmp_path: Path) -> None:
    args = ["--group", "S3", "--fractions", "0.5", "0.7", "0.9", "--seeds", "0", "1"]
    rows = fraction.main([*args, "--max-steps", "400", *_outputs(tmp_path)])
    by_fraction = {row["fraction"]: row for row in rows}

    assert by_fraction[0.7]["reached"] == 2 and by_fraction[0.9]["reached"] == 2
    assert by_fraction[0.9]["median"] < by_fraction[0.7]["median"]
    # Half of S3 is too little: the fit settles on a wrong completion and the run stops.
    assert by_fraction[0.5]["reached"] == 0
    text = (tmp_path / "experiments.md").read_text()
    assert "2 ended the fit phase" in text and "on a wrong completion" in text
    assert (tmp_path / "figures" / "fraction_S3.png").exists()


def test_transported_isotope_retraces_the_group_run(tmp_path: Path) -> None:
    arguments = ["--p", "7", "--fraction", "0.6", "--seeds", "0", "1", "--max-steps", "400"]
    comparisons = isotopes.main([*arguments, *_outputs(tmp_path)])

    for pair in comparisons:
        assert pair["all_reached"]
        # Equivariance: relabelled split and start give the very same number of steps.
        assert pair["paired_count"] == 2 and pair["paired_max_gap"] == 0
    assert (tmp_path / "figures" / "isotopes.png").exists()


def test_column_relabeling_of_x_minus_y() -> None:
    plus, minus = catalog.load("x+y mod 5").cells, catalog.load("x-y mod 5").cells
    beta = isotopes.column_relabeling(plus, minus)
    np.testing.assert_array_equal(beta, (-np.arange(5)) % 5)
    np.testing.assert_array_equal(minus, plus[:, beta])
    with pytest.raises(ValueError, match="isotope_table"):
        isotopes.column_relabeling(plus, plus.T[::-1].copy())


@pytest.mark.parametrize(("n", "reduced", "classes", "groups"), [(4, 4, 2, 2), (5, 56, 2, 1)])
def test_isotopy_classes_of_small_orders(n: int, reduced: int, classes: int, groups: int) -> None:
    squares = list(latin_survey.reduced_latin_squares(n))
    assert len(squares) == reduced == len({s.tobytes() for s in squares})
    assert all(is_latin_square(s) for s in squares)
    found = latin_survey.isotopy_classes(n)
    assert len(found) == classes
    assert sum(kind.reduced_count for kind in found) == reduced
    assert sum(kind.group is not None for kind in found) == groups
    assert all((kind.failing_triples == 0) == (kind.group is not None) for kind in found)


def test_order_six_has_22_isotopy_classes_two_of_them_groups() -> None:
    found = latin_survey.isotopy_classes(6)
    assert len(found) == 22
    assert sum(kind.reduced_count for kind in found) == 9408
    assert sorted(kind.group for kind in found if kind.group) == ["C6", "S3"]


def test_survey_groups_at_one_and_the_non_group_above(tmp_path: Path) -> None:
    result = latin_survey.main(["--orders", "4", "5", "--seeds", "0", *_outputs(tmp_path)])
    fits = result["fits"]
    assert len(fits) == 4
    for fit in fits:
        assert fit.converged and fit.exact
        if fit.kind.group is not None:
            assert abs(fit.stats["h_normalized"] - 1) < 1e-6
            assert fit.stats["remainder_normalized"] < 1e-6
        else:
            assert fit.n == 5 and fit.stats["h_normalized"] > 1.1
            assert fit.stats["remainder_normalized"] > 0.1
        # H = Bnd + R on every fit.
        stats = fit.stats
        assert stats["h"] == pytest.approx(stats["bound"] + stats["remainder"], rel=1e-12)
    # Strong Collinearity Dominance holds with a c in [0, 1) (talk: about 0.28).
    assert 0 < result["c"] < 1
    assert (tmp_path / "figures" / "latin_survey.png").exists()


def test_unfoldings_of_the_regular_representation_are_orthogonal() -> None:
    table = symmetric(3)[0]
    n = len(table)
    # Regular representation: rho(g) e_h = e_{g h}.
    rho = np.zeros((n, n, n))
    for g in range(n):
        rho[g, table[g], np.arange(n)] = 1.0
    for values in common.unfolding_singular_values(rho):
        np.testing.assert_allclose(values, np.ones(n), atol=1e-12)
    squashed = rho.copy()
    squashed[:, :, 0] = 0.0  # every slice loses a column
    assert min(common.numerical_rank(v) for v in common.unfolding_singular_values(squashed)) < n


def test_write_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    doc = tmp_path / "experiments.md"
    common.write_section(doc, "isotopes", "## iso\nfirst\n")
    common.write_section(doc, "regularizers", "## reg\n")
    common.write_section(doc, "isotopes", "## iso\nsecond\n")
    text = doc.read_text()
    assert "second" in text and "first" not in text
    assert text.index("## reg") < text.index("## iso")
    with pytest.raises(ValueError, match="study"):
        common.write_section(doc, "unknown", "")
