"""Steps and seconds to 100 % held-out accuracy and to the finished exact table, per task.

Every (task, seed) runs in a fresh Python process (``tasks.py --worker``), so that its
peak resident memory and its whole-process wall time are its own:

1. the default run, ``hc_lightning.complete(name, fraction, seed, explain=False)``: the
   steps and seconds until training stops by itself with the exact table, split by phase
   (fit, settle, polish) with a clock callback that costs one timer read per step;
2. a second run from the same seed with a callback that measures held-out accuracy after
   every step and stops at the first step where it is 100 %; its seconds exclude the
   callback's own evaluation time. For S5 the callback rides along in the default run
   instead, every 5 steps (a second S5 run would cost minutes, and so would an evaluation
   of its 10080 held-out cells after every step); its time is subtracted there too.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from common import (
    Section,
    fmt,
    markdown_table,
    median,
    progress,
    quiet,
    run_process,
    run_worker,
    spread,
)

SCRIPT = Path(__file__).resolve()


@dataclass(frozen=True)
class Task:
    """A catalog table and the share of its cells shown to the model."""

    name: str
    fraction: float

    @property
    def label(self) -> str:
        return f"{self.name} ({self.fraction:.0%})"


@dataclass(frozen=True)
class Reference:
    """Figures of the authors' public code with its defaults, on this kind of machine."""

    first: str
    steps: str
    fit_seconds: tuple[float, float]
    wall: str
    rss: str


TASKS = (
    Task("S3", 0.6),
    Task("x+y mod 23", 0.5),
    Task("x-y mod 23", 0.5),
    Task("x+y mod 31", 0.5),
    Task("x-y mod 31", 0.5),
    Task("S4", 0.3),
    Task("S4", 0.5),
)
S5_TASK = Task("S5", 0.3)

_MOD23 = Reference("18-19", "231-251", (4.5, 5.9), "10-13", "438")
_MOD31 = Reference("18-19", "231-251", (6.9, 9.5), "13-17", "~470")
REFERENCE = {
    Task("S3", 0.6): Reference("18-24", "251-271", (4.0, 4.2), "~11", "425"),
    Task("x+y mod 23", 0.5): _MOD23,
    Task("x-y mod 23", 0.5): _MOD23,
    Task("x+y mod 31", 0.5): _MOD31,
    Task("x-y mod 31", 0.5): _MOD31,
    Task("S4", 0.3): Reference("48-80", "331-531", (6.5, 15.0), "13-25", "~440"),
    Task("S4", 0.5): Reference("18-19", "231-271", (5.1, 6.9), "12-15", "~440"),
}


class HeldoutEveryStep(L.Callback):
    """Held-out accuracy after every ``every``-th step until it first reaches 100 %.

    Args:
        stop: end training at that step.
        every: steps between evaluations.
    """

    def __init__(self, stop: bool, every: int = 1) -> None:
        self.stop = stop
        self.every = every
        self.step: int | None = None
        self.seconds: float | None = None
        self.eval_seconds = 0.0
        self._start = 0.0
        self._cells = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        self._cells = trainer.datamodule.heldout_cells

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.step is not None or trainer.global_step % self.every:
            return
        start = time.perf_counter()
        a, b, c = self._cells
        correct = pl_module.predict_rows(a, b).argmax(dim=1) == c
        finished = bool(correct.all())
        self.eval_seconds += time.perf_counter() - start
        if finished:
            self.step = trainer.global_step
            self.seconds = time.perf_counter() - self._start - self.eval_seconds
            if self.stop:
                trainer.should_stop = True


