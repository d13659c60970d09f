"""hc_lightning: discover finite groups from partial Cayley tables with HyperCube.

The heavy parts (Lightning, escnn, wandb) load when first used, so that
``import hc_lightning`` and ``hypercube --help`` stay quick.

Example:
    >>> from hc_lightning import load
    >>> load("S3").n
    6
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CayleyTable": "hc_lightning.data.table",
    "TableError": "hc_lightning.data.table",
    "load": "hc_lightning.data.catalog",
    "read_table": "hc_lightning.data.io",
    "write_table": "hc_lightning.data.io",
    "CayleyDataModule": "hc_lightning.data.datamodule",
    "HyperCubeFactors": "hc_lightning.model.factors",
    "HyperCubeModule": "hc_lightning.model.module",
    "FiniteGroup": "hc_lightning.algebra.group",
    "identify": "hc_lightning.algebra.identify",
    "Completion": "hc_lightning.api",
    "complete": "hc_lightning.api",
    "load_group": "hc_lightning.api",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hc_lightning' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
