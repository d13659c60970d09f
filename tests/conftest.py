"""Shared test set-up: quiet Lightning, offline W&B, a temporary run directory."""

from __future__ import annotations

import logging
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*py3nj.*")


@pytest.fixture(autouse=True)
def _quiet_lightning(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
