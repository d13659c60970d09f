"""What a person watches: a progress bar over optimisation steps and the end-of-run summary."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from hc_lightning.callbacks.figures import FiguresCallback
from hc_lightning.callbacks.report import CompletionReport, run_directory, summarize
from hc_lightning.callbacks.tracking import RunTracking


class StepProgressBar(TQDMProgressBar):
    """One bar for the whole fit, counting optimisation steps instead of Lightning epochs.

    An epoch of :class:`~hc_lightning.data.datamodule.CayleyDataModule` is a handful of
    full-batch steps and training stops by itself, so the bar counts steps without a total
    and shows the figures that tell how the fit is going: the phase of the ``eps``
    schedule (fit, settle, polish), the held-out accuracy ``acc`` and ``H / (3 n^2)``
    (1 at a group solution), for example
    ``S3 polish: 326 steps [00:04, 74.97 steps/s, acc=1.000, H/3n2=1.00000]``.
    Validation runs without a bar of its own.

    Args:
        refresh_rate: redraw every this many steps.
        process_position: line of the bar when several processes print bars.
    """

    STEP_FORMAT = "{desc}{n_fmt} steps [{elapsed}, {rate_fmt}{postfix}]"

    def init_train_tqdm(self) -> Tqdm:
        bar = super().init_train_tqdm()
        bar.bar_format = self.STEP_FORMAT
        bar.unit = " steps"
        return bar

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.train_progress_bar.reset(total=None)
        self.train_progress_bar.initial = trainer.global_step
        self._advance(trainer, pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        """Keeps the one bar running across epochs."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any):
        if not self.train_progress_bar.disable and trainer.global_step % self.refresh_rate == 0:
            self._advance(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Keeps the one bar running across epochs."""

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.train_progress_bar.disable:
            self._advance(trainer, pl_module)
        self.train_progress_bar.close()

    def _advance(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Move the bar to the trainer's step and update the figures; tqdm redraws at most
        every ``mininterval`` seconds."""
        bar = self.train_progress_bar
        schedule = getattr(pl_module, "schedule", None)
        name = getattr(getattr(trainer.datamodule, "table", None), "name", "")
        phase = schedule.phase if schedule is not None else ""
        bar.set_description(f"{name} {phase}".strip(), refresh=False)
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.update(trainer.global_step - bar.n)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        """``acc`` (held-out accuracy, once measured) and ``H/3n2``."""
        metrics: dict[str, Any] = {}
        accuracy = trainer.callback_metrics.get("val/accuracy")
        if accuracy is not None:
            metrics["acc"] = f"{float(accuracy):.3f}"
        ratio = getattr(pl_module, "last_h_ratio", math.nan)
        if math.isfinite(ratio):
            metrics["H/3n2"] = f"{ratio:.5f}"
        return metrics

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit":
            super().on_validation_start(trainer, pl_module)

    def on_validation_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            super().on_validation_batch_start(trainer, *args, **kwargs)

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            super().on_validation_batch_end(trainer, *args, **kwargs)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            super().on_validation_end(trainer, pl_module)
        elif not self.train_progress_bar.disable:
            self._advance(trainer, pl_module)


def run_summary(trainer: L.Trainer) -> str | None:
    """The end-of-run text: the report's summary, then where the files, the figures and the
    W&B run are; ``None`` when no :class:`CompletionReport` has a report."""
    report = next((cb for cb in trainer.callbacks if isinstance(cb, CompletionReport)), None)
    if report is None or report.report is None:
        return None
    lines = [summarize(report.report, report.summary)]
    if report.paths:
        lines.append(f"files in {run_directory(trainer)}")
    for callback in trainer.callbacks:
        if isinstance(callback, FiguresCallback) and callback.paths:
            names = ", ".join(path.name for path in callback.paths.values())
            lines.append(f"figures in {next(iter(callback.paths.values())).parent}: {names}")
        elif isinstance(callback, RunTracking):
            lines.extend(callback.summary_lines())
    return "\n".join(lines)
