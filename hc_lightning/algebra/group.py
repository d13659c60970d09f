"""Finite groups given by Cayley tables: axiom checks, structure, explicit isomorphisms.

A table is an int64 array of shape (n, n) with ``table[a, b] = c`` meaning a*b = c on the
elements 0..n-1. :func:`check_axioms` reports on any square table; :class:`FiniteGroup`
accepts only tables that satisfy every group axiom.

Example:
    >>> from hc_lightning.algebra.constructions import symmetric
    >>> group = FiniteGroup(*symmetric(3))
    >>> group.order, len(group.conjugacy_classes()), group.is_abelian
    (6, 3, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

# Associativity is checked in blocks of rows a so the (block, n, n) arrays stay this small.
_TRIPLES_PER_BLOCK = 1 << 22
# At most this many candidate generators are scored per step of the greedy generator choice.
_GENERATOR_CANDIDATES = 64


class NotAGroupError(ValueError):
    """A table that is square and in range but violates a group axiom."""


def as_table(table: np.ndarray | Sequence[Sequence[int]], name: str = "table") -> np.ndarray:
    """Return ``table`` as an int64 array after checking it is a square 2-d integer array.

    Raises:
        ValueError: naming ``name`` if the array is not 2-d, not square, empty or not integral.
    """
    array = np.asarray(table)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square 2-d array, got shape {array.shape}")
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    )
    if not integral:
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def count_non_associative(table: np.ndarray) -> int:
    """Number of triples (a, b, c) with (a*b)*c != a*(b*c), for an in-range square table.

    Vectorised as ``table[table[a, b], c]`` against ``table[a, table[b, c]]`` over blocks of a.
    """
    n = table.shape[0]
    block = max(1, _TRIPLES_PER_BLOCK // (n * n))
    failing = 0
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        left = table[table[rows]]  # (block, n, n): (a*b)*c
        right = table[rows[:, None, None], table[None, :, :]]  # (block, n, n): a*(b*c)
        failing += int(np.count_nonzero(left != right))
    return failing


@dataclasses.dataclass(frozen=True)
class AxiomReport:
    """Which group axioms a table satisfies.

    Attributes:
        closure: every entry lies in 0..n-1.
        identity: the two-sided identity e (e*x = x*e = x for all x), or None.
        has_inverses: an identity exists and every a has b with a*b = b*a = e.
        associative: (a*b)*c = a*(b*c) for all n^3 triples.
        failing_triples: number of triples where associativity fails; without closure, the
            triples where either side is undefined count as failing too.
    """

    closure: bool
    identity: int | None
    has_inverses: bool
    associative: bool
    failing_triples: int

    @property
    def is_group(self) -> bool:
        """True iff closure, identity, inverses and associativity all hold."""
        return self.closure and self.identity is not None and self.has_inverses and self.associative

    def failure_message(self) -> str:
        """One line naming the first axiom that fails ('' for a group)."""
        if not self.closure:
            return "closure fails: some entries lie outside 0..n-1"
        if self.identity is None:
            return "identity fails: no element e with e*x = x*e = x for all x"
        if not self.has_inverses:
            return "inverses fail: some element a has no b with a*b = b*a = identity"
        if not self.associative:
            return f"associativity fails for {self.failing_triples} triples (a, b, c)"
        return ""


def check_axioms(table: np.ndarray | Sequence[Sequence[int]]) -> AxiomReport:
    """Check the group axioms of a square integer table without raising on failures.

    Entries outside 0..n-1 (e.g. -1 for unknown cells) make closure fail; the identity and
    inverses are still looked for among the defined entries.

    Raises:
        ValueError: if ``table`` is not a square 2-d integer array.
    """
    table = as_table(table)
    n = table.shape[0]
    elements = np.arange(n)
    closed = bool(np.all((table >= 0) & (table < n)))

    two_sided = np.all(table == elements[None, :], axis=1) & np.all(table == elements[:, None], 0)
    identity = int(np.argmax(two_sided)) if two_sided.any() else None
    has_inverses = identity is not None and bool(
        np.all(np.any((table == identity) & (np.transpose(table) == identity), axis=1))
    )

    if closed:
        failing = count_non_associative(table)
    else:
        # Undefined entries become a sink n whose products with anything are n again.
        padded = np.full((n + 1, n + 1), n, dtype=np.int64)
        padded[:n, :n] = np.where((table >= 0) & (table < n), table, n)
        left = padded[padded[:n, :n]][:, :, :n]  # (n, n, n)
        right = padded[elements[:, None, None], padded[None, :n, :n]]  # (n, n, n)
        failing = int(np.count_nonzero((left != right) | (left == n)))
    return AxiomReport(closed, identity, has_inverses, failing == 0, failing)


class FiniteGroup:
    """A finite group given by its Cayley table, checked against every group axiom.

    Args:
        table: int array of shape (n, n), ``table[a, b]`` = a*b.
        labels: optional names of the n elements (default '0'..'n-1').

    Raises:
        ValueError: if the table is not a square integer array, its entries leave 0..n-1, or
            the labels are not n distinct strings.
        NotAGroupError: if an axiom fails; the message names it.

    Example:
        >>> from hc_lightning.algebra.constructions import quaternion
        >>> q8 = FiniteGroup(*quaternion())
        >>> q8.labels[q8.mul(2, 4)]  # i * j
        'k'
    """

    def __init__(
        self, table: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str] | None = None
    ) -> None:
        table = as_table(table)
        n = table.shape[0]
        if table.min() < 0 or table.max() >= n:
            bad = table[(table < 0) | (table >= n)][0]
            raise ValueError(f"table entries must lie in 0..{n - 1}, got {bad}")
        report = check_axioms(table)
        if not report.is_group:
            raise NotAGroupError(f"table of order {n} is not a group: {report.failure_message()}")
        self._setup(table, labels, report.identity)

    @classmethod
    def from_table(
        cls, table: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str] | None = None
    ) -> FiniteGroup:
        """Same as the constructor: validate ``table`` and check every group axiom."""
        return cls(table, labels)

    @classmethod
    def _trusted(cls, table: np.ndarray, labels: Sequence[str], identity: int) -> FiniteGroup:
        """Build from a table known to be a group (e.g. a relabelled group), skipping checks."""
        group = cls.__new__(cls)
        group._setup(table, labels, identity)
        return group

    def _setup(self, table: np.ndarray, labels: Sequence[str] | None, identity: int) -> None:
        n = table.shape[0]
        labels = tuple(str(g) for g in range(n)) if labels is None else tuple(labels)
        if len(labels) != n or len(set(labels)) != n:
            distinct = len(set(labels))
            raise ValueError(
                f"labels must be {n} distinct strings, got {len(labels)} ({distinct} distinct)"
            )
        self._table = table.copy()
        self._table.flags.writeable = False
        self._labels = tuple(str(label) for label in labels)
        self._identity = identity
        inverse = np.argmax(table == identity, axis=1)
        inverse.flags.writeable = False
        self._inverse = inverse
        self._orders: np.ndarray | None = None
        self._classes: list[list[int]] | None = None

    @property
    def order(self) -> int:
        """Number of elements n."""
        return self._table.shape[0]

    @property
    def table(self) -> np.ndarray:
        """Read-only Cayley table of shape (n, n)."""
        return self._table

    @property
    def labels(self) -> tuple[str, ...]:
        """Element names; ``labels[g]`` names element g."""
        return self._labels

    @property
    def identity(self) -> int:
        """The identity element e."""
        return self._identity

    @property
    def inverse(self) -> np.ndarray:
        """Read-only array of shape (n,) with ``inverse[g]`` = g^{-1}."""
        return self._inverse

    @property
    def is_abelian(self) -> bool:
        """True iff a*b = b*a for all a, b."""
        return bool(np.array_equal(self._table, self._table.T))

    def mul(self, a: int, b: int) -> int:
        """Product a*b."""
        return int(self._table[a, b])

    def element_orders(self) -> np.ndarray:
        """Array of shape (n,): the order of g, the least k >= 1 with g^k = e."""
        if self._orders is None:
            elements = np.arange(self.order)
            orders = np.zeros(self.order, dtype=np.int64)
            power = elements.copy()
            for exponent in range(1, self.order + 1):
                orders[(power == self._identity) & (orders == 0)] = exponent
                if orders.all():
                    break
                power = self._table[power, elements]
            orders.flags.writeable = False
            self._orders = orders
        return self._orders

    def conjugacy_classes(self) -> list[list[int]]:
        """Classes {g x g^{-1} : g in G} as sorted lists; the identity's class comes first."""
        if self._classes is None:
            conjugates = self._table[self._table, self._inverse[:, None]]  # [g, x] = g x g^-1
            assigned = np.zeros(self.order, dtype=bool)
            classes = [[self._identity]]
            assigned[self._identity] = True
            for x in range(self.order):
                if not assigned[x]:
                    members = np.unique(conjugates[:, x])
                    assigned[members] = True
                    classes.append(members.tolist())
            self._classes = classes
        return [members[:] for members in self._classes]

    def center(self) -> list[int]:
        """Elements z with z*g = g*z for every g, sorted."""
        return np.flatnonzero(np.all(self._table == self._table.T, axis=1)).tolist()

    def subgroup_generated(self, gens: Sequence[int]) -> list[int]:
        """Sorted elements of the smallest subgroup containing ``gens``."""
        gens = [int(g) for g in gens]
        for g in gens:
            if not 0 <= g < self.order:
                raise ValueError(f"gens must be elements 0..{self.order - 1}, got {g}")
        return _closure(self._table, self._identity, gens).tolist()

    def relabel(self, perm: Sequence[int] | np.ndarray) -> FiniteGroup:
        """Isomorphic copy in which element g is renamed perm[g].

        The new table satisfies ``new.table[perm[a], perm[b]] = perm[table[a, b]]`` and
        ``new.labels[perm[g]] = labels[g]``.
        """
        perm = np.asarray(perm, dtype=np.int64)
        if perm.shape != (self.order,) or not np.array_equal(np.sort(perm), np.arange(self.order)):
            raise ValueError(f"perm must be a permutation of 0..{self.order - 1}, got {perm}")
        table = np.empty_like(self._table)
        table[np.ix_(perm, perm)] = perm[self._table]
        labels = [""] * self.order
        for g, label in enumerate(self._labels):
            labels[perm[g]] = label
        return FiniteGroup._trusted(table, labels, int(perm[self._identity]))

    def isomorphic_to(self, other: FiniteGroup) -> np.ndarray | None:
        """An isomorphism phi: self -> other as an array (phi[g] in other), or None.

        phi is found by backtracking over images of a small generating set and verified on
        all n^2 pairs: phi(a*b) = phi(a)*phi(b).
        """
        return find_isomorphism(self, other)

    def __repr__(self) -> str:
        shown = ", ".join(self._labels[:8]) + (", ..." if self.order > 8 else "")
        kind = "abelian" if self.is_abelian else "non-abelian"
        return f"FiniteGroup(order={self.order}, {kind}, elements=[{shown}])"


