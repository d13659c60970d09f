"""Cayley tables of concrete finite groups, each computed from an explicit construction.

Every function returns a pair ``(table, labels)``: ``table`` is an int64 array of shape
(n, n) with ``table[a, b] = c`` meaning a*b = c, and ``labels[g]`` is a readable name of
element g. Tables are never typed in; they come from permutations, quaternion arithmetic or
normal forms of a presentation, so the group axioms hold by construction (the tests check
them over all triples anyway).

Example:
    >>> table, labels = dihedral(3)
    >>> labels[int(table[1, 3])]  # r1 * s0 = r^1 s
    's1'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

Construction = tuple[np.ndarray, tuple[str, ...]]


def _positive(name: str, value: int, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _unpack(group: Construction | np.ndarray) -> Construction:
    if isinstance(group, tuple) and len(group) == 2 and isinstance(group[0], np.ndarray):
        return np.asarray(group[0], dtype=np.int64), tuple(group[1])
    table = np.asarray(group, dtype=np.int64)
    return table, tuple(str(g) for g in range(table.shape[0]))


def cyclic(n: int) -> Construction:
    """Cyclic group C_n = Z/nZ: a*b = (a + b) mod n, labels '0'..'n-1'."""
    n = _positive("n", n)
    elements = np.arange(n)
    table = (elements[:, None] + elements[None, :]) % n
    return table, tuple(str(g) for g in range(n))


def abelian(orders: Sequence[int]) -> Construction:
    """Direct product C_{m_1} x ... x C_{m_k} of cyclic groups (e.g. ``[2, 2, 2]`` for Z_2^3).

    Element (g_1, ..., g_k) has the mixed-radix index of its residues and, for k >= 2, the label
    '(g_1,...,g_k)' such as '(1,0,1)'; one order gives :func:`cyclic`, none the trivial group.
    """
    for position, order in enumerate(orders):
        _positive(f"orders[{position}]", order)
    if len(orders) < 2:
        return cyclic(orders[0] if orders else 1)
    table = cyclic(orders[0])[0]
    for order in orders[1:]:
        table = direct_product(table, cyclic(order)[0])[0]
    # direct_product nests as ((g1, g2), g3), ...: mixed-radix order of the residue tuples.
    residues = itertools.product(*(range(order) for order in orders))
    return table, tuple("(" + ",".join(map(str, element)) + ")" for element in residues)


def dihedral(n: int) -> Construction:
    """Dihedral group D_n of order 2n, the symmetries of a regular n-gon.

    Element r^k s^j (0 <= k < n, j in {0, 1}) has index k + j n and label 'r{k}' or 's{k}'
    (so 's{k}' = r^k s). Relations r^n = s^2 = 1, s r = r^{-1} s give
    (r^{k1} s^{j1})(r^{k2} s^{j2}) = r^{k1 + (-1)^{j1} k2} s^{j1 + j2}.
    """
    n = _positive("n", n)
    rotation, flip = np.divmod(np.arange(2 * n), n)[::-1]
    sign = 1 - 2 * flip[:, None]
    k = (rotation[:, None] + sign * rotation[None, :]) % n
    j = (flip[:, None] + flip[None, :]) % 2
    labels = tuple(f"r{g}" for g in range(n)) + tuple(f"s{g}" for g in range(n))
    return k + j * n, labels


def metacyclic(m: int, n: int, r: int) -> Construction:
    """Semidirect product Z_m x| Z_n = <a, b | a^m = b^n = 1, b a b^{-1} = a^r>.

    Element a^i b^j has index i n + j and label 'a{i}b{j}'. In this normal form
    (a^{i1} b^{j1})(a^{i2} b^{j2}) = a^{i1 + r^{j1} i2} b^{j1 + j2}.

    Raises:
        ValueError: if r is not a unit mod m or r^n != 1 (mod m), i.e. a -> a^r does not
            define an action of Z_n.
    """
    m, n = _positive("m", m), _positive("n", n)
    if np.gcd(r, m) != 1 or pow(r, n, m) != 1 % m:
        raise ValueError(f"r must be a unit mod m={m} with r^n = 1 (n={n}), got r={r}")
    i, j = np.divmod(np.arange(m * n), n)
    twist = np.array([pow(r, int(power), m) for power in range(n)])
    new_i = (i[:, None] + twist[j][:, None] * i[None, :]) % m
    new_j = (j[:, None] + j[None, :]) % n
    labels = tuple(f"a{a}b{b}" for a, b in zip(i, j, strict=True))
    return new_i * n + new_j, labels


def dicyclic(n: int) -> Construction:
    """Dicyclic group Dic_n of order 4n: <a, x | a^{2n} = 1, x^2 = a^n, x a x^{-1} = a^{-1}>.

    Element a^k x^j has index k + 2n j and label 'a{k}' or 'a{k}x'. Since x a^k = a^{-k} x,
    (a^{k1} x^{j1})(a^{k2} x^{j2}) = a^{k1 + (-1)^{j1} k2 + n [j1 = j2 = 1]} x^{j1 + j2}.
    Dic_2 is the quaternion group Q_8; Dic_{2^m} is the generalised quaternion group.
    """
    n = _positive("n", n)
    size = 2 * n
    power, has_x = np.divmod(np.arange(2 * size), size)[::-1]
    sign = 1 - 2 * has_x[:, None]
    both = has_x[:, None] * has_x[None, :]
    k = (power[:, None] + sign * power[None, :] + n * both) % size
    j = (has_x[:, None] + has_x[None, :]) % 2
    labels = tuple(f"a{g}" for g in range(size)) + tuple(f"a{g}x" for g in range(size))
    return k + j * size, labels


def quaternion() -> Construction:
    """Quaternion group Q_8 = {+-1, +-i, +-j, +-k} under Hamilton's product.

    Elements in order '1', '-1', 'i', '-i', 'j', '-j', 'k', '-k'; each is the integer
    4-vector +-e_u (u = 0..3 for 1, i, j, k) and products use Hamilton's formula.
    """
    basis, sign = np.divmod(np.arange(8), 2)
    vectors = np.eye(4, dtype=np.int64)[basis] * (1 - 2 * sign)[:, None]  # (8, 4)
    w1, x1, y1, z1 = (vectors[:, None, u] for u in range(4))
    w2, x2, y2, z2 = (vectors[None, :, u] for u in range(4))
    product = np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )  # (8, 8, 4), each a signed unit vector
    unit = np.abs(product).argmax(axis=-1)
    negative = np.take_along_axis(product, unit[..., None], axis=-1)[..., 0] < 0
    return 2 * unit + negative, ("1", "-1", "i", "-i", "j", "-j", "k", "-k")


def pauli() -> Construction:
    """Pauli group {i^p X^x Z^z} of order 16 (the central product C4 o D4).

    Element i^p X^x Z^z has index 4p + 2x + z. From Z X = -X Z,
    (i^{p1} X^{x1} Z^{z1})(i^{p2} X^{x2} Z^{z2}) = i^{p1 + p2 + 2 z1 x2} X^{x1 + x2} Z^{z1 + z2}.
    Labels combine the phase ('', 'i', '-', '-i') with 'I', 'X', 'Z' or 'XZ'.
    """
    index = np.arange(16)
    p, x, z = index // 4, (index // 2) % 2, index % 2
    new_p = (p[:, None] + p[None, :] + 2 * z[:, None] * x[None, :]) % 4
    new_x = (x[:, None] + x[None, :]) % 2
    new_z = (z[:, None] + z[None, :]) % 2
    phases, operators = ("", "i", "-", "-i"), ("I", "Z", "X", "XZ")
    labels = tuple(phases[g // 4] + operators[g % 4] for g in range(16))
    return 4 * new_p + 2 * new_x + new_z, labels


def direct_product(
    first: Construction | np.ndarray, second: Construction | np.ndarray
) -> Construction:
    """Direct product G x H: (g1, h1)(g2, h2) = (g1 g2, h1 h2).

    Each argument is a ``(table, labels)`` pair or a bare table. Element (g, h) has index
    g |H| + h and label '(g,h)' built from the factor labels.
    """
    table1, labels1 = _unpack(first)
    table2, labels2 = _unpack(second)
    n2 = table2.shape[0]
    product = table1[:, None, :, None] * n2 + table2[None, :, None, :]  # (n1, n2, n1, n2)
    size = table1.shape[0] * n2
    labels = tuple(f"({g},{h})" for g in labels1 for h in labels2)
    return product.reshape(size, size), labels


def semidirect_product(
    normal: Construction | np.ndarray,
    acting: Construction | np.ndarray,
    action: Callable[[int], Sequence[int]] | np.ndarray,
) -> Construction:
    """Semidirect product N x| K with (n1, k1)(n2, k2) = (n1 phi_{k1}(n2), k1 k2).

    Args:
        normal: the normal subgroup N, a ``(table, labels)`` pair or a table.
        acting: the complement K.
        action: array of shape (|K|, |N|) or function of k, whose row k is the automorphism
            phi_k of N as a permutation (``action[k][n] = phi_k(n)``).

    Returns:
        The table of order |N| |K|; element (n, k) has index n |K| + k and label '(n,k)'.

    Raises:
        ValueError: if some phi_k is not an automorphism of N or k -> phi_k is not a
            homomorphism K -> Aut(N).
    """
    table_n, labels_n = _unpack(normal)
    table_k, labels_k = _unpack(acting)
    size_n, size_k = table_n.shape[0], table_k.shape[0]
    phi = action if isinstance(action, np.ndarray) else [action(k) for k in range(size_k)]
    phi = np.asarray(phi, dtype=np.int64)
    if phi.shape != (size_k, size_n):
        raise ValueError(f"action must have shape ({size_k}, {size_n}), got {phi.shape}")

    elements = np.arange(size_n)
    for k in range(size_k):
        if sorted(phi[k]) != list(elements):
            raise ValueError(f"action[{k}] is not a permutation of N: {phi[k].tolist()}")
        if not np.array_equal(phi[k][table_n], table_n[np.ix_(phi[k], phi[k])]):
            raise ValueError(f"action[{k}] is not an automorphism of N")
    composed = phi[:, phi]  # (K, K, N): composed[k1, k2, n] = phi_k1(phi_k2(n))
    if not np.array_equal(phi[table_k], composed):
        raise ValueError("action is not a homomorphism K -> Aut(N): phi_{k1 k2} != phi_k1 phi_k2")

    n, k = np.divmod(np.arange(size_n * size_k), size_k)
    new_n = table_n[n[:, None], phi[k[:, None], n[None, :]]]
    new_k = table_k[k[:, None], k[None, :]]
    labels = tuple(f"({labels_n[a]},{labels_k[b]})" for a, b in zip(n, k, strict=True))
    return new_n * size_k + new_k, labels


def semidihedral(order: int) -> Construction:
    """Semidihedral (quasidihedral) group SD_{2^m}: <a, b | a^{2^{m-1}}, b^2, b a b = a^{h - 1}>.

    Here h = 2^{m-2}; the order must be a power of two, at least 16.
    """
    if order < 16 or order & (order - 1):
        raise ValueError(f"order must be a power of two >= 16, got {order}")
    return metacyclic(order // 2, 2, order // 4 - 1)


def modular(order: int) -> Construction:
    """Modular group M_{2^m}: <a, b | a^{2^{m-1}}, b^2, b a b = a^{h + 1}>, h = 2^{m-2}.

    The order must be a power of two, at least 16 (M_16 is the smallest).
    """
    if order < 16 or order & (order - 1):
        raise ValueError(f"order must be a power of two >= 16, got {order}")
    return metacyclic(order // 2, 2, order // 4 + 1)


def permutation_label(perm: Sequence[int]) -> str:
    """One-line notation '[p(0) p(1) ... p(d-1)]', e.g. '[0 2 1]' swaps 1 and 2.

    Square brackets keep it apart from cycle notation, which is written with parentheses.
    """
    return "[" + " ".join(str(int(image)) for image in perm) + "]"


def _permutation_table(perms: np.ndarray) -> np.ndarray:
    """Table of a closed set of permutations (rows of ``perms``) under (a*b)(x) = a(b(x))."""
    count = perms.shape[0]
    composed = perms[np.arange(count)[:, None, None], perms[None, :, :]]  # (m, m, d)
    # composed[a, b, x] = perms[a, perms[b, x]]
    stacked = np.concatenate([perms, composed.reshape(count * count, -1)])
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    if unique.shape[0] != count:
        raise ValueError(f"perms must be {count} distinct permutations closed under composition")
    position = np.empty(count, dtype=np.int64)
    position[inverse[:count]] = np.arange(count)
    return position[inverse[count:]].reshape(count, count)


def _check_permutation(perm: np.ndarray, name: str) -> None:
    if perm.ndim != 1 or sorted(perm.tolist()) != list(range(perm.size)):
        raise ValueError(f"{name} must be a permutation of 0..d-1, got {perm.tolist()}")


def from_permutations(perms: Sequence[Sequence[int]]) -> Construction:
    """Group generated by permutations of {0, ..., d-1}, composed as (a*b)(x) = a(b(x)).

    The generators are closed under composition breadth first; element 0 is the identity.
    Labels use one-line notation (see :func:`permutation_label`).

    Example:
        >>> table, labels = from_permutations([[1, 2, 0], [1, 0, 2]])
        >>> table.shape
        (6, 6)
    """
    gens = [np.asarray(perm, dtype=np.int64) for perm in perms]
    if not gens:
        raise ValueError("perms must contain at least one permutation, got an empty list")
    for position, perm in enumerate(gens):
        _check_permutation(perm, f"perms[{position}]")
        if perm.size != gens[0].size:
            raise ValueError(f"perms[{position}] has degree {perm.size}, expected {gens[0].size}")

    elements = [np.arange(gens[0].size)]
    seen = {elements[0].tobytes()}
    frontier = elements[:]
    while frontier:
        products = [element[gen] for element in frontier for gen in gens]
        frontier = []
        for product in products:
            key = product.tobytes()
            if key not in seen:
                seen.add(key)
                elements.append(product)
                frontier.append(product)

    perms_array = np.stack(elements)
    return _permutation_table(perms_array), tuple(permutation_label(p) for p in perms_array)


def _parity(perms: np.ndarray) -> np.ndarray:
    """Parity (0 even, 1 odd) of each row, counted by inversions."""
    inversions = perms[:, :, None] > perms[:, None, :]
    upper = np.triu(np.ones(perms.shape[1:] * 2, dtype=bool), k=1)
    return (inversions & upper).sum(axis=(1, 2)) % 2


def symmetric(n: int) -> Construction:
    """Symmetric group S_n of all permutations of {0, ..., n-1}, composed as a(b(x)).

    Elements in lexicographic order of one-line notation (identity first), labelled as in
    :func:`permutation_label`. The table has (n!)^2 entries, so n <= 6 is practical.
    """
    n = _positive("n", n)
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)
    return _permutation_table(perms), tuple(permutation_label(p) for p in perms)


def alternating(n: int) -> Construction:
    """Alternating group A_n of even permutations, ordered and labelled as in :func:`symmetric`."""
    n = _positive("n", n)
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)
    perms = perms[_parity(perms) == 0]
    return _permutation_table(perms), tuple(permutation_label(p) for p in perms)
