"""Equivariant layers built from a finite group's Cayley table.

Plain PyTorch: :class:`GroupConv` on features ``(B, C, |G|)``, :class:`LiftingConv` and
:class:`GroupConv2d` on images and grid features ``(B, C, |G|, H, W)``, :class:`GroupPooling`,
and :func:`check_equivariance` to test any of them. The escnn bridge
(:func:`to_escnn`, :func:`to_escnn_gspace`) imports escnn only when called.
"""

from hc_lightning.nn.equivariance import (
    EquivarianceReport,
    check_equivariance,
    grid_action,
    image_action,
    regular_action,
    trivial_action,
)
from hc_lightning.nn.escnn_bridge import GSpaceBridge, to_escnn, to_escnn_gspace
from hc_lightning.nn.gconv import GroupConv, GroupPooling, as_group
from hc_lightning.nn.lifting import (
    GroupConv2d,
    LiftingConv,
    SpatialAction,
    SquareSymmetry,
    c4_action,
    d4_action,
)

__all__ = [
    "EquivarianceReport",
    "GSpaceBridge",
    "GroupConv",
    "GroupConv2d",
    "GroupPooling",
    "LiftingConv",
    "SpatialAction",
    "SquareSymmetry",
    "as_group",
    "c4_action",
    "check_equivariance",
    "d4_action",
    "grid_action",
    "image_action",
    "regular_action",
    "to_escnn",
    "to_escnn_gspace",
    "trivial_action",
]
