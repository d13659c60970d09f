"""A partial Cayley table observed from black-box transformations of data.

Given ``n`` transformations ``t_0 .. t_{n-1}`` (callables on a batch of samples) and some
probe samples ``x``, the product of two of them is defined by composition, inner one first:

.. math::

    (a * b)(x) = t_a(t_b(x)),

the convention of :class:`~hc_lightning.nn.lifting.SpatialAction`, ``act(a, act(b, x)) =
act(a * b, x)``. A pair ``(a, b)`` is observed by applying ``t_b`` and then ``t_a`` to the
probes and comparing the result with every single ``t_c(x)``; the cell is set to ``c`` when
exactly one ``c`` satisfies ``max |t_a(t_b(x)) - t_c(x)| <= atol``. A composition that
matches no transformation (the set is not closed under composition) or several of them (the
transformations are not told apart by the probes) stays unknown, and
:class:`ActionReport` counts both kinds.

Example:
    >>> import torch
    >>> turns = [lambda x, k=k: torch.rot90(x, k, dims=(-2, -1)) for k in range(4)]
    >>> table, report = table_from_actions(turns, torch.arange(9.0).reshape(1, 3, 3))
    >>> table.cells[1].tolist(), report.matched
    ([1, 2, 3, 0], 16)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hc_lightning.data.table import UNKNOWN, CayleyTable

__all__ = ["ActionReport", "table_from_actions"]

Transformation = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class ActionReport:
    """What observing compositions of transformations found.

    Attributes:
        n: number of transformations.
        observed: number of pairs ``(a, b)`` composed, ``round(fraction * n^2)``.
        matched: observed pairs whose composition equals exactly one transformation.
        unmatched: observed pairs whose composition equals none (the set is not closed).
        ambiguous: observed pairs whose composition equals several transformations.
        unmatched_pairs: the unmatched pairs ``(a, b)``, row-major order.
        ambiguous_pairs: the ambiguous pairs ``(a, b)``, row-major order.
        indistinct: pairs ``(c, d)``, ``c < d``, of transformations that agree on the probes.
        labels: the element labels, for messages.
    """

    n: int
    observed: int
    matched: int
    unmatched: int
    ambiguous: int
    unmatched_pairs: tuple[tuple[int, int], ...]
    ambiguous_pairs: tuple[tuple[int, int], ...]
    indistinct: tuple[tuple[int, int], ...]
    labels: tuple[str, ...]

    @property
    def is_consistent(self) -> bool:
        """True iff every observed composition matched exactly one transformation."""
        return self.unmatched == 0 and self.ambiguous == 0

    def summary(self) -> str:
        """One line: how many products were observed, matched, unmatched and ambiguous."""
        share = self.observed / self.n**2
        line = (
            f"observed {self.observed} of {self.n * self.n} products ({share:.0%}): "
            f"{self.matched} matched, {self.unmatched} unmatched, {self.ambiguous} ambiguous"
        )
        if self.unmatched_pairs:
            a, b = self.unmatched_pairs[0]
            line += f"; not closed: {self._pair(a, b)} is none of the transformations"
        if self.indistinct:
            c, d = self.indistinct[0]
            line += f"; {self.labels[c]} and {self.labels[d]} agree on the probes"
        elif self.ambiguous_pairs:
            a, b = self.ambiguous_pairs[0]
            line += f"; {self._pair(a, b)} matches several transformations"
        return line

    def _pair(self, a: int, b: int) -> str:
        return f"{self.labels[a]} * {self.labels[b]}"


def _as_float64(value: Any, name: str) -> torch.Tensor:
    """``value`` (tensor or array) as a float64 CPU tensor; ``ValueError`` naming ``name``."""
    try:
        tensor = torch.as_tensor(np.asarray(value) if not torch.is_tensor(value) else value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} must return a tensor or an array, got {type(value)}") from error
    return tensor.detach().to("cpu", torch.float64)


def _matches(composed: torch.Tensor, singles: list[torch.Tensor], atol: float) -> list[int]:
    """Indices ``c`` with ``max |composed - singles[c]| <= atol`` (same shape only)."""
    return [
        c
        for c, single in enumerate(singles)
        if single.shape == composed.shape
        and torch.allclose(composed, single, rtol=0.0, atol=atol, equal_nan=False)
    ]


def _check_arguments(
    actions: Sequence[Transformation], fraction: float, atol: float, labels: Any
) -> tuple[str, ...]:
    if isinstance(actions, (str, bytes)) or not isinstance(actions, Sequence) or not actions:
        raise ValueError(f"actions must be a non-empty sequence of callables, got {actions!r}")
    for index, action in enumerate(actions):
        if not callable(action):
            raise ValueError(f"actions[{index}] must be callable, got {action!r}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not atol >= 0.0:
        raise ValueError(f"atol must be non-negative, got {atol}")
    n = len(actions)
    labels = tuple(str(index) for index in range(n)) if labels is None else tuple(labels)
    if len(labels) != n or len(set(labels)) != n:
        raise ValueError(f"labels must be {n} distinct strings, got {labels!r}")
    return labels


def table_from_actions(
    actions: Sequence[Transformation],
    probes: Any,
    fraction: float = 1.0,
    seed: int = 0,
    atol: float = 1e-6,
    labels: Sequence[str] | None = None,
) -> tuple[CayleyTable, ActionReport]:
    """Observe ``a * b`` for a seeded share of the pairs by composing transformations.

    For each chosen pair the cell is ``c`` if ``t_a(t_b(x))`` equals ``t_c(x)`` within
    ``atol`` (largest absolute difference over all probe entries) for exactly one ``c``, and
    unknown (``-1``) otherwise. The pairs are the first ``round(fraction * n^2)`` (at least
    one) of a permutation of the ``n^2`` cells drawn with ``numpy.random.default_rng(seed)``,
    as in :meth:`CayleyTable.mask`. Costs ``n`` + ``2 * observed`` calls of transformations.

    Args:
        actions: ``n`` callables ``t_g`` taking ``probes`` (a tensor or an array, e.g. images
            ``(N, H, W)``) and returning a tensor or an array.
        probes: the samples the transformations are applied to; generic samples (random
            images, say) tell transformations apart where symmetric ones would not.
        fraction: share of the ``n^2`` pairs to observe, in ``(0, 1]``.
        seed: seed of the choice of pairs.
        atol: largest absolute difference counted as equal.
        labels: names of the transformations; default ``"0" .. "n-1"``.

    Returns:
        ``(table, report)``: the partial :class:`CayleyTable` (name ``"actions"``) and the
        :class:`ActionReport`.

    Raises:
        ValueError: naming the argument, if ``actions`` is empty or holds a non-callable,
            ``fraction`` is outside ``(0, 1]``, ``atol`` is negative, ``labels`` are not
            ``n`` distinct strings, or a transformation returns something that is not a
            tensor or an array.

    Example:
        >>> import torch
        >>> half_turns = [lambda x: x, lambda x: torch.rot90(x, 1, dims=(-2, -1))]
        >>> table, report = table_from_actions(half_turns, torch.rand(2, 4, 4))
        >>> table.cells.tolist(), report.unmatched
        ([[0, 1], [1, -1]], 1)
    """
    labels = _check_arguments(actions, fraction, atol, labels)
    n = len(actions)
    moved = [actions[g](probes) for g in range(n)]  # t_g(x), also the inner step
    singles = [_as_float64(value, f"actions[{g}]") for g, value in enumerate(moved)]
    indistinct = tuple(
        (c, d)
        for c in range(n)
        for d in range(c + 1, n)
        if _matches(singles[c], [singles[d]], atol)
    )

    count = max(1, round(fraction * n * n))
    chosen = np.random.default_rng(seed).permutation(n * n)[:count]
    cells = np.full((n, n), UNKNOWN, dtype=np.int64)
    unmatched, ambiguous = [], []
    for a, b in sorted(divmod(int(cell), n) for cell in chosen):
        composed = _as_float64(actions[a](moved[b]), f"actions[{a}]")
        found = _matches(composed, singles, atol)
        if len(found) == 1:
            cells[a, b] = found[0]
        elif found:
            ambiguous.append((a, b))
        else:
            unmatched.append((a, b))

    report = ActionReport(
        n=n,
        observed=count,
        matched=count - len(unmatched) - len(ambiguous),
        unmatched=len(unmatched),
        ambiguous=len(ambiguous),
        unmatched_pairs=tuple(unmatched),
        ambiguous_pairs=tuple(ambiguous),
        indistinct=indistinct,
        labels=labels,
    )
    return CayleyTable(cells, labels, name="actions"), report
