"""GroupCNNClassifier and its baselines: invariance of the logits, training, logged accuracy.

Invariance is checked element by element with ``check_equivariance`` and the trivial output
action, in float64 to 1e-10 and in float32 to 1e-5, in training mode (batch statistics) and
in evaluation mode (running statistics). The accuracy logged per test dataloader is compared
with the accuracy recomputed from the model's own predictions.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.model.classifier import (
    EscnnCNN,
    GroupCNN,
    GroupCNNClassifier,
    ImageClassifier,
    PlainCNN,
)
from hc_lightning.nn import (
    SpatialAction,
    c4_action,
    check_equivariance,
    d4_action,
    image_action,
    trivial_action,
)

pytestmark = pytest.mark.usefixtures("one_thread_module")


def d4(relabel_seed: int | None = None) -> tuple[FiniteGroup, SpatialAction]:
    """D4 and its action; with a seed, the elements are listed in a random order."""
    table, labels, transforms = d4_action()
    order = np.arange(8)
    if relabel_seed is not None:
        order = np.random.default_rng(relabel_seed).permutation(8)
    position = np.argsort(order)  # new index of old element
    relabelled = position[table[np.ix_(order, order)]]
    group = FiniteGroup(relabelled, [labels[g] for g in order])
    return group, SpatialAction(group, [transforms[g] for g in order])


def images(dtype: torch.dtype = torch.float64, count: int = 6, size: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(count, 1, size, size, generator=generator, dtype=dtype)


@pytest.mark.parametrize("relabel_seed", [None, 7])
@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_group_classifier_logits_are_invariant_in_float64(
    relabel_seed: int | None, pooling: str
) -> None:
    group, action = d4(relabel_seed)
    torch.manual_seed(0)
    model = GroupCNNClassifier(group, action, 10, (3, 4, 5), spatial_pooling=pooling).double()
    x = images(size=9)
    for mode in (True, False):
        model.train(mode)
        report = check_equivariance(model, group, x, image_action(action), trivial_action)
        assert report.passed, str(report)
        assert report.output_scale > 1e-3  # the logits are not trivially zero


def test_group_classifier_logits_are_invariant_in_float32() -> None:
    group, action = d4()
    torch.manual_seed(1)
    model = GroupCNNClassifier(group, action, 10).eval()
    x = images(torch.float32, count=32)
    report = check_equivariance(model, group, x, image_action(action), trivial_action, atol=1e-5)
    assert report.passed, str(report)


def test_c4_classifier_is_invariant_to_turns_but_not_to_mirrors() -> None:
    table, labels, transforms = c4_action()
    c4 = FiniteGroup(table, labels)
    torch.manual_seed(0)
    model = GroupCNNClassifier(c4, SpatialAction(c4, transforms), 10, (4, 4)).double().eval()
    x = images()
    report = check_equivariance(model, c4, x, image_action(model.action), trivial_action)
    assert report.passed, str(report)
    mirrored = model(torch.flip(x, dims=(-1,)))
    assert (mirrored - model(x)).abs().max() > 1e-4


def test_plain_cnn_is_not_invariant() -> None:
    group, action = d4()
    torch.manual_seed(0)
    model = ImageClassifier(PlainCNN(1, (4, 4, 8)), 10).double().eval()
    report = check_equivariance(model, group, images(), image_action(action), trivial_action)
    assert report.per_element[group.identity] == 0.0
    assert min(e for g, e in enumerate(report.per_element) if g != group.identity) > 1e-4


def test_escnn_baseline_is_invariant() -> None:
    group, action = d4()
    torch.manual_seed(0)
    model = ImageClassifier(EscnnCNN(1, (2, 3)), 10).eval()
    x = images(torch.float32)
    report = check_equivariance(model, group, x, image_action(action), trivial_action, atol=1e-5)
    assert report.passed, str(report)
    assert model.num_parameters() > 0


def test_backbones_keep_the_layout_and_count_parameters() -> None:
    group, action = d4()
    backbone = GroupCNN(group, action, in_channels=2, channels=(3, 5), kernel_size=3)
    assert backbone(torch.randn(4, 2, 7, 7)).shape == (4, 5)
    model = GroupCNNClassifier(group, action, 4, channels=(3, 5), in_channels=2)
    # lift 3*2*9 + 3, norm 2*3, group conv 5*3*8*9 + 5, norm 2*5, head 5*4 + 4
    assert model.num_parameters() == 57 + 6 + 1085 + 10 + 24
    plain = ImageClassifier(PlainCNN(1, (6,), batch_norm=False), 3)
    assert plain.num_parameters() == 6 * 9 + 6 + 6 * 3 + 3


def toy_digits(count: int, seed: int) -> TensorDataset:
    """Two classes: a bright bar across the middle row or down the middle column (+ noise)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (count,), generator=generator)
    x = 0.1 * torch.rand(count, 1, 7, 7, generator=generator)
    x[labels == 0, 0, 3, :] += 1.0
    x[labels == 1, 0, :, 3] += 1.0
    return TensorDataset(x, labels)


def test_trainer_fits_and_logs_accuracy_per_test_loader() -> None:
    torch.manual_seed(0)
    model = ImageClassifier(PlainCNN(1, (4, 4)), 2, lr=1e-2)
    trainer = L.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    train, val = toy_digits(128, 0), toy_digits(64, 1)
    trainer.fit(model, DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, 64))
    assert {"train/loss", "train/accuracy", "val/accuracy", "val/loss"} <= set(
        trainer.callback_metrics
    )

    test = toy_digits(64, 2)
    flipped_labels = TensorDataset(test.tensors[0], 1 - test.tensors[1])
    results = trainer.test(
        model, [DataLoader(test, 16), DataLoader(flipped_labels, 16)], verbose=False
    )
    with torch.no_grad():
        predicted = model.eval()(test.tensors[0]).argmax(dim=1)
    expected = float((predicted == test.tensors[1]).float().mean())
    got = [results[k][f"test/accuracy/dataloader_idx_{k}"] for k in range(2)]
    assert got[0] == pytest.approx(expected, abs=1e-6)
    assert got[1] == pytest.approx(1.0 - expected, abs=1e-6)
    assert expected > 0.9


def test_hyperparameters_are_saved_without_the_group() -> None:
    group, action = d4()
    model = GroupCNNClassifier(group, action, 10, channels=(4, 8), lr=1e-3)
    assert model.hparams["channels"] == (4, 8)
    assert model.hparams["lr"] == 1e-3
    assert "group" not in model.hparams and "action" not in model.hparams


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda g, a: GroupCNNClassifier(g, a, 10, channels=()), "channels must be a non-empty"),
        (lambda g, a: GroupCNNClassifier(g, a, 10, channels=(4, 0)), "channels must be a pos"),
        (lambda g, a: GroupCNNClassifier(g, a, 0), "num_classes must be a positive"),
        (lambda g, a: GroupCNNClassifier(g, a, 10, lr=0.0), "lr must be positive"),
        (lambda g, a: GroupCNNClassifier(g, a, 10, kernel_size=4), "kernel_size must be an odd"),
        (lambda g, a: PlainCNN(spatial_pooling="sum"), "spatial_pooling must be 'max' or"),
        (lambda g, a: ImageClassifier(torch.nn.Identity(), 10), "backbone must have an integer"),
    ],
)
def test_bad_arguments_raise_value_error(build, message: str) -> None:
    group, action = d4()
    with pytest.raises(ValueError, match=message):
        build(group, action)
