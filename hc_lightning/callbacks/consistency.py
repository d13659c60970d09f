"""Noisy observations: which given cells disagree with the structure the model found.

A given cell ``a * b = c`` is checked against the model's own answer
``c* = argmax_x T[a, b, x]``; it *disagrees* when ``c* != c``. Its suspicion score is
``T[a, b, c]``, the model's support for the given answer: about 1 for a cell that fits the
discovered structure, about 0 for one that the structure overrules. Pair this callback with
``HyperCubeModule(distrust_known_cells=True)``, which lets the model follow its own
completion on the given cells after the fit phase, so that a wrong observation can lose.

From the command line::

    hypercube fit --data.path noisy.csv --model.distrust_known_cells true --model.eps 0.2 \\
        --model.early_completion false \\
        --trainer.callbacks+=hc_lightning.callbacks.consistency.ConsistencyCallback

(``eps = 0.2`` and no early completion: see ``docs/noise.md``.)
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import lightning as L
import numpy as np
import torch

from hc_lightning.algebra.latin import is_latin_square
from hc_lightning.callbacks.report import ReportContributor
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.table import CayleyTable
from hc_lightning.model.module import HyperCubeModule

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SuspiciousCell:
    """A given cell ``row * column = given`` that the model answers differently.

    Attributes:
        row: label of ``a``.
        column: label of ``b``.
        given: label of the observed product ``c``.
        predicted: label of the model's product ``argmax_x T[a, b, x]``.
        score_given: ``T[a, b, c]``, the model's support for the observation.
        score_predicted: ``T[a, b, argmax]``, its support for its own answer.
    """

    row: str
    column: str
    given: str
    predicted: str
    score_given: float
    score_predicted: float


@dataclasses.dataclass(frozen=True)
class ConsistencyResult:
    """The given cells compared with the model's answers.

    Attributes:
        given_cells: number of cells the model was given.
        flagged: boolean mask ``(n, n)`` of the given cells the model disagrees with.
        suspicious: every flagged cell, least supported (smallest ``score_given``) first.
        structure_found: the model's own table ``argmax_x T[a, b, x]`` is a Latin square;
            if not, the fit failed and the cells were checked against no structure at all.
    """

    given_cells: int
    flagged: np.ndarray
    suspicious: tuple[SuspiciousCell, ...]
    structure_found: bool = True

    @property
    def disagreeing_cells(self) -> int:
        """Number of given cells the model disagrees with."""
        return len(self.suspicious)

    @property
    def verdict(self) -> str:
        """One line: ``"consistent ..."``, ``"the known cells are inconsistent ..."``, or
        ``"no structure found ..."`` when the model's own table is not a Latin square."""
        if not self.structure_found:
            return (
                "no structure found: the model's table is not a Latin square, and"
                f" {self.disagreeing_cells} of {self.given_cells} known cells disagree with it"
            )
        if not self.suspicious:
            return f"consistent: all {self.given_cells} known cells agree with the structure found"
        return (
            "the known cells are inconsistent with the structure found:"
            f" {self.disagreeing_cells} of {self.given_cells} cells disagree with it"
        )

    def as_dict(self, max_listed: int | None = None) -> dict[str, Any]:
        """JSON-ready figures, with at most ``max_listed`` suspicious cells."""
        listed = self.suspicious if max_listed is None else self.suspicious[:max_listed]
        return {
            "given_cells": self.given_cells,
            "disagreeing_cells": self.disagreeing_cells,
            "suspicious_cells": [dataclasses.asdict(cell) for cell in listed],
            "structure_found": self.structure_found,
            "verdict": self.verdict,
        }