class PhaseClock(L.Callback):
    """Seconds spent in each phase of the eps schedule (fit, settle, polish)."""

    def __init__(self) -> None:
        self.seconds = {"fit": 0.0, "settle": 0.0, "polish": 0.0}
        self._last = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        # Callbacks run before the module's own hook advances the schedule, so the phase
        # read here is the one this step was taken in.
        now = time.perf_counter()
        self.seconds[pl_module.schedule.phase] += now - self._last
        self._last = now


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """The measurements of one (task, seed) in this process (see the module docs)."""
    quiet()
    import torch

    from hc_lightning.api import complete

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    name, fraction, seed = spec["task"], spec["fraction"], spec["seed"]
    clock = PhaseClock()
    riding = HeldoutEveryStep(False, spec["every"]) if spec["first"] == "same" else None
    callbacks = [clock] + ([riding] if riding else [])
    limits = {"max_steps": spec["max_steps"]}
    if spec.get("max_minutes"):
        limits["max_time"] = datetime.timedelta(minutes=spec["max_minutes"])
    startup_seconds = time.time() - spec["launch_time"]
    model = spec.get("model_kwargs")
    result = complete(
        name, fraction, seed, model_kwargs=model, explain=False, callbacks=callbacks, **limits
    )
    report = result.report
    eval_seconds = riding.eval_seconds if riding else 0.0
    out = {
        key: report[key]
        for key in ("n", "steps", "heldout_accuracy", "exact", "completed_step", "eps_off_step")
    }
    out.update(
        seconds=report["seconds"] - eval_seconds,
        process_seconds=time.time() - spec["launch_time"] - eval_seconds,
        startup_seconds=startup_seconds,
        phase_seconds=clock.seconds,
        h_over_3n2=report["h_over_3n2"],
        threads=torch.get_num_threads(),
    )
    first = riding
    if spec["first"] == "separate":
        first = HeldoutEveryStep(stop=True)
        complete(
            name, fraction, seed, model_kwargs=model, explain=False, callbacks=[first], **limits
        )
    out["first_step"] = first.step if first else None
    out["first_seconds"] = first.seconds if first else None
    out["first_eval_seconds"] = first.eval_seconds if first else None
    return out


