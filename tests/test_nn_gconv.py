"""GroupConv and GroupPooling on group-indexed features: slow references and equivariance.

Groups: S3, Q8, C4, D4 from the constructions, each also randomly relabelled so that the
identity is not element 0, and a relabelled Q8 completed by a training run. Everything runs
in float64.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hc_lightning import CayleyTable, complete, load_group
from hc_lightning.algebra.constructions import cyclic, dihedral, quaternion, symmetric
from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn import (
    GroupConv,
    GroupPooling,
    check_equivariance,
    regular_action,
    trivial_action,
)
from hc_lightning.nn.gconv import left_quotient_index

pytestmark = pytest.mark.usefixtures("one_thread_module")


BUILDERS = {
    "S3": lambda: symmetric(3),
    "Q8": quaternion,
    "C4": lambda: cyclic(4),
    "D4": lambda: dihedral(4),
}


@functools.cache
def discovered_group() -> FiniteGroup:
    """Q8, relabelled, as HyperCube completes it from 60 % of its table."""
    truth = make_group("Q8", relabelled=True)
    table = CayleyTable.from_cells(truth.table, truth.labels, name="Q8")
    completion = complete(table, train_fraction=0.6, seed=0, explain=False)
    group = load_group(completion)
    assert np.array_equal(group.table, truth.table)
    return group


def make_group(name: str, relabelled: bool) -> FiniteGroup:
    if name == "discovered":
        return discovered_group()
    group = FiniteGroup(*BUILDERS[name]())
    if not relabelled:
        return group
    rng = np.random.default_rng(len(name) + group.order)
    perm = rng.permutation(group.order)
    if perm[group.identity] == 0:
        perm = np.roll(perm, 1)
    moved = group.relabel(perm)
    assert moved.identity != 0
    return moved


GROUPS = [(name, relabelled) for name in BUILDERS for relabelled in (False, True)]
IDS = [f"{name}{'-relabelled' if relabelled else ''}" for name, relabelled in GROUPS]
GROUPS.append(("discovered", True))  # a group found by a training run
IDS.append("Q8-discovered")


@pytest.fixture(params=GROUPS, ids=IDS)
def group(request: pytest.FixtureRequest) -> FiniteGroup:
    return make_group(*request.param)


def random_layer(group: FiniteGroup, c_in: int, c_out: int, seed: int = 0) -> GroupConv:
    torch.manual_seed(seed)
    layer = GroupConv(group, c_in, c_out, dtype=torch.float64)
    with torch.no_grad():
        layer.bias.normal_()  # a non-zero bias must not break equivariance
    return layer


def slow_group_conv(layer: GroupConv, features: torch.Tensor) -> torch.Tensor:
    """out[b, o, g] = sum_h sum_i W[o, i, h^{-1} g] f[b, i, h] + bias[o], by explicit loops."""
    group = layer.group
    n = group.order
    out = torch.zeros(features.shape[0], layer.out_channels, n, dtype=features.dtype)
    for g in range(n):
        for h in range(n):
            shift = group.mul(int(group.inverse[h]), g)
            out[:, :, g] += features[:, :, h] @ layer.weight[:, :, shift].T
        out[:, :, g] += layer.bias
    return out


def test_left_quotient_index_entries(group: FiniteGroup) -> None:
    index = left_quotient_index(group)
    for g in range(group.order):
        for h in range(group.order):
            assert group.mul(h, int(index[g, h])) == g  # h * (h^-1 g) = g


def test_matches_slow_reference(group: FiniteGroup) -> None:
    layer = random_layer(group, 3, 4)
    features = torch.randn(5, 3, group.order, dtype=torch.float64)
    with torch.no_grad():
        fast, slow = layer(features), slow_group_conv(layer, features)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)


def test_expanded_kernel_is_the_gathered_weight(group: FiniteGroup) -> None:
    layer = random_layer(group, 2, 3)
    kernel = layer.expanded_kernel()
    for g in range(group.order):
        for h in range(group.order):
            shift = group.mul(int(group.inverse[h]), g)
            assert torch.equal(kernel[:, :, g, h], layer.weight[:, :, shift])


def test_regular_action_is_a_left_action(group: FiniteGroup) -> None:
    act = regular_action(group)
    features = torch.randn(2, 3, group.order, dtype=torch.float64)
    for a in range(group.order):
        for b in range(group.order):
            assert torch.equal(act(a, act(b, features)), act(group.mul(a, b), features))
    identity = act(group.identity, features)
    assert torch.equal(identity, features)


def test_group_conv_equivariant_for_every_element(group: FiniteGroup) -> None:
    layer = random_layer(group, 3, 5)
    features = torch.randn(4, 3, group.order, dtype=torch.float64)
    action = regular_action(group)
    report = check_equivariance(layer, group, features, action, action, atol=1e-10)
    assert len(report.per_element) == group.order
    assert report.passed, str(report)
    assert report.output_scale > 0.1


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_stack_with_pooling_is_invariant(group: FiniteGroup, mode: str) -> None:
    network = torch.nn.Sequential(
        random_layer(group, 2, 6, seed=1),
        torch.nn.ReLU(),
        random_layer(group, 6, 4, seed=2),
        GroupPooling(mode),
    )
    features = torch.randn(3, 2, group.order, dtype=torch.float64)
    report = check_equivariance(
        network, group, features, regular_action(group), trivial_action, atol=1e-10
    )
    assert report.passed, str(report)


def test_checker_catches_a_layer_that_is_not_equivariant(group: FiniteGroup) -> None:
    torch.manual_seed(0)
    n = group.order
    dense = torch.nn.Linear(2 * n, 2 * n, dtype=torch.float64)

    def layer(features: torch.Tensor) -> torch.Tensor:
        return dense(features.flatten(1)).reshape(features.shape)

    action = regular_action(group)
    features = torch.randn(3, 2, n, dtype=torch.float64)
    report = check_equivariance(layer, group, features, action, action, atol=1e-10)
    assert not report.passed
    assert report.per_element[group.identity] < 1e-12  # the identity never fails
    assert report.max_error > 1e-2
    assert report.labels[report.worst_element] in str(report)


def test_pooling_values() -> None:
    features = torch.tensor([[[1.0, -2.0, 4.0, 0.5]]], dtype=torch.float64)
    assert GroupPooling("max")(features).item() == 4.0
    assert GroupPooling("mean")(features).item() == pytest.approx(0.875, abs=1e-15)


def test_init_is_he_normal_over_channels_and_group() -> None:
    torch.manual_seed(0)
    group = make_group("D4", relabelled=False)
    layer = GroupConv(group, 64, 64, dtype=torch.float64)
    fan_in = 64 * group.order
    assert layer.weight.var().item() == pytest.approx(2.0 / fan_in, rel=0.05)
    assert torch.count_nonzero(layer.bias).item() == 0


def test_output_second_moment_is_preserved_after_relu() -> None:
    torch.manual_seed(1)
    group = make_group("Q8", relabelled=False)
    layer = GroupConv(group, 128, 128, bias=False, dtype=torch.float64)
    features = torch.relu(torch.randn(256, 128, group.order, dtype=torch.float64))
    with torch.no_grad():
        out = layer(features)
    # E[out^2] = fan_in * (2 / fan_in) * E[relu(x)^2] = 2 * 1/2 = 1.
    assert out.pow(2).mean().item() == pytest.approx(1.0, rel=0.1)


def test_bad_inputs_raise_value_errors() -> None:
    group = make_group("S3", relabelled=False)
    with pytest.raises(ValueError, match="in_channels"):
        GroupConv(group, 0, 2)
    with pytest.raises(ValueError, match="out_channels"):
        GroupConv(group, 2, 1.5)
    with pytest.raises(ValueError, match="not a group"):
        GroupConv(np.array([[0, 1], [0, 1]]), 1, 1)
    layer = GroupConv(group, 2, 3)
    with pytest.raises(ValueError, match=r"features must have shape \(batch, 2, 6\)"):
        layer(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match="mode"):
        GroupPooling("sum")
    with pytest.raises(ValueError, match="atol"):
        check_equivariance(layer, group, torch.randn(1, 2, 6), trivial_action, trivial_action, -1)


def test_layer_accepts_a_bare_table() -> None:
    table, _ = cyclic(5)
    layer = GroupConv(table, 1, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 0, 1] = 1.0  # W = delta at r: out[g] = f[g r^{-1}] = f[g - 1]
    features = torch.arange(5, dtype=torch.float64).reshape(1, 1, 5)
    assert layer(features).flatten().tolist() == [4.0, 0.0, 1.0, 2.0, 3.0]