def compare_given_cells(
    table: CayleyTable, given: np.ndarray, rows: np.ndarray, structure_found: bool = True
) -> ConsistencyResult:
    """Compare the given cells of ``table`` with the model's predicted rows.

    Args:
        table: the observed table (its labels name the cells).
        given: boolean mask ``(n, n)`` of the cells the model was given; each must be known.
        rows: ``T[a, b, :]`` for the given cells in row-major order, shape ``(m, n)``.
        structure_found: whether the model's whole table is a Latin square (for the verdict).

    Returns:
        The cells with ``argmax_x T[a, b, x] != table[a, b]``, sorted by ``T[a, b, table[a, b]]``.

    Example:
        >>> table = CayleyTable.from_cells([[0, 1], [1, 1]], labels=["e", "x"])
        >>> rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.9, 0.1]])
        >>> result = compare_given_cells(table, np.ones((2, 2), bool), rows)
        >>> result.disagreeing_cells, result.suspicious[0].predicted
        (1, 'e')
    """
    given = np.asarray(given, dtype=bool)
    if given.shape != table.cells.shape or not table.known[given].all():
        raise ValueError(
            f"`given` must be a mask of known cells of shape {table.cells.shape},"
            f" got shape {given.shape}"
        )
    a, b = np.nonzero(given)
    rows = np.asarray(rows, dtype=np.float64)
    if rows.shape != (len(a), table.n):
        raise ValueError(f"`rows` must have shape {(len(a), table.n)}, got {rows.shape}")
    observed = table.cells[a, b]
    predicted = rows.argmax(axis=1)
    index = np.arange(len(a))
    score_given, score_predicted = rows[index, observed], rows[index, predicted]
    disagree = np.flatnonzero(predicted != observed)
    order = disagree[np.argsort(score_given[disagree], kind="stable")]
    labels = table.labels
    suspicious = tuple(
        SuspiciousCell(
            labels[a[i]],
            labels[b[i]],
            labels[observed[i]],
            labels[predicted[i]],
            float(score_given[i]),
            float(score_predicted[i]),
        )
        for i in order
    )
    flagged = np.zeros_like(given)
    flagged[a[disagree], b[disagree]] = True
    return ConsistencyResult(int(given.sum()), flagged, suspicious, structure_found)


def check_given_cells(module: HyperCubeModule, datamodule: CayleyDataModule) -> ConsistencyResult:
    """:func:`compare_given_cells` for a trained module and its data module."""
    given = np.asarray(datamodule.train_mask, dtype=bool)
    a, b = np.nonzero(given)
    rows = module.predict_rows(torch.as_tensor(a), torch.as_tensor(b))  # (m, n)
    structure_found = is_latin_square(module.predicted_table().cpu().numpy())
    return compare_given_cells(
        datamodule.table, given, rows.detach().cpu().double().numpy(), structure_found
    )


class ConsistencyCallback(L.Callback, ReportContributor):
    """At the end of training, flags the given cells the model's structure contradicts.

    A given cell ``a * b = c`` is flagged when ``argmax_x T[a, b, x] != c``; flagged cells are
    listed least supported first (smallest ``T[a, b, c]``). The report gains a
    ``consistency`` entry (``given_cells``, ``disagreeing_cells``, ``suspicious_cells``,
    ``structure_found``, ``verdict``) and the summary a one-line verdict; the logger gets
    ``consistency/disagreeing_cells``.

    Use it with ``HyperCubeModule(distrust_known_cells=True)``: otherwise the settle and
    polish phases train the model to agree with every given cell, wrong ones included.

    Args:
        max_listed: largest number of suspicious cells written into the report.

    Example:
        >>> from hc_lightning import complete
        >>> check = ConsistencyCallback()
        >>> result = complete(  # doctest: +SKIP
        ...     "A4", model_kwargs={"distrust_known_cells": True}, callbacks=[check]
        ... )
        >>> check.result.verdict  # doctest: +SKIP
        'consistent: all 86 known cells agree with the structure found'
    """

    def __init__(self, max_listed: int = 20) -> None:
        if max_listed < 0:
            raise ValueError(f"`max_listed` must be >= 0, got {max_listed}")
        self.max_listed = max_listed
        self.result: ConsistencyResult | None = None
        self.trusted_known_cells = False

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not isinstance(pl_module, HyperCubeModule) or not isinstance(
            datamodule, CayleyDataModule
        ):
            raise TypeError("ConsistencyCallback needs a HyperCubeModule and a CayleyDataModule")
        self.trusted_known_cells = not pl_module.hparams.distrust_known_cells
        self.result = check_given_cells(pl_module, datamodule)
        if trainer.logger is not None:
            trainer.logger.log_metrics(
                {"consistency/disagreeing_cells": self.result.disagreeing_cells},
                trainer.global_step,
            )
        log.info("given cells: %s", self.result.verdict)

    def report_items(self) -> dict[str, Any]:
        if self.result is None:
            return {}
        return {"consistency": self.result.as_dict(self.max_listed)}

    def summary_lines(self) -> list[str]:
        if self.result is None:
            return []
        lines = [f"given cells: {self.result.verdict}"]
        if self.result.suspicious and self.trusted_known_cells:
            lines.append("  (train with distrust_known_cells=True to let the model overrule them)")
        for cell in self.result.suspicious[: min(self.max_listed, 5)]:
            # Adding 0.0 turns a rounded -0.0 into 0.0.
            given, found = (round(x, 3) + 0.0 for x in (cell.score_given, cell.score_predicted))
            lines.append(
                f"  {cell.row} * {cell.column} = {cell.given} given, {cell.predicted} found"
                f" (T = {given:.3f} vs {found:.3f})"
            )
        return lines
