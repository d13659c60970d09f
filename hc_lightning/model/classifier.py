"""Image classifiers whose backbone is built from a finite group and its action on the grid.

:class:`ImageClassifier` is a Lightning module around any backbone that maps images
``(B, C, H, W)`` to features ``(B, F)``: a linear head gives the logits, cross-entropy trains
it and ``torchmetrics`` accuracy is logged as ``train/accuracy``, ``val/accuracy`` and
``test/accuracy`` (one value per test dataloader). Three backbones:

* :class:`GroupCNN`, from a :class:`~hc_lightning.algebra.group.FiniteGroup` and a
  :class:`~hc_lightning.nn.lifting.SpatialAction` (for instance a group discovered from a
  partial table):

  .. math::

      \\phi(x) = \\max_{p}\\, \\max_{g}\\,
      (\\sigma \\circ N_m \\circ L_m \\circ \\dots \\circ
      \\sigma \\circ N_0 \\circ \\Lambda)(x)[:, g, p],

  with ``Lambda`` a :class:`~hc_lightning.nn.lifting.LiftingConv`, ``L_i``
  :class:`~hc_lightning.nn.lifting.GroupConv2d` layers, each commuting with the action
  ``(u . f)[g] = act(u, f[u^{-1} g])``; ``N_i`` batch normalisation with one mean, variance
  and affine map per channel, taken over the batch, the group axis and the pixels, and
  ``sigma`` the pointwise ReLU, both commuting with that action because it only permutes the
  entries of each channel; then the maximum over the group axis ``g`` and over the pixels
  ``p`` (or their mean), invariant under any permutation. Hence ``phi(act(u, x)) = phi(x)``
  for every element ``u``, and so are the logits; :class:`GroupCNNClassifier` is the
  classifier with this backbone;
* :class:`PlainCNN`, the same layout with ordinary convolutions, a baseline;
* :class:`EscnnCNN`, escnn's ``R2Conv`` on regular fields of ``flipRot2dOnR2(N)``.

No layer subsamples the grid: strided pooling of an even-sized image would break its
symmetry, and the digits used by the example are 8 x 8 pixels.

Example:
    >>> import torch
    >>> from hc_lightning.algebra.group import FiniteGroup
    >>> from hc_lightning.nn.lifting import SpatialAction, d4_action
    >>> table, labels, transforms = d4_action()
    >>> group = FiniteGroup(table, labels)
    >>> model = GroupCNNClassifier(group, SpatialAction(group, transforms), num_classes=10)
    >>> model(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn.gconv import GroupPooling, _positive_int
from hc_lightning.nn.lifting import GroupConv2d, LiftingConv, SpatialAction

__all__ = ["EscnnCNN", "GroupCNN", "GroupCNNClassifier", "ImageClassifier", "PlainCNN"]


def _channels(channels: Sequence[int]) -> tuple[int, ...]:
    """``channels`` as a non-empty tuple of positive ints (``ValueError`` naming it)."""
    if isinstance(channels, (int, str)) or len(channels) == 0:
        raise ValueError(f"channels must be a non-empty sequence of ints, got {channels!r}")
    return tuple(_positive_int("channels", width) for width in channels)


def _spatial_pooling(mode: str) -> str:
    if mode not in ("max", "mean"):
        raise ValueError(f"spatial_pooling must be 'max' or 'mean', got {mode!r}")
    return mode


def _pool_pixels(features: torch.Tensor, mode: str) -> torch.Tensor:
    """Reduce the last two axes: ``(B, C, H, W) -> (B, C)``."""
    if mode == "max":
        return features.amax(dim=(-2, -1))
    return features.mean(dim=(-2, -1))


class GroupCNN(nn.Module):
    """Invariant features from a lifting layer, group convolutions and two poolings.

    Layers: ``LiftingConv(in_channels -> channels[0])``, then one ``GroupConv2d`` per further
    entry of ``channels``, each followed by batch normalisation (``BatchNorm3d`` on
    ``(B, C, |G|, H, W)``: statistics per channel over batch, group and pixels) and a ReLU;
    then the maximum over the group axis and the maximum (or mean) over pixels. Padding is
    ``k // 2``, so the spatial size is kept and the input may have any size.

    Args:
        group: the finite group.
        action: its action on images (built from the same table).
        in_channels: image channels ``C``.
        channels: output channels of the lifting layer and of each group convolution.
        kernel_size: odd side of the square kernels.
        batch_norm: normalise after each convolution.
        spatial_pooling: ``'max'`` or ``'mean'`` over pixels.

    Shape:
        input ``(B, C, H, W)``, output ``(B, channels[-1])``.
    """

    def __init__(
        self,
        group: FiniteGroup,
        action: SpatialAction,
        in_channels: int = 1,
        channels: Sequence[int] = (8, 8, 16),
        kernel_size: int = 3,
        batch_norm: bool = True,
        spatial_pooling: str = "max",
    ) -> None:
        super().__init__()
        widths = (_positive_int("in_channels", in_channels), *_channels(channels))
        self.spatial_pooling = _spatial_pooling(spatial_pooling)
        layers: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            kind = LiftingConv if index == 0 else GroupConv2d
            layers.append(kind(group, action, width_in, width_out, kernel_size))
            layers += [nn.BatchNorm3d(width_out)] if batch_norm else []
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers, GroupPooling("max", dim=2))
        self.out_features = widths[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Invariant features of ``images`` ``(B, C, H, W)``."""
        return _pool_pixels(self.layers(images), self.spatial_pooling)


