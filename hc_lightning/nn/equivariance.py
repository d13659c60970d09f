"""Check that a layer commutes with a group action, element by element.

An action is a callable ``action(u, x)`` returning ``u . x`` for the element index ``u``.
For a layer ``L`` the equivariance error of ``u`` is

.. math::

    e(u) = \\max \\left| L(u \\cdot_{in} x) - u \\cdot_{out} L(x) \\right|,

and :func:`check_equivariance` reports ``e(u)`` for every element. Ready-made actions:
:func:`regular_action` (``(u . f)[g] = f[u^{-1} g]`` on the group axis),
:func:`image_action` (pixels moved by a :class:`SpatialAction`), :func:`grid_action` (both
at once, for ``(B, C, |G|, H, W)``) and :func:`trivial_action` (invariant outputs).

Example:
    >>> import torch
    >>> from hc_lightning.algebra.constructions import symmetric
    >>> from hc_lightning.algebra.group import FiniteGroup
    >>> from hc_lightning.nn.gconv import GroupConv
    >>> s3 = FiniteGroup(*symmetric(3))
    >>> layer = GroupConv(s3, 2, 3, dtype=torch.float64)
    >>> action = regular_action(s3)
    >>> x = torch.randn(4, 2, 6, dtype=torch.float64)
    >>> check_equivariance(layer, s3, x, action, action, atol=1e-10).passed
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn.gconv import as_group
from hc_lightning.nn.lifting import SpatialAction

__all__ = [
    "Action",
    "EquivarianceReport",
    "check_equivariance",
    "grid_action",
    "image_action",
    "regular_action",
    "trivial_action",
]

Action = Callable[[int, torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class EquivarianceReport:
    """Result of :func:`check_equivariance`.

    Attributes:
        max_error: ``max_u e(u)``, the largest absolute entry of ``L(u.x) - u.L(x)``.
        per_element: ``e(u)`` for every element index ``u``.
        labels: the element labels, for messages.
        output_scale: largest absolute entry of ``L(x)``, to judge ``max_error`` against.
        atol: the tolerance :attr:`passed` uses.
    """

    max_error: float
    per_element: tuple[float, ...]
    labels: tuple[str, ...]
    output_scale: float
    atol: float

    @property
    def passed(self) -> bool:
        """True iff ``max_error <= atol``."""
        return self.max_error <= self.atol

    @property
    def worst_element(self) -> int:
        """Index of the element with the largest error."""
        return int(np.argmax(self.per_element))

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        worst = self.labels[self.worst_element]
        return (
            f"equivariance {verdict}: max error {self.max_error:.3g} at {worst} "
            f"(atol {self.atol:.3g}, output scale {self.output_scale:.3g})"
        )


def regular_action(group: FiniteGroup | np.ndarray, dim: int = 2) -> Action:
    """The left regular action ``(u . f)[g] = f[u^{-1} g]`` on axis ``dim`` of a tensor."""
    group = as_group(group)
    index = group.table[group.inverse[:, None], np.arange(group.order)[None, :]]
    sources = torch.as_tensor(index)  # (|G|_u, |G|_g): u^{-1} g

    def act(element: int, features: torch.Tensor) -> torch.Tensor:
        return features.index_select(dim, sources[element].to(features.device))

    return act


def image_action(action: SpatialAction) -> Action:
    """Move the pixels (last two axes) by ``action``: ``u . x = act(u, x)``."""
    return action.apply


def grid_action(action: SpatialAction, dim: int = 2) -> Action:
    """Regular features on the grid: ``(u . f)[g] = act(u, f[u^{-1} g])``, group axis ``dim``."""
    regular = regular_action(action.group, dim)

    def act(element: int, features: torch.Tensor) -> torch.Tensor:
        return action.apply(element, regular(element, features))

    return act


def trivial_action(element: int, features: torch.Tensor) -> torch.Tensor:
    """``u . x = x``: use as the output action to check invariance."""
    return features


def check_equivariance(
    layer: Callable[[torch.Tensor], torch.Tensor],
    group: FiniteGroup | np.ndarray,
    input: torch.Tensor,
    action_in: Action,
    action_out: Action,
    atol: float = 1e-10,
) -> EquivarianceReport:
    """Compare ``layer(u . x)`` with ``u . layer(x)`` for every element ``u`` of ``group``.

    Args:
        layer: any callable on tensors, e.g. an ``nn.Module``; run without gradients.
        group: a :class:`FiniteGroup` or its table.
        input: the test input ``x``; random inputs make the test meaningful.
        action_in: the action on inputs.
        action_out: the action on outputs.
        atol: tolerance for :attr:`EquivarianceReport.passed`.

    Returns:
        An :class:`EquivarianceReport`.

    Raises:
        ValueError: if ``atol`` is negative.
    """
    if not atol >= 0:
        raise ValueError(f"atol must be non-negative, got {atol}")
    group = as_group(group)
    with torch.no_grad():
        output = layer(input)
        errors = []
        for element in range(group.order):
            moved = layer(action_in(element, input))
            expected = action_out(element, output)
            errors.append(float((moved - expected).abs().max()))
    return EquivarianceReport(
        max_error=max(errors),
        per_element=tuple(errors),
        labels=group.labels,
        output_scale=float(output.abs().max()),
        atol=float(atol),
    )
