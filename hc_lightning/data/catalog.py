"""Named tables: groups (``Z12``, ``D4``, ``S4``, ``Q8``, ``Z2xZ4``) and the binary
operations of the grokking benchmark (``x-y mod 31``, ``S5:a*b*a^-1``).

Group names:

* ``Zn`` or ``Cn`` -- cyclic of order n; ``Dn`` -- dihedral of order 2n; ``Sn``,
  ``An`` -- symmetric and alternating on n points; ``Q8``; ``Dicn`` -- dicyclic of order 4n;
  products of any of these joined by ``x``, e.g. ``Z2xZ4`` or ``S3xZ2``.

Operations (``p`` any modulus; the form of the name is the form of the formula):

* ``x+y mod p``, ``x-y mod p``, ``x^2+y^2 mod p``, ``x^2+xy+y^2 mod p``, ``x^3+xy mod p``
  on ``0 .. p-1``;
* ``x*y mod p`` and ``x/y mod p`` on the nonzero residues ``1 .. p-1`` (p prime);
* ``Sn:a*b`` (composition), ``Sn:a*b*a^-1`` (conjugation) and ``Sn:a*b*a`` on permutations.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from hc_lightning.algebra import constructions
from hc_lightning.data.table import CayleyTable, TableError

MAX_CATALOG_ORDER = 1000

_GROUP_FACTORS: dict[str, Callable[[int], constructions.Construction]] = {
    "Z": constructions.cyclic,
    "C": constructions.cyclic,
    "D": constructions.dihedral,
    "S": constructions.symmetric,
    "A": constructions.alternating,
    "Dic": constructions.dicyclic,
}

_MODULAR: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "x+y": lambda x, y: x + y,
    "x-y": lambda x, y: x - y,
    "x^2+y^2": lambda x, y: x**2 + y**2,
    "x^2+xy+y^2": lambda x, y: x**2 + x * y + y**2,
    "x^3+xy": lambda x, y: x**3 + x * y,
}

_UNITS = ("x*y", "x/y")
_PERMUTATION_OPERATIONS = ("a*b", "a*b*a^-1", "a*b*a")

EXAMPLES = (
    "Z12",
    "C5",
    "D4",
    "S3",
    "S4",
    "A4",
    "A5",
    "Q8",
    "Dic3",
    "Z2xZ4",
    "x+y mod 97",
    "x-y mod 31",
    "x*y mod 31",
    "x/y mod 31",
    "x^2+y^2 mod 7",
    "x^2+xy+y^2 mod 7",
    "x^3+xy mod 7",
    "S4:a*b",
    "S4:a*b*a^-1",
    "S4:a*b*a",
)


def available() -> str:
    """A one-line description of the names :func:`load` accepts."""
    return (
        "groups Zn/Cn, Dn, Sn, An, Q8, Dicn and products like Z2xZ4; operations "
        + ", ".join(f"'{name} mod p'" for name in (*_MODULAR, *_UNITS))
        + ", and "
        + ", ".join(f"'Sn:{name}'" for name in _PERMUTATION_OPERATIONS)
    )


def load(name: str) -> CayleyTable:
    """The complete table called ``name`` (see the module docs for the names).

    Raises:
        TableError: the name is not in the catalog; the message lists what is.

    Example:
        >>> load("S3").n, load("x-y mod 5").labels[:3]
        (6, ('0', '1', '2'))
    """
    compact = re.sub(r"\s+", "", name)
    table = _modular(compact) or _permutation_operation(compact) or _group(compact)
    if table is None:
        raise TableError(f"unknown table name {name!r}; available: {available()}")
    cells, labels = table
    if len(cells) > MAX_CATALOG_ORDER:
        raise TableError(f"{name!r} has {len(cells)} elements, over {MAX_CATALOG_ORDER}")
    return CayleyTable(np.asarray(cells), labels, name=name.strip())


def _group(name: str) -> constructions.Construction | None:
    factors = name.split("x")
    if not all(factors):
        return None
    result = None
    for factor in factors:
        group = _group_factor(factor)
        if group is None:
            return None
        result = group if result is None else constructions.direct_product(result, group)
    return result


def _group_factor(name: str) -> constructions.Construction | None:
    if name == "Q8":
        return constructions.quaternion()
    match = re.fullmatch(r"(Dic|[ZCDSA])(\d+)", name)
    if match is None:
        return None
    kind, size = match.group(1), int(match.group(2))
    if not _plausible_size(kind, size):
        return None
    return _GROUP_FACTORS[kind](size)


def _plausible_size(kind: str, size: int) -> bool:
    if kind in "SA":
        return 1 <= size <= 6
    if kind == "Dic":
        return 2 <= size <= MAX_CATALOG_ORDER // 4
    if kind == "D":
        return 1 <= size <= MAX_CATALOG_ORDER // 2
    return 1 <= size <= MAX_CATALOG_ORDER


def _modular(name: str) -> constructions.Construction | None:
    match = re.fullmatch(r"(.+)mod(\d+)", name)
    if match is None:
        return None
    formula, modulus = match.group(1), int(match.group(2))
    if not 2 <= modulus <= MAX_CATALOG_ORDER:
        return None
    if formula in _MODULAR:
        x = np.arange(modulus)
        cells = _MODULAR[formula](x[:, None], x[None, :]) % modulus
        return cells, tuple(str(value) for value in x)
    if formula in _UNITS:
        return _unit_operation(formula, modulus)
    return None


def _unit_operation(formula: str, modulus: int) -> constructions.Construction:
    if any(modulus % divisor == 0 for divisor in range(2, int(modulus**0.5) + 1)):
        raise TableError(f"'{formula} mod {modulus}' needs a prime modulus, got {modulus}")
    x = np.arange(1, modulus)
    right = x if formula == "x*y" else np.array([pow(int(y), -1, modulus) for y in x])
    products = (x[:, None] * right[None, :]) % modulus
    return products - 1, tuple(str(value) for value in x)


def _permutation_operation(name: str) -> constructions.Construction | None:
    match = re.fullmatch(r"S(\d+):(.+)", name)
    if match is None or match.group(2) not in _PERMUTATION_OPERATIONS:
        return None
    degree = int(match.group(1))
    if not 1 <= degree <= 6:
        return None
    table, labels = constructions.symmetric(degree)
    inverse = np.argmax(table == _identity_of(table), axis=1)
    rows = np.arange(len(table))[:, None]
    operation = match.group(2)
    if operation == "a*b":
        cells = table
    elif operation == "a*b*a^-1":
        cells = table[table, inverse[:, None]]  # (a b) a^-1
    else:
        cells = table[table, rows]  # (a b) a
    return cells, labels


def _identity_of(table: np.ndarray) -> int:
    return int(np.flatnonzero((table == np.arange(len(table))).all(axis=1))[0])
