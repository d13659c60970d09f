"""Shared pieces of the studies: per-step held-out curves, one training run, Markdown output.

Every study trains through the public :func:`hc_lightning.complete` and measures, after every
optimisation step ``k`` (the factors after ``k`` updates), on the known and the held-out cells

.. math::

    \\mathrm{loss} = \\frac{1}{m} \\sum_{(a, b)} \\sum_c (T[a, b, c] - \\delta[a, b, c])^2,
    \\qquad \\mathrm{accuracy} = \\frac{1}{m} \\#\\{(a, b) : \\arg\\max_c T[a, b, c] = a * b\\},

with ``m`` the number of cells in the set (a mean per cell, so that sets of different sizes
compare).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from hc_lightning.api import complete
from hc_lightning.data.table import CayleyTable
from hc_lightning.model.module import HyperCubeModule

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DOC = REPO / "docs" / "experiments.md"
DEFAULT_FIGURES = REPO / "docs" / "figures" / "experiments"

# Order of the sections in docs/experiments.md, whichever study ran last.
STUDY_ORDER = ("regularizers", "fraction", "isotopes", "latin_survey")
DOC_TITLE = (
    "# Experiments: reproducing the HyperCube talk\n\n"
    "Each section below is written by `python -m experiments.<study>` (see "
    "`experiments/`); rerunning a study regenerates its own section and keeps the others.\n"
)

Cells = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class HeldoutCurve(L.Callback):
    """Records loss and accuracy on the known and the held-out cells after every step.

    By default the cells come from the data module (``train_cells``, ``heldout_cells``); a
    run on a partial table has no held-out answers there, so pass them as ``heldout``.

    Args:
        heldout: held-out cells ``(a, b, c)``, each of shape ``(m,)``; default: the data
            module's.
        stop_at_full_accuracy: end training at the first step with every held-out cell right.
        every: evaluate every ``every`` steps (the first step at 100 % is then known to
            within ``every`` steps).
        track_known: also score the known cells (costs a forward pass over them per step).
        stop_at_completion: end training when the fit phase ends (the ``"completed"`` event)
            short of 100 %: from then on the model trains on its own completion of the table,
            so the held-out cells have become targets it can no longer correct.

    Attributes:
        history: one list per quantity: ``step``, ``train_loss``, ``train_accuracy``,
            ``heldout_loss``, ``heldout_accuracy``, ``h_over_3n2``, ``eps``.
        first_full_step: the first recorded step with held-out accuracy 1, or ``None``.
        stopped_at_completion: the step at which ``stop_at_completion`` ended the run.
    """

    def __init__(
        self,
        heldout: Cells | None = None,
        stop_at_full_accuracy: bool = False,
        every: int = 1,
        track_known: bool = True,
        stop_at_completion: bool = False,
    ) -> None:
        if every < 1:
            raise ValueError(f"`every` must be at least 1, got {every}")
        self.heldout = heldout
        self.stop_at_full_accuracy = stop_at_full_accuracy
        self.every = every
        self.track_known = track_known
        self.stop_at_completion = stop_at_completion
        self.stopped_at_completion: int | None = None
        self.history: dict[str, list[float]] = {
            key: []
            for key in (
                "step",
                "train_loss",
                "train_accuracy",
                "heldout_loss",
                "heldout_accuracy",
                "h_over_3n2",
                "eps",
            )
        }
        self.first_full_step: int | None = None
        self._known: Cells | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        self._known = datamodule.train_cells
        if self.heldout is None:
            self.heldout = datamodule.heldout_cells

    @torch.no_grad()
    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if self.stop_at_completion and self.first_full_step is None:
            completed = pl_module.schedule.completed_step
            if completed is not None and completed > 0:
                self.stopped_at_completion = step
                trainer.should_stop = True
        if step % self.every:
            return
        train_loss, train_accuracy = float("nan"), float("nan")
        if self.track_known:
            train_loss, train_accuracy = cell_metrics(pl_module, self._known)
        heldout_loss, heldout_accuracy = cell_metrics(pl_module, self.heldout)
        record = {
            "step": step,
            "train_loss": train_loss,
            "train_accuracy": train_accuracy,
            "heldout_loss": heldout_loss,
            "heldout_accuracy": heldout_accuracy,
            "h_over_3n2": pl_module.last_h_ratio,
            "eps": pl_module.schedule.eps,
        }
        for key, value in record.items():
            self.history[key].append(float(value))
        if heldout_accuracy == 1.0 and self.first_full_step is None:
            self.first_full_step = step
            if self.stop_at_full_accuracy:
                trainer.should_stop = True


def cell_metrics(module: HyperCubeModule, cells: Cells) -> tuple[float, float]:
    """Mean squared error per cell and argmax accuracy of ``module`` on ``cells``.

    Returns ``(nan, nan)`` for an empty set of cells.
    """
    a, b, c = cells
    if len(a) == 0:
        return float("nan"), float("nan")
    rows = module.predict_rows(a, b)  # (m, n)
    target = torch.nn.functional.one_hot(c, module.n).to(rows.dtype)
    loss = (rows - target).square().sum(dim=1).mean()
    accuracy = (rows.argmax(dim=1) == c).double().mean()
    return float(loss), float(accuracy)


@dataclass
class Run:
    """One training run: its report, module and per-step curve."""

    report: dict[str, Any]
    module: HyperCubeModule
    curve: HeldoutCurve

    @property
    def steps(self) -> int:
        """Optimisation steps taken."""
        return int(self.report["steps"])


def train(
    table: CayleyTable | str,
    train_fraction: float,
    seed: int,
    max_steps: int,
    model_kwargs: dict[str, Any] | None = None,
    curve: HeldoutCurve | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> Run:
    """Train HyperCube through :func:`hc_lightning.complete` with a per-step curve.

    Lightning's own validation loop is switched off: the curve measures the held-out cells
    after every step instead.
    """
    curve = curve or HeldoutCurve()
    result = complete(
        table,
        train_fraction=train_fraction,
        seed=seed,
        max_steps=max_steps,
        model_kwargs=model_kwargs,
        callbacks=[curve, *callbacks],
        explain=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    return Run(result.report, result.module, curve)


def quiet(threads: int = 1) -> None:
    """Silence Lightning's banners and info lines for batch runs; use ``threads`` threads.

    One thread is the fastest for these small matrix products on a shared machine (several
    threads contend with the other processes and ran up to 7 times slower here).
    """
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "hc_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(threads)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--doc`` and ``--figures``: where the Markdown section and the PNG go."""
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="Markdown file to update")
    parser.add_argument(
        "--figures", type=Path, default=DEFAULT_FIGURES, help="directory of the PNG figures"
    )


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """``(min, median, max)`` of the values (``nan`` for none)."""
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    array = np.asarray(values, dtype=float)
    return float(array.min()), float(np.median(array)), float(array.max())