def _closure(table: np.ndarray, identity: int, gens: Sequence[int]) -> np.ndarray:
    """Sorted subgroup generated by ``gens``: square the set X -> X X until it stops growing."""
    members = np.unique(np.array([identity, *gens], dtype=np.int64))
    while True:
        grown = np.unique(table[np.ix_(members, members)])
        if grown.size == members.size:
            return members
        members = grown


def _element_keys(group: FiniteGroup) -> np.ndarray:
    """Isomorphism-invariant key of each element: (order, conjugacy class size) as one int."""
    sizes = np.empty(group.order, dtype=np.int64)
    for members in group.conjugacy_classes():
        sizes[members] = len(members)
    return group.element_orders() * (group.order + 1) + sizes


def invariant_signature(group: FiniteGroup) -> tuple[int, int, tuple[tuple[int, int], ...]]:
    """Invariants equal for isomorphic groups: order, centre size, (order, class size) counts."""
    keys, counts = np.unique(_element_keys(group), return_counts=True)
    return group.order, len(group.center()), tuple(zip(keys.tolist(), counts.tolist(), strict=True))


def _generators(group: FiniteGroup, rarity: dict[int, int]) -> list[int]:
    """Greedy generating set: each step adds the element that enlarges the subgroup most.

    Candidates are scanned by decreasing element order (at most ``_GENERATOR_CANDIDATES`` per
    step, stopping at one that generates everything); ties in subgroup size go to the element
    whose key is rarest, i.e. has the fewest candidate images in the search.
    """
    keys, orders = _element_keys(group), group.element_orders()
    ranking = sorted(range(group.order), key=lambda g: (-orders[g], rarity[keys[g]], g))
    gens: list[int] = []
    members = np.array([group.identity])
    while members.size < group.order:
        outside = np.ones(group.order, dtype=bool)
        outside[members] = False
        best = None
        for g in [g for g in ranking if outside[g]][:_GENERATOR_CANDIDATES]:
            grown = _closure(group.table, group.identity, [*gens, g])
            score = (grown.size, -rarity[keys[g]])
            if best is None or score > best[0]:
                best = (score, g, grown)
            if grown.size == group.order:
                break
        gens.append(best[1])
        members = best[2]
    return gens


