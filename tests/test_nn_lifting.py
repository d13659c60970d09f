"""SpatialAction, LiftingConv and GroupConv2d: table checks, slow references, equivariance.

C4 and D4 act faithfully by quarter turns and mirrors; S3 acts through its sign (odd
permutations mirror the image) and Q8 through Q8 / {+-1} = C2 x C2 (mirrors and the half
turn), which tests that nothing assumes a faithful action. Each group is also randomly
relabelled so that the identity is not element 0, and D4 is also completed by a training
run. Everything runs in float64.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hc_lightning import CayleyTable, complete, load_group
from hc_lightning.algebra.constructions import (
    cyclic,
    dihedral,
    direct_product,
    quaternion,
    symmetric,
)
from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn import (
    GroupConv2d,
    GroupPooling,
    LiftingConv,
    SpatialAction,
    SquareSymmetry,
    c4_action,
    check_equivariance,
    d4_action,
    grid_action,
    image_action,
)

pytestmark = pytest.mark.usefixtures("one_thread_module")


IDENTITY, MIRROR = SquareSymmetry(0), SquareSymmetry(0, mirror=True)
Q8_IMAGES = {
    "1": IDENTITY,
    "i": MIRROR,
    "j": SquareSymmetry(2, mirror=True),
    "k": SquareSymmetry(2),
}


def base_case(name: str) -> tuple[FiniteGroup, list]:
    if name == "C4":
        table, labels, transforms = c4_action()
        return FiniteGroup(table, labels), list(transforms)
    if name == "D4":
        table, labels, transforms = d4_action()
        return FiniteGroup(table, labels), list(transforms)
    if name == "S3":
        group = FiniteGroup(*symmetric(3))
        return group, [MIRROR if order == 2 else IDENTITY for order in group.element_orders()]
    group = FiniteGroup(*quaternion())
    return group, [Q8_IMAGES[label.lstrip("-")] for label in group.labels]


@functools.cache
def discovered_case() -> tuple[FiniteGroup, SpatialAction]:
    """The relabelled D4 with its action, the table completed by a training run."""
    truth, transforms = case_transforms("D4", relabelled=True)
    table = CayleyTable.from_cells(truth.table, truth.labels, name="D4")
    group = load_group(complete(table, train_fraction=0.6, seed=0, explain=False))
    assert np.array_equal(group.table, truth.table)
    return group, SpatialAction(group, transforms)


def make_case(name: str, relabelled: bool) -> tuple[FiniteGroup, SpatialAction]:
    if name == "discovered":
        return discovered_case()
    group, transforms = case_transforms(name, relabelled)
    return group, SpatialAction(group, transforms)


def case_transforms(name: str, relabelled: bool) -> tuple[FiniteGroup, list]:
    group, transforms = base_case(name)
    if relabelled:
        perm = np.random.default_rng(group.order).permutation(group.order)
        if perm[group.identity] == 0:
            perm = np.roll(perm, 1)
        group = group.relabel(perm)
        moved = [None] * group.order
        for g, transform in enumerate(transforms):
            moved[perm[g]] = transform
        transforms = moved
    return group, transforms


CASES = [(name, relabelled) for name in ("C4", "D4", "S3", "Q8") for relabelled in (False, True)]
IDS = [f"{name}{'-relabelled' if relabelled else ''}" for name, relabelled in CASES]
CASES.append(("discovered", True))  # a group found by a training run
IDS.append("D4-discovered")


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> tuple[FiniteGroup, SpatialAction]:
    return make_case(*request.param)


def with_random_bias(layer: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        layer.bias.normal_()
    return layer


def slow_lifting(layer: LiftingConv, images: torch.Tensor) -> torch.Tensor:
    """out[:, o, g] = conv2d(x, act(g, W))[:, o] + bias[o], one element at a time."""
    outputs = []
    for g in range(layer.group.order):
        kernel = layer.action.apply(g, layer.weight)
        conv = torch.nn.functional.conv2d(images, kernel, padding=layer.padding)
        outputs.append(conv + layer.bias[:, None, None])
    return torch.stack(outputs, dim=2)


def slow_group_conv2d(layer: GroupConv2d, features: torch.Tensor) -> torch.Tensor:
    """out[:, o, g] = sum_h conv2d(f[:, :, h], act(g, W[:, :, g^{-1} h])) + bias[o]."""
    group = layer.group
    outputs = []
    for g in range(group.order):
        total = layer.bias[:, None, None]
        for h in range(group.order):
            shift = group.mul(int(group.inverse[g]), h)
            kernel = layer.action.apply(g, layer.weight[:, :, shift])
            conv = torch.nn.functional.conv2d(features[:, :, h], kernel, padding=layer.padding)
            total = total + conv
        outputs.append(total)
    return torch.stack(outputs, dim=2)


def test_square_actions_compose_like_the_catalog_tables() -> None:
    assert np.array_equal(c4_action()[0], cyclic(4)[0])
    table, labels, _ = d4_action()
    assert np.array_equal(table, dihedral(4)[0])
    assert labels == dihedral(4)[1]


@pytest.mark.parametrize("size", [3, 5, 4])
def test_kernel_permutations_gather_convention(size: int) -> None:
    group, action = make_case("D4", relabelled=True)
    perms = action.kernel_permutations(size)
    x = torch.randn(2, size, size, dtype=torch.float64)
    for g in range(group.order):
        expected = action.apply(g, x).reshape(2, -1)
        assert torch.equal(x.reshape(2, -1)[:, torch.tensor(perms[g])], expected)
    assert c4_action()[2][1](torch.arange(9).reshape(3, 3)).flatten().tolist() == [
        2, 5, 8, 1, 4, 7, 0, 3, 6,
    ]  # fmt: skip


def test_action_composes_as_the_table(case: tuple[FiniteGroup, SpatialAction]) -> None:
    group, action = case
    x = torch.randn(3, 7, 7, dtype=torch.float64)
    for a in range(group.order):
        for b in range(group.order):
            assert torch.equal(
                action.apply(a, action.apply(b, x)), action.apply(group.mul(a, b), x)
            )


def test_refuses_rotations_with_a_wrongly_relabelled_table() -> None:
    _, _, transforms = c4_action()
    swapped = FiniteGroup(*cyclic(4)).relabel([0, 2, 1, 3])  # element 1 is now r^2
    with pytest.raises(ValueError, match=r"act\(2, act\(2, x\)\) != act\(0, x\)") as info:
        SpatialAction(swapped, transforms)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("wrong", [quaternion, lambda: direct_product(cyclic(2), cyclic(4))])
def test_refuses_square_symmetries_with_another_group_of_order_8(wrong) -> None:
    _, _, transforms = d4_action()
    with pytest.raises(ValueError, match="do not compose as the table says"):
        SpatialAction(FiniteGroup(*wrong()), transforms)


def test_refuses_malformed_transforms() -> None:
    group = FiniteGroup(*cyclic(2))
    with pytest.raises(ValueError, match="one entry per element"):
        SpatialAction(group, [IDENTITY])
    with pytest.raises(ValueError, match="all callables or all pixel permutations"):
        SpatialAction(group, [IDENTITY, np.arange(9)])
    with pytest.raises(ValueError, match="not a permutation"):
        SpatialAction(group, [np.arange(9), np.zeros(9)])
    with pytest.raises(ValueError, match="does not permute pixels"):
        SpatialAction(group, [IDENTITY, lambda x: 2 * x])
    with pytest.raises(ValueError, match="keep the shape"):
        SpatialAction(group, [IDENTITY, lambda x: x[..., 1:, :]])


def test_permutation_action_matches_callables() -> None:
    group, action = make_case("D4", relabelled=True)
    explicit = SpatialAction(group, action.kernel_permutations(3).reshape(-1, 3, 3))
    torch.manual_seed(0)
    from_callables = LiftingConv(group, action, 2, 3, 3, dtype=torch.float64)
    torch.manual_seed(0)
    from_perms = LiftingConv(group, explicit, 2, 3, 3, dtype=torch.float64)
    assert torch.equal(from_callables.expanded_kernel(), from_perms.expanded_kernel())
    x = torch.randn(4, 3, 3, dtype=torch.float64)
    for g in range(group.order):
        assert torch.equal(explicit.apply(g, x), action.apply(g, x))
    with pytest.raises(ValueError, match="size must be 3"):
        explicit.kernel_permutations(5)
    with pytest.raises(ValueError, match=r"images must end in \(3, 3\)"):
        explicit.apply(1, torch.zeros(5, 5))


def test_conv_layers_refuse_actions_that_conv2d_cannot_follow() -> None:
    group = FiniteGroup(*cyclic(2))
    swap = np.arange(9)
    swap[[0, 1]] = [1, 0]  # an involution of the pixels, but no symmetry of the square
    action = SpatialAction(group, [np.arange(9), swap])
    with pytest.raises(ValueError, match="not a rotation or reflection"):
        LiftingConv(group, action, 1, 1, 3)
    _, c4 = make_case("C4", relabelled=False)
    with pytest.raises(ValueError, match="kernel_size must be an odd"):
        LiftingConv(c4.group, c4, 1, 1, 4)
    with pytest.raises(ValueError, match="same table"):
        GroupConv2d(FiniteGroup(*cyclic(4)).relabel([1, 0, 2, 3]), c4, 1, 1, 3)
    with pytest.raises(ValueError, match="padding"):
        LiftingConv(c4.group, c4, 1, 1, 3, padding=-1)
    lift = LiftingConv(c4.group, c4, 2, 1, 3)
    with pytest.raises(ValueError, match="images must have shape"):
        lift(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="features must have shape"):
        GroupConv2d(c4.group, c4, 2, 1, 3)(torch.zeros(1, 2, 3, 5, 5))


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_lifting_matches_slow_reference(case, kernel_size: int) -> None:
    group, action = case
    torch.manual_seed(kernel_size)
    layer = with_random_bias(LiftingConv(group, action, 2, 3, kernel_size, dtype=torch.float64))
    images = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        fast, slow = layer(images), slow_lifting(layer, images)
    assert fast.shape == (2, 3, group.order, 9, 9)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_group_conv2d_matches_slow_reference(case, kernel_size: int) -> None:
    group, action = case
    torch.manual_seed(kernel_size)
    layer = with_random_bias(GroupConv2d(group, action, 2, 3, kernel_size, dtype=torch.float64))
    features = torch.randn(2, 2, group.order, 7, 7, dtype=torch.float64)
    with torch.no_grad():
        fast, slow = layer(features), slow_group_conv2d(layer, features)
    assert torch.allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_lifting_equivariant(case, kernel_size: int) -> None:
    group, action = case
    torch.manual_seed(0)
    layer = with_random_bias(LiftingConv(group, action, 2, 3, kernel_size, dtype=torch.float64))
    images = torch.randn(2, 2, 11, 11, dtype=torch.float64)
    report = check_equivariance(
        layer, group, images, image_action(action), grid_action(action), atol=1e-10
    )
    assert report.passed, str(report)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_group_conv2d_equivariant(case, kernel_size: int) -> None:
    group, action = case
    torch.manual_seed(1)
    layer = with_random_bias(GroupConv2d(group, action, 2, 2, kernel_size, dtype=torch.float64))
    features = torch.randn(2, 2, group.order, 9, 9, dtype=torch.float64)
    act = grid_action(action)
    report = check_equivariance(layer, group, features, act, act, atol=1e-10)
    assert report.passed, str(report)


@pytest.mark.parametrize(("size", "padding"), [(8, None), (9, 0)])
def test_network_is_invariant_up_to_the_image_action(size: int, padding: int | None) -> None:
    group, action = make_case("D4", relabelled=True)
    torch.manual_seed(2)
    network = torch.nn.Sequential(
        with_random_bias(LiftingConv(group, action, 1, 4, 5, padding, dtype=torch.float64)),
        torch.nn.ReLU(),
        with_random_bias(GroupConv2d(group, action, 4, 3, 3, padding, dtype=torch.float64)),
        GroupPooling("max"),
    )
    images = torch.randn(2, 1, size, size, dtype=torch.float64)
    act = image_action(action)
    report = check_equivariance(network, group, images, act, act, atol=1e-10)
    assert report.passed, str(report)


def test_checker_catches_a_kernel_that_ignores_the_action() -> None:
    group, action = make_case("C4", relabelled=False)
    torch.manual_seed(3)
    layer = LiftingConv(group, action, 1, 2, 3, dtype=torch.float64)
    with torch.no_grad():
        frozen = layer.weight.reshape(2, 1, 1, 3, 3).expand(2, group.order, 1, 3, 3)

    def untransformed(images: torch.Tensor) -> torch.Tensor:  # same kernel for every g
        out = torch.nn.functional.conv2d(images, frozen.reshape(-1, 1, 3, 3), padding=1)
        return out.reshape(images.shape[0], 2, group.order, *out.shape[-2:])

    images = torch.randn(1, 1, 9, 9, dtype=torch.float64)
    report = check_equivariance(
        untransformed, group, images, image_action(action), grid_action(action)
    )
    assert not report.passed
    assert report.max_error > 1e-2


def test_init_is_he_normal() -> None:
    group, action = make_case("D4", relabelled=False)
    torch.manual_seed(0)
    lift = LiftingConv(group, action, 32, 64, 5, dtype=torch.float64)
    assert lift.weight.var().item() == pytest.approx(2.0 / (32 * 25), rel=0.05)
    conv = GroupConv2d(group, action, 16, 16, 3, dtype=torch.float64)
    assert conv.weight.var().item() == pytest.approx(2.0 / (16 * 8 * 9), rel=0.05)
    assert torch.count_nonzero(conv.bias).item() == 0
