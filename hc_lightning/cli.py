"""The ``hypercube`` command: LightningCLI over the data module and the model.

``hypercube fit`` with no arguments completes S3 from 60 % of its table;
``hypercube fit --wandb offline`` also records the run in Weights & Biases, without network.

A table too large for the memory at hand is refused before the model is allocated. An
interrupted run (Ctrl-C, or SIGTERM from a scheduler or ``kill``) saves ``last.ckpt`` of
the step reached and says how to resume it with ``--ckpt_path``; the exit code is
``128 + signal`` (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any, Literal

import lightning as L
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from hc_lightning.callbacks.figures import FiguresCallback
from hc_lightning.callbacks.interrupt import InterruptCheckpoint
from hc_lightning.callbacks.progress import StepProgressBar, run_summary
from hc_lightning.callbacks.report import CompletionReport
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback
from hc_lightning.callbacks.tracking import RunTracking, finish_runs
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.table import TableError
from hc_lightning.memory import check_memory
from hc_lightning.model.module import DivergenceError, HyperCubeModule

USER_ERRORS = (TableError, DivergenceError, ValueError, FileNotFoundError, IsADirectoryError)
WANDB_LOGGER = "lightning.pytorch.loggers.WandbLogger"


class RunInterruptedError(Exception):
    """A fit stopped by a signal; ``exit_code`` is ``128 + signal`` as a shell reports it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class ConfigToLoggers(SaveConfigCallback):
    """Writes ``config.yaml`` into the run directory and gives the whole configuration
    (data, model, trainer, callbacks, seed) to every logger as hyperparameters."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        config.pop("config", None)
        for logger in trainer.loggers:
            logger.log_hyperparams(config)


class HyperCubeCLI(LightningCLI):
    """LightningCLI with the table's size linked into the model, figures, tracking, a step
    progress bar and a summary at the end.

    ``--wandb offline`` (or ``online``) selects a W&B logger in project ``hypercube``
    (``$WANDB_PROJECT`` if set); the long form ``--trainer.logger=WandbLogger
    --trainer.logger.offline=true`` works too. A W&B run without a ``save_dir`` of its own
    keeps its files in ``<default_root_dir>/<project>/<run id>``.
    """

    def add_arguments_to_parser(self, parser) -> None:
        def elements_that_fit(datamodule: CayleyDataModule) -> int:
            config = self.config[self.subcommand] if self.subcommand else self.config
            source = datamodule.hparams.get("path") or datamodule.table.name
            check_memory(datamodule.n, str(source), double_precision=config.model.double_precision)
            return datamodule.n

        parser.link_arguments("data", "model.n", elements_that_fit, apply_on="instantiate")
        parser.add_lightning_class_args(CompletionReport, "report")
        parser.add_lightning_class_args(StructureCallback, "structure")
        parser.add_lightning_class_args(GaugeFixCallback, "gauge")
        parser.add_lightning_class_args(IrrepsCallback, "irreps")
        parser.add_lightning_class_args(FiguresCallback, "figures")
        parser.add_lightning_class_args(RunTracking, "tracking")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_argument(
            "--wandb",
            type=Literal["offline", "online"] | None,
            default=None,
            help="Log to Weights & Biases: 'offline' (no network or account; upload later"
            " with `wandb sync`) or 'online'. Replaces the default TensorBoard logger.",
        )
        parser.set_defaults({"checkpoint.save_last": True})
        parser.set_defaults(
            {
                "trainer.default_root_dir": "runs",
                "trainer.max_steps": 20000,
                "trainer.log_every_n_steps": 10,
                "trainer.enable_model_summary": False,
            }
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("wandb"):
            if config.trainer.logger not in (True, None):
                raise ValueError(
                    f"`--wandb {config.wandb}` chooses the logger; drop `--trainer.logger`"
                    " or configure the WandbLogger there"
                )
            config.trainer.logger = Namespace(
                class_path=WANDB_LOGGER,
                init_args=Namespace(
                    offline=config.wandb == "offline",
                    project=os.environ.get("WANDB_PROJECT", "hypercube"),
                ),
            )
        for logger in _logger_configs(config.trainer.logger):
            if logger.class_path == WANDB_LOGGER:
                _place_wandb_run(logger.init_args, config)

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer_config = config.trainer
        given = trainer_config.callbacks or []
        given = given if isinstance(given, list) else [given]
        self.interruption = InterruptCheckpoint()
        extra: list[Callback] = [self.interruption]
        enabled = trainer_config.enable_progress_bar in (True, None)
        if enabled and not any(isinstance(callback, ProgressBar) for callback in given):
            extra.append(StepProgressBar())
        kwargs["callbacks"] = [*given, *extra]
        return super().instantiate_trainer(**kwargs)

    def fit(self, **kwargs: Any) -> None:
        """``trainer.fit``; an interruption becomes :class:`RunInterruptedError`."""
        try:
            with self.interruption.catching_ctrl_c():
                self.trainer.fit(**kwargs)
        except SystemExit:  # SIGTERMException, or Lightning's exit after a KeyboardInterrupt
            if self.interruption.signal is None:
                raise
            finish_runs(self.trainer)
            raise RunInterruptedError(
                self.interruption.message(), 128 + self.interruption.signal
            ) from None

    def after_fit(self) -> None:
        if self.trainer.global_rank == 0:
            summary = run_summary(self.trainer)
            if summary:
                print(summary)
        finish_runs(self.trainer)


def _logger_configs(logger: Any) -> list[Namespace]:
    """The class-path configurations among the trainer's ``logger`` option."""
    loggers = logger if isinstance(logger, list) else [logger]
    return [item for item in loggers if isinstance(item, Namespace) and "class_path" in item]