def _spanning_levels(group: FiniteGroup, gens: list[int]) -> list[tuple[np.ndarray, ...]]:
    """Breadth-first tree of <gens>: per level the arrays (child, parent, generator index)."""
    table = group.table
    seen = np.zeros(group.order, dtype=bool)
    seen[group.identity] = True
    frontier = np.array([group.identity])
    levels = []
    while frontier.size:
        children = table[np.ix_(frontier, gens)].ravel()  # (frontier * gens,)
        parents = np.repeat(frontier, len(gens))
        gen_index = np.tile(np.arange(len(gens)), frontier.size)
        fresh = ~seen[children]
        children, first = np.unique(children[fresh], return_index=True)
        if children.size:
            levels.append((children, parents[fresh][first], gen_index[fresh][first]))
            seen[children] = True
        frontier = children
    return levels


def find_isomorphism(source: FiniteGroup, target: FiniteGroup) -> np.ndarray | None:
    """Explicit isomorphism phi: source -> target (phi[g] = image of g), or None if none exists.

    Invariants (order, centre size, counts of (element order, class size)) prune first. Then
    the images of a greedy generating set g_1..g_k are chosen by backtracking among target
    elements with the same (order, class size); after each choice the map is extended to
    <g_1..g_i> along a spanning tree and must satisfy phi(x g_j) = phi(x) phi(g_j) on every
    edge and be injective. A complete map is verified on all pairs before it is returned.
    """
    if invariant_signature(source) != invariant_signature(target):
        return None
    source_keys, target_keys = _element_keys(source), _element_keys(target)
    keys, counts = np.unique(target_keys, return_counts=True)
    rarity = dict(zip(keys.tolist(), counts.tolist(), strict=True))

    gens = _generators(source, rarity)
    trees = [_spanning_levels(source, gens[: depth + 1]) for depth in range(len(gens))]
    members = [
        _closure(source.table, source.identity, gens[: depth + 1]) for depth in range(len(gens))
    ]
    options = [np.flatnonzero(target_keys == source_keys[g]) for g in gens]

    def extend(depth: int, images: list[int]) -> np.ndarray | None:
        phi = np.full(source.order, -1, dtype=np.int64)
        phi[source.identity] = target.identity
        image_array = np.array(images)
        for children, parents, gen_index in trees[depth]:
            phi[children] = target.table[phi[parents], image_array[gen_index]]
        subgroup = members[depth]
        mapped = phi[subgroup]
        if np.any(target_keys[mapped] != source_keys[subgroup]):
            return None
        if np.unique(mapped).size != mapped.size:
            return None
        along_edges = phi[source.table[np.ix_(subgroup, gens[: depth + 1])]]
        if not np.array_equal(along_edges, target.table[mapped[:, None], image_array[None, :]]):
            return None
        return phi

    def search(depth: int, images: list[int]) -> np.ndarray | None:
        for image in options[depth]:
            phi = extend(depth, [*images, int(image)])
            if phi is None:
                continue
            if depth + 1 == len(gens):
                return phi
            found = search(depth + 1, [*images, int(image)])
            if found is not None:
                return found
        return None

    phi = np.array([target.identity]) if not gens else search(0, [])
    if phi is None:
        return None
    if not np.array_equal(phi[source.table], target.table[phi[:, None], phi[None, :]]):
        raise RuntimeError("internal error: the isomorphism search returned a non-homomorphism")
    return phi
