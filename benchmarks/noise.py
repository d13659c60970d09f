"""Noisy observations: can HyperCube overrule wrong given cells, and does it flag them?

For each group and seed, a seeded ``known`` share of the table is given to the model and a
share of those given cells is corrupted (each replaced by a uniformly drawn wrong value).
The model trains with ``distrust_known_cells=True`` and a
:class:`~hc_lightning.callbacks.consistency.ConsistencyCallback`. Reported: whether the
completed table equals the true group (``recovered``), and the precision and recall of the
flagged cells against the corrupted ones.

Usage::

    python benchmarks/noise.py                   # S4 and A4, 1/2/5 %, seeds 0-2
    python benchmarks/noise.py --groups A4 --seeds 0 --settings '{"eps": 0.3}' --output x.md

``--settings`` takes one JSON object of ``HyperCubeModule`` arguments per configuration to
compare (``distrust_known_cells`` is always on).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hc_lightning import complete, load
from hc_lightning.callbacks.consistency import ConsistencyCallback
from hc_lightning.data.io import write_text_atomic
from hc_lightning.data.table import UNKNOWN, CayleyTable

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "noise.md"


@dataclasses.dataclass(frozen=True)
class NoisyRun:
    """One corrupted completion."""

    group: str
    settings: str
    corrupted_share: float
    seed: int
    known_cells: int
    corrupted_cells: int
    flagged_cells: int
    true_flags: int
    recovered: bool
    steps: int
    seconds: float

    @property
    def precision(self) -> float:
        """Share of the flagged cells that were corrupted (1 when nothing is flagged)."""
        return self.true_flags / self.flagged_cells if self.flagged_cells else 1.0

    @property
    def recall(self) -> float:
        """Share of the corrupted cells that were flagged."""
        return self.true_flags / self.corrupted_cells if self.corrupted_cells else 1.0


def corrupt(
    truth: CayleyTable, known: float, share: float, seed: int
) -> tuple[CayleyTable, np.ndarray]:
    """A partial table with ``known`` of ``truth`` given and ``share`` of those cells wrong.

    Args:
        truth: a complete table.
        known: share of all ``n^2`` cells given.
        share: share of the given cells replaced by a wrong value, rounded to a count.
        seed: seed of the given cells, of the corrupted ones and of their wrong values.

    Returns:
        ``(partial, corrupted)``: the observed table (``-1`` off the given cells) and the
        boolean mask ``(n, n)`` of the corrupted cells.
    """
    if not 0.0 <= share < 1.0:
        raise ValueError(f"`share` must be in [0, 1), got {share}")
    rng = np.random.default_rng(seed)
    given = truth.mask(known, seed)
    cells = np.where(given, truth.cells, UNKNOWN)
    rows, cols = np.nonzero(given)
    count = round(share * len(rows))
    chosen = rng.choice(len(rows), size=count, replace=False)
    corrupted = np.zeros_like(given)
    for index in chosen:
        a, b = rows[index], cols[index]
        shift = rng.integers(1, truth.n)  # a uniformly drawn value other than the true one
        cells[a, b] = (truth.cells[a, b] + shift) % truth.n
        corrupted[a, b] = True
    return truth.with_cells(cells, name=f"{truth.name} noisy"), corrupted


def run(
    group: str,
    share: float,
    seed: int,
    known: float = 0.6,
    model_kwargs: dict[str, Any] | None = None,
) -> NoisyRun:
    """Complete a corrupted ``group`` table and score the flagged cells."""
    truth = load(group)
    partial, corrupted = corrupt(truth, known, share, seed)
    check = ConsistencyCallback()
    options = {"distrust_known_cells": True, **(model_kwargs or {})}
    result = complete(partial, seed=seed, model_kwargs=options, callbacks=[check], explain=False)
    flagged = check.result.flagged
    return NoisyRun(
        group=group,
        settings=json.dumps(model_kwargs or {}, sort_keys=True),
        corrupted_share=share,
        seed=seed,
        known_cells=int(partial.known.sum()),
        corrupted_cells=int(corrupted.sum()),
        flagged_cells=int(flagged.sum()),
        true_flags=int((flagged & corrupted).sum()),
        recovered=bool(np.array_equal(result.table.cells, truth.cells)),
        steps=int(result.report["steps"]),
        seconds=float(result.report["seconds"]),
    )


def machine() -> str:
    """``nproc`` and the CPU model, for the record."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({model}), {torch.get_num_threads()} torch threads,"
        f" torch {torch.__version__}, Python {platform.python_version()}"
    )


