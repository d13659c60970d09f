"""Regular group convolution on features indexed by the elements of a finite group.

Layout: a regular feature map is a tensor of shape ``(batch, channels, |G|)``; entry
``f[b, c, g]`` is channel ``c`` at group element ``g`` (the element's index in the table).
Flattening the last two axes gives escnn's layout of ``channels`` regular fields.

The left action of ``u`` on such features is ``(u . f)[g] = f[u^{-1} g]``, and

.. math::

    \\mathrm{out}[o, g] = \\sum_{i, h} W[o, i, h^{-1} g] \\, f[i, h] + b[o]

commutes with it: substituting ``h = u h'`` turns the convolution of ``u . f`` into
``(u . \\mathrm{out})[g]``. The only thing read from the group is the index table
``h^{-1} g``, so any completed Cayley table gives an equivariant layer.

Example:
    >>> import torch
    >>> from hc_lightning.algebra.constructions import symmetric
    >>> from hc_lightning.algebra.group import FiniteGroup
    >>> layer = GroupConv(FiniteGroup(*symmetric(3)), in_channels=2, out_channels=4)
    >>> layer(torch.randn(8, 2, 6)).shape
    torch.Size([8, 4, 6])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hc_lightning.algebra.group import FiniteGroup

__all__ = ["GroupConv", "GroupPooling", "as_group", "left_quotient_index"]


def as_group(group: FiniteGroup | np.ndarray | Sequence[Sequence[int]]) -> FiniteGroup:
    """Return ``group`` unchanged if it is a :class:`FiniteGroup`, else build one from a table.

    Raises:
        ValueError: if a table is given that is not a group (the message names the axiom).
    """
    if isinstance(group, FiniteGroup):
        return group
    return FiniteGroup(group)


def left_quotient_index(group: FiniteGroup) -> np.ndarray:
    """Array ``Q`` of shape ``(|G|, |G|)`` with ``Q[g, h] = h^{-1} g``, read off the table."""
    return group.table[group.inverse[None, :], np.arange(group.order)[:, None]]


def _positive_int(name: str, value: int) -> int:
    """``value`` as an int after checking it is a positive integer (``ValueError`` naming it)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class GroupConv(nn.Module):
    """Regular group convolution ``out[g] = sum_h W[h^{-1} g] f[h]`` over a finite group.

    With weights ``W`` of shape ``(out, in, |G|)`` the layer applies the kernel
    ``K[o, i, g, h] = W[o, i, h^{-1} g]``, built by one gather from a precomputed
    ``(|G|, |G|)`` index buffer, then one matrix product:

    .. math::

        \\mathrm{out}[b, o, g] = \\sum_{i, h} K[o, i, g, h] \\, f[b, i, h] + \\mathrm{bias}[o].

    The bias is shared over the group axis, so the layer commutes with
    ``(u . f)[g] = f[u^{-1} g]`` for every ``u``.

    Initialisation: ``W ~ N(0, 2 / fan_in)`` with ``fan_in = in_channels * |G|`` (He /
    Kaiming normal for a following ReLU: each output sums ``fan_in`` terms, so the second
    moment of the activations is preserved), bias zero, as in escnn and e3nn.

    Args:
        group: a :class:`FiniteGroup` or its Cayley table of shape ``(n, n)``.
        in_channels: number of input channels ``C_in``.
        out_channels: number of output channels ``C_out``.
        bias: learn a bias per output channel.
        device: device of the parameters and buffers.
        dtype: dtype of the parameters.

    Shape:
        input ``(B, C_in, |G|)``, output ``(B, C_out, |G|)``.

    Example:
        >>> import torch
        >>> from hc_lightning.algebra.constructions import quaternion
        >>> layer = GroupConv(FiniteGroup(*quaternion()), 3, 5, dtype=torch.float64)
        >>> layer.weight.shape
        torch.Size([5, 3, 8])
    """

    def __init__(
        self,
        group: FiniteGroup | np.ndarray,
        in_channels: int,
        out_channels: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.group = as_group(group)
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        n = self.group.order
        index = torch.as_tensor(left_quotient_index(self.group), device=device)
        self.register_buffer("index", index, persistent=False)
        self.weight = nn.Parameter(
            torch.empty(self.out_channels, self.in_channels, n, device=device, dtype=dtype)
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights with ``fan_in = in_channels * |G|``; zero bias."""
        fan_in = self.in_channels * self.group.order
        nn.init.normal_(self.weight, mean=0.0, std=math.sqrt(2.0 / fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def expanded_kernel(self) -> torch.Tensor:
        """The kernel ``K[o, i, g, h] = W[o, i, h^{-1} g]``, shape ``(C_out, C_in, |G|, |G|)``."""
        return self.weight[:, :, self.index]  # (out, in, |G|_g, |G|_h)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the convolution to ``features`` of shape ``(B, C_in, |G|)``."""
        n = self.group.order
        if features.ndim != 3 or features.shape[1:] != (self.in_channels, n):
            raise ValueError(
                f"features must have shape (batch, {self.in_channels}, {n}), "
                f"got {tuple(features.shape)}"
            )
        kernel = self.expanded_kernel().permute(0, 2, 1, 3)  # (out, |G|_g, in, |G|_h)
        kernel = kernel.reshape(self.out_channels * n, self.in_channels * n)
        out = nn.functional.linear(features.reshape(features.shape[0], -1), kernel)
        out = out.reshape(features.shape[0], self.out_channels, n)  # (B, out, |G|)
        if self.bias is not None:
            out = out + self.bias[:, None]
        return out

    def extra_repr(self) -> str:
        return (
            f"order={self.group.order}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, bias={self.bias is not None}"
        )


class GroupPooling(nn.Module):
    """Reduce the group axis: ``out[b, c, ...] = max_g f[b, c, g, ...]`` (or the mean).

    Both reductions are invariant under any permutation of the group axis, so the result is
    invariant under the regular action (and equivariant under a spatial action on the
    remaining axes, if any).

    Args:
        mode: ``'max'`` or ``'mean'``.
        dim: the group axis; 2 for both ``(B, C, |G|)`` and ``(B, C, |G|, H, W)``.

    Example:
        >>> import torch
        >>> GroupPooling("mean")(torch.ones(2, 3, 6, 5, 5)).shape
        torch.Size([2, 3, 5, 5])
    """

    def __init__(self, mode: str = "max", dim: int = 2) -> None:
        super().__init__()
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode
        self.dim = int(dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Pool ``features`` over axis :attr:`dim`."""
        if self.mode == "max":
            return features.amax(dim=self.dim)
        return features.mean(dim=self.dim)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, dim={self.dim}"
