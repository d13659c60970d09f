"""The HyperCube factors, their ``LightningModule`` and the regularizer schedule."""

from hc_lightning.model.factors import HyperCubeFactors
from hc_lightning.model.module import DivergenceError, HyperCubeModule
from hc_lightning.model.schedule import EpsSchedule

__all__ = ["DivergenceError", "EpsSchedule", "HyperCubeFactors", "HyperCubeModule"]
