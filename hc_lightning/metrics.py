"""torchmetrics metrics for table completion."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class ExactCellFraction(Metric):
    """Fraction of cells whose whole predicted row ``T[a, b, :]`` is the right one-hot vector.

    A cell ``(a, b)`` counts as exact when ``max_c |T[a, b, c] - delta[a, b, c]| < tolerance``;
    this is stricter than accuracy, which only asks the largest entry to sit at ``a * b``.

    Args:
        tolerance: largest admissible deviation of any entry of the row.

    Example:
        >>> metric = ExactCellFraction(tolerance=0.1)
        >>> metric.update(torch.tensor([[0.95, 0.0], [0.6, 0.4]]), torch.tensor([0, 0]))
        >>> metric.compute()
        tensor(0.5000)
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, tolerance: float = 0.5, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if not 0.0 < tolerance <= 1.0:
            raise ValueError(f"`tolerance` must be in (0, 1], got {tolerance}")
        self.tolerance = tolerance
        self.add_state("exact", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(self, rows: Tensor, targets: Tensor) -> None:
        """Add a batch: ``rows`` of shape ``(m, n)`` and target elements of shape ``(m,)``."""
        one_hot = torch.nn.functional.one_hot(targets, rows.shape[-1]).to(rows.dtype)
        deviation = (rows - one_hot).abs().amax(dim=-1)
        self.exact += (deviation < self.tolerance).sum()
        self.total += targets.numel()

    def compute(self) -> Tensor:
        """The fraction of exact cells seen so far."""
        return self.exact.float() / self.total.clamp(min=1)
