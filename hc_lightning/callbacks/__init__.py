"""Lightning callbacks that turn a trained HyperCube model into answers and files."""

from hc_lightning.callbacks.report import CompletionReport, ReportContributor

__all__ = ["CompletionReport", "ReportContributor"]
