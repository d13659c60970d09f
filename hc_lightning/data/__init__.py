"""Tables in and out: the ``CayleyTable`` type, file formats, named tables, data module."""

from hc_lightning.data.catalog import load
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.data.io import read_table, write_table
from hc_lightning.data.table import UNKNOWN, CayleyTable, TableError

__all__ = [
    "UNKNOWN",
    "CayleyDataModule",
    "CayleyTable",
    "TableError",
    "load",
    "read_table",
    "write_table",
]
