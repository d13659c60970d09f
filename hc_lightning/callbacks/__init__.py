"""Lightning callbacks that turn a trained HyperCube model into answers, files and figures."""

from hc_lightning.callbacks.figures import FiguresCallback
from hc_lightning.callbacks.progress import StepProgressBar
from hc_lightning.callbacks.report import CompletionReport, ReportContributor
from hc_lightning.callbacks.representation import GaugeFixCallback, IrrepsCallback
from hc_lightning.callbacks.structure import StructureCallback
from hc_lightning.callbacks.tracking import RunTracking

__all__ = [
    "CompletionReport",
    "FiguresCallback",
    "GaugeFixCallback",
    "IrrepsCallback",
    "ReportContributor",
    "RunTracking",
    "StepProgressBar",
    "StructureCallback",
]