class PlainCNN(nn.Module):
    """Ordinary convolutions, batch normalisation and ReLUs, then a pooling over pixels.

    The baseline for :class:`GroupCNN`, with the same layout and ``conv2d`` layers.

    Args:
        in_channels: image channels ``C``.
        channels: output channels of each ``conv2d`` (padding ``k // 2``).
        kernel_size: odd side of the square kernels.
        batch_norm: ``BatchNorm2d`` after each convolution.
        spatial_pooling: ``'max'`` or ``'mean'`` over pixels.

    Shape:
        input ``(B, C, H, W)``, output ``(B, channels[-1])``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 16, 32),
        kernel_size: int = 3,
        batch_norm: bool = True,
        spatial_pooling: str = "max",
    ) -> None:
        super().__init__()
        widths = (_positive_int("in_channels", in_channels), *_channels(channels))
        kernel_size = _positive_int("kernel_size", kernel_size)
        self.spatial_pooling = _spatial_pooling(spatial_pooling)
        layers: list[nn.Module] = []
        for width_in, width_out in itertools.pairwise(widths):
            layers.append(nn.Conv2d(width_in, width_out, kernel_size, padding=kernel_size // 2))
            layers += [nn.BatchNorm2d(width_out)] if batch_norm else []
            layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)
        self.out_features = widths[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of ``images`` ``(B, C, H, W)``."""
        return _pool_pixels(self.layers(images), self.spatial_pooling)


class EscnnCNN(nn.Module):
    """escnn's ``R2Conv`` on regular fields of ``flipRot2dOnR2(rotations)``, as a baseline.

    Trivial input fields, then per entry of ``channels`` an ``R2Conv`` to that many regular
    fields, escnn's ``InnerBatchNorm`` (statistics per field) and ReLU; then escnn's
    ``GroupPooling`` (maximum over each field) and the maximum (or mean) over pixels. escnn is
    imported when the backbone is built.

    Args:
        in_channels: image channels ``C`` (trivial fields).
        channels: regular fields after each convolution.
        kernel_size: odd side of the square kernels (padding ``k // 2``).
        rotations: ``N`` of the dihedral group ``D_N``; 4 for the symmetries of the square.
        batch_norm: normalise after each convolution.
        spatial_pooling: ``'max'`` or ``'mean'`` over pixels.

    Shape:
        input ``(B, C, H, W)``, output ``(B, channels[-1])``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (8, 8, 16),
        kernel_size: int = 3,
        rotations: int = 4,
        batch_norm: bool = True,
        spatial_pooling: str = "max",
    ) -> None:
        from escnn import gspaces
        from escnn import nn as escnn_nn

        super().__init__()
        widths = _channels(channels)
        kernel_size = _positive_int("kernel_size", kernel_size)
        self.spatial_pooling = _spatial_pooling(spatial_pooling)
        gspace = gspaces.flipRot2dOnR2(_positive_int("rotations", rotations))
        trivial = [gspace.trivial_repr] * _positive_int("in_channels", in_channels)
        self.input_type = escnn_nn.FieldType(gspace, trivial)
        field, layers = self.input_type, []
        for width in widths:
            out = escnn_nn.FieldType(gspace, [gspace.regular_repr] * width)
            layers.append(escnn_nn.R2Conv(field, out, kernel_size, padding=kernel_size // 2))
            layers += [escnn_nn.InnerBatchNorm(out)] if batch_norm else []
            layers.append(escnn_nn.ReLU(out))
            field = out
        self.layers = escnn_nn.SequentialModule(*layers, escnn_nn.GroupPooling(field))
        self._geometric_tensor = escnn_nn.GeometricTensor
        self.out_features = widths[-1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Invariant features of ``images`` ``(B, C, H, W)``."""
        pooled = self.layers(self._geometric_tensor(images, self.input_type)).tensor
        return _pool_pixels(pooled, self.spatial_pooling)


