"""The ``hypercube`` command: LightningCLI over the data module and the model.

``hypercube fit`` with no arguments completes S3 from 60 % of its table.
"""

from __future__ import annotations

import logging
import sys
import warnings

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from hc_lightning.callbacks.report import CompletionReport, run_directory, summarize
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.table import TableError
from hc_lightning.model.module import DivergenceError, HyperCubeModule

USER_ERRORS = (TableError, DivergenceError, ValueError, FileNotFoundError, IsADirectoryError)


class HyperCubeCLI(LightningCLI):
    """LightningCLI with the table's size linked into the model and a report at the end."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.n", "model.n", apply_on="instantiate")
        parser.add_lightning_class_args(CompletionReport, "report")
        parser.add_lightning_class_args(StructureCallback, "structure")
        parser.add_lightning_class_args(GaugeFixCallback, "gauge")
        parser.add_lightning_class_args(IrrepsCallback, "irreps")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({"checkpoint.save_last": True})
        parser.set_defaults(
            {
                "trainer.default_root_dir": "runs",
                "trainer.max_steps": 20000,
                "trainer.log_every_n_steps": 10,
                "trainer.enable_model_summary": False,
            }
        )

    def after_fit(self) -> None:
        self._print_summary()

    def _print_summary(self) -> None:
        if self.trainer.global_rank != 0:
            return
        report = next(cb for cb in self.trainer.callbacks if isinstance(cb, CompletionReport))
        if report.report is None:
            return
        print(summarize(report.report, report.summary))
        print(f"files in {run_directory(self.trainer)}")


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``hypercube`` console script."""
    warnings.filterwarnings("ignore", message=".*py3nj.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
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
        )
    except USER_ERRORS as error:
        print(f"hypercube: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
