"""Name a finite group by finding an explicit isomorphism onto a catalog group.

The catalog holds every group of order 1 to 16 (1, 1, 1, 2, 1, 2, 1, 5, 2, 2, 1, 5, 1, 2, 1,
14 groups) and, for larger orders, builds candidates on demand: the abelian group with the
same invariant factors, the dihedral group D_{n/2}, the dicyclic group Dic_{n/4} (Q_n for a
power of two), SD_n and M_n for powers of two, and S4, A5, S5. Names follow the usual
conventions: C_n cyclic, 'C2xC2' the Klein group, D_m dihedral of order 2m, 'S3' rather than
'D3', 'x' for direct products, ':' for a semidirect product, 'o' for a central product.

Example:
    >>> from hc_lightning.algebra.constructions import quaternion
    >>> identify(quaternion()[0]).name
    'Q8'
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from hc_lightning.algebra import constructions
from hc_lightning.algebra.group import FiniteGroup, find_isomorphism

_SMALL_GROUPS: dict[int, tuple[str, ...]] = {
    1: ("C1",),
    2: ("C2",),
    3: ("C3",),
    4: ("C4", "C2xC2"),
    5: ("C5",),
    6: ("C6", "S3"),
    7: ("C7",),
    8: ("C8", "C2xC4", "C2xC2xC2", "D4", "Q8"),
    9: ("C9", "C3xC3"),
    10: ("C10", "D5"),
    11: ("C11",),
    12: ("C12", "C2xC6", "A4", "D6", "Dic3"),
    13: ("C13",),
    14: ("C14", "D7"),
    15: ("C15",),
    16: (
        "C16",
        "C4xC4",
        "C2xC8",
        "C2xC2xC4",
        "C2xC2xC2xC2",
        "D8",
        "SD16",
        "Q16",
        "M16",
        "C4:C4",
        "C2^2:C4",
        "C2xD4",
        "C2xQ8",
        "C4oD4",
    ),
}
# Larger groups tried by name, besides the families built on demand for every order.
_EXTRA_GROUPS: dict[int, tuple[str, ...]] = {24: ("S4",), 60: ("A5",), 120: ("S5",)}


def _swap_action(k: int) -> list[int]:
    """Action of Z_4 on Z_2^2 (elements (x, y) -> 2x + y): odd k swaps the two coordinates."""
    return [0, 2, 1, 3] if k % 2 else [0, 1, 2, 3]


_SPECIAL: dict[str, Callable[[], constructions.Construction]] = {
    "Q8": constructions.quaternion,
    "C4:C4": lambda: constructions.metacyclic(4, 4, 3),
    "C2^2:C4": lambda: constructions.semidirect_product(
        constructions.abelian([2, 2]), constructions.cyclic(4), _swap_action
    ),
    "C4oD4": constructions.pauli,
}
_FAMILIES: tuple[tuple[str, Callable[[int], constructions.Construction]], ...] = (
    (r"C(\d+)", constructions.cyclic),
    (r"D(\d+)", constructions.dihedral),
    (r"Dic(\d+)", constructions.dicyclic),
    (r"Q(\d+)", lambda order: constructions.dicyclic(_power_of_two(order, 8) // 4)),
    (r"SD(\d+)", constructions.semidihedral),
    (r"M(\d+)", constructions.modular),
    (r"S(\d+)", constructions.symmetric),
    (r"A(\d+)", constructions.alternating),
)


@dataclasses.dataclass(frozen=True)
class Identification:
    """Result of :func:`identify`.

    Attributes:
        name: catalog name of the group, or None if no catalog group is isomorphic to it.
        isomorphism: array phi of shape (n,) mapping each element g of the given group to
            phi[g] in the catalog group, with phi(a*b) = phi(a)*phi(b); None if unnamed.
        catalog_table: Cayley table of the catalog group, or None.
        catalog_labels: element labels of the catalog group, or None.
    """

    name: str | None
    isomorphism: np.ndarray | None
    catalog_table: np.ndarray | None
    catalog_labels: tuple[str, ...] | None = None


def _power_of_two(order: int, minimum: int) -> int:
    if order < minimum or order & (order - 1):
        raise ValueError(f"order must be a power of two >= {minimum}, got {order}")
    return order


def _factor(name: str) -> constructions.Construction:
    if name in _SPECIAL:
        return _SPECIAL[name]()
    for pattern, build in _FAMILIES:
        match = re.fullmatch(pattern, name)
        if match:
            return build(int(match.group(1)))
    raise ValueError(
        f"name must be a catalog group such as 'C4', 'D5', 'S4' or 'C2xQ8', got {name!r}"
    )


def catalog_construction(name: str) -> constructions.Construction:
    """``(table, labels)`` of a catalog group; 'x' separates direct factors, e.g. 'C2xS3'.

    Factors are C{n}, D{n} (order 2n), Dic{n} (order 4n), Q{2^m}, SD{2^m}, M{2^m}, S{n},
    A{n}, and the order-16 groups 'C4:C4', 'C2^2:C4' and 'C4oD4'.

    Raises:
        ValueError: if a factor is not a catalog name.
    """
    factors = [_factor(part) for part in name.split("x")]
    return functools.reduce(constructions.direct_product, factors)


@functools.lru_cache(maxsize=128)
def catalog_group(name: str) -> FiniteGroup:
    """The catalog group called ``name`` (see :func:`catalog_construction`), built once."""
    return FiniteGroup(*catalog_construction(name))


def small_group_names(order: int) -> tuple[str, ...]:
    """Names of all groups of ``order`` (1..16), one per isomorphism class."""
    if order not in _SMALL_GROUPS:
        raise ValueError(f"order must be an integer in 1..16, got {order!r}")
    return _SMALL_GROUPS[order]


def _prime_factors(n: int) -> list[int]:
    primes, p = [], 2
    while p * p <= n:
        if n % p == 0:
            primes.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return primes + ([n] if n > 1 else [])


def abelian_invariants(orders: np.ndarray) -> list[int]:
    """Invariant factors d_1 | d_2 | ... of an abelian group from its element orders.

    The p-part is Z_{p^{e_1}} x ... ; the number of elements with order dividing p^k is
    p^{sum_i min(k, e_i)}, so successive ratios count the factors with e_i >= k.
    """
    exponents_by_prime = {}
    for p in _prime_factors(len(orders)):
        at_least, previous, k = [], 1, 1
        while True:
            count = int(np.count_nonzero(p**k % orders == 0))
            ratio, factors = count // previous, 0
            while ratio > 1:
                ratio, factors = ratio // p, factors + 1
            if factors == 0:
                break
            at_least.append(factors)
            previous, k = count, k + 1
        exponents_by_prime[p] = [sum(m > i for m in at_least) for i in range(at_least[0])]
    rank = max((len(e) for e in exponents_by_prime.values()), default=0)
    invariants = [1] * rank  # largest first
    for p, exponents in exponents_by_prime.items():
        for position, exponent in enumerate(exponents):
            invariants[position] *= p**exponent
    return sorted(invariants)


def _candidate_names(group: FiniteGroup) -> list[str]:
    n = group.order
    if n in _SMALL_GROUPS:
        return list(_SMALL_GROUPS[n])
    if group.is_abelian:
        return ["x".join(f"C{d}" for d in abelian_invariants(group.element_orders()))]
    names = [f"D{n // 2}"] if n % 2 == 0 else []
    if n % 4 == 0:
        names.append(f"Q{n}" if n & (n - 1) == 0 else f"Dic{n // 4}")
    if n & (n - 1) == 0:
        names += [f"SD{n}", f"M{n}"]
    return names + list(_EXTRA_GROUPS.get(n, ()))


def identify(
    group_or_table: FiniteGroup | np.ndarray | Sequence[Sequence[int]],
    candidates: Sequence[str] | None = None,
) -> Identification:
    """Name a group by an explicit isomorphism onto a catalog group.

    Args:
        group_or_table: a :class:`FiniteGroup` or a Cayley table of shape (n, n).
        candidates: catalog names to try (e.g. ``['C2xS4']``); by default every group of
            order n <= 16, or the families built on demand for larger n.

    Returns:
        The first candidate with an isomorphism phi (verified on all pairs); the name is None
        if no candidate matches.

    Raises:
        NotAGroupError: if a table is given that is not a group.

    Example:
        >>> identify(constructions.dihedral(3)[0]).name
        'S3'
    """
    group = group_or_table
    if not isinstance(group, FiniteGroup):
        group = FiniteGroup(group_or_table)
    names = _candidate_names(group) if candidates is None else list(candidates)
    for name in names:
        target = catalog_group(name)
        if target.order != group.order:
            continue
        phi = find_isomorphism(group, target)
        if phi is not None:
            return Identification(name, phi, target.table, target.labels)
    return Identification(None, None, None, None)