def _place_wandb_run(init_args: Namespace, config: Namespace) -> None:
    """Give a W&B run without a directory of its own ``<root>/<project>/<run id>``, so its
    report, figures and checkpoints are not written into the working directory."""
    if init_args.get("save_dir") not in (None, ".") or init_args.get("dir") is not None:
        return
    run_id = init_args.get("version") or init_args.get("id") or uuid.uuid4().hex[:8]
    project = init_args.get("project") or os.environ.get("WANDB_PROJECT", "lightning_logs")
    directory = Path(config.trainer.default_root_dir or ".") / project / run_id
    init_args.save_dir = str(directory)
    init_args.version = run_id
    if config.checkpoint.dirpath is None:
        config.checkpoint.dirpath = str(directory / "checkpoints")


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``hypercube`` console script."""
    warnings.filterwarnings("ignore", message=".*py3nj.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Full-batch data: resuming mid-epoch is exact, and a partial table has no held-out
    # cells to validate on; a resumed run writes its checkpoints into its own folder.
    warnings.filterwarnings("ignore", message=".*dataloader is not resumable.*")
    warnings.filterwarnings("ignore", message=".*Total length of .* across ranks is zero.*")
    warnings.filterwarnings("ignore", message=".*The dirpath has changed.*")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        HyperCubeCLI(
            HyperCubeModule,
            CayleyDataModule,
            args=args,
            seed_everything_default=0,
            auto_configure_optimizers=False,
            save_config_callback=ConfigToLoggers,
        )
    except USER_ERRORS as error:
        # jsonargparse wraps what a link raises (the memory check) in a ValueError of its own.
        if isinstance(error.__cause__, USER_ERRORS):
            error = error.__cause__
        print(f"hypercube: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except RunInterruptedError as interruption:
        print(f"\nhypercube: {interruption}", file=sys.stderr)  # after the progress bar
        raise SystemExit(interruption.exit_code) from None
    except KeyboardInterrupt:
        print("hypercube: interrupted", file=sys.stderr)
        raise SystemExit(128 + signal.SIGINT) from None


if __name__ == "__main__":
    main()
