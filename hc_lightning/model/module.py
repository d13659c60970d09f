"""``HyperCubeModule``: trains the HyperCube factors on the known cells of a table."""

from __future__ import annotations

import logging
import math
from typing import Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from hc_lightning.algebra.group import check_axioms
from hc_lightning.data.table import TableError
from hc_lightning.metrics import ExactCellFraction
from hc_lightning.model.factors import HyperCubeFactors
from hc_lightning.model.schedule import EpsSchedule

log = logging.getLogger(__name__)

Regularizer = Literal["hypercube", "l2", "none"]
Finish = Literal["factors", "table"]


# H / (3 n^2) is 1 at a solution and near 1 from the initialisation on; far above, the
# factors have blown up. A fit still far from the given answers (mean T on them below
# FLATTENED_ON_TARGET) after FLATTENED_WINDOWS plateau windows, with the penalty eps H over
# FLATTENED_PENALTY times the data term, is held flat by the regularizer.
DIVERGED_H_RATIO = 1e6
FLATTENED_ON_TARGET = 0.1
FLATTENED_WINDOWS = 10
FLATTENED_PENALTY = 100.0


class DivergenceError(RuntimeError):
    """Training cannot converge: a non-finite objective, or factors blown up or collapsed."""


class HyperCubeModule(L.LightningModule):
    """Completes a Cayley table by fitting ``T = delta`` on the known cells.

    The objective on a batch of known pairs ``(a, b)`` is

    .. math::

        L = \\sum_{(a, b)} \\sum_c (T[a, b, c] - \\delta[a, b, c])^2 + \\epsilon H,

    with ``T`` and ``H`` as in :class:`~hc_lightning.model.factors.HyperCubeFactors`,
    minimised by full-batch SGD with momentum and gradient-norm clipping at
    ``clip_factor * m`` for ``m`` known pairs. ``epsilon`` follows
    :class:`~hc_lightning.model.schedule.EpsSchedule`: on until the fit has settled with
    balanced factors, then off; training stops by itself once the data term is below
    ``stop_loss``.

    Args:
        n: number of elements (the CLI links it to the data module).
        lr: SGD learning rate.
        momentum: SGD momentum.
        eps: weight of the regularizer while it is on.
        clip_factor: gradient-norm clip per known pair.
        regularizer: ``"hypercube"`` (``H``), ``"l2"`` (sum of squared factor entries,
            scaled to equal ``H`` at a unitary solution) or ``"none"``.
        plateau_tolerance: relative change of the objective over ``plateau_window`` steps
            below which the regularized fit counts as settled.
        plateau_window: steps over which the plateau is measured.
        balance_tolerance: largest relative spread of the three factor norms at switch-off.
        stop_loss: the run ends when the data term falls below this with ``eps`` off.
        double_precision: train in float64 throughout.
        settle_tolerance: relative change of the objective over ``plateau_window`` steps
            that ends the settle phase on the completed table.
        polish_in_double: run the phases on the completed table in float64, so that the
            factors (and the representation read off them) are exact beyond float32;
            ``None`` (default) does so for ``n <= 16``, where it costs little (above, the
            float64 phases cost up to three times the float32 ones, and the refined
            representation of :class:`~hc_lightning.callbacks.GaugeFixCallback` is exact
            anyway).
        distrust_known_cells: after the fit, follow the model's own structure on every
            cell, given or not; for observations that may contain errors (a given cell the
            model disagrees with is then overruled, and reported).
        early_completion: end the fit phase as soon as the argmax table agrees with every
            given cell and has not changed over ``plateau_window`` steps, without waiting
            for the objective to settle (the settle phase does the rest).
        finish: when the run is over. ``"factors"`` (default): once the factors fit the
            completed table to ``stop_loss`` with ``eps`` off, so that the representation
            read off them is exact. ``"table"``: as soon as the completed table is a group
            that agrees with every given cell (checked when the fit phase ends and every
            ``plateau_window`` steps after). The factors are then not yet exact: the
            representation read off them is approximate and its irreducible decomposition
            is usually skipped. Meant for large tables, where the phases on the completed
            table cost most of the run. A completion that is not a group goes on as with
            ``"factors"``.

    Example:
        >>> module = HyperCubeModule(n=6)
        >>> module.factors.A.shape
        torch.Size([6, 6, 6])
    """

    def __init__(
        self,
        n: int,
        lr: float = 0.5,
        momentum: float = 0.9,
        eps: float = 0.1,
        clip_factor: float = 0.2,
        regularizer: Regularizer = "hypercube",
        plateau_tolerance: float = 1e-5,
        plateau_window: int = 10,
        balance_tolerance: float = 1e-3,
        stop_loss: float = 1e-7,
        double_precision: bool = False,
        settle_tolerance: float = 1e-10,
        polish_in_double: bool | None = None,
        distrust_known_cells: bool = False,
        early_completion: bool = True,
        finish: Finish = "factors",
    ) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"`n` must be a positive number of elements, got {n}")
        if regularizer not in ("hypercube", "l2", "none"):
            raise ValueError(
                f"`regularizer` must be 'hypercube', 'l2' or 'none', got {regularizer!r}"
            )
        if finish not in ("factors", "table"):
            raise ValueError(f"`finish` must be 'factors' or 'table', got {finish!r}")
        for name, value in (("lr", lr), ("eps", eps), ("clip_factor", clip_factor)):
            if not value >= 0 or math.isinf(value):
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value}")
        self.save_hyperparameters()
        dtype = torch.float64 if double_precision else torch.float32
        self.factors = HyperCubeFactors(n, dtype=dtype)
        self.schedule = EpsSchedule(
            eps if regularizer != "none" else 0.0,
            plateau_tolerance=plateau_tolerance,
            window=plateau_window,
            balance_tolerance=balance_tolerance,
            stop_loss=stop_loss,
            settle_tolerance=settle_tolerance,
        )
        self.heldout_accuracy = MulticlassAccuracy(num_classes=n, average="micro")
        self.heldout_exact = ExactCellFraction()
        self._fitted_pairs = 0
        self._on_target = float("nan")
        self._last_terms = (float("nan"), float("nan"))
        self.last_h_ratio = float("nan")
        self.register_buffer("completion", torch.zeros(n, n, dtype=torch.long))
        self.register_buffer("previous_completion", torch.full((n, n), -1, dtype=torch.long))

    @property
    def n(self) -> int:
        """Number of elements."""
        return self.hparams.n

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """Predicted rows ``T[a, b, :]``, shape ``(m, n)``."""
        return self.factors.predict(a, b)

    def regularization(self, h: Tensor | None = None) -> Tensor:
        """The chosen regularizer of the factors (``h``: ``H`` if already computed)."""
        kind = self.hparams.regularizer
        if kind == "hypercube":
            return self.factors.regularizer() if h is None else h
        if kind == "l2":
            # Scaled so that orthogonal slices give 3 n^2, as H does.
            squares = sum(
                p.square().sum() for p in (self.factors.A, self.factors.B, self.factors.C)
            )
            return squares * self.n / 3
        return self.factors.A.new_zeros(())

    def data_loss(self, rows: Tensor, c: Tensor) -> Tensor:
        """``sum (T[a, b, c] - delta[a, b, c])^2`` over the batch and every ``c``."""
        target = torch.nn.functional.one_hot(c, self.n).to(rows.dtype)
        return (rows - target).square().sum()

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor:
        a, b, c = batch
        if self.schedule.on_completed_table:
            # The settle and polish phases fit the completed table: the given answers and
            # the model's own completion (fixed at the end of the fit) everywhere else, or
            # the completion everywhere when the given cells are not trusted.
            trusted = (c >= 0) & (not self.hparams.distrust_known_cells)
            c = torch.where(trusted, c, self.completion[a, b])
        else:
            known = c >= 0
            a, b, c = a[known], b[known], c[known]
        self._fitted_pairs = int(self._summed(torch.tensor(len(a), device=a.device)))
        rows = self(a, b)
        data = self.data_loss(rows, c)
        terms = self.factors.regularizer_terms()
        h = terms.sum()
        penalty = self.schedule.eps * self.regularization(h)
        # Under DDP gradients are averaged: scale the shard's sum so that the average is the
        # full sum, and count the regularizer once.
        objective = data * self.trainer.world_size + penalty
        if not torch.isfinite(objective):
            raise DivergenceError(
                f"the objective became {objective.item()} at step {self.global_step};"
                " lower `model.lr` or `model.clip_factor`"
            )
        data_total = self._summed(data.detach())
        h_ratio = h.detach() / (3 * self.n**2)
        self.last_h_ratio = float(h_ratio)
        self._check_health(self.last_h_ratio)
        on_target = rows.detach().gather(1, c.view(-1, 1)).sum()  # T[a, b, c] on the answers
        self._on_target = float(self._summed(on_target)) / max(self._fitted_pairs, 1)
        self._last_terms = (float(data_total), float(penalty.detach()))
        balance = self.factors.balance(terms.detach())
        self.schedule.tolerance_floor = 100 * torch.finfo(objective.dtype).eps
        self.schedule.observe(data_total + penalty.detach(), data_total, balance)
        # Lightning's logging costs more than a step at small n: log only on the steps the
        # logger writes (every `log_every_n_steps`).
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            accuracy = (rows.detach().argmax(dim=1) == c).float().mean()
            self.log_dict(
                {
                    "train/data_loss": data_total,
                    "train/h_over_3n2": h_ratio,
                    "train/eps": self.schedule.eps,
                    "train/accuracy": accuracy,
                },
                on_step=True,
                on_epoch=False,
            )
            self.log("h/3n2", h_ratio, prog_bar=True, on_step=True, on_epoch=False, logger=False)
        return objective

    def _summed(self, value: Tensor) -> Tensor:
        """``value`` summed over the processes (as is in a single process, where gathering
        costs more than the rest of a small step's bookkeeping)."""
        if self.trainer.world_size == 1:
            return value
        return self.all_gather(value).sum()

    def _check_health(self, h_ratio: float) -> None:
        """Stop a run whose factors blow up, naming the options to change."""
        if h_ratio > DIVERGED_H_RATIO:
            raise DivergenceError(
                f"the factors diverged: H / 3n^2 = {h_ratio:.3g} at step {self.global_step};"
                " lower `model.lr` or `model.clip_factor`"
            )

    def _check_not_flattened(self) -> None:
        """Stop a fit that the regularizer keeps from the data, naming ``eps``."""
        window, (data, penalty) = self.hparams.plateau_window, self._last_terms
        if (
            self.global_step + 1 >= FLATTENED_WINDOWS * window
            and self._on_target < FLATTENED_ON_TARGET
            and penalty > FLATTENED_PENALTY * data
        ):
            raise DivergenceError(
                f"the regularizer outweighs the data (eps H = {penalty:.3g} against"
                f" {data:.3g}, mean T on the given answers {self._on_target:.2g} at step"
                f" {self.global_step}); lower `model.eps`"
            )

    def on_train_batch_end(self, outputs: object, batch: object, batch_idx: int) -> None:
        checkpoint_step = (self.global_step + 1) % self.hparams.plateau_window == 0
        if checkpoint_step and self.schedule.phase == "fit":
            self._check_not_flattened()
        if (
            self.hparams.early_completion
            and self.schedule.phase == "fit"
            and checkpoint_step
            and self._completion_is_stable(batch)
        ):
            self.schedule.request_completion()
        event = self.schedule.step()
        if (
            self.hparams.finish == "table"
            and self.schedule.done_step is None
            and (event == "completed" or (self.schedule.phase != "fit" and checkpoint_step))
            and self._table_is_a_group(batch)
        ):
            self.schedule.finish()
            log.info(
                "step %d: the completed table is a group that agrees with every given cell;"
                " stopping",
                self.global_step,
            )
            self.trainer.should_stop = True
            return
        if event == "completed":
            in_double = self.hparams.polish_in_double
            if in_double is None:
                in_double = self.n <= 16
            if in_double and self.factors.A.dtype != torch.float64:
                self._switch_to_double()
            self.completion.copy_(self.predicted_table())
            self._rescale_to_fit()
            self._reset_momentum()
            # The completed table has n^2 / m times the cells of the known part, and the data
            # term's curvature grows with it: keep the step per cell as it was.
            for optimizer in self.trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] *= self._fitted_pairs / self.n**2
            log.info(
                "step %d: the fit has settled; training on the completed table", self.global_step
            )
        elif event == "eps_off":
            self._rescale_to_fit()
            self._reset_momentum()
            log.info("step %d: the fit has settled; regularizer switched off", self.global_step)
        elif event == "done":
            log.info("step %d: table fitted; stopping", self.global_step)
            self.trainer.should_stop = True

    @torch.no_grad()
    def _completion_is_stable(self, batch: tuple[Tensor, Tensor, Tensor]) -> bool:
        """Whether the argmax table agrees with every given cell and has not changed since
        the last check (``plateau_window`` steps ago)."""
        a, b, c = batch
        given = c >= 0
        table = self.predicted_table()
        agrees = bool(self.all_gather((table[a[given], b[given]] == c[given]).all()).all())
        stable = bool((table == self.previous_completion).all())
        self.previous_completion.copy_(table)
        return agrees and stable

    @torch.no_grad()
    def _table_is_a_group(self, batch: tuple[Tensor, Tensor, Tensor]) -> bool:
        """Whether the argmax table is a group and agrees with every given cell (every
        cell of the batch with an answer, unless the given cells are distrusted)."""
        table = self.predicted_table()
        if not self.hparams.distrust_known_cells:
            a, b, c = batch
            given = c >= 0
            agrees = (table[a[given], b[given]] == c[given]).all()
            if not bool(self.all_gather(agrees).all()):
                return False
        return check_axioms(table.cpu().numpy()).is_group

    def _switch_to_double(self) -> None:
        # Exactness is a float64 matter: the gauge-fixed rho inherits the fit's error.
        if self.trainer.world_size > 1:
            rank_zero_warn(
                "`polish_in_double` is ignored under a distributed strategy (the gradient"
                " buckets are fixed at start); use `double_precision=True` for float64"
            )
            return
        self.factors.double()

    @torch.no_grad()
    def predicted_table(self) -> Tensor:
        """``argmax_c T[a, b, c]`` for every cell, shape ``(n, n)``."""
        cells = torch.arange(self.n, device=self.factors.A.device)
        a, b = torch.meshgrid(cells, cells, indexing="ij")
        return self.predict_rows(a.reshape(-1), b.reshape(-1)).argmax(dim=1).view(self.n, self.n)

    @torch.no_grad()
    def _rescale_to_fit(self) -> None:
        """Scale all factors by the least-squares ``s`` for ``s^3 T ~ delta`` on the table.

        The regularizer shrinks ``T`` while it is on; this undoes the shrinkage in one step.
        """
        n = self.n
        cells = torch.arange(n, device=self.factors.A.device)
        a, b = torch.meshgrid(cells, cells, indexing="ij")
        rows = self.predict_rows(a.reshape(-1), b.reshape(-1))
        on_target = rows.gather(1, self.completion.view(-1, 1))
        overlap, energy = on_target.sum(), rows.square().sum()
        if overlap > 0:
            scale = (overlap / energy) ** (1 / 3)
            for factor in (self.factors.A, self.factors.B, self.factors.C):
                factor.mul_(scale)

    def _reset_momentum(self) -> None:
        for optimizer in self.trainer.optimizers:
            optimizer.state.clear()

    def validation_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        a, b, c = batch
        rows = self(a, b)
        self.heldout_accuracy(rows.argmax(dim=1), c)
        self.heldout_exact(rows, c)
        self.log_dict(
            {
                "val/accuracy": self.heldout_accuracy,
                "val/exact_fraction": self.heldout_exact,
                "val/data_loss": self.data_loss(rows, c),
            },
            prog_bar=False,
            sync_dist=True,
        )
        self.log("acc", self.heldout_accuracy, prog_bar=True, logger=False)

    def test_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> None:
        a, b, c = batch
        rows = self(a, b)
        self.heldout_accuracy(rows.argmax(dim=1), c)
        self.heldout_exact(rows, c)
        self.log_dict(
            {"test/accuracy": self.heldout_accuracy, "test/exact_fraction": self.heldout_exact}
        )

    def predict_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        """The predicted product ``argmax_c T[a, b, c]`` of each pair, shape ``(m,)``."""
        a, b = batch
        return self.predict_rows(a, b).argmax(dim=1)

    @torch.no_grad()
    def predict_rows(self, a: Tensor, b: Tensor, chunk: int = 1024) -> Tensor:
        """``T[a, b, :]`` for many pairs, in chunks to bound memory."""
        return torch.cat(
            [self(a[i : i + chunk], b[i : i + chunk]) for i in range(0, len(a), chunk)]
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            self.parameters(), lr=self.hparams.lr, momentum=self.hparams.momentum
        )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        if gradient_clip_val:
            rank_zero_warn("HyperCubeModule clips gradients itself; `gradient_clip_val` is unused")
        limit = self.hparams.clip_factor * max(self._fitted_pairs, 1)
        self.clip_gradients(optimizer, gradient_clip_val=limit, gradient_clip_algorithm="norm")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["eps_schedule"] = self.schedule.state_dict()

    def on_train_start(self) -> None:
        if self.schedule.done_step is not None:  # resumed from a finished run
            log.info("the run finished at step %d; nothing to do", self.schedule.done_step)
            self.trainer.should_stop = True
            with torch.no_grad():
                self.last_h_ratio = float(self.factors.regularizer()) / (3 * self.n**2)

    def on_train_batch_start(self, batch: object, batch_idx: int) -> int | None:
        # -1 skips the rest of the epoch: a resumed finished run takes no step.
        return -1 if self.schedule.done_step is not None else None

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._check_same_table(checkpoint)
        saved = checkpoint.get("state_dict", {}).get("factors.A")
        if saved is not None and saved.dtype != self.factors.A.dtype:
            self.factors.to(saved.dtype)
        if "eps_schedule" in checkpoint:
            self.schedule.load_state_dict(checkpoint["eps_schedule"])

    def _check_same_table(self, checkpoint: dict) -> None:
        """Refuse, in one line, to resume on another table than the checkpoint's."""
        saved_n = checkpoint.get("hyper_parameters", {}).get("n", self.n)
        trainer = self._trainer
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        table = getattr(datamodule, "table", None)
        saved = checkpoint.get("CayleyDataModule", {})
        if saved_n == self.n and (table is None or "cells" not in saved):
            return
        if saved_n == self.n and torch.equal(saved["cells"], torch.tensor(table.cells)):
            return
        this = f"{table.name} (n = {table.n})" if table is not None else f"n = {self.n}"
        raise TableError(
            f"the checkpoint was trained on another table (n = {saved_n}) than this run's"
            f" {this}; resume with the data options of the run it comes from"
        )
