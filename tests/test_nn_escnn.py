"""The escnn bridge: groups from tables on no_base_space, and C_N / D_N onto R2 gspaces.

escnn samples its kernel bases in float32, so its own modules are equivariant to about
1e-7 even in float64; their checks here use 1e-5. Representation matrices are checked in
float64 to 1e-10.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import escnn.gspaces
import escnn.nn
import numpy as np
import pooch
import pytest
import torch

from hc_lightning import CayleyTable, complete, load_group
from hc_lightning.algebra.constructions import (
    abelian,
    alternating,
    cyclic,
    direct_product,
    quaternion,
    symmetric,
)
from hc_lightning.algebra.group import FiniteGroup
from hc_lightning.nn import (
    GroupConv,
    GroupPooling,
    LiftingConv,
    SpatialAction,
    c4_action,
    check_equivariance,
    d4_action,
    grid_action,
    image_action,
    regular_action,
    to_escnn,
    to_escnn_gspace,
)
from hc_lightning.nn.escnn_bridge import table_fingerprint

pytestmark = pytest.mark.usefixtures("one_thread_module")


RELABEL_S3 = [3, 5, 0, 1, 4, 2]  # identity 0 -> 3
EXPECTED_IRREPS = {
    "S3": [(1, "R"), (1, "R"), (2, "R")],
    "S3-relabelled": [(1, "R"), (1, "R"), (2, "R")],
    "Q8": [(1, "R")] * 4 + [(4, "H")],
    "A4": [(1, "R"), (2, "C"), (3, "R")],
    # a complex-type block of size 4 needs the change to escnn's canonical basis
    "C3xS3": [(1, "R"), (1, "R"), (2, "R"), (2, "C"), (2, "C"), (4, "C")],
}


def make_group(name: str) -> FiniteGroup:
    if name == "S3":
        return FiniteGroup(*symmetric(3))
    if name == "S3-relabelled":
        return FiniteGroup(*symmetric(3)).relabel(RELABEL_S3)
    if name == "Q8":
        return FiniteGroup(*quaternion())
    if name == "A4":
        return FiniteGroup(*alternating(4))
    return FiniteGroup(*direct_product(cyclic(3), symmetric(3)))


@pytest.fixture(params=list(EXPECTED_IRREPS), scope="module")
def named(request: pytest.FixtureRequest) -> tuple[str, FiniteGroup, object]:
    group = make_group(request.param)
    return request.param, group, to_escnn(group)


def permutation_matrix(group: FiniteGroup, u: int) -> np.ndarray:
    """Left regular representation: e_h -> e_{u h}."""
    matrix = np.zeros((group.order, group.order))
    matrix[group.table[u], np.arange(group.order)] = 1.0
    return matrix


def test_importing_nn_does_not_import_escnn() -> None:
    code = "import sys, hc_lightning.nn; print('escnn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_irreps_are_real_orthogonal_homomorphisms_in_escnn_form(named) -> None:
    name, group, G = named
    irreps = G.irreps()
    assert [(irrep.size, irrep.type) for irrep in irreps] == EXPECTED_IRREPS[name]
    assert irreps[0] == G.trivial_representation
    assert sum(irrep.size**2 // irrep.sum_of_squares_constituents for irrep in irreps) == (
        group.order
    )
    for irrep in irreps:
        matrices = np.stack([irrep(element) for element in G.elements])
        products = matrices[:, None] @ matrices[None, :]  # (a, b): rho(a) rho(b)
        assert np.abs(products - matrices[group.table]).max() < 1e-10
        eye = np.eye(irrep.size)
        assert np.abs(matrices @ matrices.transpose(0, 2, 1) - eye).max() < 1e-10
        basis = irrep.endomorphism_basis()
        assert basis.shape[0] == irrep.sum_of_squares_constituents
        commutator = basis[:, None] @ matrices[None] - matrices[None] @ basis[:, None]
        assert np.abs(commutator).max() < 1e-10
        characters = np.array([irrep.character(element) for element in G.elements])
        assert np.allclose(characters, np.trace(matrices, axis1=1, axis2=2), atol=1e-12)


def test_element_law_and_regular_representation_follow_the_table(named) -> None:
    _, group, G = named
    assert G.order() == group.order
    assert G.identity == G.elements[group.identity]
    for a in range(group.order):
        assert ~G.elements[a] == G.elements[int(group.inverse[a])]
        for b in range(group.order):
            assert G.elements[a] @ G.elements[b] == G.elements[group.mul(a, b)]
    for u, element in enumerate(G.elements):
        regular = G.regular_representation(element)
        assert np.abs(regular - permutation_matrix(group, u)).max() < 1e-10
        assert repr(element) == group.labels[u]


def test_escnn_linear_and_group_pooling_are_equivariant(named) -> None:
    G = named[2]
    gspace = escnn.gspaces.no_base_space(G)
    field_in = escnn.nn.FieldType(gspace, [G.regular_representation] * 2)
    field_out = escnn.nn.FieldType(gspace, [G.regular_representation] * 3)
    torch.manual_seed(0)
    linear = escnn.nn.Linear(field_in, field_out)
    linear.check_equivariance(atol=1e-5, rtol=1e-5, verbose=False)
    # GroupPooling's own override of check_equivariance builds a 10 x 10 image, which a
    # 0-dimensional gspace rejects; escnn's generic EquivariantModule check handles it.
    pooling = escnn.nn.GroupPooling(field_out)
    escnn.nn.EquivariantModule.check_equivariance(pooling, atol=1e-5, rtol=1e-5)

    linear = linear.to(torch.float64)
    x = escnn.nn.GeometricTensor(torch.randn(4, field_in.size, dtype=torch.float64), field_in)
    pool = escnn.nn.GroupPooling(field_out)
    for element in G.elements:
        moved = linear(x.transform_fibers(element)).tensor
        assert (moved - linear(x).transform_fibers(element).tensor).abs().max() < 1e-5
        pooled = pool(linear(x.transform_fibers(element))).tensor
        assert (pooled - pool(linear(x)).tensor).abs().max() < 1e-5


def test_escnn_regular_fields_are_this_packages_features(named) -> None:
    _, group, G = named
    torch.manual_seed(1)
    layer = GroupConv(group, 2, 3, dtype=torch.float64)
    features = torch.randn(5, 2, group.order, dtype=torch.float64)
    action = regular_action(group)
    for u, element in enumerate(G.elements):
        rho = torch.as_tensor(G.regular_representation(element))
        assert torch.allclose(features @ rho.T, action(u, features), rtol=0, atol=1e-10)
        with torch.no_grad():
            error = layer(features @ rho.T) - layer(features) @ rho.T
        assert error.abs().max() < 1e-10


def test_subgroup_restriction() -> None:
    group = make_group("S3-relabelled")
    G = to_escnn(group)
    rotation = int(np.flatnonzero(group.element_orders() == 3)[0])
    subgroup, parent, child = G.subgroup((rotation,))
    assert subgroup.order() == 3
    assert [irrep.type for irrep in subgroup.irreps()] == ["R", "C"]
    restricted = G.restrict_representation((rotation,), G.regular_representation)
    for element in subgroup.elements:
        assert child(parent(element)) == element
        expected = G.regular_representation(parent(element))
        assert np.abs(restricted(element) - expected).max() < 1e-10
    outside = [g for g in G.elements if g.value not in group.subgroup_generated([rotation])]
    assert all(child(g) is None for g in outside)


def test_distinct_tables_give_distinct_escnn_groups() -> None:
    c4, klein = to_escnn(cyclic(4)[0]), to_escnn(abelian([2, 2])[0])
    assert c4 != klein and c4._keys != klein._keys
    s3, relabelled = to_escnn(make_group("S3")), to_escnn(make_group("S3-relabelled"))
    assert s3 != relabelled and hash(s3) != hash(relabelled)
    assert to_escnn(symmetric(3)[0]) is s3
    assert s3._keys == {"table_sha256": table_fingerprint(make_group("S3"))}
    assert type(s3)._generator(**s3._keys) is s3
    field = escnn.nn.FieldType(escnn.gspaces.no_base_space(s3), [s3.regular_representation])
    other = escnn.nn.FieldType(
        escnn.gspaces.no_base_space(relabelled), [relabelled.regular_representation]
    )
    assert field != other


def relabelled_square_group(name: str) -> tuple[FiniteGroup, SpatialAction, np.ndarray]:
    table, labels, transforms = c4_action() if name == "C4" else d4_action()
    perm = np.random.default_rng(7).permutation(len(labels))
    if perm[0] == 0:
        perm = np.roll(perm, 1)
    group = FiniteGroup(table, labels).relabel(perm)
    moved = [None] * group.order
    for g, transform in enumerate(transforms):
        moved[perm[g]] = transform
    return group, SpatialAction(group, moved), perm


@pytest.mark.parametrize("name", ["C4", "D4"])
def test_gspace_bridge_isomorphism_and_layout(name: str) -> None:
    group, action, perm = relabelled_square_group(name)
    kind = "rot2dOnR2" if name == "C4" else "flipRot2dOnR2"
    reflection = None if name == "C4" else int(perm[4])  # s0: the left-right mirror
    bridge = to_escnn_gspace(group, kind, rotation=int(perm[1]), reflection=reflection)
    fiber = bridge.gspace.fibergroup
    assert fiber.order() == group.order
    phi = bridge.isomorphism
    assert len(set(phi)) == group.order
    for a in range(group.order):
        for b in range(group.order):
            assert phi[group.mul(a, b)] == phi[a] @ phi[b]

    features = torch.randn(2, 3, group.order, 7, 7, dtype=torch.float64)
    tensor = bridge.to_escnn_layout(features)
    assert tensor.shape == (2, 3 * group.order, 7, 7)
    assert torch.equal(bridge.from_escnn_layout(tensor), features)
    # escnn rotates by 90 degrees like torch.rot90(x, 1) and mirrors left-right, so through
    # the isomorphism its transform of regular fields is exactly the grid action here.
    field = escnn.nn.FieldType(bridge.gspace, [bridge.gspace.regular_repr] * 3)
    geometric = escnn.nn.GeometricTensor(tensor, field)
    act = grid_action(action)
    for u in range(group.order):
        moved = bridge.from_escnn_layout(geometric.transform(phi[u]).tensor)
        assert torch.allclose(moved, act(u, features), rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["C4", "D4"])
def test_r2conv_on_the_bridged_gspace_is_equivariant(name: str) -> None:
    group, action, perm = relabelled_square_group(name)
    kind = "rot2dOnR2" if name == "C4" else "flipRot2dOnR2"
    reflection = None if name == "C4" else int(perm[4])
    bridge = to_escnn_gspace(group, kind, rotation=int(perm[1]), reflection=reflection)
    field = escnn.nn.FieldType(bridge.gspace, [bridge.gspace.regular_repr] * 2)
    torch.manual_seed(2)
    r2conv = escnn.nn.R2Conv(field, field, kernel_size=3, padding=1).to(torch.float64)
    # The comparison escnn's R2Conv.check_equivariance makes on a photograph (see the test
    # below), here in float64 on a random input and at every element.
    x = escnn.nn.GeometricTensor(torch.randn(2, field.size, 9, 9, dtype=torch.float64), field)
    with torch.no_grad():
        for element in bridge.gspace.testing_elements:
            error = r2conv(x.transform(element)).tensor - r2conv(x).transform(element).tensor
            assert error.abs().max() < 1e-5

    lift = LiftingConv(group, action, 1, 2, 3, dtype=torch.float64)

    def network(images: torch.Tensor) -> torch.Tensor:
        lifted = bridge.to_escnn_layout(lift(images))
        convolved = r2conv(escnn.nn.GeometricTensor(lifted, field)).tensor
        return GroupPooling("max")(bridge.from_escnn_layout(convolved))

    images = torch.randn(2, 1, 9, 9, dtype=torch.float64)
    act = image_action(action)
    report = check_equivariance(network, group, images, act, act, atol=1e-5)
    assert report.passed, str(report)


def discovered_square_group(name: str) -> tuple[FiniteGroup, np.ndarray]:
    """The relabelled C4 or D4 as HyperCube completes it from 60 % of its table."""
    truth, _, perm = relabelled_square_group(name)
    table = CayleyTable.from_cells(truth.table, truth.labels, name=name)
    group = load_group(complete(table, train_fraction=0.6, seed=0, explain=False))
    assert np.array_equal(group.table, truth.table)
    return group, perm


@pytest.mark.parametrize("name", ["C4", "D4"])
def test_escnn_check_equivariance_of_r2conv_on_a_discovered_group(name: str) -> None:
    """escnn's own check: ``R2Conv.check_equivariance`` on the gspace the discovered group
    is mapped onto (it reads ``scipy.datasets.face()``: ``make setup`` puts it in place)."""
    image = Path(pooch.os_cache("scipy-data")) / "face.dat"
    if not image.is_file():
        pytest.fail(f"{image} is missing: run `python tools/escnn_test_image.py` (make setup does)")
    group, perm = discovered_square_group(name)
    kind = "rot2dOnR2" if name == "C4" else "flipRot2dOnR2"
    reflection = None if name == "C4" else int(perm[4])
    bridge = to_escnn_gspace(group, kind, rotation=int(perm[1]), reflection=reflection)
    field = escnn.nn.FieldType(bridge.gspace, [bridge.gspace.regular_repr])
    torch.manual_seed(0)
    # escnn shares the basis expansion of equal representations between R2Conv layers, so
    # another layer's .to(float64) reaches this one: set the dtype the check feeds it.
    r2conv = escnn.nn.R2Conv(field, field, kernel_size=3, padding=1).to(torch.float32)
    # Asserts escnn's own tolerances element by element; returns the mean error of each.
    errors = r2conv.check_equivariance(atol=1e-4, rtol=1e-4, verbose=False)
    assert len(errors) == group.order
    assert max(error for _, error in errors) < 1e-5


def test_gspace_bridge_refuses_wrong_generators() -> None:
    group, _, perm = relabelled_square_group("D4")
    rotation, reflection = int(perm[1]), int(perm[4])
    with pytest.raises(ValueError, match="rotation must have order 4"):
        to_escnn_gspace(group, "flipRot2dOnR2", rotation=int(perm[2]), reflection=reflection)
    with pytest.raises(ValueError, match="reflection must have order 2"):
        to_escnn_gspace(group, "flipRot2dOnR2", rotation=rotation, reflection=int(perm[2]))
    with pytest.raises(ValueError, match="not isomorphic to C_8"):
        to_escnn_gspace(group, "rot2dOnR2", rotation=rotation)
    with pytest.raises(ValueError, match="not isomorphic to D_4"):
        to_escnn_gspace(quaternion()[0], "flipRot2dOnR2", rotation=2, reflection=4)
    with pytest.raises(ValueError, match="reflection must be None"):
        to_escnn_gspace(cyclic(4)[0], "rot2dOnR2", rotation=1, reflection=2)
    with pytest.raises(ValueError, match="kind must be"):
        to_escnn_gspace(cyclic(4)[0], "rot3d", rotation=1)
    with pytest.raises(ValueError, match="rotation must lie in"):
        to_escnn_gspace(cyclic(4)[0], "rot2dOnR2", rotation=4)
