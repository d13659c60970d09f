"""Send a run's results to its loggers: figures, final figures of merit, and for Weights &
Biases the result files as an artifact and the completed table and irreps as tables.

Works with any Lightning logger: W&B (online or offline), TensorBoard, CSV or none.
``wandb`` is imported only inside the functions that talk to it.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from hc_lightning.callbacks.report import CompletionReport, run_directory
from hc_lightning.callbacks.representation import REPRESENTATION_NAME, IrrepsCallback

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

ARTIFACT_TYPE = "hypercube-result"
REPORT_SCALARS = (
    "heldout_accuracy",
    "exact",
    "steps",
    "seconds",
    "h_over_3n2",
    "data_loss",
    "latin_square",
    "homomorphism_error",
    "orthogonality_error",
)


def log_figure(trainer: L.Trainer, key: str, figure: Figure, path: Path) -> None:
    """Give a figure, already saved as the PNG ``path``, to each of the trainer's loggers.

    W&B gets the PNG as an image (``log_image``), TensorBoard the figure itself
    (``experiment.add_figure``); other loggers have no image channel and keep the file.
    """
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
        elif isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(key, figure, global_step=trainer.global_step, close=False)


def report_scalars(report: dict[str, Any]) -> dict[str, float]:
    """The report's figures of merit as floats (booleans as 0 / 1), named ``report/<key>``;
    entries that are missing or ``null`` are left out."""
    scalars = {}
    for key in REPORT_SCALARS:
        value = report.get(key)
        if isinstance(value, bool | int | float | np.generic) and np.isfinite(float(value)):
            scalars[f"report/{key}"] = float(value)
    return scalars


def table_rows(labels: tuple[str, ...], cells: np.ndarray) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of a Cayley table for display: ``row[a] = [a, a * b for every b]``
    in labels (``"?"`` for an unknown cell)."""
    names = [*labels, "?"]  # index -1 (unknown) picks "?"
    columns = ["a \\ b", *labels]
    rows = [[labels[a], *(names[c] for c in cells[a])] for a in range(len(labels))]
    return columns, rows


def irreps_rows(irreps: IrrepsCallback) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the irreps found: real dimension, copies, type and the character
    ``chi(g)`` over the elements in label order."""
    columns = ["dimension", "copies", "type", "character"]
    if irreps.decomposition is None:
        return columns, []
    rows = [
        [irrep.dimension, irrep.copies, irrep.type, _format_character(irrep.character)]
        for irrep in irreps.decomposition.irreps
    ]
    return columns, rows


def _json_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else str(value)


def _format_character(character: np.ndarray) -> str:
    return ", ".join(f"{value:.4g}" for value in np.round(character, 6) + 0.0)


def artifact_name(table_name: str) -> str:
    """A W&B artifact name for a table: ``hypercube-<name>`` with every run of characters
    outside ``[A-Za-z0-9._]`` replaced by one ``-`` (so ``"S4:a*b*a^-1"`` gives
    ``hypercube-S4-a-b-a-1``)."""
    return "hypercube-" + re.sub(r"[^A-Za-z0-9._]+", "-", table_name).strip("-")


class RunTracking(L.Callback):
    """Sends the finished run's results to its loggers.

    After fitting (in ``teardown``, once :class:`CompletionReport` has written its files):

    * every logger gets the report's figures of merit as ``report/<key>`` metrics
      (:func:`report_scalars`);
    * :class:`~lightning.pytorch.loggers.WandbLogger`: an artifact of type ``artifact_type``
      holding ``report.json``, the completed table, ``representation.npz`` and the PNGs of
      :class:`~hc_lightning.callbacks.figures.FiguresCallback` (whichever exist), and the
      tables ``hypercube/completed_table`` and ``hypercube/irreps``;
    * :class:`~lightning.pytorch.loggers.TensorBoardLogger`: ``report.json`` as text.

    The W&B run stays open (call :func:`finish_runs` or ``wandb.finish()``); the
    ``hypercube`` command finishes it after printing its summary.

    Args:
        artifact_type: W&B artifact type.
        artifact_name: W&B artifact name; default :func:`artifact_name` of the table, so
            that runs on the same table become versions of one artifact.
    """

    def __init__(self, artifact_type: str = ARTIFACT_TYPE, artifact_name: str | None = None):
        if not artifact_type:
            raise ValueError(f"`artifact_type` must be a non-empty string, got {artifact_type!r}")
        self.artifact_type = artifact_type
        self.artifact_name = artifact_name
        self.artifact_files: dict[str, Path] = {}
        self.wandb_location: str | None = None

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or trainer.global_rank != 0:
            return
        report = next((cb for cb in trainer.callbacks if isinstance(cb, CompletionReport)), None)
        if report is None or report.report is None:
            return
        for logger in trainer.loggers:
            logger.log_metrics(report_scalars(report.report), step=trainer.global_step)
            if isinstance(logger, WandbLogger):
                self._to_wandb(trainer, logger, report)
            elif isinstance(logger, TensorBoardLogger):
                text = json.dumps(report.report, indent=2, default=_json_value)
                body = "\n".join("    " + line for line in text.splitlines())  # Markdown code
                logger.experiment.add_text("hypercube/report", body, trainer.global_step)

    def _to_wandb(self, trainer: L.Trainer, logger: WandbLogger, report: CompletionReport):
        step = trainer.global_step
        columns, rows = table_rows(report.completed.labels, np.asarray(report.completed.cells))
        logger.log_table("hypercube/completed_table", columns=columns, data=rows, step=step)
        irreps = next((cb for cb in trainer.callbacks if isinstance(cb, IrrepsCallback)), None)
        if irreps is not None:
            columns, rows = irreps_rows(irreps)
            logger.log_table("hypercube/irreps", columns=columns, data=rows, step=step)
        self.artifact_files = self._result_files(trainer, report)
        if self.artifact_files:
            self._log_artifact(logger, report.report)
        run = logger.experiment
        run_dir = Path(run.dir).parent  # run.dir is the run's `files` folder
        self.wandb_location = (
            f"W&B offline run in {run_dir} (upload: wandb sync {run_dir})"
            if run.offline
            else f"W&B run {run.url}"
        )

    def _result_files(self, trainer: L.Trainer, report: CompletionReport) -> dict[str, Path]:
        files = {path.name: path for path in report.paths.values()}
        representation = run_directory(trainer) / REPRESENTATION_NAME
        if files and representation.is_file():
            files[REPRESENTATION_NAME] = representation
        from hc_lightning.callbacks.figures import FiguresCallback  # it imports this module

        for callback in trainer.callbacks:
            if isinstance(callback, FiguresCallback):
                files.update({f"figures/{path.name}": path for path in callback.paths.values()})
        return files

    def _log_artifact(self, logger: WandbLogger, report: dict[str, Any]) -> None:
        import wandb

        name = self.artifact_name or artifact_name(str(report["table"]))
        metadata = {"table": report["table"], "n": report["n"], **report_scalars(report)}
        artifact = wandb.Artifact(name=name, type=self.artifact_type, metadata=metadata)
        for entry, path in self.artifact_files.items():
            artifact.add_file(str(path), name=entry)
        logger.experiment.log_artifact(artifact)
        log.info("logged the artifact %s with %d files", name, len(self.artifact_files))

    def summary_lines(self) -> list[str]:
        """Where the W&B run is, for the end-of-run summary."""
        return [self.wandb_location] if self.wandb_location else []


def finish_runs(trainer: L.Trainer) -> None:
    """Close the trainer's W&B runs so that everything is on disk (offline) or uploaded."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and trainer.global_rank == 0:
            logger.experiment.finish()
