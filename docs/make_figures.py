"""Regenerate the README's figures: the default run (S3, 60 % known, seed 0) with
:class:`~hc_lightning.callbacks.figures.FiguresCallback`, PNGs copied into ``docs/figures``.

Usage: ``python docs/make_figures.py`` (about ten seconds on a laptop CPU).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from hc_lightning import complete
from hc_lightning.callbacks.figures import FiguresCallback

OUTPUT = Path(__file__).resolve().parent / "figures"

log = logging.getLogger("make_figures")


def main() -> None:
    """Train S3 as ``hypercube fit`` does by default and keep the four figures."""
    figures = FiguresCallback()
    with tempfile.TemporaryDirectory() as run_dir:
        result = complete(
            "S3", train_fraction=0.6, seed=0, callbacks=[figures], default_root_dir=run_dir
        )
        OUTPUT.mkdir(exist_ok=True)
        for name, path in figures.paths.items():
            shutil.copyfile(path, OUTPUT / f"{name}.png")
            log.info("wrote %s", OUTPUT / f"{name}.png")
    log.info("\n%s", result.summary())


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    main()
