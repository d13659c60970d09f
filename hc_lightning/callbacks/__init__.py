"""Lightning callbacks that turn a trained HyperCube model into answers and files."""

from hc_lightning.callbacks.report import CompletionReport, ReportContributor
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback

__all__ = [
    "CompletionReport",
    "GaugeFixCallback",
    "IrrepsCallback",
    "ReportContributor",
    "StructureCallback",
]
