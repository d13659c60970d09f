"""Figures of a run: the spectra they plot, the layout of the pictures, and the PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hc_lightning import complete, load
from hc_lightning.algebra.irreps import decompose
from hc_lightning.callbacks.figures import (
    FiguresCallback,
    phase_marks,
    plot_irreducible_blocks,
    plot_structure_tensor,
    plot_training_curves,
    unfolding_spectra,
)

FIGURES = ("structure_tensor", "singular_values", "irreducible_blocks", "training_curves")


def regular_representation(table: np.ndarray) -> np.ndarray:
    """``P_g e_h = e_{g h}``: permutation matrices, shape ``(n, n, n)``."""
    n = len(table)
    rho = np.zeros((n, n, n))
    for g in range(n):
        rho[g, table[g], np.arange(n)] = 1.0
    return rho


def random_orthogonal(n: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def slow_spectra(cube: np.ndarray) -> np.ndarray:
    """Reference: build each unfolding entry by entry, then take its singular values."""
    n = len(cube)
    unfoldings = np.zeros((3, n, n * n))
    for a in range(n):
        for i in range(n):
            for j in range(n):
                unfoldings[0, a, i * n + j] = cube[a, i, j]
                unfoldings[1, i, a * n + j] = cube[a, i, j]
                unfoldings[2, j, a * n + i] = cube[a, i, j]
    return np.stack([np.linalg.svd(m, compute_uv=False) for m in unfoldings]) / np.sqrt(n)


@pytest.fixture(scope="module")
def s3_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    figures = FiguresCallback(every_n_steps=5)
    result = complete("S3", callbacks=[figures], default_root_dir=str(root))
    return figures, result


@pytest.mark.parametrize("group", ["S3", "D4", "Q8"])
def test_regular_representation_in_any_orthogonal_basis_has_a_flat_spectrum(group) -> None:
    rho = regular_representation(load(group).cells)
    basis = random_orthogonal(len(rho), seed=1)
    rotated = np.einsum("ji,gjk,kl->gil", basis, rho, basis)  # (g, n, n): Q^T P_g Q
    np.testing.assert_allclose(unfolding_spectra(rotated), 1.0, atol=1e-12)
    np.testing.assert_allclose(unfolding_spectra(2.5 * rotated), 2.5, atol=1e-12)


def test_identical_slices_collapse_the_first_unfolding() -> None:
    n = 5
    cube = np.broadcast_to(random_orthogonal(n, seed=2), (n, n, n))
    spectra = unfolding_spectra(cube)
    # Rows of the first unfolding are all equal: rank 1, sigma_1 = sqrt(n) ||X||_F = n.
    np.testing.assert_allclose(spectra[0], [np.sqrt(n), 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(spectra[1:], 1.0, atol=1e-12)


def test_spectra_match_the_entrywise_reference() -> None:
    cube = np.random.default_rng(3).standard_normal((4, 4, 4))
    np.testing.assert_allclose(unfolding_spectra(cube), slow_spectra(cube), rtol=1e-12)


def test_spectra_reject_non_cubes() -> None:
    with pytest.raises(ValueError, match=r"`factor` must have shape \(n, n, n\), got \(2, 3, 3\)"):
        unfolding_spectra(np.zeros((2, 3, 3)))


def test_structure_tensor_panels_are_the_flattened_cubes() -> None:
    rng = np.random.default_rng(4)
    learned = rng.random((6, 4, 6))
    target = np.zeros((6, 4, 6))
    target[np.arange(6)[:, None], np.arange(4), load("S3").cells[:, :4]] = 1.0
    figure = plot_structure_tensor(learned, target)
    panels = [ax for ax in figure.axes if ax.images]
    shown = [np.asarray(ax.images[0].get_array()) for ax in panels]
    np.testing.assert_array_equal(shown[0], learned.reshape(6, 24))
    np.testing.assert_array_equal(shown[1], target.reshape(6, 24))
    assert shown[0][2, 3 * 6 + 5] == learned[2, 3, 5]  # row a, column b n + c
    assert shown[1].sum(axis=1).tolist() == [4.0] * 6  # one product per (a, b)
    largest = np.abs(learned - target).max()
    assert f"{largest:.1e}" in panels[2].get_title()


def test_blocks_figure_shows_block_diagonal_tiles() -> None:
    table = load("S3").cells
    rho = np.einsum(
        "ji,gjk,kl->gil",
        random_orthogonal(6, 5),
        regular_representation(table),
        random_orthogonal(6, 5),
    )
    found = decompose(rho, table, rng=0)
    figure = plot_irreducible_blocks(rho, found.basis, found.blocks, [str(g) for g in range(6)])
    tiles = [np.asarray(ax.images[0].get_array()) for ax in figure.axes if ax.images]
    assert len(tiles) == 6
    inside = np.zeros((6, 6), dtype=bool)
    for _, start, stop in found.blocks:
        inside[start:stop, start:stop] = True
    for g, tile in enumerate(tiles):
        np.testing.assert_allclose(tile[~inside], 0.0, atol=1e-9)
        np.testing.assert_allclose(tile, found.basis.T @ rho[g] @ found.basis, atol=1e-12)
    assert "blocks of sizes 1, 1, 2, 2" in figure.texts[0].get_text()


def test_training_curves_mark_the_phase_changes() -> None:
    history = {"train/data_loss": [(1, 4.0), (2, 1e-3)], "val/accuracy": [(2, 1.0)]}
    figure = plot_training_curves(history, {"eps off (polish)": 2})
    for ax in figure.axes:
        marks = [line for line in ax.lines if line.get_label() == "eps off (polish)"]
        assert [float(line.get_xdata()[0]) for line in marks] == [2.0]
    assert figure.axes[0].get_yscale() == "log"


def test_callback_writes_readable_pngs(s3_run) -> None:
    figures, result = s3_run
    directory = result.trainer.default_root_dir
    assert sorted(figures.paths) == sorted(FIGURES)
    for name, path in figures.paths.items():
        assert str(path) == f"{directory}/figures/{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 300


def test_recorded_spectra_end_flat_at_one(s3_run) -> None:
    figures, result = s3_run
    steps, spectra = figures.spectrum_steps, np.stack(figures.spectra)
    schedule = result.module.schedule
    assert spectra.shape == (len(steps), 3, 3, 6)
    assert steps[-1] == result.report["steps"]
    assert {0, 5, 10, schedule.completed_step, schedule.eps_off_step} <= set(steps)
    np.testing.assert_allclose(spectra[-1], 1.0, atol=1e-4)  # unitary at the solution
    assert spectra[0].max() - spectra[0].min() > 0.2  # the random start is not flat


def test_callback_history_follows_the_run(s3_run) -> None:
    figures, result = s3_run
    losses = figures.history["train/data_loss"]
    assert [step for step, _ in losses] == list(range(1, result.report["steps"] + 1))
    assert losses[-1][1] < 1e-7
    assert figures.history["val/accuracy"][-1][1] == 1.0
    marks = phase_marks(result.module)
    assert list(marks.values()) == [result.report["completed_step"], result.report["eps_off_step"]]


def test_callback_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="`every_n_steps` must be a positive integer, got 0"):
        FiguresCallback(every_n_steps=0)
