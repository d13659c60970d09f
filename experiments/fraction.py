"""Study 2: optimisation steps to 100 % held-out accuracy against the known share of a table.

For each known fraction ``f`` and seed, HyperCube trains on ``round(f n^2)`` cells of the
group's table; after every step (``--eval-every``) the held-out cells are scored by argmax and
the run stops at the first step where all of them are right. The figure is that step
(min / median / max over the seeds) against ``f``. A run whose fit phase ends short of 100 %
is stopped there: from then on the model trains on its own (wrong) completion.

The talk's S5 (``n = 120``) figures: about 750 steps at 16 %, 135 at 30 % and 25 at 80 %.
The default group is S4 (``n = 24``, seconds per run); ``--group S5`` reproduces the talk's
setting at about a second per step on this machine.

Run: ``python -m experiments.fraction [--group S4] [--fractions ...] [--seeds 0 ... 4]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from experiments import common
from hc_lightning.data import catalog

TALK_S5_STEPS = {0.16: 750, 0.30: 135, 0.80: 25}


def steps_to_full(group: str, fraction: float, seed: int, max_steps: int, every: int) -> dict:
    """One run stopped at the first step with every held-out cell right."""
    table = catalog.load(group)
    curve = common.HeldoutCurve(
        stop_at_full_accuracy=True, every=every, track_known=False, stop_at_completion=True
    )
    start = time.perf_counter()
    run = common.train(table, fraction, seed, max_steps, curve=curve)
    return {
        "fraction": fraction,
        "seed": seed,
        "known_cells": round(fraction * table.n**2),
        "steps": curve.first_full_step,
        "final_accuracy": curve.history["heldout_accuracy"][-1],
        "wrong_completion_step": curve.stopped_at_completion,
        "seconds": time.perf_counter() - start,
        "ran": run.steps,
    }


def summarize(runs: list[dict], fractions: Sequence[float]) -> list[dict]:
    """Per fraction: how many seeds reached 100 % and the spread of their steps."""
    rows = []
    for fraction in fractions:
        chosen = [r for r in runs if r["fraction"] == fraction]
        reached = [r["steps"] for r in chosen if r["steps"] is not None]
        low, median, high = common.spread(reached)
        rows.append(
            {
                "fraction": fraction,
                "known_cells": chosen[0]["known_cells"],
                "reached": len(reached),
                "seeds": len(chosen),
                "min": low,
                "median": median,
                "max": high,
                "talk": _talk_value(fraction),
            }
        )
    return rows


def _talk_value(fraction: float) -> int | None:
    for talk_fraction, steps in TALK_S5_STEPS.items():
        if abs(fraction - talk_fraction) < 1e-9:
            return steps
    return None


def plot(runs: list[dict], rows: list[dict], group: str, directory: Path) -> Path:
    """Steps to 100 % held-out (log scale) against the known fraction, with the talk's S5."""
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    reached = [r for r in runs if r["steps"] is not None]
    axis.scatter(
        [r["fraction"] for r in reached],
        [r["steps"] for r in reached],
        s=14,
        color="tab:blue",
        alpha=0.6,
        label=f"{group}, one seed",
    )
    done = [row for row in rows if row["reached"]]
    medians = np.array([row["median"] for row in done])
    axis.errorbar(
        [row["fraction"] for row in done],
        medians,
        yerr=[medians - [row["min"] for row in done], [row["max"] for row in done] - medians],
        color="tab:blue",
        capsize=3,
        label=f"{group}, median (min-max)",
    )
    axis.plot(
        list(TALK_S5_STEPS),
        list(TALK_S5_STEPS.values()),
        "kx--",
        lw=0.8,
        label="talk, S5",
    )
    failed = [r["fraction"] for r in runs if r["steps"] is None]
    if failed:
        axis.scatter(
            failed,
            np.full(len(failed), 0.96),
            marker="x",
            color="tab:red",
            transform=axis.get_xaxis_transform(),
            label=f"{group}, a seed that never reached 100 %",
        )
    axis.set_yscale("log")
    axis.set_xlabel("known fraction of the table")
    axis.set_ylabel("steps to 100 % held-out accuracy")
    axis.legend()
    return common.save_figure(figure, directory, f"fraction_{group}.png")


