"""Run the benchmark suite and write ``docs/benchmarks.md``.

    python benchmarks/run.py                      # everything (about 15-20 minutes)
    python benchmarks/run.py --quick              # a few seconds per section, printed
    python benchmarks/run.py --sections tasks,cli --output /tmp/bench.md

Sections: ``irreps``, ``scaling``, ``overhead``, ``cli``, ``tasks``, ``s5``,
``transformer`` (see benchmarks/README.md). ``--quick`` shrinks every section to a toy
size so that the whole suite checks itself in seconds; its figures mean nothing and are
written only where ``--output`` says.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from common import REPO, Section, machine, markdown_table, median, progress, quiet

SECTIONS = ("irreps", "scaling", "overhead", "cli", "tasks", "s5", "transformer")
TARGET_TASKS = (("S3", 0.6), ("S4", 0.5), ("x-y mod 31", 0.5))
TRANSFORMER_TASKS = (("S4", 0.5), ("x-y mod 31", 0.5))
REFERENCE_S5_STEP = 4.9


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes: checks, not figures")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--seeds", default=None, help="seeds of the tasks (default 0,1,2)")
    parser.add_argument(
        "--transformer-steps", type=int, default=None, help="step budget (default 2500)"
    )
    parser.add_argument(
        "--transformer-seeds", default=None, help="seeds of the transformer (default 0)"
    )
    parser.add_argument(
        "--s5-minutes", type=float, default=30.0, help="training time bound of the S5 run"
    )
    parser.add_argument(
        "--s5-finish",
        choices=("table", "factors"),
        default="table",
        help="when the S5 run ends (HyperCubeModule's `finish`; default table)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's; 1 if quick)"
    )
    parser.add_argument("--output", default=None, help="Markdown report (default docs/...)")
    parser.add_argument("--json", default=None, help="also write every figure as JSON here")
    args = parser.parse_args(argv)
    chosen = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {SECTIONS}")
    args.sections = chosen
    if args.transformer_steps is not None and args.transformer_steps < 1:
        parser.error(f"--transformer-steps must be at least 1, got {args.transformer_steps}")
    if args.threads is None:
        args.threads = 1 if args.quick else 0
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    args.seeds = _seeds(parser, "--seeds", args.seeds or ("0" if args.quick else "0,1,2"))
    args.transformer_seeds = _seeds(parser, "--transformer-seeds", args.transformer_seeds or "0")
    if args.output is None and not args.quick:
        args.output = str(REPO / "docs" / "benchmarks.md")
    return args


def _seeds(parser: argparse.ArgumentParser, option: str, text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(word) for word in text.split(","))
    except ValueError:
        parser.error(f"{option} must be comma-separated integers, got {text!r}")
    if any(seed < 0 for seed in seeds):
        parser.error(f"{option} must be non-negative, got {text!r}")
    return seeds


def run_section(name: str, args: argparse.Namespace) -> Section:
    """Run one section at the size ``args`` asks for."""
    quick = args.quick
    if name == "irreps":
        from irreps import section_irreps

        return section_irreps(("S3", "S4") if quick else ("S4", "S5"), 2 if quick else 5)
    if name == "scaling":
        from scaling import section_scaling

        return section_scaling(quick)
    if name == "overhead":
        from scaling import section_overhead

        return section_overhead(quick)
    if name == "cli":
        from tasks import section_cli

        return section_cli(1 if quick else 3, imports=not quick, threads=args.threads)
    if name == "tasks":
        from tasks import TASKS, section_tasks

        return section_tasks(TASKS[:1] if quick else TASKS, args.seeds, args.threads)
    if name == "s5":
        from tasks import S5_TASK, Task, section_s5

        task = Task("S3", 0.6) if quick else S5_TASK
        return section_s5(
            task, max_minutes=args.s5_minutes, threads=args.threads, finish=args.s5_finish
        )
    from transformer import section_transformer

    budget = args.transformer_steps or (10 if quick else 2500)
    tasks = (("S3", 0.6),) if quick else TRANSFORMER_TASKS
    return section_transformer(tasks, args.transformer_seeds, budget)


def _label(name: str, fraction: float) -> str:
    return f"{name} ({fraction:.0%})"


def targets(sections: dict[str, Section]) -> list[list[Any]]:
    """Each target of the issue with our figure and whether it is met."""
    from tasks import REFERENCE, Task

    sections = {name: s for name, s in sections.items() if "error" not in s.data}
    rows: list[list[Any]] = []
    if "tasks" in sections:
        for name, fraction in TARGET_TASKS:
            entry = sections["tasks"].data.get(_label(name, fraction))
            if entry is None:
                continue
            ours = median([r["seconds"] for r in entry["runs"]])
            limit = REFERENCE[Task(name, fraction)].fit_seconds[0] / 5
            rows.append(
                [
                    f"fit time {_label(name, fraction)} <= 1/5 of the reference",
                    f"{ours:.2f} s (median)",
                    f"<= {limit:.2f} s",
                    ours <= limit,
                ]
            )
    if "cli" in sections:
        wall = median(sections["cli"].data["hypercube fit"]["wall_seconds"])
        rows.append(
            ["`hypercube fit` (S3) wall, imports included", f"{wall:.2f} s", "< 10 s", wall < 10]
        )
    if "s5" in sections:
        run = sections["s5"].data["runs"][0]
        process, rss = run["process_seconds"], run["process"]["peak_rss_mb"]
        label = _label(sections["s5"].data["task"], sections["s5"].data["fraction"])
        rows.append(
            [
                f"{label}: finished exact table",
                f"{process:.0f} s, exact {run['exact']}",
                "< 360 s",
                process < 360 and bool(run["exact"]),
            ]
        )
        rows.append([f"{label}: peak RSS", f"{rss:.0f} MB", "< 1536 MB", rss < 1536])
    if "overhead" in sections and "S5" in sections["overhead"].data:
        step = sections["overhead"].data["S5"]["trainer_median"]
        limit = REFERENCE_S5_STEP / 3
        rows.append(
            [
                "S5 (50 %) step in the Trainer",
                f"{step:.2f} s",
                f"<= {limit:.2f} s",
                bool(step <= limit),
            ]
        )
    if "tasks" in sections and "transformer" in sections:
        rows.extend(_transformer_targets(sections["tasks"].data, sections["transformer"].data))
    return rows


def _transformer_targets(ours: dict[str, Any], theirs: dict[str, Any]) -> list[list[Any]]:
    """Per task, the smallest ratio over seeds (same seed, same split) of steps and seconds
    to 100 % held-out; a transformer run that never got there gives a lower bound."""
    rows = []
    for label, runs in theirs.items():
        if label not in ours:
            continue
        by_seed = {r["seed"]: r for r in ours[label]["runs"]}
        step_ratios, time_ratios, bound = [], [], False
        for run in runs:
            mine = by_seed.get(run["seed"])
            if mine is None or not mine["first_step"]:
                continue
            steps = run["steps_to_100"] or run["steps_run"]
            bound = bound or run["steps_to_100"] is None
            step_ratios.append(steps / mine["first_step"])
            time_ratios.append(run["seconds"] / mine["first_seconds"])
        if not step_ratios:
            continue
        sign = ">= " if bound else ""
        for what, ratio, needed in (
            ("fewer steps", min(step_ratios), 100),
            ("less time", min(time_ratios), 30),
        ):
            # A lower bound below the target says nothing: the budget was too small.
            met = ratio >= needed or ("undecided (raise the budget)" if bound else False)
            rows.append(
                [
                    f"{label}: {needed}x {what} than the transformer to 100 % held-out",
                    f"{sign}{ratio:.0f}x (smallest over seeds)",
                    f">= {needed}x",
                    met,
                ]
            )
    return rows


def report(sections: dict[str, Section], info: dict[str, Any], command: str, seconds: float) -> str:
    """The whole Markdown document."""
    machine_rows = [
        ["CPU", info["cpu"]],
        ["cores (logical / usable)", f"{info['logical_cores']} / {info['usable_cores']}"],
        ["torch threads", info["torch_threads"]],
        ["memory", f"{info['memory_gib']} GiB"],
        [
            "Python / torch / Lightning / numpy",
            f"{info['python']} / {info['torch']} / {info['lightning']} / {info['numpy']}",
        ],
        ["OS", info["os"]],
        ["date", info["date"]],
        [
            "load average at start / end (1, 5, 15 min)",
            f"{info['load_average']} / {info['load_average_end']}",
        ],
        ["suite wall time", f"{seconds / 60:.1f} min"],
    ]
    parts = [
        "# Benchmarks",
        f"Produced by `{command}` (from the repository root). Every figure below comes "
        "from that one run; rerun it to refresh this page. A load average well above 0 "
        "means other work shared the machine and the times are upper bounds.",
        markdown_table(("machine", ""), machine_rows),
    ]
    rows = targets(sections)
    if rows:
        parts += ["## Targets", markdown_table(("target", "ours", "needed", "met"), rows)]
    for section in sections.values():
        parts += [f"## {section.title}", section.markdown]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the chosen sections, write the report; returns every figure."""
    import torch

    args = parse_args(argv)
    quiet()
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(threads)


