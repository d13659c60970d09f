"""What the completed table is: a group, an isotope of one, or neither, with evidence."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
import numpy as np

from hc_lightning.algebra import diagnostics
from hc_lightning.algebra.group import FiniteGroup, check_axioms
from hc_lightning.algebra.identify import identify
from hc_lightning.algebra.latin import isotope_to_group
from hc_lightning.callbacks.report import ReportContributor, complete_table
from hc_lightning.data.table import CayleyTable
from hc_lightning.model.module import HyperCubeModule

log = logging.getLogger(__name__)


def factors_of(module: HyperCubeModule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The module's factors as float64 numpy arrays, each ``(n, n, n)``."""
    return tuple(
        factor.detach().to("cpu").double().numpy()
        for factor in (module.factors.A, module.factors.B, module.factors.C)
    )


def describe(table: CayleyTable) -> dict[str, Any]:
    """Axioms, isotopy and the group's name for a completed table.

    Returns a dict with ``is_group``, ``is_group_isotope``, ``identity`` (label or
    ``None``), ``group`` (catalog name or ``None``), ``failing_associativity_triples``
    (of the table's principal loop, for a Latin square), ``verdict`` (one line) and, for an
    isotope, ``isotopy`` (``table[a, b] = gamma(alpha(a) . beta(b))`` in labels).
    """
    cells = np.asarray(table.cells)
    axioms = check_axioms(cells)
    found: dict[str, Any] = {
        "is_group": axioms.is_group,
        "is_group_isotope": False,
        "identity": None if axioms.identity is None else table.labels[axioms.identity],
        "group": None,
        "failing_associativity_triples": axioms.failing_triples,
    }
    if not table.is_latin_square:
        found["verdict"] = f"not a Latin square ({table.latin_violation()}), so not a group"
        return found
    isotope = isotope_to_group(cells)
    found["is_group_isotope"] = isotope.is_group_isotope
    found["failing_associativity_triples"] = isotope.failing_triples
    if axioms.is_group:
        found["group"] = identify(FiniteGroup(cells, table.labels)).name
        found["verdict"] = f"a group: {found['group'] or 'not in the catalog'}"
    elif isotope.is_group_isotope:
        found["group"] = identify(FiniteGroup(isotope.group_table)).name
        found["isotopy"] = {
            "alpha": [table.labels[x] for x in isotope.alpha],
            "beta": [table.labels[x] for x in isotope.beta],
            "gamma": [table.labels[x] for x in isotope.gamma],
        }
        found["verdict"] = (
            f"not a group ({axioms.failure_message()}) but an isotope of"
            f" {found['group'] or 'a group not in the catalog'}"
        )
    else:
        found["verdict"] = (
            "not isotopic to any group: its loop fails associativity for"
            f" {isotope.failing_triples} triples"
        )
    return found


class StructureCallback(L.Callback, ReportContributor):
    """Checks the group axioms on the completed table, names the group, and measures the
    theory's diagnostics.

    At the end of training it reports whether the completed table is a group, an isotope
    of a group (with the relabelling maps) or neither (with the number of failing
    associativity triples of its loop), the group's catalog name, and ``H``, its lower
    bound ``Bnd`` and the remainder ``R`` (each over ``3 n^2``) with ``n kappa``, computed
    on the completed table. Every ``every_n_steps`` steps (if set) the same diagnostics
    are logged for the model's current completion, when that is a Latin square.

    Args:
        every_n_steps: period of the diagnostics during training; ``None`` for the end only.
        max_order: largest ``n`` for which the ``O(n^5)`` diagnostics are computed.
    """

    def __init__(self, every_n_steps: int | None = None, max_order: int = 160) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be positive or None, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.max_order = max_order
        self.found: dict[str, Any] = {}
        self.diagnostics: dict[str, float] = {}

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args):
        step = trainer.global_step
        if not self.every_n_steps or step % self.every_n_steps:
            return
        table = CayleyTable.from_cells(pl_module.predicted_table().cpu().numpy())
        figures = self._diagnostics(pl_module, table)
        if figures and trainer.logger is not None:
            trainer.logger.log_metrics({f"theory/{k}": v for k, v in figures.items()}, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        table = complete_table(pl_module, trainer.datamodule)
        self.found = describe(table)
        self.diagnostics = self._diagnostics(pl_module, table)
        if trainer.logger is not None and self.diagnostics:
            trainer.logger.log_metrics(
                {f"theory/{k}": v for k, v in self.diagnostics.items()}, trainer.global_step
            )
        log.info("completed table: %s", self.found["verdict"])

    def _diagnostics(self, module: HyperCubeModule, table: CayleyTable) -> dict[str, float]:
        if not table.is_latin_square or table.n > self.max_order:
            return {}
        figures = diagnostics.decomposition(*factors_of(module), np.asarray(table.cells))
        return {
            "h_over_3n2": figures["h_normalized"],
            "bound_over_3n2": figures["bound_normalized"],
            "remainder_over_3n2": figures["remainder_normalized"],
            "n_kappa": figures["n_kappa"],
        }

    def report_items(self) -> dict[str, Any]:
        return {**self.found, "theory": self.diagnostics}

    def summary_lines(self) -> list[str]:
        lines = [f"the completed table is {self.found.get('verdict', 'not examined')}"]
        if self.diagnostics:
            d = self.diagnostics
            lines.append(
                f"theory: Bnd/3n^2 = {d['bound_over_3n2']:.6f}, R/3n^2 = "
                f"{d['remainder_over_3n2']:.2e}, n kappa = {d['n_kappa']:.3f}"
            )
        return lines
