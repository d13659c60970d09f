"""Cost of one training step as ``n`` grows, against the textbook formulation; and the
per-step cost of Lightning around the same step.

*Ours* is the step of the fit phase in plain PyTorch: ``T[a, b, :]`` for the known pairs
only, through :meth:`HyperCubeFactors.predict`, the data term
``sum (T[a, b, c] - delta[a, b, c])^2``, ``eps H`` in its ``O(n^4)`` Gram form, backward,
gradient-norm clipping at ``0.2 m`` and an SGD step (lr 0.5, momentum 0.9).

*Textbook* builds the whole cube every step with one einsum, as the reference code does,

    T[a, b, c] = (1/n) sum_ijk A[a, i, j] B[b, j, k] C[c, k, i],

then takes the same loss on the known cells; everything else is identical (``H`` too), so
the ratio of the two is the price of the full-tensor prediction.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one forward and
backward pass (matrix products only), and compared with the float32 matrix multiply rate
of the same machine measured in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
from common import Section, markdown_table, matmul_gflops, median, progress, seconds_of
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from hc_lightning.data.catalog import load
from hc_lightning.data.datamodule import CayleyDataModule
from hc_lightning.model.factors import HyperCubeFactors
from hc_lightning.model.module import HyperCubeModule

FULL_SIZES = (6, 12, 24, 48, 72, 96, 120)
QUICK_SIZES = (6, 12)
# Below this size a step is dominated by fixed per-call costs; exponents are fitted above.
FIT_FROM = 24


def known_cells(table: np.ndarray, mask: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    """The cells ``(a, b, c)`` of ``table`` where ``mask`` holds, each of shape ``(m,)``."""
    a, b = np.nonzero(mask)
    return tuple(torch.as_tensor(x, dtype=torch.long) for x in (a, b, table[a, b]))


def textbook_rows(factors: HyperCubeFactors, a: Tensor, b: Tensor) -> Tensor:
    """``T[a, b, :]`` read off the whole cube, which is built first, shape ``(m, n)``."""
    cube = torch.einsum("aij,bjk,cki->abc", factors.A, factors.B, factors.C) / factors.n
    return cube[a, b]  # (m, n)


class FactorStep:
    """One full-batch step of the fit phase on the given cells, in plain PyTorch.

    Args:
        factors: the factor cubes to train.
        cells: ``(a, b, c)`` of the known cells.
        textbook: predict through the whole cube (:func:`textbook_rows`).
        eps: weight of ``H``.
    """

    def __init__(
        self,
        factors: HyperCubeFactors,
        cells: tuple[Tensor, Tensor, Tensor],
        textbook: bool = False,
        eps: float = 0.1,
    ) -> None:
        self.factors = factors
        self.a, self.b, c = cells
        self.target = torch.nn.functional.one_hot(c, factors.n).to(factors.A.dtype)
        self.textbook = textbook
        self.eps = eps
        self.clip = 0.2 * len(c)
        self.optimizer = torch.optim.SGD(factors.parameters(), lr=0.5, momentum=0.9)

    def rows(self) -> Tensor:
        """Predicted rows ``T[a, b, :]`` of the known cells, shape ``(m, n)``."""
        if self.textbook:
            return textbook_rows(self.factors, self.a, self.b)
        return self.factors.predict(self.a, self.b)

    def __call__(self) -> float:
        objective = (self.rows() - self.target).square().sum()
        objective = objective + self.eps * self.factors.regularizer()
        objective.backward()
        torch.nn.utils.clip_grad_norm_(self.factors.parameters(), self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(objective.detach())


def problem(
    n: int, fraction: float, seed: int = 0, dtype: torch.dtype = torch.float32
) -> tuple[HyperCubeFactors, tuple[Tensor, Tensor, Tensor]]:
    """Fresh factors and the seeded known cells of the cyclic group ``Z_n``."""
    table = load(f"Z{n}")
    cells = known_cells(table.cells, table.mask(fraction, seed))
    generator = torch.Generator().manual_seed(seed)
    return HyperCubeFactors(n, generator=generator, dtype=dtype), cells


def step_flops(step: FactorStep) -> int:
    """Matrix-product FLOPs of one forward and backward pass of ``step``."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def our_step_flops(n: int, known: int, chunk_elements: int = 2**21) -> int:
    """Matrix-product FLOPs of our step, forward and backward, for ``m`` known cells:
    ``12 m n^3 + 36 n^4``, plus ``2 m n^3`` when the pairs take more than one chunk.

    Forward: the products ``A_a B_b`` of the ``m`` pairs (``2 m n^3``), their contraction
    with ``C`` (``2 m n^3``) and the six Gram matrices of ``H`` (``2 n^4`` each). Backward:
    two products of the same size per forward product, and over several chunks of pairs
    the products once more (recomputed rather than stored). With every pair (``m = n^2``)
    the products are one ``(n^2, n) @ (n, n^2)`` product of the same count.
    """
    flops = 12 * known * n**3 + 36 * n**4
    if known > max(1, chunk_elements // (n * n)):
        flops += 2 * known * n**3
    return flops


def adaptive_seconds(
    function: Callable[[], object], budget: float, max_repeats: int
) -> list[float]:
    """Per-call seconds: one untimed warm-up, then as many calls as fit in ``budget``."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    repeats = int(min(max_repeats, max(1, budget / max(first, 1e-9))))
    return seconds_of(function, repeats, warmup=0)


def agreement(n: int) -> float:
    """Largest difference between the textbook rows and ours, over the largest entry."""
    factors, (a, b, _) = problem(n, 0.5)
    with torch.no_grad():
        ours, textbook = factors.predict(a, b), textbook_rows(factors, a, b)
    return float((ours - textbook).abs().max() / textbook.abs().max())


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of ``log seconds`` against ``log n``."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def measure_scaling(sizes: tuple[int, ...], fraction: float, budget: float, max_repeats: int):
    """Per size: seconds per step (median) and FLOPs of ours and of the textbook step."""
    rows = []
    for n in sizes:
        row: dict[str, Any] = {"n": n, "known_cells": round(fraction * n * n)}
        for kind in ("ours", "textbook"):
            step = FactorStep(*problem(n, fraction), textbook=kind == "textbook")
            row[f"{kind}_flops"] = step_flops(step)
            row[f"{kind}_seconds"] = median(adaptive_seconds(step, budget, max_repeats))
        progress(
            f"scaling n={n}: ours {1e3 * row['ours_seconds']:.2f} ms,"
            f" textbook {1e3 * row['textbook_seconds']:.2f} ms"
        )
        rows.append(row)
    return rows


def section_scaling(quick: bool, fraction: float = 0.5) -> Section:
    """Cost per step against ``n``, the textbook ratio, exponents and achieved GFLOP/s."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    budget, max_repeats = (0.2, 3) if quick else (3.0, 30)
    rate = max(
        matmul_gflops(size, 3 if quick else 5) for size in ((256,) if quick else (1024, 2048))
    )
    progress(f"float32 matmul rate: {rate:.1f} GFLOP/s")
    rows = measure_scaling(sizes, fraction, budget, max_repeats)
    large = [r for r in rows if r["n"] >= FIT_FROM] if not quick else rows
    exponents = {
        kind: exponent([r["n"] for r in large], [r[f"{kind}_seconds"] for r in large])
        for kind in ("ours", "textbook")
    }
    check = agreement(sizes[-1])
    table = [
        [
            r["n"],
            r["known_cells"],
            f"{1e3 * r['ours_seconds']:.3g}",
            f"{1e3 * r['textbook_seconds']:.3g}",
            f"{r['textbook_seconds'] / r['ours_seconds']:.1f}x",
            f"{r['ours_flops'] / 1e9:.3g}",
            f"{r['textbook_flops'] / 1e9:.3g}",
            f"{r['ours_flops'] / r['ours_seconds'] / 1e9:.1f}",
            f"{100 * r['ours_flops'] / r['ours_seconds'] / 1e9 / rate:.0f} %",
            f"{r['textbook_flops'] / r['textbook_seconds'] / 1e9:.1f}",
        ]
        for r in rows
    ]
    header = (
        "n",
        "known cells",
        "ours (ms/step)",
        "textbook (ms/step)",
        "textbook / ours",
        "ours GFLOP/step",
        "textbook GFLOP/step",
        "ours GFLOP/s",
        "of matmul rate",
        "textbook GFLOP/s",
    )
    fitted_over = ", ".join(str(r["n"]) for r in large)
    markdown = "\n\n".join(
        [
            f"Cyclic group `Z_n`, {fraction:.0%} of the cells known, float32, one full-batch "
            "step of the fit phase without Lightning (median over repeats). *Textbook* "
            "builds the whole `n^3` cube with one einsum every step and then takes the loss "
            "on the known cells; both use the same `O(n^4)` form of `H`. The machine's "
            f"float32 matrix multiply rate in this run: **{rate:.1f} GFLOP/s**.",
            markdown_table(header, table),
            f"Fitted exponents (log-log least squares over n = {fitted_over}): seconds per "
            f"step grow as n^{exponents['ours']:.2f} for ours and n^{exponents['textbook']:.2f} "
            "for the textbook step. Both predictions agree: largest difference of the rows "
            f"at n = {sizes[-1]} relative to the largest entry {check:.1e}.",
        ]
    )
    data = {"matmul_gflops": rate, "rows": rows, "exponents": exponents, "agreement": check}
    return Section("scaling", "Cost per step as n grows", markdown, data)


class StepClock(L.Callback):
    """The time at the end of every training step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.times.append(time.perf_counter())


def trainer_step_seconds(name: str, fraction: float, steps: int, warmup: int) -> list[float]:
    """Seconds between consecutive steps of :class:`HyperCubeModule` in a Trainer.

    The Trainer is set up as :func:`hc_lightning.complete` sets it up; the fit phase is kept
    running (a plateau window longer than the run), so every step is a fit-phase step.
    """
    L.seed_everything(0, verbose=False)
    datamodule = CayleyDataModule.from_table(load(name), train_fraction=fraction, split_seed=0)
    module = HyperCubeModule(datamodule.n, plateau_window=10**9)
    clock = StepClock()
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_steps=warmup + steps + 1,
        max_epochs=-1,
        callbacks=[clock],
    )
    trainer.fit(module, datamodule)
    return list(np.diff(clock.times)[warmup:])


def bare_step_seconds(name: str, fraction: float | None, steps: int, warmup: int, dtype):
    """Seconds per :class:`FactorStep` on the known cells of ``name`` (all cells if
    ``fraction`` is None, as in the settle and polish phases)."""
    table = load(name)
    mask = np.ones((table.n, table.n), bool) if fraction is None else table.mask(fraction, 0)
    factors = HyperCubeFactors(table.n, generator=torch.Generator().manual_seed(0), dtype=dtype)
    step = FactorStep(factors, known_cells(table.cells, mask))
    return seconds_of(step, steps, warmup)


def section_overhead(quick: bool, fraction: float = 0.5) -> Section:
    """Per-step time in a Trainer against the bare step, at n = 6, 24, 120."""
    plan = (("S3", 3, 20),) if quick else (("S3", 10, 200), ("S4", 10, 100), ("S5", 2, 8))
    rows, data = [], {}
    for name, warmup, steps in plan:
        in_trainer = trainer_step_seconds(name, fraction, steps, warmup)
        bare = bare_step_seconds(name, fraction, steps, warmup, torch.float32)
        polish = bare_step_seconds(name, None, max(2, steps // 4), 1, torch.float64)
        entry = {
            "trainer_median": median(in_trainer),
            "trainer_mean": float(np.mean(in_trainer)),
            "bare_median": median(bare),
            "polish_median": median(polish),
        }
        data[name] = entry
        progress(f"overhead {name}: {entry}")
        overhead = entry["trainer_median"] - entry["bare_median"]
        rows.append(
            [
                f"{name} (n = {load(name).n})",
                f"{1e3 * entry['trainer_median']:.3g}",
                f"{1e3 * entry['trainer_mean']:.3g}",
                f"{1e3 * entry['bare_median']:.3g}",
                f"{1e3 * overhead:.3g}",
                f"{entry['trainer_median'] / entry['bare_median']:.1f}x",
                f"{1e3 * entry['polish_median']:.3g}",
            ]
        )
    header = (
        "table",
        "Trainer step, median (ms)",
        "Trainer step, mean (ms)",
        "bare step (ms)",
        "Lightning overhead per step (ms)",
        "Trainer / bare",
        "bare float64 step on all n^2 cells (ms)",
    )
    markdown = "\n\n".join(
        [
            f"{fraction:.0%} of the cells known, fit phase, float32. *Trainer step*: the "
            "interval between consecutive ends of training steps of `HyperCubeModule` in a "
            "`Trainer` set up as `complete()` sets it up (no logger, no checkpoint, no "
            "progress bar); the mean includes the validation that runs every 10 steps. "
            "*Bare step*: the same arithmetic in a plain PyTorch loop (`FactorStep`). The "
            "last column is the cost of a step of the settle and polish phases, which run "
            "in float64 on the completed table.",
            markdown_table(header, rows),
        ]
    )
    return Section("overhead", "Lightning overhead per step", markdown, data)