def _run(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    start = time.perf_counter()
    info = machine()
    words = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/run.py", *words])
    sections: dict[str, Section] = {}
    for name in [name for name in SECTIONS if name in args.sections]:
        progress(f"section {name}")
        try:
            sections[name] = run_section(name, args)
        except Exception as error:  # one failed section must not lose the others
            progress(f"section {name} failed: {error!r}")
            message = str(error).strip().splitlines() or [repr(error)]
            markdown = f"The section failed: `{type(error).__name__}: {message[-1]}`"
            sections[name] = Section(name, f"{name} (failed)", markdown, {"error": str(error)})
        if args.output:  # as we go, so that an interrupted run leaves what it finished
            _save(args, sections, info, command, start, final=False)
    return _save(args, sections, info, command, start, final=True)


def _save(
    args: argparse.Namespace,
    sections: dict[str, Section],
    info: dict[str, Any],
    command: str,
    start: float,
    final: bool,
) -> dict[str, Any]:
    seconds = time.perf_counter() - start
    info["load_average_end"] = machine()["load_average"]
    text = report(sections, info, command, seconds)
    if not final:
        text = text.replace("# Benchmarks", "# Benchmarks (partial: the run is not over)", 1)
    if args.output:
        Path(args.output).write_text(text)
        progress(f"wrote {args.output}")
    else:
        print(text)
    results = {
        "machine": info,
        "seconds": seconds,
        "sections": {name: section.data for name, section in sections.items()},
        "targets": targets(sections),
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
