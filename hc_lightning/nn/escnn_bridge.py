"""escnn groups and gspaces from a Cayley table.

:func:`to_escnn` turns any finite group given by its table into an ``escnn.group.Group``
(the class :class:`TableGroup`), so that ``escnn.gspaces.no_base_space``, ``FieldType``,
``escnn.nn.Linear``, ``GroupPooling`` and the rest of escnn's finite-group machinery work
on a discovered group. Element ``g`` of the table is escnn's element ``G.element(g)`` and the
``g``-th axis of ``G.regular_representation``, so features ``(B, C, |G|)`` of
:class:`~hc_lightning.nn.gconv.GroupConv` flatten to escnn's regular fields.

escnn asks four things of a group, and this module meets them as follows:

* irreps real and orthogonal: they come from :func:`~hc_lightning.algebra.irreps.decompose`
  applied to the regular representation, one matrix block per real irrep; 1 x 1 blocks are
  rounded to exactly +-1, since escnn's Sylvester solver tests 1 x 1 systems for exact zeros;
* a complex- or quaternionic-type irrep of size ``k`` commutes with escnn's canonical
  endomorphism basis, ``B_a = kron(U_a, I_{k/2})`` with ``U_1 = [[0, -1], [1, 0]]`` (type
  'C'), or the quaternion units ``B_a = kron(U_a, I_{k/4})``, ``U_1 U_2 = U_3`` (type 'H'):
  escnn builds the regular representation's change of basis and the Clebsch-Gordan
  coefficients in that basis and is silently wrong otherwise. The block is rotated by an
  orthogonal ``Q`` with ``Q^T E_a Q = B_a``, where ``E_a`` are the same units taken from the
  block's own commutant; ``Q`` is the polar factor of the intertwiner ``sum_a E_a Z B_a^T``
  of the two unit groups. Every irrep is then checked against
  ``IrreducibleRepresentation.endomorphism_basis()`` itself;
* escnn's caches and its Clebsch-Gordan solver rebuild a group from its class name and
  ``_keys``: :class:`TableGroup` is registered in ``escnn.group.groups_dict`` and its
  ``_keys`` hold the SHA-256 of the table, so two different tables of the same order never
  share an entry;
* Clebsch-Gordan coefficients and tensor-product decompositions are computed in memory per
  group rather than in escnn's on-disk cache (inside the escnn package), which would
  otherwise grow with every discovered table and outlive changes of the irreps' basis.

:class:`TableGroup` (a subclass of ``escnn.group.Group``) is created on first use.

:func:`to_escnn_gspace` maps a table isomorphic to ``C_N`` or ``D_N`` onto escnn's
``rot2dOnR2(N)`` / ``flipRot2dOnR2(N)`` through an explicit isomorphism fixed by the
rotation (and reflection) the user names, so that ``R2Conv`` can be used.

escnn is imported inside the functions only; ``import hc_lightning.nn`` does not load it.

Example:
    >>> from hc_lightning.algebra.constructions import quaternion
    >>> G = to_escnn(FiniteGroup(*quaternion()))
    >>> [(irrep.size, irrep.type) for irrep in G.irreps()]
    [(1, 'R'), (1, 'R'), (1, 'R'), (1, 'R'), (4, 'H')]
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from hc_lightning.algebra.constructions import cyclic, dihedral
from hc_lightning.algebra.group import FiniteGroup, find_isomorphism
from hc_lightning.algebra.irreps import decompose
from hc_lightning.nn.gconv import as_group

logger = logging.getLogger(__name__)

__all__ = ["GSpaceBridge", "escnn_irreps", "to_escnn", "to_escnn_gspace"]

_TYPE_CODES = {"real": "R", "complex": "C", "quaternionic": "H"}
# Groups built so far, by table fingerprint: escnn rebuilds groups from `_keys` through
# `_generator`, and one instance per table keeps escnn's per-group caches shared.
_REGISTRY: dict[str, Any] = {}
# Largest allowed |M' B - B M'| of a canonicalised irrep against escnn's commutant basis.
_COMMUTANT_TOL = 1e-9


def table_fingerprint(group: FiniteGroup) -> str:
    """SHA-256 of the table's shape and int64 entries: equal iff the tables are equal."""
    table = np.ascontiguousarray(group.table, dtype=np.int64)
    return hashlib.sha256(repr(table.shape).encode() + table.tobytes()).hexdigest()