def unfolding_singular_values(factor: np.ndarray) -> list[np.ndarray]:
    """Singular values of the three unfoldings of a factor, over ``sqrt(n)``.

    The unfolding along mode ``k`` of ``X`` (shape ``(n, n, n)``) is the ``(n, n^2)`` matrix
    whose row ``i`` holds the entries with ``k``-th index ``i``. For orthogonal slices
    (``X_a^T X_a = I``) and the regular representation every one of them is ``sqrt(n)``
    times an orthogonal matrix, so all ``3 n`` values are 1.
    """
    n = factor.shape[0]
    values = []
    for mode in range(3):
        unfolded = np.moveaxis(factor, mode, 0).reshape(n, n * n)  # (n, n*n)
        values.append(np.linalg.svd(unfolded, compute_uv=False) / np.sqrt(n))
    return values


def numerical_rank(values: np.ndarray, relative: float = 1e-3) -> int:
    """Number of singular values above ``relative`` times the largest."""
    return int(np.count_nonzero(values > relative * values.max()))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def figure_link(doc: Path, figure: Path, caption: str) -> str:
    """Markdown image link to ``figure`` relative to the document."""
    relative = Path(os.path.relpath(figure.resolve(), doc.resolve().parent)).as_posix()
    return f"![{caption}]({relative})\n"


def write_section(doc: Path, study: str, text: str) -> None:
    """Replace (or add) the section ``study`` of ``doc``, keeping every other section.

    Sections are delimited by ``<!-- study:NAME -->`` and ``<!-- /study:NAME -->``; a name
    is one of :data:`STUDY_ORDER`, optionally with a ``-suffix`` (e.g. ``fraction-S5``),
    and the sections are kept in that order.
    """
    prefix = study.split("-", 1)[0]
    if prefix not in STUDY_ORDER:
        raise ValueError(f"`study` must start with one of {STUDY_ORDER}, got {study!r}")
    sections: dict[str, str] = {}
    if doc.exists():
        pattern = r"<!-- study:([\w-]+) -->\n(.*?)<!-- /study:\1 -->\n"
        sections = dict(re.findall(pattern, doc.read_text(), flags=re.S))
    sections[study] = text.rstrip("\n") + "\n"
    order = sorted(sections, key=lambda name: (STUDY_ORDER.index(name.split("-", 1)[0]), name))
    parts = [DOC_TITLE]
    parts += [f"<!-- study:{name} -->\n{sections[name]}<!-- /study:{name} -->\n" for name in order]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(parts))


def save_figure(figure: Any, directory: Path, name: str) -> Path:
    """Save a matplotlib figure as ``directory/name`` (PNG) and close it."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``-`` for None/nan, else ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{value:.{digits}g}"
