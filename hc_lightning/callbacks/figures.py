"""Pictures of what a run learned: ``T`` against ``delta``, the factors' singular values, the
blocks of ``rho`` and the training curves.

matplotlib is imported inside the plotting functions, which draw on their own Agg canvases
(no pyplot, no display, the user's backend untouched), so the figures render on headless
machines and ``import hc_lightning.callbacks.figures`` stays cheap.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch

from hc_lightning.callbacks.report import complete_table, run_directory
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import factors_of
from hc_lightning.callbacks.tracking import log_figure
from hc_lightning.data.io import write_bytes_atomic
from hc_lightning.model.module import HyperCubeModule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

CURVES = ("train/data_loss", "train/h_over_3n2", "val/accuracy")
FACTOR_NAMES = ("A", "B", "C")


def unfolding_spectra(factor: np.ndarray | torch.Tensor) -> np.ndarray:
    """Singular values of the three unfoldings of a factor cube, divided by ``sqrt(n)``.

    For a cube ``X`` of shape ``(n, n, n)`` the unfoldings are the ``(n, n^2)`` matrices
    ``M1[a, (i, j)] = X[a, i, j]``, ``M2[i, (a, j)]`` and ``M3[j, (a, i)]``. When every
    slice is orthogonal, ``M2 M2^T = sum_a X_a X_a^T = n I`` and ``M3 M3^T = n I``; when
    the slices also form the regular representation, ``M1 M1^T[a, a'] = tr(X_a^T X_a')``
    is the regular character, ``n`` on the diagonal and 0 elsewhere. So at a HyperCube
    group solution all ``3 n`` values are exactly 1 (a flat spectrum), while a collapse of
    the factors shows as values falling to 0.

    Args:
        factor: the cube, shape ``(n, n, n)``.

    Returns:
        ``sigma / sqrt(n)``, shape ``(3, n)``: one row per unfolding, values descending.

    Example:
        >>> eye = np.broadcast_to(np.eye(2), (2, 2, 2))
        >>> unfolding_spectra(eye).round(3).tolist()
        [[1.414, 0.0], [1.0, 1.0], [1.0, 1.0]]
    """
    if isinstance(factor, torch.Tensor):
        factor = factor.detach().to("cpu", torch.float64).numpy()
    cube = np.asarray(factor, dtype=np.float64)
    if cube.ndim != 3 or len(set(cube.shape)) != 1:
        raise ValueError(f"`factor` must have shape (n, n, n), got {tuple(cube.shape)}")
    n = cube.shape[0]
    unfoldings = (
        cube.reshape(n, n * n),  # (n, n*n): [a, (i, j)]
        cube.transpose(1, 0, 2).reshape(n, n * n),  # (n, n*n): [i, (a, j)]
        cube.transpose(2, 0, 1).reshape(n, n * n),  # (n, n*n): [j, (a, i)]
    )
    return np.stack([np.linalg.svd(m, compute_uv=False) for m in unfoldings]) / np.sqrt(n)


def plot_structure_tensor(
    learned: np.ndarray, target: np.ndarray, labels: Sequence[str] | None = None
) -> Figure:
    """Heat maps of the learned ``T`` above ``delta`` and their difference.

    Each cube is flattened to rows ``a`` and columns ``(b, c)``: block ``b`` is the
    ``n x n`` matrix ``T[:, b, :]``, a permutation matrix for ``delta`` (``c = a * b``).

    Args:
        learned: ``T[a, b, c]`` for the shown ``b``, shape ``(n, k, n)``.
        target: ``delta[a, b, c]`` on the same cells, shape ``(n, k, n)``.
        labels: names of the ``k`` shown columns ``b`` (ticks, for small tables).
    """
    from matplotlib.figure import Figure

    if learned.shape != target.shape or learned.ndim != 3:
        raise ValueError(
            f"`learned` and `target` must share a shape (n, k, n), got {learned.shape}"
            f" and {target.shape}"
        )
    n, k, _ = learned.shape
    difference = learned - target
    spread = max(float(np.abs(difference).max()), 1e-16)
    panels = (
        ("learned T", learned, "magma", 0.0, 1.0),
        ("delta of the completed table", target, "magma", 0.0, 1.0),
        (f"T - delta (largest |entry| {spread:.1e})", difference, "RdBu_r", -spread, spread),
    )
    figure = Figure(figsize=(10, 1.2 + 3 * (0.5 + 9.0 / k)), layout="constrained")
    axes = figure.subplots(3, 1)
    for ax, (title, cube, cmap, low, high) in zip(axes, panels, strict=True):
        image = ax.imshow(
            cube.reshape(n, k * n),  # (n, k*n): [a, (b, c)]
            cmap=cmap,
            vmin=low,
            vmax=high,
            aspect="auto",
            interpolation="nearest",
        )
        for boundary in range(1, k):
            ax.axvline(boundary * n - 0.5, color="0.6", linewidth=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("a")
        ax.set_xticks(np.arange(k) * n + (n - 1) / 2)
        ax.set_xticklabels(list(labels) if labels is not None else range(k), fontsize=7)
        figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    shown = "" if k == n else f"; the first {k} of {n} blocks"
    axes[-1].set_xlabel(f"block b (columns c inside each block{shown})")
    return figure


def plot_spectra(steps: Sequence[int], spectra: np.ndarray, marks: Mapping[str, int]) -> Figure:
    """Singular values of every factor's unfoldings over training (see
    :func:`unfolding_spectra`); each line is one singular value.

    Args:
        steps: the steps of the records, length ``s``.
        spectra: shape ``(s, 3, 3, n)``: record, factor (A, B, C), unfolding, value.
        marks: vertical lines ``{label: step}`` (phase changes).
    """
    from matplotlib.figure import Figure

    spectra = np.asarray(spectra)
    if spectra.ndim != 4 or spectra.shape[:3] != (len(steps), 3, 3):
        raise ValueError(f"`spectra` must have shape ({len(steps)}, 3, 3, n), got {spectra.shape}")
    figure = Figure(figsize=(10, 7), layout="constrained")
    axes = figure.subplots(3, 3, sharex=True, sharey=True)
    for row, name in enumerate(FACTOR_NAMES):
        for mode in range(3):
            ax = axes[row, mode]
            values = spectra[:, row, mode, :]
            ax.plot(steps, values, linewidth=0.9, alpha=0.8)
            ax.plot(np.full(values.shape[1], steps[-1]), values[-1], "k.", markersize=4)
            ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
            _mark_steps(ax, marks)
            final = f"{values[-1].min():.3f} to {values[-1].max():.3f}"
            ax.set_title(f"{name}, unfolding {mode + 1}: last {final}", fontsize=9)
        axes[row, 0].set_ylabel("sigma / sqrt(n)")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    if marks:
        axes[0, 0].legend(fontsize=7, loc="lower right")
    figure.suptitle("singular values of the factor unfoldings (1 = unitary)", fontsize=11)
    return figure


def plot_irreducible_blocks(
    rho: np.ndarray,
    basis: np.ndarray,
    blocks: Sequence[tuple[int, int, int]],
    labels: Sequence[str],
    max_tiles: int = 24,
) -> Figure:
    """``Q^T rho(g) Q`` for every element ``g``, tiled, with the irreducible blocks framed.

    Args:
        rho: the gauge-fixed orthogonal representation, shape ``(n, d, d)``.
        basis: orthogonal ``Q``, shape ``(d, d)``, from the irreducible decomposition.
        blocks: ``(irrep index, start, stop)`` for every block, in basis order.
        labels: names of the elements.
        max_tiles: draw at most this many elements (the first ones).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    shown = min(len(rho), max_tiles)
    rotated = np.einsum("ji,gjk,kl->gil", basis, rho[:shown], basis)  # (g, d, d): Q^T rho Q
    columns = int(np.ceil(np.sqrt(shown)))
    rows = int(np.ceil(shown / columns))
    figure = Figure(figsize=(1.9 * columns + 0.8, 1.9 * rows + 0.7), layout="constrained")
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index >= shown:
            continue
        image = ax.imshow(rotated[index], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        for _, start, stop in blocks:
            frame = (start - 0.5, start - 0.5)
            ax.add_patch(
                Rectangle(frame, stop - start, stop - start, fill=False, edgecolor="0.2", lw=1)
            )
        ax.set_title(str(labels[index]), fontsize=8)
    sizes = ", ".join(str(stop - start) for _, start, stop in blocks)
    more = "" if shown == len(rho) else f" (first {shown} of {len(rho)} elements)"
    figure.suptitle(f"Q^T rho(g) Q: blocks of sizes {sizes}{more}", fontsize=10)
    figure.colorbar(image, ax=axes.tolist(), fraction=0.02, pad=0.02)
    return figure


def plot_training_curves(
    history: Mapping[str, Sequence[tuple[int, float]]], marks: Mapping[str, int]
) -> Figure:
    """The data term (log scale), ``H / (3 n^2)`` and held-out accuracy against the step.

    Args:
        history: ``{metric: [(step, value), ...]}`` for the names in :data:`CURVES`
            (missing ones are left blank).
        marks: vertical lines ``{label: step}``, e.g. where ``eps`` was switched off.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 7), layout="constrained")
    axes = figure.subplots(len(CURVES), 1, sharex=True)
    titles = {
        "train/data_loss": "data term sum (T - delta)^2",
        "train/h_over_3n2": "H / (3 n^2)",
        "val/accuracy": "held-out accuracy",
    }
    for ax, name in zip(axes, CURVES, strict=True):
        points = np.asarray(history.get(name, ()), dtype=float).reshape(-1, 2)
        ax.plot(points[:, 0], points[:, 1], linewidth=1.2, marker="." if len(points) < 50 else "")
        if name == "train/data_loss" and (points[:, 1] > 0).any():
            ax.set_yscale("log")
        if name == "train/h_over_3n2":
            ax.axhline(1.0, color="black", linestyle=":", linewidth=0.8)
        _mark_steps(ax, marks)
        ax.set_ylabel(titles[name], fontsize=9)
    axes[-1].set_xlabel("step")
    if marks:
        axes[0].legend(fontsize=8)
    return figure


def _mark_steps(ax: Any, marks: Mapping[str, int]) -> None:
    styles = ("--", "-.", ":")
    for (label, step), style in zip(marks.items(), styles, strict=False):
        ax.axvline(step, color="tab:red", linestyle=style, linewidth=1, label=label)


def render_png(figure: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG bytes, drawn by the Agg renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


class FiguresCallback(L.Callback):
    """Draws what a run learned and saves it as PNGs in ``<run directory>/figures``.

    Works with a :class:`HyperCubeModule` and a
    :class:`~hc_lightning.data.datamodule.CayleyDataModule`. During training it records
    the data term and ``H / (3 n^2)`` at every step, the held-out accuracy at every
    validation, and the spectra of :func:`unfolding_spectra` every ``every_n_steps`` steps,
    at each phase change and at the end. After fitting it writes

    * ``structure_tensor.png``: ``T`` next to ``delta`` of the completed table
      (:func:`plot_structure_tensor`);
    * ``singular_values.png``: the factor spectra over the steps (:func:`plot_spectra`);
    * ``irreducible_blocks.png``: ``Q^T rho(g) Q`` from :class:`GaugeFixCallback` and
      :class:`IrrepsCallback`, when both found a representation
      (:func:`plot_irreducible_blocks`);
    * ``training_curves.png``: :func:`plot_training_curves`, with the steps where the
      completed table became the target and where ``eps`` was switched off.

    Each figure also goes to the trainer's loggers (see
    :func:`hc_lightning.callbacks.tracking.log_figure`): images with W&B, figures with
    TensorBoard; other loggers keep only the PNGs.

    Args:
        every_n_steps: steps between two records of the spectra.
        max_blocks: columns ``b`` of ``T`` shown (the first ones); at most ``n``.
        max_tiles: elements ``g`` shown in the ``rho`` figure.
        dpi: resolution of the PNGs.

    Example:
        >>> from hc_lightning import complete
        >>> figures = FiguresCallback(every_n_steps=5)
        >>> _ = complete("S3", callbacks=[figures], default_root_dir="runs")  # doctest: +SKIP
        >>> sorted(figures.paths)  # doctest: +SKIP
        ['irreducible_blocks', 'singular_values', 'structure_tensor', 'training_curves']
    """

    def __init__(
        self, every_n_steps: int = 10, max_blocks: int = 12, max_tiles: int = 24, dpi: int = 120
    ) -> None:
        for name, value in (
            ("every_n_steps", every_n_steps),
            ("max_blocks", max_blocks),
            ("max_tiles", max_tiles),
            ("dpi", dpi),
        ):
            if value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value}")
        self.every_n_steps = every_n_steps
        self.max_blocks = max_blocks
        self.max_tiles = max_tiles
        self.dpi = dpi
        self.history: dict[str, list[tuple[int, float]]] = {name: [] for name in CURVES}
        self.spectrum_steps: list[int] = []
        self.spectra: list[np.ndarray] = []
        self.paths: dict[str, Path] = {}
        self._phase: str | None = None

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        # Factors after `global_step` updates, including the module's rescaling at a
        # phase change, which happens after the callbacks' `on_train_batch_end`.
        phase = pl_module.schedule.phase
        if trainer.global_step % self.every_n_steps == 0 or phase != self._phase:
            self._record_spectra(trainer.global_step, pl_module)
        self._phase = phase

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any):
        # Read off the module: it logs to Lightning only every `log_every_n_steps`.
        step = trainer.global_step
        self.history["train/data_loss"].append((step, pl_module.schedule.last_data))
        self.history["train/h_over_3n2"].append((step, pl_module.last_h_ratio))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and "val/accuracy" in trainer.callback_metrics:
            value = float(trainer.callback_metrics["val/accuracy"])
            self.history["val/accuracy"].append((trainer.global_step, value))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.spectrum_steps or self.spectrum_steps[-1] != trainer.global_step:
            self._record_spectra(trainer.global_step, pl_module)

    def _record_spectra(self, step: int, module: HyperCubeModule) -> None:
        factors = factors_of(module)
        self.spectrum_steps.append(step)
        self.spectra.append(np.stack([unfolding_spectra(x) for x in factors]))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_rank != 0:
            return
        directory = run_directory(trainer) / "figures"
        for name, figure in self.figures(trainer, pl_module).items():
            path = directory / f"{name}.png"
            write_bytes_atomic(path, render_png(figure, self.dpi))
            self.paths[name] = path
            log_figure(trainer, f"figures/{name}", figure, path)
        log.info("wrote %d figures into %s", len(self.paths), directory)

    def figures(self, trainer: L.Trainer, module: HyperCubeModule) -> dict[str, Figure]:
        """The figures of the finished run, by name (without writing them)."""
        figures = {"structure_tensor": self._structure_tensor(trainer, module)}
        marks = phase_marks(module)
        if self.spectra:
            figures["singular_values"] = plot_spectra(
                self.spectrum_steps, np.stack(self.spectra), marks
            )
        blocks = self._irreducible_blocks(trainer)
        if blocks is not None:
            figures["irreducible_blocks"] = blocks
        figures["training_curves"] = plot_training_curves(self.history, marks)
        return figures

    def _structure_tensor(self, trainer: L.Trainer, module: HyperCubeModule) -> Figure:
        table = complete_table(module, trainer.datamodule)
        n, k = table.n, min(table.n, self.max_blocks)
        a, b = torch.meshgrid(torch.arange(n), torch.arange(k), indexing="ij")
        rows = module.predict_rows(a.reshape(-1), b.reshape(-1))  # (n*k, n)
        learned = rows.detach().to("cpu", torch.float64).numpy().reshape(n, k, n)
        target = np.zeros((n, k, n))
        target[a.numpy(), b.numpy(), table.cells[:, :k]] = 1.0
        return plot_structure_tensor(learned, target, table.labels[:k] if n <= 24 else None)

    def _irreducible_blocks(self, trainer: L.Trainer) -> Figure | None:
        gauge = next((cb for cb in trainer.callbacks if isinstance(cb, GaugeFixCallback)), None)
        irreps = next((cb for cb in trainer.callbacks if isinstance(cb, IrrepsCallback)), None)
        if gauge is None or irreps is None or irreps.decomposition is None:
            return None
        found = irreps.decomposition
        return plot_irreducible_blocks(
            gauge.result.rho_orthogonal, found.basis, found.blocks, gauge.labels, self.max_tiles
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": {name: list(points) for name, points in self.history.items()},
            "spectrum_steps": list(self.spectrum_steps),
            "spectra": [spectrum.tolist() for spectrum in self.spectra],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = {
            name: [tuple(p) for p in points] for name, points in state_dict["history"].items()
        }
        self.spectrum_steps = list(state_dict["spectrum_steps"])
        self.spectra = [np.asarray(spectrum) for spectrum in state_dict["spectra"]]


def phase_marks(module: HyperCubeModule) -> dict[str, int]:
    """Steps where the schedule moved on: the completed table became the target, and
    ``eps`` was switched off (only those after step 0)."""
    schedule = module.schedule
    candidates = {
        "completed table (settle)": schedule.completed_step,
        "eps off (polish)": schedule.eps_off_step,
    }
    return {label: step for label, step in candidates.items() if step}