def _regular_matrices(group: FiniteGroup) -> np.ndarray:
    """Left regular representation ``P_g e_h = e_{g h}``, shape ``(n, n, n)``."""
    n = group.order
    rho = np.zeros((n, n, n))
    g, h = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rho[g, group.table, h] = 1.0
    return rho


def _canonical_units(code: str, size: int) -> np.ndarray:
    """escnn's commutant basis of an irrep of type ``code``: ``(1|2|4, size, size)``.

    The units satisfy ``B_1^2 = -I`` (type 'C') or the quaternion rules
    ``B_1^2 = B_2^2 = -I, B_1 B_2 = B_3`` (type 'H').
    """
    if code == "R":
        return np.eye(size)[None]
    if code == "C":
        units = np.stack([np.eye(2), np.array([[0.0, -1.0], [1.0, 0.0]])])
        return np.stack([np.kron(unit, np.eye(size // 2)) for unit in units])
    units = np.stack(
        [
            np.eye(4),
            np.diag([1.0, -1.0, 1.0, -1.0])[::-1],
            np.array([[0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]], dtype=float),
            np.array([[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, -1, 0]], dtype=float),
        ]
    )
    return np.stack([np.kron(unit, np.eye(size // 4)) for unit in units])


def _commutant_units(matrices: np.ndarray, code: str, rng: np.random.Generator) -> np.ndarray:
    """Units ``E_a`` of the commutant of an irrep, with the multiplication rules of
    :func:`_canonical_units`, from group averages ``sum_g M_g Z M_g^T`` of random ``Z``."""
    size = matrices.shape[1]
    units = [np.eye(size)]
    for _ in range({"R": 0, "C": 1, "H": 2}[code]):
        Z = rng.standard_normal((size, size))
        average = np.einsum("gij,jk,glk->il", matrices, Z, matrices)  # sum_g M_g Z M_g^T
        unit = (average - average.T) / 2  # antisymmetric part: imaginary units only
        for previous in units[1:]:
            unit -= np.sum(unit * previous) / size * previous
        units.append(unit / np.sqrt(np.sum(unit**2) / size))
    if code == "H":
        units.append(units[1] @ units[2])
    return np.stack(units)


def _canonicalise(matrices: np.ndarray, code: str, rng: np.random.Generator) -> np.ndarray:
    """Rotate an orthogonal irrep so that it commutes with escnn's canonical units."""
    if code == "R":
        return matrices
    size = matrices.shape[1]
    own, canonical = _commutant_units(matrices, code, rng), _canonical_units(code, size)
    Z = rng.standard_normal((size, size))
    intertwiner = np.einsum("aij,jk,alk->il", own, Z, canonical)  # (k, k): E_a T = T B_a
    u, _, vt = np.linalg.svd(intertwiner)
    Q = u @ vt  # orthogonal, Q^T E_a Q = B_a
    rotated = Q.T @ matrices @ Q  # (n, k, k)
    error = np.abs(rotated @ canonical[:, None] - canonical[:, None] @ rotated).max()
    if error > _COMMUTANT_TOL:
        raise RuntimeError(f"internal error: canonical {code}-type basis off by {error:.3g}")
    return rotated


def escnn_irreps(group: FiniteGroup, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """Real irreps of ``group`` in escnn's canonical form: ``(matrices (n, k, k), type)``.

    The type is ``'R'``, ``'C'`` or ``'H'``; the trivial irrep comes first. The matrices are
    orthogonal and, for types 'C' and 'H', commute with escnn's endomorphism basis.
    """
    rng = np.random.default_rng(seed)
    result = decompose(_regular_matrices(group), group.table, rng=rng)
    irreps = []
    for irrep in result.irreps:
        code = _TYPE_CODES[irrep.type]
        matrices = _canonicalise(irrep.matrices, code, rng)
        if matrices.shape[1] == 1:
            # +-1 exactly: escnn's solvers test 1 x 1 constraints for exact zeros.
            matrices = np.round(matrices)
        matrices[group.identity] = np.eye(matrices.shape[1])
        irreps.append((matrices, code))
    trivial = [
        index
        for index, (matrices, _) in enumerate(irreps)
        if matrices.shape[1] == 1 and np.allclose(matrices, 1.0)
    ]
    irreps.insert(0, irreps.pop(trivial[0]))
    return irreps


class _Lookup:
    """``element -> values[element index]``, the form escnn takes representations in."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __call__(self, element: Any) -> Any:
        value = self.values[element.value]
        return value.copy() if isinstance(value, np.ndarray) else float(value)


class _TableGroupMethods:
    """Everything :class:`TableGroup` adds to ``escnn.group.Group``; see :func:`to_escnn`.

    Elements are parametrised by their table index (``PARAM = 'int'``). Subgroup ids are
    tuples of element indices; the id names the subgroup they generate.
    """

    PARAM = "int"
    PARAMETRIZATIONS = ("int",)

    def __init__(self, group: FiniteGroup, fingerprint: str, name: str) -> None:
        super().__init__(name, False, group.is_abelian)
        self.finite_group = group
        self._fingerprint = fingerprint
        self._elements = [self.element(g) for g in range(group.order)]
        self._identity = self._elements[group.identity]
        self._irrep_data = escnn_irreps(group)
        self._cg_memory: dict[tuple, np.ndarray] = {}
        self._tensor_memory: dict[tuple, list] = {}
        self._build_representations()

    @property
    def identity(self) -> Any:
        return self._identity

    @property
    def elements(self) -> list:
        return self._elements

    @property
    def generators(self) -> list:
        gens: list[int] = []
        members = {self.finite_group.identity}
        for g in np.argsort(-self.finite_group.element_orders(), kind="stable"):
            if int(g) not in members:
                gens.append(int(g))
                members = set(self.finite_group.subgroup_generated(gens))
        return [self._elements[g] for g in gens]

    @property
    def subgroup_trivial_id(self) -> tuple[int, ...]:
        return (self.finite_group.identity,)

    @property
    def subgroup_self_id(self) -> tuple[int, ...]:
        return tuple(range(self.finite_group.order))

    @property
    def _keys(self) -> dict[str, Any]:
        return {"table_sha256": self._fingerprint}

    def _combine(
        self,
        e1: int,
        e2: int,
        param: str = "int",
        param1: str | None = None,
        param2: str | None = None,
    ) -> int:
        return int(self.finite_group.table[e1, e2])

    def _inverse(self, element: int, param: str = "int") -> int:
        return int(self.finite_group.inverse[element])

    def _is_element(self, element: Any, param: str = "int", verbose: bool = False) -> bool:
        integral = isinstance(element, (int, np.integer)) and not isinstance(element, bool)
        return integral and 0 <= element < self.finite_group.order

    def _equal(
        self,
        e1: int,
        e2: int,
        param: str = "int",
        param1: str | None = None,
        param2: str | None = None,
    ) -> bool:
        return int(e1) == int(e2)

    def _change_param(self, element: Any, p_from: str, p_to: str) -> int:
        if p_from != "int" or p_to != "int":
            raise ValueError(f"param must be 'int' (the table index), got {p_from!r}, {p_to!r}")
        return int(element)

    def _hash_element(self, element: int, param: str = "int") -> int:
        return hash(int(element))

    def _repr_element(self, element: int, param: str = "int") -> str:
        return self.finite_group.labels[int(element)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TableGroupMethods) and other._fingerprint == self._fingerprint

    def __hash__(self) -> int:
        return hash(("TableGroup", self._fingerprint))

    def sample(self) -> Any:
        return self._elements[np.random.randint(self.finite_group.order)]

    def testing_elements(self) -> Any:
        return iter(self._elements)

    @property
    def trivial_representation(self) -> Any:
        return self.irrep(0)

    def irrep(self, index: int) -> Any:
        """The ``index``-th real irrep (id ``(index,)``); index 0 is the trivial one."""
        from escnn.group import IrreducibleRepresentation

        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(f"index must be an int, got {index!r}")
        if not 0 <= index < len(self._irrep_data):
            raise ValueError(f"index must lie in 0..{len(self._irrep_data) - 1}, got {index}")
        irrep_id = (int(index),)
        if irrep_id not in self._irreps:
            matrices, code = self._irrep_data[index]
            trivial, size = index == 0, matrices.shape[1]
            nonlinearities = ["norm", "gated"] + (["concatenated"] if size == 1 else [])
            if trivial:
                nonlinearities = ["pointwise", "gate", "norm", "gated", "concatenated"]
            self._irreps[irrep_id] = IrreducibleRepresentation(
                self,
                irrep_id,
                f"irrep_{index}",
                _Lookup(matrices),
                size,
                code,
                supported_nonlinearities=nonlinearities,
                character=_Lookup(np.trace(matrices, axis1=1, axis2=2)),
            )
            self._check_commutant(self._irreps[irrep_id], matrices)
        return self._irreps[irrep_id]

    @staticmethod
    def _check_commutant(irrep: Any, matrices: np.ndarray) -> None:
        """The block must commute with the endomorphism basis escnn itself will use."""
        basis = irrep.endomorphism_basis()[:, None]  # (units, 1, k, k)
        error = float(np.abs(basis @ matrices - matrices @ basis).max())
        if error > _COMMUTANT_TOL:
            raise RuntimeError(
                f"irrep {irrep.id} does not commute with escnn's endomorphism basis "
                f"(error {error:.3g}); escnn's canonical form may have changed"
            )

    def _build_representations(self) -> None:
        for index in range(len(self._irrep_data)):
            self.irrep(index)
        self.representations.update({irrep.name: irrep for irrep in self.irreps()})
        self.representations["regular"] = self.regular_representation

    def _process_subgroup_id(self, id: Sequence[int]) -> tuple[int, ...]:
        gens = [id] if isinstance(id, (int, np.integer)) else list(id)
        return tuple(self.finite_group.subgroup_generated(gens))

    def _subgroup(self, id: tuple[int, ...]) -> tuple[Any, Callable, Callable]:
        members = np.asarray(id, dtype=np.int64)
        position = np.full(self.finite_group.order, -1, dtype=np.int64)
        position[members] = np.arange(members.size)
        table = position[self.finite_group.table[np.ix_(members, members)]]
        labels = [self.finite_group.labels[g] for g in members]
        subgroup = to_escnn(FiniteGroup(table, labels))

        def parent(element: Any) -> Any:
            return self._elements[int(members[element.value])]

        def child(element: Any) -> Any:
            index = int(position[element.value])
            return None if index < 0 else subgroup.elements[index]

        return subgroup, parent, child

    def _restrict_irrep(self, irrep: tuple, id: tuple[int, ...]) -> tuple[np.ndarray, list]:
        from escnn.group._numerical import decompose_representation_finitegroup

        representation = self.irrep(*irrep)
        subgroup, parent, _ = self.subgroup(id)
        if subgroup.order() == 1:
            return np.eye(representation.size), [subgroup.trivial_representation.id] * (
                representation.size
            )
        restricted = {h: representation(parent(h)) for h in subgroup.elements}
        change_of_basis, multiplicities = decompose_representation_finitegroup(restricted, subgroup)
        return change_of_basis, [irrep_id for irrep_id, m in multiplicities for _ in range(m)]

    def _clebsh_gordan_coeff(self, m: Any, n: Any, j: Any) -> np.ndarray:
        from escnn.group._clebsh_gordan import _clebsh_gordan_tensor

        key = (self.get_irrep_id(m), self.get_irrep_id(n), self.get_irrep_id(j))
        if key not in self._cg_memory:
            compute = getattr(_clebsh_gordan_tensor, "func", _clebsh_gordan_tensor)
            self._cg_memory[key] = compute(*key, type(self).__name__, **self._keys)
        return self._cg_memory[key]

    def _tensor_product_irreps(self, m: Any, n: Any) -> list:
        from escnn.group._clebsh_gordan import _find_tensor_decomposition

        key = (self.get_irrep_id(m), self.get_irrep_id(n))
        if key not in self._tensor_memory:
            compute = getattr(_find_tensor_decomposition, "func", _find_tensor_decomposition)
            self._tensor_memory[key] = compute(*key, type(self).__name__, **self._keys)
        return self._tensor_memory[key]

    @classmethod
    def _generator(cls, table_sha256: str) -> Any:
        if table_sha256 not in _REGISTRY:
            raise ValueError(f"no TableGroup was built from a table with SHA-256 {table_sha256}")
        return _REGISTRY[table_sha256]


@functools.lru_cache(maxsize=1)
def _table_group_class() -> type:
    """Create ``TableGroup(_TableGroupMethods, escnn.group.Group)`` and register it with escnn."""
    import escnn.group

    cls = type("TableGroup", (_TableGroupMethods, escnn.group.Group), {"__module__": __name__})
    cls.__doc__ = _TableGroupMethods.__doc__
    escnn.group.groups_dict[cls.__name__] = cls  # escnn's CG solver rebuilds groups by name
    return cls


def __getattr__(name: str) -> Any:
    """``TableGroup`` is created (and escnn imported) on first access."""
    if name == "TableGroup":
        return _table_group_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def to_escnn(group: FiniteGroup | np.ndarray, name: str | None = None) -> Any:
    """The ``escnn.group.Group`` of a finite group given by its table.

    One instance per table: calling again with an equal table returns the same object
    (``name`` only applies the first time). Two different tables, even of isomorphic groups
    (e.g. two relabellings), give different, unequal escnn groups.

    Args:
        group: a :class:`FiniteGroup` or its Cayley table of shape ``(n, n)``.
        name: escnn's name of the group; default ``'G{n}:{first 8 hex digits of the hash}'``.

    Returns:
        A :class:`TableGroup` (a subclass of ``escnn.group.Group``) with irreps ``(k,)``,
        ``k = 0..`` (0 trivial) and ``regular_representation`` indexed like the table.

    Example:
        >>> import escnn.gspaces, escnn.nn
        >>> from hc_lightning.algebra.constructions import symmetric
        >>> G = to_escnn(symmetric(3)[0])
        >>> space = escnn.gspaces.no_base_space(G)
        >>> field = escnn.nn.FieldType(space, [G.regular_representation] * 2)
        >>> escnn.nn.Linear(field, field).out_type.size
        12
    """
    group = as_group(group)
    fingerprint = table_fingerprint(group)
    if fingerprint not in _REGISTRY:
        name = f"G{group.order}:{fingerprint[:8]}" if name is None else str(name)
        _REGISTRY[fingerprint] = _table_group_class()(group, fingerprint, name)
        logger.debug("built escnn group %s of order %d", name, group.order)
    return _REGISTRY[fingerprint]


class GSpaceBridge(NamedTuple):
    """Result of :func:`to_escnn_gspace`.

    Attributes:
        gspace: escnn's ``rot2dOnR2(N)`` or ``flipRot2dOnR2(N)``.
        isomorphism: ``isomorphism[g]`` is the escnn group element of table element ``g``.
    """

    gspace: Any
    isomorphism: tuple[Any, ...]

    @property
    def regular_index(self) -> np.ndarray:
        """``index[g]`` = axis of escnn's regular representation that holds element ``g``.

        A regular feature ``f[..., g]`` of this package is escnn's ``t[..., index[g]]``, i.e.
        ``t = f[..., np.argsort(index)]``.
        """
        position = {element: i for i, element in enumerate(self.gspace.fibergroup.elements)}
        return np.array([position[element] for element in self.isomorphism], dtype=np.int64)

    def to_escnn_layout(self, features: torch.Tensor) -> torch.Tensor:
        """Regular features ``(B, C, |G|, ...)`` as escnn's ``(B, C * |G|, ...)`` regular fields."""
        order = torch.as_tensor(np.argsort(self.regular_index), device=features.device)
        return features.index_select(2, order).flatten(1, 2)  # (B, C * |G|, ...)

    def from_escnn_layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """escnn's regular fields ``(B, C * |G|, ...)`` as features ``(B, C, |G|, ...)``."""
        index = torch.as_tensor(self.regular_index, device=tensor.device)
        return tensor.unflatten(1, (-1, len(self.isomorphism))).index_select(2, index)


def _element(group: FiniteGroup, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an element index, got {value!r}")
    if not 0 <= value < group.order:
        raise ValueError(f"{name} must lie in 0..{group.order - 1}, got {value}")
    return int(value)


def to_escnn_gspace(
    group: FiniteGroup | np.ndarray,
    kind: str,
    rotation: int,
    reflection: int | None = None,
) -> GSpaceBridge:
    """Map a table isomorphic to ``C_N`` or ``D_N`` onto escnn's planar gspace.

    The isomorphism sends ``rotation`` to escnn's rotation by ``2 pi / N`` and, for
    ``D_N``, ``reflection`` to escnn's reflection, and extends multiplicatively:
    ``phi(r^k s^j) = phi(r)^k phi(s)^j``. It is verified on all pairs.

    Args:
        group: a :class:`FiniteGroup` or its table.
        kind: ``'rot2dOnR2'`` (``C_N``, ``N = |G|``) or ``'flipRot2dOnR2'``
            (``D_N``, ``N = |G| / 2``).
        rotation: index of the element playing the rotation by ``2 pi / N``.
        reflection: index of a reflection; required for ``'flipRot2dOnR2'`` only.

    Returns:
        :class:`GSpaceBridge` ``(gspace, isomorphism)``.

    Raises:
        ValueError: if ``kind`` is unknown, the group is not isomorphic to ``C_N`` / ``D_N``,
            the rotation does not have order ``N``, or the reflection is not an involution
            outside the rotations.

    Example:
        >>> bridge = to_escnn_gspace(cyclic(4)[0], "rot2dOnR2", rotation=3)
        >>> bridge.gspace.fibergroup, bridge.isomorphism[1]
        (C4, 3[2pi/4])
    """
    import escnn.gspaces

    group = as_group(group)
    n = group.order
    if kind == "rot2dOnR2":
        N, model, family = n, FiniteGroup(*cyclic(n)), "C"
        if reflection is not None:
            raise ValueError(f"reflection must be None for kind 'rot2dOnR2', got {reflection}")
    elif kind == "flipRot2dOnR2":
        N, family = n // 2, "D"
        if n % 2 or reflection is None:
            raise ValueError(
                f"kind 'flipRot2dOnR2' needs an even order and a reflection, got order {n} "
                f"and reflection {reflection}"
            )
        model = FiniteGroup(*dihedral(N))
    else:
        raise ValueError(f"kind must be 'rot2dOnR2' or 'flipRot2dOnR2', got {kind!r}")
    if find_isomorphism(group, model) is None:
        raise ValueError(f"group of order {n} is not isomorphic to {family}_{N}")

    rotation = _element(group, "rotation", rotation)
    if group.element_orders()[rotation] != N:
        order = group.element_orders()[rotation]
        raise ValueError(
            f"rotation must have order {N}, got {group.labels[rotation]} of order {order}"
        )
    if family == "C":
        gspace = escnn.gspaces.rot2dOnR2(N)
        images = {rotation: gspace.fibergroup.element(1)}
    else:
        reflection = _element(group, "reflection", reflection)
        rotations = group.subgroup_generated([rotation])
        if group.element_orders()[reflection] != 2 or reflection in rotations:
            raise ValueError(
                f"reflection must have order 2 and not be a power of the rotation, "
                f"got {group.labels[reflection]}"
            )
        gspace = escnn.gspaces.flipRot2dOnR2(N)
        images = {
            rotation: gspace.fibergroup.element((0, 1)),
            reflection: gspace.fibergroup.element((1, 0)),
        }
    return GSpaceBridge(gspace, _extend(group, images, gspace.fibergroup))


def _extend(group: FiniteGroup, images: dict[int, Any], target: Any) -> tuple[Any, ...]:
    """Extend generator images breadth first, ``phi(x g) = phi(x) phi(g)``, then verify."""
    phi: list[Any] = [None] * group.order
    phi[group.identity] = target.identity
    frontier = [group.identity]
    while frontier:
        grown = []
        for x in frontier:
            for generator, image in images.items():
                y = group.mul(x, generator)
                if phi[y] is None:
                    phi[y] = phi[x] @ image
                    grown.append(y)
        frontier = grown
    if any(image is None for image in phi) or len(set(phi)) != group.order:
        raise ValueError("the given rotation (and reflection) do not generate the group")
    for a in range(group.order):
        for b in range(group.order):
            if phi[group.mul(a, b)] != phi[a] @ phi[b]:
                labels = group.labels
                raise ValueError(
                    f"the generators do not satisfy escnn's relations: phi({labels[a]} * "
                    f"{labels[b]}) != phi({labels[a]}) phi({labels[b]})"
                )
    return tuple(phi)
