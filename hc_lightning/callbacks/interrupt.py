"""A checkpoint of the step reached when a run is interrupted (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException


class InterruptCheckpoint(Callback):
    """Saves ``last.ckpt`` of the step reached when a fit is interrupted.

    SIGTERM stops the fit at the end of an epoch, where Lightning raises
    :class:`SIGTERMException`. Inside :meth:`catching_ctrl_c`, a Ctrl-C during the
    training loop stops it at the start of the next step, so that the checkpoint holds
    whole steps; outside the loop it stops the fit at once. Either way
    :meth:`on_exception` writes the checkpoint into the folder of the trainer's
    :class:`ModelCheckpoint`, from which ``--ckpt_path`` resumes the run. A second Ctrl-C
    stops at once, mid-step, and saves nothing (``last.ckpt`` keeps the last whole step
    that :class:`ModelCheckpoint` saved).
    """

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.step = 0
        self.path: Path | None = None
        self._in_loop = False
        self._stop_requested = False
        self._forced = False

    @contextmanager
    def catching_ctrl_c(self) -> Iterator[None]:
        """Within the block, Ctrl-C asks the fit to stop before the next step."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._on_ctrl_c)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_ctrl_c(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_requested:
            self._forced = True
        if self._forced or not self._in_loop:
            raise KeyboardInterrupt
        self._stop_requested = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._in_loop = True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._in_loop = False

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        # Here, unlike in the callbacks' on_train_batch_end, which run before the module's,
        # the previous step is wholly done: its checkpoint resumes exactly.
        if self._stop_requested:
            raise KeyboardInterrupt

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, SIGTERMException):
            self.signal = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT
        else:
            return
        self.step = trainer.global_step
        if self._forced:
            return
        folders = [
            callback.dirpath
            for callback in trainer.checkpoint_callbacks
            if isinstance(callback, ModelCheckpoint) and callback.dirpath
        ]
        if folders:
            name = ModelCheckpoint.CHECKPOINT_NAME_LAST + ModelCheckpoint.FILE_EXTENSION
            self.path = Path(folders[0]) / name
            trainer.save_checkpoint(self.path)

    def message(self) -> str:
        """One line: the signal, the step, and how to resume."""
        stopped = f"interrupted by {self.signal.name} at step {self.step}"
        if self._forced:
            return f"{stopped}, mid-step by a second Ctrl-C; nothing saved"
        if self.path is None:
            return f"{stopped}; checkpointing is off, so there is nothing to resume from"
        path = shlex.quote(str(self.path))
        return f"{stopped}; saved {path}: resume with the same command and --ckpt_path {path}"
