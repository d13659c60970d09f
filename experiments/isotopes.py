"""Study 3: group isotopes are exactly as easy as the groups.

``x - y mod p`` is an isotope of ``x + y mod p`` and ``x / y mod p`` of ``x * y mod p``: each
table is the other with its columns relabelled, ``D[a, b] = S[a, beta(b)]`` (``beta(b) = -b``,
resp. ``b^-1``). HyperCube's model and objective are equivariant under such relabelings
(``B_b -> B_{beta(b)}``), and its initialisation is i.i.d., so both operations need the same
number of steps in distribution. A transformer prefers ``x + y`` (talk).

Two measurements, steps to 100 % held-out accuracy (argmax, every step):

* independent: each operation with each seed of ``--seeds`` (the seed draws the known cells
  and the initialisation); the medians should differ by less than the seeds' spread;
* transported: the isotope trained on the relabelled split and relabelled initialisation of
  the group's run with the same seed (a partial table plus a start with ``B`` permuted);
  by equivariance the trajectories coincide up to floating-point summation order.

Run: ``python -m experiments.isotopes [--p 31] [--fraction 0.3] [--seeds 0 ... 15]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from scipy.stats import mannwhitneyu

from experiments import common
from hc_lightning.data import catalog
from hc_lightning.data.table import CayleyTable


class PermutedStart(L.Callback):
    """Relabels the right factor's slices at the start: ``B_b <- B_{beta(b)}``.

    Args:
        beta: a permutation of ``0..n-1``, shape ``(n,)``.
    """

    def __init__(self, beta: np.ndarray) -> None:
        self.beta = torch.as_tensor(np.asarray(beta), dtype=torch.long)

    @torch.no_grad()
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        factor = pl_module.factors.B
        factor.copy_(factor[self.beta])


def column_relabeling(group_table: np.ndarray, isotope_table: np.ndarray) -> np.ndarray:
    """``beta`` with ``isotope_table[a, b] = group_table[a, beta(b)]`` for all ``a, b``.

    Raises:
        ValueError: if the isotope is not the group table with its columns permuted.
    """
    columns = {column.tobytes(): index for index, column in enumerate(group_table.T)}
    beta = [columns.get(column.tobytes(), -1) for column in isotope_table.T]
    if -1 in beta or len(set(beta)) != len(beta):
        raise ValueError("`isotope_table` is not `group_table` with its columns permuted")
    return np.array(beta)


def run_independent(name: str, fraction: float, seed: int, max_steps: int) -> dict:
    """Steps to 100 % for one operation with its own split and initialisation."""
    table = catalog.load(name)
    curve = common.HeldoutCurve(
        stop_at_full_accuracy=True, track_known=False, stop_at_completion=True
    )
    common.train(table, fraction, seed, max_steps, curve=curve)
    return {"operation": name, "seed": seed, "steps": curve.first_full_step}


def run_transported(group: str, isotope: str, fraction: float, seed: int, max_steps: int) -> dict:
    """The isotope trained on the group's split and start with the same seed, relabelled."""
    group_table, isotope_table = catalog.load(group), catalog.load(isotope)
    beta = column_relabeling(group_table.cells, isotope_table.cells)
    known = group_table.mask(fraction, seed)[:, beta]  # (n, n): known[a, b] of the isotope
    partial = CayleyTable.from_cells(
        np.where(known, isotope_table.cells, -1), isotope_table.labels, name=isotope
    )
    a, b = np.nonzero(~known)
    heldout = tuple(torch.as_tensor(x, dtype=torch.long) for x in (a, b, isotope_table.cells[a, b]))
    curve = common.HeldoutCurve(
        heldout=heldout, stop_at_full_accuracy=True, track_known=False, stop_at_completion=True
    )
    common.train(partial, 1.0, seed, max_steps, curve=curve, callbacks=[PermutedStart(beta)])
    return {"operation": f"{isotope} (transported)", "seed": seed, "steps": curve.first_full_step}


def compare_pair(runs: list[dict], group: str, isotope: str) -> dict[str, Any]:
    """Spread of each operation and whether the medians differ by less than the spreads."""
    found = {}
    for name in (group, isotope):
        found[name] = [r["steps"] for r in runs if r["operation"] == name]
    group_steps = [s for s in found[group] if s is not None]
    isotope_steps = [s for s in found[isotope] if s is not None]
    g_low, g_median, g_high = common.spread(group_steps)
    i_low, i_median, i_high = common.spread(isotope_steps)
    transported = {
        r["seed"]: r["steps"] for r in runs if r["operation"] == f"{isotope} (transported)"
    }
    by_seed = {r["seed"]: r["steps"] for r in runs if r["operation"] == group}
    paired_gaps = [
        abs(transported[seed] - by_seed[seed])
        for seed in transported
        if transported[seed] is not None and by_seed.get(seed) is not None
    ]
    return {
        "group": group,
        "isotope": isotope,
        "group_spread": (g_low, g_median, g_high),
        "isotope_spread": (i_low, i_median, i_high),
        "median_gap": abs(g_median - i_median),
        "p_value": _rank_test(group_steps, isotope_steps),
        "ranges_overlap": max(g_low, i_low) <= min(g_high, i_high),
        "within_spread": abs(g_median - i_median) <= max(g_high - g_low, i_high - i_low),
        "all_reached": None not in found[group] + found[isotope],
        "paired_max_gap": max(paired_gaps) if paired_gaps else None,
        "paired_count": len(paired_gaps),
    }


