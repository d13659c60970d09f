"""Time of :func:`hc_lightning.algebra.irreps.decompose` on regular representations.

The regular representation of a group with table ``t`` (``t[g, h] = g * h``) permutes the
basis vectors by left multiplication, ``rho(g) e_h = e_{g * h}``, so that
``rho(g) rho(h) = rho(g * h)``. Every complex irrep of dimension ``d`` occurs in it ``d``
times; for S4 and S5, whose irreps are all real, the decomposition must therefore find
blocks of dimension ``d`` with ``d`` copies each, and ``sum d^2 = n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from common import Section, markdown_table, median, progress, seconds_of

from hc_lightning.algebra.irreps import IrrepDecomposition, decompose
from hc_lightning.data.catalog import load


def regular_representation(table: np.ndarray) -> np.ndarray:
    """Permutation matrices ``rho(g)[g * h, h] = 1``, shape ``(n, n, n)``."""
    n = len(table)
    rho = np.zeros((n, n, n))
    g, h = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    rho[g, table[g, h], h] = 1.0
    return rho


def summary(result: IrrepDecomposition) -> list[tuple[int, int, str]]:
    """``(dimension, copies, type)`` of each irrep found."""
    return [(irrep.dimension, irrep.copies, irrep.type) for irrep in result.irreps]


def section_irreps(groups: tuple[str, ...], repeats: int) -> Section:
    """Median seconds of ``decompose`` on each group's regular representation."""
    rows, data = [], {}
    for name in groups:
        table = load(name).cells
        rho = regular_representation(table)
        result = decompose(rho, table, rng=0)
        times = seconds_of(lambda rho=rho, table=table: decompose(rho, table, rng=0), repeats)
        found = summary(result)
        entry: dict[str, Any] = {
            "n": len(table),
            "seconds": times,
            "irreps": found,
            "off_block_error": result.off_block_error,
        }
        data[name] = entry
        progress(f"irreps {name}: {median(times):.4f} s, {found}")
        rows.append(
            [
                f"{name} (order {len(table)})",
                f"{1e3 * median(times):.3g}",
                ", ".join(f"{d}x{copies}" for d, copies, _ in found),
                f"{result.off_block_error:.1e}",
            ]
        )
    markdown = "\n\n".join(
        [
            f"Median of {repeats} calls of `decompose(rho, table, rng=0)` (float64, numpy) on "
            "the regular representation `rho(g) e_h = e_{g*h}`.",
            markdown_table(
                ("group", "time (ms)", "irreps found (dimension x copies)", "off-block error"),
                rows,
            ),
        ]
    )
    return Section("irreps", "Irreducible decomposition", markdown, data)