def markdown(runs: list[NoisyRun], command: str, known: float, load: str = "") -> str:
    """The results as a Markdown page: one row per configuration, then one per run."""
    lines = [
        "# Noisy observations",
        "",
        f"Each run gives the model {known:.0%} of the group's table, then replaces a share of",
        "those given cells by a uniformly drawn wrong value. The model trains with",
        "`distrust_known_cells=True` (plus the settings shown) and a `ConsistencyCallback`",
        "flags every given cell whose value differs from the model's `argmax_c T[a, b, c]`.",
        "*Recovered*: the completed table (the model's own answer on every cell) equals the",
        "true group. *Precision*: share of flagged cells that were corrupted; *recall*:",
        "share of corrupted cells flagged; both pool the cells of all seeds.",
        "",
        f"Machine: {machine()}{'; ' + load if load else ''}. Steps do not depend on the load;",
        "seconds do.",
        "",
        f"Command: `{command}`",
        "",
        "## Summary",
        "",
        "| group | settings | corrupted | recovered | precision | recall | median steps |",
        "|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r.group, r.settings, r.corrupted_share) for r in runs})
    for group, settings, share in keys:
        chosen = [
            r for r in runs if (r.group, r.settings, r.corrupted_share) == (group, settings, share)
        ]
        true_flags = sum(r.true_flags for r in chosen)
        flagged = sum(r.flagged_cells for r in chosen)
        corrupted = sum(r.corrupted_cells for r in chosen)
        precision = f"{true_flags / flagged:.2f}" if flagged else "-"
        recall = f"{true_flags / corrupted:.2f}" if corrupted else "-"
        recovered = sum(r.recovered for r in chosen)
        steps = np.median([r.steps for r in chosen])
        lines.append(
            f"| {group} | `{settings}` | {share:.0%} | {recovered} / {len(chosen)} | {precision}"
            f" | {recall} | {steps:.0f} |"
        )
    recovered_by_settings = {
        settings: sum(r.recovered for r in runs if r.settings == settings)
        for settings in sorted({r.settings for r in runs})
    }
    best = max(recovered_by_settings, key=recovered_by_settings.get)
    lines += [
        "",
        f"Most runs recovered (here): `{best}`, {recovered_by_settings[best]} of"
        f" {sum(r.settings == best for r in runs)}.",
        "",
        "How to read the table:",
        "",
        "* A corrupted cell that is not flagged was fitted: the model agrees with the wrong",
        "  value, and its completed table is then not the group.",
        "* `early_completion` (on by default) ends the fit phase as soon as the argmax agrees",
        "  with every given cell; with corrupted cells that happens only once the wrong ones",
        "  are memorised. Compare the rows with and without it.",
        "* A run that flags a large share of the given cells found no structure at all: the",
        "  model's own table is not a Latin square, and the callback's verdict says",
        '  "no structure found" rather than blaming the data.',
        "",
        "## Every run",
        "",
        "| group | settings | corrupted | seed | given | corrupted cells | flagged | correctly"
        " flagged | recovered | steps | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.group} | `{r.settings}` | {r.corrupted_share:.0%} | {r.seed} | {r.known_cells}"
            f" | {r.corrupted_cells} | {r.flagged_cells} | {r.true_flags}"
            f" | {'yes' if r.recovered else 'no'} | {r.steps} | {r.seconds:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", nargs="+", default=["S4", "A4"])
    parser.add_argument("--shares", nargs="+", type=float, default=[0.01, 0.02, 0.05])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--known", type=float, default=0.6)
    parser.add_argument("--settings", nargs="+", type=json.loads, default=[{}, {"eps": 0.3}])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    runs = []
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    for group in args.groups:
        for settings in args.settings:
            for share in args.shares:
                for seed in args.seeds:
                    outcome = run(group, share, seed, known=args.known, model_kwargs=settings)
                    runs.append(outcome)
                    print(
                        f"{group} {settings} {share:.0%} seed {seed}:"
                        f" recovered={outcome.recovered}"
                        f" flagged {outcome.flagged_cells} ({outcome.true_flags} of"
                        f" {outcome.corrupted_cells} corrupted) in {outcome.steps} steps",
                        flush=True,
                    )
    command = shlex.join(
        ["python", "benchmarks/noise.py", *(sys.argv[1:] if argv is None else argv)]
    )
    load = f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    write_text_atomic(args.output, markdown(runs, command, args.known, load))
    print(f"wrote {args.output} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
