"""The ``LightningDataModule`` that serves a table's known cells in full batches."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hc_lightning.data import catalog
from hc_lightning.data.io import read_table
from hc_lightning.data.table import CayleyTable, TableError


class _RepeatedBatch(Dataset):
    """One full batch, served ``length`` times: an epoch of ``length`` optimisation steps."""

    def __init__(self, batch: tuple[torch.Tensor, ...], length: int) -> None:
        self.batch = batch
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return self.batch


def _checked(table: CayleyTable, source: str | None = None) -> CayleyTable:
    """Refuse tables the model cannot learn from."""
    source = source or table.name
    where = f"{source}: " if source else ""
    if table.n < 2:
        raise TableError(f"{where}a table needs at least 2 elements, got {table.n}")
    if not table.known.any():
        raise TableError(f"{where}the table has no known cells to learn from")
    return table


class CayleyDataModule(L.LightningDataModule):
    """Known and held-out cells of a Cayley table, as full batches of ``(a, b, c)``.

    A training batch holds every cell ``(a, b)`` of the table with ``c = -1`` where the
    answer is not given to the model, so that the model can also fit its own completion.

    A complete table (a catalog name, or a file with every cell filled) is split: a seeded
    ``train_fraction`` of all ``n^2`` cells is known to the model, the rest is held out for
    validation, as in the HyperCube paper. A partial table trains on every known cell and
    the unknown ones are predicted.

    Args:
        group: a catalog name such as ``"S3"`` or ``"x-y mod 31"`` (see
            :mod:`hc_lightning.data.catalog`); ignored when ``path`` is given.
        path: a table file (CSV grid, ``.obs`` list, JSON or ``.npy``).
        train_fraction: share of all cells known to the model, for complete tables.
        split_seed: seed of the split; by default the run's global seed
            (``seed_everything``), else 0.
        steps_per_epoch: optimisation steps per Lightning epoch (each a full batch);
            validation runs once per epoch.

    Example:
        >>> datamodule = CayleyDataModule("S3", train_fraction=0.6)
        >>> datamodule.setup("fit")
        >>> datamodule.n, len(datamodule.train_cells[0])
        (6, 22)
    """

    def __init__(
        self,
        group: str = "S3",
        path: str | None = None,
        train_fraction: float = 0.6,
        split_seed: int | None = None,
        steps_per_epoch: int = 10,
    ) -> None:
        super().__init__()
        if not 0.0 < train_fraction <= 1.0:
            raise ValueError(f"`train_fraction` must be in (0, 1], got {train_fraction}")
        if steps_per_epoch < 1:
            raise ValueError(f"`steps_per_epoch` must be at least 1, got {steps_per_epoch}")
        self.save_hyperparameters()
        self.table = _checked(read_table(path) if path else catalog.load(group), path)
        self.train_fraction = train_fraction
        self.split_seed = split_seed
        self.steps_per_epoch = steps_per_epoch
        self.train_mask: np.ndarray | None = None

    @classmethod
    def from_table(cls, table: CayleyTable, train_fraction: float = 0.6, **kwargs: object):
        """A data module for an in-memory :class:`CayleyTable`."""
        datamodule = cls(train_fraction=train_fraction, **kwargs)
        datamodule.table = _checked(table)
        datamodule.hparams["group"] = table.name
        return datamodule

    @property
    def n(self) -> int:
        """Number of elements of the table."""
        return self.table.n

    @property
    def source_path(self) -> Path | None:
        """The file the table was read from, if any."""
        return Path(self.hparams["path"]) if self.hparams.get("path") else None

    def setup(self, stage: str | None = None) -> None:
        if self.train_mask is not None:
            return
        if self.table.is_complete:
            seed = self.split_seed
            if seed is None:
                seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
            self.train_mask = self.table.mask(self.train_fraction, seed)
        else:
            self.train_mask = self.table.known.copy()

    def state_dict(self) -> dict[str, Any]:
        """The table and the cells given to the model, saved in every checkpoint so that the
        checkpoint alone says what was learned (see :func:`hc_lightning.load_group`)."""
        state: dict[str, Any] = {
            "labels": list(self.table.labels),
            "cells": torch.tensor(self.table.cells),
        }
        if self.train_mask is not None:
            state["train_mask"] = torch.tensor(self.train_mask)
        return state

    @property
    def train_cells(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Known cells ``(a, b, c)``, each of shape ``(m,)``."""
        return self._cells(self.train_mask)

    @property
    def heldout_cells(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Held-out cells with known answers (empty for a partial table)."""
        return self._cells(self.table.known & ~self.train_mask)

    @property
    def unknown_mask(self) -> np.ndarray:
        """Cells the model has to fill: every cell outside the training set."""
        return ~self.train_mask

    def _cells(self, mask: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if mask is None:
            raise RuntimeError("call `setup()` before asking for cells")
        a, b = np.nonzero(mask)
        c = self.table.cells[a, b]
        return tuple(torch.as_tensor(x, dtype=torch.long) for x in (a, b, c))

    def _shard(self, cells: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return cells
        rank, world = trainer.global_rank, trainer.world_size
        return tuple(x[rank::world] for x in cells)

    def all_cells(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every cell ``(a, b)`` with its answer where known to the model, else ``-1``."""
        a, b = np.meshgrid(np.arange(self.n), np.arange(self.n), indexing="ij")
        c = np.where(self.train_mask, self.table.cells, -1)
        return tuple(torch.as_tensor(x.reshape(-1), dtype=torch.long) for x in (a, b, c))

    def train_dataloader(self) -> DataLoader:
        batch = self._shard(self.all_cells())
        return DataLoader(_RepeatedBatch(batch, self.steps_per_epoch), batch_size=None)

    def val_dataloader(self) -> DataLoader | list:
        heldout = self.heldout_cells
        if len(heldout[0]) == 0:
            return []
        return DataLoader(_RepeatedBatch(self._shard(heldout), 1), batch_size=None)

    def test_dataloader(self) -> DataLoader | list:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        a, b = np.meshgrid(np.arange(self.n), np.arange(self.n), indexing="ij")
        cells = (torch.as_tensor(a.reshape(-1)), torch.as_tensor(b.reshape(-1)))
        return DataLoader(_RepeatedBatch(cells, 1), batch_size=None)