def _reading(p_value: float) -> str:
    if np.isnan(p_value):
        return "too few runs for a test"
    if p_value >= 0.05:
        return "no evidence of a difference at the 5 % level"
    return "a difference at the 5 % level, although the two distributions are equal in theory"


def _rank_test(first: Sequence[int], second: Sequence[int]) -> float:
    """Two-sided Mann-Whitney U p-value that both samples come from one distribution."""
    if len(first) < 2 or len(second) < 2:
        return float("nan")
    return float(mannwhitneyu(first, second, alternative="two-sided").pvalue)


def plot(runs: list[dict], operations: list[str], directory: Path) -> Path:
    """Steps to 100 % of every run, one column per operation."""
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.2))
    for position, name in enumerate(operations):
        steps = [r["steps"] for r in runs if r["operation"] == name and r["steps"] is not None]
        jitter = np.linspace(-0.12, 0.12, max(len(steps), 1))[: len(steps)]
        transported = name.endswith("(transported)")
        axis.scatter(
            position + jitter,
            steps,
            facecolors="none" if transported else "tab:blue",
            edgecolors="tab:blue",
        )
        if steps:
            axis.hlines(np.median(steps), position - 0.25, position + 0.25, color="k", lw=1)
    axis.set_xticks(range(len(operations)))
    axis.set_xticklabels([name.replace(" (transported)", "\n(transported)") for name in operations])
    axis.set_ylabel("steps to 100 % held-out accuracy")
    axis.set_title("isotopes: one dot per seed, bar = median")
    figure.tight_layout()
    return common.save_figure(figure, directory, "isotopes.png")


def markdown(
    runs: list[dict], pairs: list[dict], args: argparse.Namespace, figure: Path, operations
) -> str:
    """The study's section of docs/experiments.md."""
    rows = []
    for name in operations:
        steps = [r["steps"] for r in runs if r["operation"] == name]
        reached = [s for s in steps if s is not None]
        low, median, high = common.spread(reached)
        listed = ", ".join(common.fmt(s) for s in steps)
        rows.append(
            [name, f"{len(reached)}/{len(steps)}", *map(common.fmt, (low, median, high)), listed]
        )
    findings = []
    for pair in pairs:
        g, i = pair["group_spread"], pair["isotope_spread"]
        findings.append(
            f"- {pair['group']} against {pair['isotope']}: medians {g[1]:g} and {i[1]:g} "
            f"steps, gap {pair['median_gap']:g} against spreads (max - min) of "
            f"{g[2] - g[0]:g} and {i[2] - i[0]:g}: "
            f"{'within' if pair['within_spread'] else 'OUTSIDE'} the seed spread; ranges "
            f"{'overlap' if pair['ranges_overlap'] else 'do not overlap'}; Mann-Whitney "
            f"p = {pair['p_value']:.2f} ({_reading(pair['p_value'])})."
            + (
                f" Transported runs: largest |steps - group's steps| over "
                f"{pair['paired_count']} seeds = {pair['paired_max_gap']}.\n"
                if pair["paired_max_gap"] is not None
                else "\n"
            )
        )
    return (
        "## 3. Isotopes are equally easy\n\n"
        f"Command: `python -m experiments.isotopes --p {args.p} --fraction {args.fraction} "
        f"--seeds {' '.join(map(str, args.seeds))} --max-steps {args.max_steps}`. "
        "Steps to the first step with every held-out cell right; 'transported' trains the "
        "isotope on the relabelled split and initialisation of the group's run with the same "
        "seed.\n\n"
        + common.markdown_table(
            ["operation", "reached", "min", "median", "max", "steps per seed"], rows
        )
        + "\n"
        + common.figure_link(args.doc, figure, "isotopes")
        + "\nFindings (talk: isotopes are exactly as easy as the groups):\n\n"
        + "".join(findings)
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.isotopes", description=__doc__)
    parser.add_argument("--p", type=int, default=31, help="prime modulus")
    parser.add_argument("--fraction", type=float, default=0.3, help="known share of the table")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(16)))
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument(
        "--no-transport", action="store_true", help="skip the transported isotope runs"
    )
    common.add_output_arguments(parser)
    args = parser.parse_args(argv)
    if args.p < 3 or any(args.p % k == 0 for k in range(2, int(args.p**0.5) + 1)):
        parser.error(f"--p must be a prime of at least 3, got {args.p}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run both isotope pairs, write the figure and the section; returns the comparisons."""
    args = parse_args(argv)
    common.quiet()
    pairs = [(f"x+y mod {args.p}", f"x-y mod {args.p}"), (f"x*y mod {args.p}", f"x/y mod {args.p}")]
    runs, operations = [], []
    for group, isotope in pairs:
        operations += [group, isotope] + ([] if args.no_transport else [f"{isotope} (transported)"])
        for seed in args.seeds:
            found = [
                run_independent(name, args.fraction, seed, args.max_steps)
                for name in (group, isotope)
            ]
            if not args.no_transport:
                found.append(run_transported(group, isotope, args.fraction, seed, args.max_steps))
            runs += found
            print(
                ", ".join(f"{r['operation']} seed {seed}: {r['steps']}" for r in found), flush=True
            )
    comparisons = [compare_pair(runs, group, isotope) for group, isotope in pairs]
    figure = plot(runs, operations, args.figures)
    common.write_section(
        args.doc, "isotopes", markdown(runs, comparisons, args, figure, operations)
    )
    print(f"wrote {figure} and {args.doc}")
    return comparisons


if __name__ == "__main__":
    main()
