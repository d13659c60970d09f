"""Shared test set-up: quiet Lightning, offline W&B, a temporary run directory."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest
from _threads import one_thread

warnings.filterwarnings("ignore", message=".*py3nj.*")


@pytest.fixture(autouse=True)
def _quiet_lightning(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(name="one_thread")
def _one_thread_test() -> Iterator[None]:
    """The test runs on one torch thread (``pytestmark = usefixtures("one_thread")``)."""
    with one_thread():
        yield


@pytest.fixture(name="one_thread_module", scope="module")
def _one_thread_module() -> Iterator[None]:
    """The module's tests run on one torch thread."""
    with one_thread():
        yield
