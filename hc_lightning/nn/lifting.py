"""Group actions on the pixel grid, lifting convolution and group convolution on images.

A :class:`SpatialAction` says how each element ``g`` of a finite group moves the pixels of
an image: either a callable on tensors of shape ``(..., H, W)`` (compositions of
``torch.rot90`` and ``torch.flip``, say) or an explicit permutation of the ``k x k`` pixels.
The group's table tells how the actions must compose, and the constructor checks it:
``act(a, act(b, x)) = act(a * b, x)`` for every pair.

Pixel permutations use the gather convention: ``act(g, x).flatten()[p] = x.flatten()[P[g, p]]``.

With that action, writing ``*`` for the cross-correlation of ``conv2d``:

* :class:`LiftingConv` maps images ``(B, C, H, W)`` to ``(B, C_out, |G|, H', W')`` with
  ``out[o, g] = sum_i act(g, W[o, i]) * x[i]``;
* :class:`GroupConv2d` maps regular features on the grid ``(B, C, |G|, H, W)`` to the same
  layout with ``out[o, g] = sum_{i, h} act(g, W[o, i, g^{-1} h]) * f[i, h]``.

Both commute with the action ``(u . f)[g] = act(u, f[u^{-1} g])`` on their outputs (and
``act(u, x)`` on images), exactly, when every element acts on the grid by one of the eight
symmetries of the square (rotations by multiples of 90 degrees and reflections), which is
the case in which ``act(g, K) * act(g, x) = act(g, K * x)`` holds for ``conv2d`` with an odd
kernel and symmetric padding; the layers check this.

Example:
    >>> import torch
    >>> from hc_lightning.algebra.group import FiniteGroup
    >>> table, labels, transforms = d4_action()
    >>> action = SpatialAction(FiniteGroup(table, labels), transforms)
    >>> lift = LiftingConv(action.group, action, in_channels=1, out_channels=4, kernel_size=3)
    >>> lift(torch.randn(2, 1, 9, 9)).shape
    torch.Size([2, 4, 8, 9, 9])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn.gconv import _positive_int, as_group

__all__ = [
    "GroupConv2d",
    "LiftingConv",
    "SpatialAction",
    "SquareSymmetry",
    "c4_action",
    "d4_action",
]

Transform = Callable[[torch.Tensor], torch.Tensor]


class SquareSymmetry:
    """A symmetry of the square acting on the last two axes: an optional left-right mirror
    (``torch.flip`` of the last axis) followed by ``quarter_turns`` calls of ``torch.rot90``.
    """

    def __init__(self, quarter_turns: int, mirror: bool = False) -> None:
        self.quarter_turns = int(quarter_turns) % 4
        self.mirror = bool(mirror)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mirror:
            x = torch.flip(x, dims=(-1,))
        return torch.rot90(x, self.quarter_turns, dims=(-2, -1))

    def __repr__(self) -> str:
        return f"SquareSymmetry(quarter_turns={self.quarter_turns}, mirror={self.mirror})"


def _table_from_transforms(transforms: Sequence[Transform]) -> np.ndarray:
    """Cayley table of a closed set of pixel maps, found by composing them on a probe."""
    probe = torch.randperm(25, generator=torch.Generator().manual_seed(0)).reshape(5, 5)
    images = torch.stack([transform(probe) for transform in transforms]).reshape(
        len(transforms), -1
    )
    table = np.empty((len(transforms), len(transforms)), dtype=np.int64)
    for a, outer in enumerate(transforms):
        for b, inner in enumerate(transforms):
            composed = outer(inner(probe)).reshape(1, -1)
            table[a, b] = int(torch.nonzero((images == composed).all(dim=1))[0, 0])
    return table


def c4_action() -> tuple[np.ndarray, tuple[str, ...], tuple[SquareSymmetry, ...]]:
    """Rotations of the square by multiples of 90 degrees: ``(table, labels, transforms)``.

    Element ``k`` (label ``'r{k}'``) is ``torch.rot90(x, k, dims=(-2, -1))``; the table is
    computed by composing the transforms on a probe image (it equals ``cyclic(4)``).
    """
    transforms = tuple(SquareSymmetry(k) for k in range(4))
    return _table_from_transforms(transforms), tuple(f"r{k}" for k in range(4)), transforms


def d4_action() -> tuple[np.ndarray, tuple[str, ...], tuple[SquareSymmetry, ...]]:
    """The eight symmetries of the square: ``(table, labels, transforms)``.

    Element ``k + 4 j`` is ``r^k s^j`` with ``r`` = ``torch.rot90`` by one quarter turn and
    ``s`` = the left-right mirror, labelled ``'r{k}'`` / ``'s{k}'`` as in
    :func:`hc_lightning.algebra.constructions.dihedral`; the table is computed by composing
    the transforms on a probe image (it equals ``dihedral(4)``, since ``s r s = r^{-1}``).
    """
    transforms = tuple(SquareSymmetry(k, mirror=bool(j)) for j in range(2) for k in range(4))
    labels = tuple(f"r{k}" for k in range(4)) + tuple(f"s{k}" for k in range(4))
    return _table_from_transforms(transforms), labels, transforms


class SpatialAction:
    """The action of a finite group on images, checked against the group's table.

    Args:
        group: a :class:`FiniteGroup` or its Cayley table.
        transforms: one entry per element, all of one kind: callables acting on tensors of
            shape ``(..., H, W)`` by permuting pixels, or permutations ``P[g]`` of the
            ``k x k`` pixels (arrays of shape ``(k, k)`` or ``(k * k,)``) in the gather
            convention ``act(g, x).flatten()[p] = x.flatten()[P[g][p]]``.
        probe_size: side of the random probe image on which callables are checked.
        seed: seed of the probe.

    Raises:
        ValueError: if the number or kind of transforms is wrong, a transform is not a
            pixel permutation, or ``act(a, act(b, x)) != act(a * b, x)`` for some pair; the
            message names the first offending pair by its labels.

    Example:
        >>> table, labels, transforms = c4_action()
        >>> action = SpatialAction(FiniteGroup(table, labels), transforms)
        >>> action.kernel_permutations(3)[1].tolist()
        [2, 5, 8, 1, 4, 7, 0, 3, 6]
    """

    def __init__(
        self,
        group: FiniteGroup | np.ndarray,
        transforms: Sequence[Transform | np.ndarray | Sequence[int]],
        probe_size: int = 5,
        seed: int = 0,
    ) -> None:
        self.group = as_group(group)
        if len(transforms) != self.group.order:
            raise ValueError(
                f"transforms must have one entry per element ({self.group.order}), "
                f"got {len(transforms)}"
            )
        self._seed = seed
        self._permutations: dict[int, np.ndarray] = {}
        kinds = {callable(transform) for transform in transforms}
        if kinds == {True}:
            self._callables: tuple[Transform, ...] | None = tuple(transforms)
            self._size = _positive_int("probe_size", probe_size)
        elif kinds == {False}:
            self._callables = None
            perms = [np.asarray(perm, dtype=np.int64).reshape(-1) for perm in transforms]
            self._size = math.isqrt(perms[0].size)
            for g, perm in enumerate(perms):
                if perm.size != self._size**2 or self._size == 0:
                    raise ValueError(
                        f"transforms[{g}] must permute {self._size}x{self._size} pixels, "
                        f"got {perm.size} entries"
                    )
                if not np.array_equal(np.sort(perm), np.arange(perm.size)):
                    raise ValueError(f"transforms[{g}] is not a permutation: {perm.tolist()}")
            self._permutations[self._size] = self._checked(np.stack(perms), self._size)
        else:
            raise ValueError("transforms must be all callables or all pixel permutations")
        self.kernel_permutations(self._size)

    @property
    def order(self) -> int:
        """Number of group elements."""
        return self.group.order

    def _checked(self, perms: np.ndarray, size: int) -> np.ndarray:
        """``perms`` after checking ``P[a * b] = P[b][P[a]]`` (the gather form of composition)."""
        n = self.group.order
        composed = perms[np.arange(n)[None, :, None], perms[:, None, :]]  # (a, b, p)
        bad = np.argwhere(np.any(composed != perms[self.group.table], axis=-1))
        if bad.size:
            a, b = bad[0]
            labels = self.group.labels
            product = labels[self.group.table[a, b]]
            raise ValueError(
                f"transforms do not compose as the table says on a {size}x{size} probe: "
                f"act({labels[a]}, act({labels[b]}, x)) != act({product}, x) although "
                f"{labels[a]} * {labels[b]} = {product}"
            )
        perms.flags.writeable = False
        return perms

    def kernel_permutations(self, size: int) -> np.ndarray:
        """Array ``P`` of shape ``(|G|, size * size)``: ``act(g, x).flatten() = x.flatten()[P[g]]``.

        For callables it is read off a random probe with distinct pixel values; once every
        callable is known to permute pixels, composing the callables on the probe is composing
        these permutations, so the table is checked on them: ``P[a * b] = P[b][P[a]]``. For
        explicit permutations only their own ``size`` is available.

        Raises:
            ValueError: if ``size`` is unavailable, or a callable is not a pixel permutation
                or breaks the table at this size.
        """
        size = _positive_int("size", size)
        if size in self._permutations:
            return self._permutations[size]
        if self._callables is None:
            raise ValueError(
                f"size must be {self._size}, the side of the given pixel permutations, got {size}"
            )
        generator = torch.Generator().manual_seed(self._seed)
        probe = torch.randperm(size * size, generator=generator).to(torch.float64)
        source = np.argsort(probe.numpy())  # source[v] = pixel of the probe holding value v
        perms = []
        for g, transform in enumerate(self._callables):
            moved = transform(probe.reshape(size, size))
            if tuple(moved.shape) != (size, size):
                raise ValueError(
                    f"transforms[{g}] must keep the shape ({size}, {size}), "
                    f"got {tuple(moved.shape)}"
                )
            values = moved.reshape(-1).numpy()
            if not np.array_equal(np.sort(values), np.arange(size * size)):
                raise ValueError(
                    f"transforms[{g}] does not permute pixels of a {size}x{size} image"
                )
            perms.append(source[values.astype(np.int64)])
        self._permutations[size] = self._checked(np.stack(perms), size)
        return self._permutations[size]

    def apply(self, element: int, images: torch.Tensor) -> torch.Tensor:
        """``act(element, images)`` on the last two axes of ``images``."""
        if self._callables is not None:
            return self._callables[element](images)
        size = self._size
        if tuple(images.shape[-2:]) != (size, size):
            raise ValueError(
                f"images must end in ({size}, {size}) for pixel-permutation actions, "
                f"got {tuple(images.shape)}"
            )
        perm = torch.tensor(self._permutations[size][element], device=images.device)
        flat = images.reshape(*images.shape[:-2], size * size)
        return flat[..., perm].reshape(images.shape)

    def __repr__(self) -> str:
        kind = "callables" if self._callables is not None else f"{self._size}x{self._size} perms"
        return f"SpatialAction(order={self.order}, {kind})"


def _square_symmetries(size: int) -> np.ndarray:
    """The 8 symmetries of a ``size x size`` grid as gather permutations, shape ``(8, size^2)``."""
    grid = np.arange(size * size).reshape(size, size)
    maps = [np.rot90(image, k) for image in (grid, grid[:, ::-1]) for k in range(4)]
    return np.stack([m.reshape(-1) for m in maps])


def _conv_permutations(group: FiniteGroup, action: SpatialAction, kernel_size: int) -> np.ndarray:
    """Kernel permutations after checking the action fits ``group`` and ``conv2d``."""
    if not isinstance(action, SpatialAction):
        raise ValueError(f"action must be a SpatialAction, got {type(action).__name__}")
    if not np.array_equal(action.group.table, group.table):
        raise ValueError("action must be built from the same table as group")
    if isinstance(kernel_size, bool) or int(kernel_size) != kernel_size or kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be an odd positive integer, got {kernel_size!r}")
    perms = action.kernel_permutations(int(kernel_size))
    allowed = {tuple(perm) for perm in _square_symmetries(int(kernel_size))}
    for g, perm in enumerate(perms):
        if tuple(perm) not in allowed:
            raise ValueError(
                f"element {group.labels[g]} moves the kernel pixels by a map that is not a "
                "rotation or reflection of the square; conv2d is equivariant only for those"
            )
    return perms


class _GridConv(nn.Module):
    """Shared parameters, init and ``conv2d`` call of the lifting and grid convolutions."""

    def __init__(
        self,
        group: FiniteGroup | np.ndarray,
        action: SpatialAction,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        weight_shape: tuple[int, ...],
        padding: int | None,
        bias: bool,
        device: torch.device | str | None,
        dtype: torch.dtype | None,
    ) -> None:
        super().__init__()
        self.group = as_group(group)
        self.action = action
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.permutations = _conv_permutations(self.group, action, kernel_size)
        self.kernel_size = int(kernel_size)
        padding = self.kernel_size // 2 if padding is None else padding
        if isinstance(padding, bool) or int(padding) != padding or padding < 0:
            raise ValueError(f"padding must be a non-negative integer or None, got {padding!r}")
        self.padding = int(padding)
        self.weight = nn.Parameter(torch.empty(weight_shape, device=device, dtype=dtype))
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He-normal weights, ``std = sqrt(2 / fan_in)`` with ``fan_in`` = weights per output
        element excluding the output channel; zero bias."""
        fan_in = self.weight[0].numel()
        nn.init.normal_(self.weight, mean=0.0, std=math.sqrt(2.0 / fan_in))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def _convolve(self, images: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """``conv2d`` with the expanded kernel; output ``(B, C_out, |G|, H', W')``."""
        out = nn.functional.conv2d(images, kernel, padding=self.padding)
        out = out.reshape(images.shape[0], self.out_channels, self.group.order, *out.shape[-2:])
        if self.bias is not None:
            out = out + self.bias[:, None, None, None]
        return out

    def extra_repr(self) -> str:
        return (
            f"order={self.group.order}, in_channels={self.in_channels}, "
            f"out_channels={self.out_channels}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class LiftingConv(_GridConv):
    """Lift images to regular features on the grid: one transformed kernel per element.

    .. math::

        \\mathrm{out}[b, o, g] = \\sum_i \\mathrm{act}(g, W[o, i]) \\star x[b, i]
        + \\mathrm{bias}[o],

    with ``*`` the cross-correlation of ``conv2d``. The ``|G|`` transformed kernels come from
    one gather with the precomputed pixel permutations, then one ``conv2d``. Rotating or
    reflecting the input by ``u`` acts on the output as ``(u . f)[g] = act(u, f[u^{-1} g])``.
    Init: ``W ~ N(0, 2 / (C_in k^2))``, zero bias.

    Args:
        group: a :class:`FiniteGroup` or its table.
        action: its :class:`SpatialAction` (built from the same table).
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out`` (each one a regular field of size ``|G|``).
        kernel_size: odd side ``k`` of the square kernel.
        padding: zero padding on each side; ``None`` means ``k // 2`` (same size output).
        bias: learn a bias per output channel, shared over the group axis.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        input ``(B, C_in, H, W)``, output ``(B, C_out, |G|, H', W')``.
    """

    def __init__(
        self,
        group: FiniteGroup | np.ndarray,
        action: SpatialAction,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int | None = None,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        super().__init__(
            group, action, in_channels, out_channels, kernel_size, shape, padding, bias, device,
            dtype,
        )  # fmt: skip
        perms = torch.tensor(self.permutations, device=device)
        self.register_buffer("index", perms, persistent=False)

    def expanded_kernel(self) -> torch.Tensor:
        """Kernels ``act(g, W[o, i])`` as ``(C_out * |G|, C_in, k, k)``, row ``o |G| + g``."""
        k = self.kernel_size
        flat = self.weight.reshape(self.out_channels, self.in_channels, k * k)
        kernel = flat[:, :, self.index]  # (out, in, |G|, k*k)
        kernel = kernel.permute(0, 2, 1, 3)  # (out, |G|, in, k*k)
        return kernel.reshape(self.out_channels * self.group.order, self.in_channels, k, k)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Lift ``images`` of shape ``(B, C_in, H, W)``."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(
                f"images must have shape (batch, {self.in_channels}, H, W), "
                f"got {tuple(images.shape)}"
            )
        return self._convolve(images, self.expanded_kernel())


class GroupConv2d(_GridConv):
    """Group convolution of regular features on the grid.

    .. math::

        \\mathrm{out}[b, o, g] = \\sum_{i, h} \\mathrm{act}(g, W[o, i, g^{-1} h])
        \\star f[b, i, h] + \\mathrm{bias}[o],

    i.e. the kernel ``K[o, g, i, h] = act(g, W[o, i, g^{-1} h])`` is spatially transformed by
    ``g`` and shifted along the group axis. It is built by one gather over the flattened
    (group, pixel) axis of ``W`` with a precomputed ``(|G|, |G|, k^2)`` index, then one
    ``conv2d``. It commutes with ``(u . f)[g] = act(u, f[u^{-1} g])`` on input and output.
    Init: ``W ~ N(0, 2 / (C_in |G| k^2))``, zero bias.

    Args:
        group: a :class:`FiniteGroup` or its table.
        action: its :class:`SpatialAction` (built from the same table).
        in_channels: input channels ``C_in`` (regular fields).
        out_channels: output channels ``C_out`` (regular fields).
        kernel_size: odd side ``k`` of the square kernel.
        padding: zero padding on each side; ``None`` means ``k // 2``.
        bias: learn a bias per output channel, shared over the group axis.
        device: device of the parameters.
        dtype: dtype of the parameters.

    Shape:
        input ``(B, C_in, |G|, H, W)``, output ``(B, C_out, |G|, H', W')``.
    """

    def __init__(
        self,
        group: FiniteGroup | np.ndarray,
        action: SpatialAction,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int | None = None,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        n = as_group(group).order
        shape = (out_channels, in_channels, n, kernel_size, kernel_size)
        super().__init__(
            group, action, in_channels, out_channels, kernel_size, shape, padding, bias, device,
            dtype,
        )  # fmt: skip
        table, inverse = self.group.table, self.group.inverse
        shifted = table[inverse[:, None], np.arange(n)[None, :]]  # (|G|_g, |G|_h): g^{-1} h
        pixels = self.kernel_size**2
        index = shifted[:, :, None] * pixels + self.permutations[:, None, :]  # (g, h, k*k)
        self.register_buffer("index", torch.as_tensor(index, device=device), persistent=False)

    def expanded_kernel(self) -> torch.Tensor:
        """Kernel ``K[o, g, i, h]`` as ``(C_out * |G|, C_in * |G|, k, k)``."""
        n, k = self.group.order, self.kernel_size
        flat = self.weight.reshape(self.out_channels, self.in_channels, n * k * k)
        kernel = flat[:, :, self.index]  # (out, in, |G|_g, |G|_h, k*k)
        kernel = kernel.permute(0, 2, 1, 3, 4)  # (out, |G|_g, in, |G|_h, k*k)
        return kernel.reshape(self.out_channels * n, self.in_channels * n, k, k)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Convolve ``features`` of shape ``(B, C_in, |G|, H, W)``."""
        n = self.group.order
        if features.ndim != 5 or features.shape[1:3] != (self.in_channels, n):
            raise ValueError(
                f"features must have shape (batch, {self.in_channels}, {n}, H, W), "
                f"got {tuple(features.shape)}"
            )
        images = features.reshape(features.shape[0], self.in_channels * n, *features.shape[-2:])
        return self._convolve(images, self.expanded_kernel())
