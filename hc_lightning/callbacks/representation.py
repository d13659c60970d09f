"""Gauge fixing and the irreducible decomposition of the learned representation."""

from __future__ import annotations

import dataclasses
import io
import logging
from typing import Any

import lightning as L
import numpy as np
import torch

from hc_lightning.algebra.gauge import (
    GaugeResult,
    gauge_fix,
    homomorphism_error,
    orthogonality_error,
    orthogonalize,
    refine_representation,
)
from hc_lightning.algebra.irreps import IrrepDecomposition, decompose
from hc_lightning.callbacks.report import ReportContributor, complete_table, run_directory
from hc_lightning.callbacks.structure import factors_of
from hc_lightning.data.io import write_bytes_atomic
from hc_lightning.model.module import HyperCubeModule

log = logging.getLogger(__name__)

REPRESENTATION_NAME = "representation.npz"
# Homomorphism error (normalised Frobenius norm) above which rho is no representation at
# all: refinement makes a near one exact, and no split into irreps can mean anything.
NOT_A_REPRESENTATION = 0.1


class GaugeFixCallback(L.Callback, ReportContributor):
    """Turns the learned factors into one representation ``rho`` (DESIGN, gauge fixing).

    With ``c0 = a0 * b0``, ``rho(x) = C_x^{-1} C_{c0}`` represents the loop
    ``x . y = R^{-1}(x) * L^{-1}(y)`` (``R(a) = a * b0``, ``L(b) = a0 * b``); for a group,
    ``a0 = b0`` is the identity found in the table, so ``rho`` represents the table's own
    operation. Logged: ``gauge/homomorphism_error`` ``= max ||rho(x) rho(y) - rho(x . y)||``
    and ``gauge/orthogonality_error`` ``= max ||rho(x)^T rho(x) - I||`` (normalised
    Frobenius norms) of ``rho`` as read off the factors.

    When the loop is a group, ``refine`` steps of group averaging
    (:func:`~hc_lightning.algebra.gauge.refine_representation`) then move ``rho`` onto the
    exact representation nearby; its error is reported as ``homomorphism_error`` and the
    raw one as ``homomorphism_error_factors``.

    Args:
        every_n_steps: also gauge-fix (and log) every this many steps; ``None`` for the
            end only.
        refine: number of averaging steps applied to the final ``rho`` (0 for none).
        synchronize: for a group table, replace the module's factors by the synchronised
            ones (``A = B = rho``, ``C = rho^T`` in an orthogonal basis); ``T`` is unchanged.
    """

    def __init__(
        self, every_n_steps: int | None = None, synchronize: bool = True, refine: int = 2
    ) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"`every_n_steps` must be positive or None, got {every_n_steps}")
        if refine < 0:
            raise ValueError(f"`refine` must be >= 0, got {refine}")
        self.every_n_steps = every_n_steps
        self.synchronize = synchronize
        self.refine = refine
        self.result: GaugeResult | None = None
        self.raw: GaugeResult | None = None
        self.labels: tuple[str, ...] = ()
        self.skipped: str | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args):
        step = trainer.global_step
        if not self.every_n_steps or step % self.every_n_steps:
            return
        table = pl_module.predicted_table().cpu().numpy()
        result = self._fix(pl_module, table)
        if result is not None and trainer.logger is not None:
            trainer.logger.log_metrics(_errors(result), step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        table = complete_table(pl_module, trainer.datamodule)
        self.labels = table.labels
        self.raw = self._fix(pl_module, np.asarray(table.cells))
        if self.raw is None:
            return
        if trainer.logger is not None:
            trainer.logger.log_metrics(_errors(self.raw), trainer.global_step)
        self.result = self._refined(self.raw)
        if self.synchronize and self.result.is_group:
            self._synchronize(pl_module)

    def _fix(self, module: HyperCubeModule, table: np.ndarray) -> GaugeResult | None:
        try:
            return gauge_fix(*factors_of(module), table)
        except (ValueError, np.linalg.LinAlgError) as error:
            self.skipped = f"no representation: {error}"
            return None

    def _refined(self, result: GaugeResult) -> GaugeResult:
        if not self.refine or not result.loop_is_group:
            return result
        rho = refine_representation(result.rho_orthogonal, result.loop_table, self.refine)
        rho_orthogonal = orthogonalize(rho)[0]
        return dataclasses.replace(
            result,
            rho_orthogonal=rho_orthogonal,
            homomorphism_error=homomorphism_error(rho_orthogonal, result.loop_table),
            orthogonality_error_after=orthogonality_error(rho_orthogonal),
        )

    @torch.no_grad()
    def _synchronize(self, module: HyperCubeModule) -> None:
        for target, value in zip(
            (module.factors.A, module.factors.B, module.factors.C), self.result.factors, strict=True
        ):
            target.copy_(torch.as_tensor(value, dtype=target.dtype))

    def report_items(self) -> dict[str, Any]:
        if self.result is None:
            return {"representation": None, "representation_skipped": self.skipped}
        result = self.result
        return {
            "homomorphism_error": float(result.homomorphism_error),
            "homomorphism_error_factors": float(self.raw.homomorphism_error),
            "orthogonality_error": float(result.orthogonality_error),
            "gauge": {
                "identity": self.labels[result.identity],
                "a0": self.labels[result.a0],
                "b0": self.labels[result.b0],
                "row_map": [self.labels[x] for x in result.row_map],
                "col_map": [self.labels[x] for x in result.col_map],
            },
        }

    def summary_lines(self) -> list[str]:
        if self.result is None:
            return [self.skipped] if self.skipped else []
        if self.result.homomorphism_error > NOT_A_REPRESENTATION:
            return [
                "rho: the factors are not exact, so no representation is read off them"
                f" (homomorphism error {self.result.homomorphism_error:.1e} refined)"
            ]
        return [
            f"rho: homomorphism error {self.raw.homomorphism_error:.1e} from the factors,"
            f" {self.result.homomorphism_error:.1e} refined; identity"
            f" {self.labels[self.result.identity]!r}"
        ]


class IrrepsCallback(L.Callback, ReportContributor):
    """Splits the gauge-fixed ``rho`` into irreducible representations, exactly.

    Needs a :class:`GaugeFixCallback` in the trainer (before this one). For each irrep:
    real dimension, copies, type (real, complex, quaternionic) and character; the
    orthogonal basis ``Q`` with every ``Q^T rho(g) Q`` block diagonal and the largest
    entry left outside the blocks. Checks against theory: ``sum(dim x copies) = n`` and
    the number of complex irreps equals the number of conjugacy classes. ``rho``, ``Q`` and
    the loop's table are saved to ``representation.npz`` (plain arrays; ``numpy.load``).

    Args:
        tolerance: relative tolerance of the eigenspace split (see
            :func:`hc_lightning.algebra.irreps.decompose`).
        seed: seed of the random symmetric matrix averaged over the group.
        export: write ``representation.npz`` into the run directory.
    """

    def __init__(self, tolerance: float = 1e-5, seed: int = 0, export: bool = True) -> None:
        self.tolerance = tolerance
        self.seed = seed
        self.export = export
        self.decomposition: IrrepDecomposition | None = None
        self.skipped: str | None = None
        self._gauge: GaugeFixCallback | None = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        gauges = [cb for cb in trainer.callbacks if isinstance(cb, GaugeFixCallback)]
        if not gauges:
            raise RuntimeError("IrrepsCallback needs a GaugeFixCallback before it")
        self._gauge = gauges[0]
        result = self._gauge.result
        if result is None or not result.loop_is_group:
            self.skipped = "no irreps: the completed table is not isotopic to a group"
            return
        if result.homomorphism_error > NOT_A_REPRESENTATION:
            stopped = getattr(pl_module.hparams, "finish", None) == "table"
            self.skipped = (
                "no irreps: the factors are not exact, so rho is not a representation"
                f" (homomorphism error {result.homomorphism_error:.1e})"
                + ("; the run stopped at the table (finish='table')" if stopped else "")
            )
            return
        try:
            self.decomposition = decompose(
                result.rho_orthogonal, result.loop_table, rng=self.seed, tol=self.tolerance
            )
        except ValueError as error:
            self.skipped = f"no irreps: {error}"
            return
        self._export(trainer, result)

    def _export(self, trainer: L.Trainer, result: GaugeResult) -> None:
        if not self.export or trainer.global_rank != 0:
            return
        buffer = io.BytesIO()
        np.savez(
            buffer,
            rho=result.rho,
            rho_orthogonal=result.rho_orthogonal,
            basis=self.decomposition.basis,
            loop_table=result.loop_table,
            row_map=result.row_map,
            col_map=result.col_map,
            identity=result.identity,
            labels=np.array(self._gauge.labels),
            blocks=np.array(self.decomposition.blocks),
        )
        write_bytes_atomic(run_directory(trainer) / REPRESENTATION_NAME, buffer.getvalue())

    def report_items(self) -> dict[str, Any]:
        if self.decomposition is None:
            return {"irreps": None, "irreps_skipped": self.skipped}
        found = self.decomposition
        n = len(found.basis)
        return {
            "irreps": [
                {"dimension": irrep.dimension, "copies": irrep.copies, "type": irrep.type}
                for irrep in found.irreps
            ],
            "irreps_check": {
                "dimension_sum": int(sum(i.dimension * i.copies for i in found.irreps)),
                "n": n,
                "complex_irreps": found.n_complex_irreps,
                "conjugacy_classes": len(found.conjugacy_classes),
                "off_block_error": float(found.off_block_error),
                "consistent": found.is_regular,
            },
        }

    def summary_lines(self) -> list[str]:
        if self.decomposition is None:
            return [self.skipped] if self.skipped else []
        parts = [
            f"{irrep.dimension}{'' if irrep.type == 'real' else ' ' + irrep.type}"
            + (f" (x{irrep.copies})" if irrep.copies > 1 else "")
            for irrep in self.decomposition.irreps
        ]
        return ["irreps (real dimension): " + ", ".join(parts)]


def _errors(result: GaugeResult) -> dict[str, float]:
    return {
        "gauge/homomorphism_error": float(result.homomorphism_error),
        "gauge/orthogonality_error": float(result.orthogonality_error),
    }