def measure_task(
    task: Task,
    seeds: tuple[int, ...],
    first: str = "separate",
    max_steps: int = 20000,
    threads: int = 0,
    every: int = 1,
    max_minutes: float | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run :func:`worker` for each seed in a fresh process; one dict per seed.

    ``first`` is ``"separate"`` (a second run finds the first step at 100 % held-out) or
    ``"same"`` (the default run checks every ``every`` steps). ``max_minutes`` bounds the
    training time of each run (Lightning's ``max_time``); a run stopped by it is not exact.
    """
    runs = []
    for seed in seeds:
        spec = {
            "task": task.name,
            "fraction": task.fraction,
            "seed": seed,
            "first": first,
            "max_steps": max_steps,
            "threads": threads,
            "every": every,
            "max_minutes": max_minutes,
            "model_kwargs": model_kwargs,
        }
        # The bound inside the run comes first; this one only catches a hung process.
        timeout = 3600 + 120 * (max_minutes or 0)
        run = run_worker(SCRIPT, spec, timeout)
        run["seed"] = seed
        progress(
            f"{task.label} seed {seed}: {run['steps']} steps, {run['seconds']:.2f} s,"
            f" exact {run['exact']}, first 100 % at {run['first_step']},"
            f" {run['process']['peak_rss_mb']:.0f} MB"
        )
        runs.append(run)
    return runs


def _summary_row(task: Task, runs: list[dict[str, Any]]) -> list[Any]:
    reference = REFERENCE.get(task)
    fit = median([r["seconds"] for r in runs])
    return [
        task.label,
        spread([r["first_step"] for r in runs]),
        reference.first if reference else "-",
        spread([r["steps"] for r in runs]),
        reference.steps if reference else "-",
        spread([r["seconds"] for r in runs]),
        "{:.1f}-{:.1f}".format(*reference.fit_seconds) if reference else "-",
        f"{reference.fit_seconds[0] / fit:.1f}x" if reference else "-",
        spread([r["process_seconds"] for r in runs], 1),
        reference.wall if reference else "-",
        f"{max(r['process']['peak_rss_mb'] for r in runs):.0f}",
        reference.rss if reference else "-",
        f"{sum(bool(r['exact']) for r in runs)}/{len(runs)}",
    ]


def _detail_rows(task: Task, runs: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for r in runs:
        phases = r["phase_seconds"]
        rows.append(
            [
                task.label,
                r["seed"],
                r["first_step"],
                fmt(r["first_seconds"]),
                r["steps"],
                r["completed_step"],
                r["eps_off_step"],
                fmt(r["seconds"]),
                f"{phases['fit']:.2f} / {phases['settle']:.2f} / {phases['polish']:.2f}",
                f"{1000 * r['seconds'] / max(r['steps'], 1):.1f}",
                fmt(r["heldout_accuracy"], 4),
                r["exact"],
                fmt(r["startup_seconds"], 1),
                fmt(r["process_seconds"], 1),
                f"{r['process']['peak_rss_mb']:.0f}",
            ]
        )
    return rows


SUMMARY_HEADER = (
    "task (known)",
    "first step at 100 % held-out",
    "ref.",
    "steps until it stops",
    "ref.",
    "fit time (s)",
    "ref. (s)",
    "ref. low / our median",
    "process wall (s)",
    "ref. (s)",
    "peak RSS (MB)",
    "ref. (MB)",
    "exact",
)
DETAIL_HEADER = (
    "task",
    "seed",
    "first 100 % step",
    "s to it",
    "steps",
    "fit ends",
    "eps off",
    "fit time (s)",
    "fit / settle / polish (s)",
    "ms/step",
    "held-out acc.",
    "exact",
    "start-up (s)",
    "process (s)",
    "RSS (MB)",
)


def section_tasks(tasks: tuple[Task, ...], seeds: tuple[int, ...], threads: int = 0) -> Section:
    """The per-task table against the reference, and every run's details."""
    results = {}
    for task in tasks:
        results[task.label] = {"task": task.name, "fraction": task.fraction}
        results[task.label]["runs"] = measure_task(task, seeds, threads=threads)
    summary = [_summary_row(Task(v["task"], v["fraction"]), v["runs"]) for v in results.values()]
    details = [
        row
        for v in results.values()
        for row in _detail_rows(Task(v["task"], v["fraction"]), v["runs"])
    ]
    markdown = "\n\n".join(
        [
            f"Seeds {', '.join(map(str, seeds))}; ranges are min-max over the seeds, the peak "
            "RSS is the largest. *Fit time* is `report['seconds']` of "
            "`complete(name, fraction, seed, explain=False)` (trainer start to end); "
            "*process wall* is a fresh Python process from launch to the end of that call, "
            "imports included; *first step at 100 % held-out* comes from a second run with "
            "a per-step held-out evaluation. Reference figures: the authors' public code "
            "with its defaults.",
            markdown_table(SUMMARY_HEADER, summary),
            "Every run (*fit ends*: the step where the fit phase ended and the completed "
            "table became the target; *eps off*: the start of the float64 polish):",
            markdown_table(DETAIL_HEADER, details),
        ]
    )
    return Section("tasks", "Tasks: ours against the reference code", markdown, results)


def section_s5(
    task: Task = S5_TASK,
    seed: int = 0,
    max_minutes: float = 30.0,
    threads: int = 0,
    every: int = 5,
    finish: str = "table",
) -> Section:
    """One large run (S5, n = 120, from 30 % known): the finished exact table, its time
    and peak memory; held-out accuracy checked every ``every`` steps; training stops after
    ``max_minutes`` if it has not finished by then. ``finish`` is the module's option:
    ``"table"`` ends the run at the first completed table that is a group agreeing with
    every given cell; ``"factors"`` goes on until the factors fit it exactly."""
    runs = measure_task(
        task, (seed,), "same", 20000, threads, every, max_minutes, {"finish": finish}
    )
    r = runs[0]
    phases = r["phase_seconds"]
    rows = [
        [
            task.label,
            seed,
            r["first_step"],
            fmt(r["first_seconds"], 1),
            r["steps"],
            r["completed_step"],
            r["eps_off_step"],
            f"{r['seconds']:.1f}",
            f"{phases['fit']:.0f} / {phases['settle']:.0f} / {phases['polish']:.0f}",
            f"{r['seconds'] / max(r['steps'], 1):.2f}",
            fmt(r["heldout_accuracy"], 4),
            r["exact"],
            f"{r['process_seconds']:.1f}",
            f"{r['process']['peak_rss_mb']:.0f}",
        ]
    ]
    header = (
        "task",
        "seed",
        "first 100 % step",
        "s to it",
        "steps",
        "fit ends",
        "eps off",
        "fit time (s)",
        "fit / settle / polish (s)",
        "s/step",
        "held-out acc.",
        "exact",
        "process (s)",
        "peak RSS (MB)",
    )
    markdown = "\n\n".join(
        [
            f"One run, seed {seed}, in a fresh process, `finish={finish!r}` (see "
            "`HyperCubeModule`). The held-out accuracy is measured "
            f"every {every} steps (so the first step at 100 % is rounded up to a multiple of "
            f"{every}) until it first reaches 100 %, by a callback in this same run; its "
            f"evaluation time ({fmt(r['first_eval_seconds'], 1)} s) is subtracted from the "
            "fit time and the process wall. The reference (its S5 figures are at 50 % "
            "known) reaches 100 % held-out at about step 21 and takes 4.9 s per step with a "
            f"2.97 GB peak. Training is stopped after {max_minutes:g} minutes if it has not "
            "finished; such a run shows `exact` as no.",
            markdown_table(header, rows),
        ]
    )
    title = f"{task.name} (n = {r['n']}) from {task.fraction:.0%} known"
    data = {"task": task.name, "fraction": task.fraction, "runs": runs}
    return Section("s5", title, markdown, data)


def cli_profile(hypercube: Path, threads: int = 0) -> list[tuple[str, float]]:
    """Where one ``hypercube fit`` spends its time, from ``cProfile`` in a fresh process:
    ``(part, seconds)`` for the import of the command, the training loop and every
    callback hook of ``hc_lightning`` that takes at least 1 % (the profiler slows Python
    code, so read the shares, not the seconds)."""
    with tempfile.TemporaryDirectory() as directory:
        stats_file = Path(directory) / "fit.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), str(hypercube)]
        command += ["fit", "--trainer.default_root_dir", directory]
        done = run_process(command, 600, threads=threads)
        if done.returncode != 0:
            raise RuntimeError(f"profiled hypercube fit failed:\n{done.output[-2000:]}")
        stats = pstats.Stats(str(stats_file)).stats
    total = sum(entry[2] for entry in stats.values())  # own time of every function
    parts = [("whole run", total)]
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        path = filename.replace("\\", "/")
        if path.endswith("hc_lightning/cli.py") and function == "<module>":
            parts.append(("import of the command (torch, Lightning, ...)", cumulative))
        elif path.endswith("loops/fit_loop.py") and function == "run":
            parts.append(("training loop (every step, its hooks and validation)", cumulative))
        elif "hc_lightning/callbacks/" in path and function.startswith("on_"):
            parts.append((f"`{Path(path).stem}.{function}`", cumulative))
    return [(part, seconds) for part, seconds in parts if seconds >= 0.01 * total]


def section_cli(runs: int, imports: bool = True, threads: int = 0) -> Section:
    """Whole-process wall time of ``hypercube fit`` (S3, 60 %) and, if ``imports``, of
    importing torch and Lightning and of ``hypercube --help``."""
    executable = Path(sys.executable)
    hypercube = executable.parent / "hypercube"
    commands = {}
    if imports:
        commands = {
            "python -c 'import torch'": [str(executable), "-c", "import torch"],
            "python -c 'import lightning'": [str(executable), "-c", "import lightning"],
            "hypercube --help": [str(hypercube), "--help"],
        }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory:
        fit = [str(hypercube), "fit", "--trainer.default_root_dir", directory]
        commands["hypercube fit"] = fit
        for label, command in commands.items():
            done = [run_process(command, 600, threads=threads) for _ in range(runs)]
            failed = [d for d in done if d.returncode != 0]
            if failed:
                raise RuntimeError(f"{label} failed:\n{failed[0].output[-2000:]}")
            results[label] = {
                "wall_seconds": [d.wall_seconds for d in done],
                "cpu_seconds": [d.cpu_seconds for d in done],
                "peak_rss_mb": [d.peak_rss_mb for d in done],
                "output": done[-1].output.strip().splitlines()[-20:],
            }
            progress(f"{label}: median {median(results[label]['wall_seconds']):.2f} s")
    rows = [
        [
            f"`{label}`",
            f"{median(r['wall_seconds']):.2f}",
            spread(r["wall_seconds"]),
            f"{median(r['cpu_seconds']):.2f}",
            f"{max(r['peak_rss_mb']):.0f}",
        ]
        for label, r in results.items()
    ]
    summary = next((line for line in results["hypercube fit"]["output"] if " steps (" in line), "-")
    parts = [
        f"{runs} run(s) of each command in a fresh process, timed from outside (start to "
        "reaped child); `hypercube fit` with no options completes S3 from 60 % of its "
        "table with every explanation callback, a logger and a checkpoint, and writes "
        "its files into a temporary directory.",
        markdown_table(
            ("command", "wall median (s)", "wall min-max (s)", "CPU (s)", "peak RSS (MB)"),
            rows,
        ),
        f"Summary line printed by the last `hypercube fit`: `{summary}`",
    ]
    if imports:
        profile = cli_profile(hypercube, threads)
        results["profile"] = profile
        total = profile[0][1]
        parts += [
            "Where one `hypercube fit` spends its time (cProfile in a fresh process; the "
            "profiler slows Python code, so the shares matter, not the seconds):",
            markdown_table(
                ("part", "profiled seconds", "share"),
                [[part, f"{sec:.2f}", f"{100 * sec / total:.0f} %"] for part, sec in profile],
            ),
        ]
    return Section("cli", "End to end: the `hypercube` command", "\n\n".join(parts), results)


def _worker_main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", required=True, help="JSON spec of one (task, seed)")
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    result = worker(json.loads(args.worker))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    _worker_main()