class ImageClassifier(L.LightningModule):
    """Classify images with ``logits = W backbone(x) + b``, trained with cross-entropy.

    Logs ``train/loss``, ``train/accuracy``, ``val/loss``, ``val/accuracy`` and
    ``test/accuracy``; with several test dataloaders Lightning names the last one per loader
    (``test/accuracy/dataloader_idx_k``), and each loader has its own metric state.

    Args:
        backbone: module mapping ``(B, C, H, W)`` to ``(B, F)`` with an ``out_features``
            attribute ``F``.
        num_classes: number of classes.
        lr: learning rate of Adam.
        weight_decay: Adam's weight decay.

    Example:
        >>> import torch
        >>> model = ImageClassifier(PlainCNN(channels=(4, 8)), num_classes=3)
        >>> model(torch.randn(5, 1, 8, 8)).shape
        torch.Size([5, 3])
    """

    def __init__(
        self, backbone: nn.Module, num_classes: int, lr: float = 3e-3, weight_decay: float = 0.0
    ) -> None:
        super().__init__()
        features = getattr(backbone, "out_features", None)
        if isinstance(features, bool) or not isinstance(features, (int, np.integer)):
            raise ValueError(
                f"backbone must have an integer out_features, got {type(backbone).__name__} "
                f"with out_features={features!r}"
            )
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
        self.save_hyperparameters(ignore=["backbone", "group", "action"])
        self.backbone = backbone
        self.num_classes = _positive_int("num_classes", num_classes)
        self.head = nn.Linear(int(features), self.num_classes)
        self.train_accuracy = MulticlassAccuracy(self.num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(self.num_classes, average="micro")
        self.test_accuracies = nn.ModuleList()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, num_classes)`` of ``images`` ``(B, C, H, W)``."""
        return self.head(self.backbone(images))

    def _loss(self, batch: Sequence[torch.Tensor], metric: MulticlassAccuracy) -> torch.Tensor:
        images, targets = batch
        logits = self(images)
        metric.update(logits, targets)
        return nn.functional.cross_entropy(logits, targets)

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, self.train_accuracy)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/accuracy", self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch, self.val_accuracy))
        self.log("val/accuracy", self.val_accuracy, prog_bar=True)

    def test_step(
        self, batch: Sequence[torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        while len(self.test_accuracies) <= dataloader_idx:
            metric = MulticlassAccuracy(self.num_classes, average="micro")
            self.test_accuracies.append(metric.to(self.device))
        metric = self.test_accuracies[dataloader_idx]
        self._loss(batch, metric)
        # Lightning looks up a logged metric's attribute name once; ones added later need it.
        self.log("test/accuracy", metric, metric_attribute=f"test_accuracies.{dataloader_idx}")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )

    def num_parameters(self) -> int:
        """Number of trainable parameters, backbone and head."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


class GroupCNNClassifier(ImageClassifier):
    """An :class:`ImageClassifier` on a :class:`GroupCNN`: logits invariant under the group.

    For every element ``u`` and image ``x``, ``model(act(u, x)) = model(x)`` up to rounding.

    Args:
        group: the finite group, e.g. ``FiniteGroup(completed_table.cells, labels)``.
        action: its :class:`SpatialAction` on images (checked against the table).
        num_classes: number of classes.
        channels: channels of the lifting layer and of each group convolution.
        kernel_size: odd side of the square kernels.
        in_channels: image channels.
        batch_norm: normalise after each convolution (see :class:`GroupCNN`).
        spatial_pooling: ``'max'`` or ``'mean'`` over pixels.
        lr: learning rate of Adam.
        weight_decay: Adam's weight decay.
    """

    def __init__(
        self,
        group: FiniteGroup,
        action: SpatialAction,
        num_classes: int,
        channels: Sequence[int] = (8, 8, 16),
        kernel_size: int = 3,
        in_channels: int = 1,
        batch_norm: bool = True,
        spatial_pooling: str = "max",
        lr: float = 3e-3,
        weight_decay: float = 0.0,
    ) -> None:
        backbone = GroupCNN(
            group, action, in_channels, channels, kernel_size, batch_norm, spatial_pooling
        )
        super().__init__(backbone, num_classes, lr=lr, weight_decay=weight_decay)
        self.group = group
        self.action = action