def markdown(runs: list[dict], rows: list[dict], args: argparse.Namespace, figure: Path) -> str:
    """The study's section of docs/experiments.md."""
    n = catalog.load(args.group).n
    table_rows = [
        [
            f"{row['fraction']:.0%}",
            row["known_cells"],
            f"{row['known_cells'] / n:.1f}",
            f"{row['reached']}/{row['seeds']}",
            common.fmt(row["min"]),
            common.fmt(row["median"]),
            common.fmt(row["max"]),
            common.fmt(row["talk"]),
            _ratio(row),
        ]
        for row in rows
    ]
    seconds = sum(r["seconds"] for r in runs)
    lines = [
        f"at {row['fraction']:.0%}: median {row['median']:.0f} steps against the talk's "
        f"{row['talk']} ({row['median'] / row['talk']:.2f} x)"
        for row in rows
        if row["talk"] is not None and row["reached"]
    ]
    failed = _failures(runs, args.fractions)
    return (
        f"## 2. Steps to 100 % held-out accuracy against the known fraction ({args.group})\n\n"
        f"Command: `python -m experiments.fraction --group {args.group} --fractions "
        f"{' '.join(map(str, args.fractions))} --seeds {' '.join(map(str, args.seeds))} "
        f"--max-steps {args.max_steps} --eval-every {args.eval_every}` ({len(runs)} runs, "
        f"{seconds:.0f} s). {args.group} has n = {n}; the step is the first with every "
        f"held-out cell right (argmax), measured every {args.eval_every} step(s).\n\n"
        + common.markdown_table(
            [
                "known",
                "cells",
                "cells / n",
                "reached",
                "min",
                "median",
                "max",
                "talk (S5)",
                "median / talk",
            ],
            table_rows,
        )
        + "\n"
        + common.figure_link(args.doc, figure, "steps against known fraction")
        + "\nAgainst the talk's S5 figures"
        + (
            " (a different, smaller group: compare shapes, not values)"
            if args.group != "S5"
            else ""
        )
        + ": "
        + ("; ".join(lines) if lines else "no matching fractions run")
        + ".\n"
        + _threshold(rows, n)
        + ("\nRuns that never reached 100 %:\n\n" + "".join(failed) if failed else "")
    )


def _failures(runs: list[dict], fractions: Sequence[float]) -> list[str]:
    """One Markdown bullet per fraction with failed seeds: how they failed."""
    bullets = []
    for fraction in fractions:
        failed = [r for r in runs if r["fraction"] == fraction and r["steps"] is None]
        if not failed:
            continue
        total = sum(r["fraction"] == fraction for r in runs)
        settled = [r for r in failed if r["wrong_completion_step"] is not None]
        parts = []
        if settled:
            steps = [r["wrong_completion_step"] for r in settled]
            right = [r["final_accuracy"] for r in settled]
            parts.append(
                f"{len(settled)} ended the fit phase (steps {min(steps)}-{max(steps)}) on a "
                f"wrong completion with {min(right):.0%}-{max(right):.0%} of the held-out "
                "cells right"
            )
        budget = [r for r in failed if r["wrong_completion_step"] is None]
        if budget:
            parts.append(f"{len(budget)} still short of 100 % when the step budget ran out")
        bullets.append(f"- {fraction:.0%} ({len(failed)} of {total} seeds): {'; '.join(parts)}.\n")
    return bullets


def _threshold(rows: list[dict], n: int) -> str:
    """Where recovery starts: the largest fraction with no success, the smallest with all."""
    none = [row for row in rows if row["reached"] == 0]
    every = [row for row in rows if row["reached"] == row["seeds"]]
    if not none or not every:
        return ""
    below = max(none, key=lambda row: row["fraction"])
    above = min((row for row in every if row["fraction"] > below["fraction"]),
                key=lambda row: row["fraction"], default=None)  # fmt: skip
    if above is None:
        return ""
    return (
        f"\nRecovery sets in between {below['fraction']:.0%} (no seed, "
        f"{below['known_cells'] / n:.1f} known cells per element) and {above['fraction']:.0%} "
        f"(every seed, {above['known_cells'] / n:.1f} per element). The talk's S5 run at 16 % "
        f"has {0.16 * 120:.1f} known cells per element.\n"
    )


def _ratio(row: dict) -> str:
    if row["talk"] is None or not row["reached"]:
        return "-"
    return f"{row['median'] / row['talk']:.2f}"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.fraction", description=__doc__)
    parser.add_argument("--group", default="S4", help="catalog name (S5: ~1 s per step)")
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=[0.16, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=1, help="steps between evaluations")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (S5: try 2)")
    common.add_output_arguments(parser)
    args = parser.parse_args(argv)
    for fraction in args.fractions:
        if not 0 < fraction < 1:
            parser.error(f"--fractions must lie in (0, 1) to leave cells held out, got {fraction}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run every fraction and seed, write the figure and the section; returns the rows."""
    args = parse_args(argv)
    common.quiet(args.threads)
    runs = []
    for fraction in args.fractions:
        for seed in args.seeds:
            run = steps_to_full(args.group, fraction, seed, args.max_steps, args.eval_every)
            runs.append(run)
            print(
                f"{args.group} {fraction:.0%} seed {seed}: 100 % at step {run['steps']} "
                f"(held-out accuracy {run['final_accuracy']:.2f}, {run['seconds']:.1f} s)",
                flush=True,
            )
    rows = summarize(runs, args.fractions)
    figure = plot(runs, rows, args.group, args.figures)
    common.write_section(args.doc, f"fraction-{args.group}", markdown(runs, rows, args, figure))
    print(f"wrote {figure} and {args.doc}")
    return rows


if __name__ == "__main__":
    main()
