"""Shared helpers of the benchmark suite: the machine, timers, subprocesses, Markdown."""

from __future__ import annotations

import datetime
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent


@dataclass
class Section:
    """One part of the report: a Markdown body and the figures behind it."""

    name: str
    title: str
    markdown: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessResult:
    """What a finished child process cost, from the operating system's own accounting.

    Attributes:
        returncode: the child's exit code.
        wall_seconds: from just before the start to just after the child was reaped.
        cpu_seconds: user + system time of the child.
        peak_rss_mb: the child's peak resident set size (``ru_maxrss``), in MB.
        output: what the child wrote to standard output and standard error.
    """

    returncode: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    output: str


def quiet() -> None:
    """Silence Lightning's start-up chatter and known harmless warnings."""
    import lightning  # noqa: F401  (its import sets its loggers' levels; set them after)

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("hc_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*py3nj.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    os.environ.setdefault("WANDB_MODE", "offline")


# Runs one command and reports its own resource usage. On Linux a child's ``ru_maxrss``
# starts at its parent's peak at fork time, so the command is forked from this small
# launcher rather than from the benchmark process, which holds torch and Lightning.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime,
               usage.ru_maxrss], out)
"""


def run_process(
    command: Sequence[str],
    timeout: float = 3600.0,
    cwd: Path | None = None,
    threads: int = 0,
) -> ProcessResult:
    """Run ``command`` in a fresh process and account for its time and peak memory.

    A small launcher forks the command and reaps it with ``os.wait4``, which returns the
    resource usage of that child alone (the per-child form of
    ``getrusage(RUSAGE_CHILDREN)``); the wall time runs from the fork to the reaping. The
    peak RSS cannot read below the launcher's own (about 10 MB). ``threads`` > 0 sets
    ``OMP_NUM_THREADS`` for the command (torch's thread count).

    Raises:
        TimeoutError: the command ran longer than ``timeout`` seconds (it is killed).
        RuntimeError: the launcher itself failed.
    """
    with tempfile.TemporaryDirectory() as directory:
        usage_file = Path(directory) / "usage.json"
        log_file = Path(directory) / "output.log"
        launcher = [sys.executable, "-c", _LAUNCHER, str(usage_file), *command]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
        with log_file.open("w") as log:
            child = subprocess.Popen(
                launcher,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                raise TimeoutError(f"{command[0]} ran longer than {timeout} s") from None
        output = log_file.read_text(errors="replace")
        if not usage_file.exists():
            raise RuntimeError(f"the launcher of {command[0]} failed:\n{output[-2000:]}")
        returncode, wall, cpu, maxrss_kb = json.loads(usage_file.read_text())
    return ProcessResult(
        returncode=returncode,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_mb=maxrss_kb / 1024,  # Linux reports kilobytes
        output=output,
    )


def run_worker(script: Path, spec: dict[str, Any], timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``script --worker SPEC --out FILE`` in a fresh Python and return its JSON result.

    The result gains ``process`` (wall, CPU and peak RSS of the child, from
    :func:`run_process`); ``spec`` gets ``launch_time`` (``time.time()`` at start) so the
    child can tell how long it has existed.

    Raises:
        RuntimeError: the child failed; the message ends with the tail of its output.
    """
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "result.json"
        spec = {**spec, "launch_time": time.time()}
        command = [sys.executable, str(script), "--worker", json.dumps(spec), "--out", str(out)]
        result = run_process(command, timeout, REPO, spec.get("threads", 0))
        if result.returncode != 0 or not out.exists():
            tail = "\n".join(result.output.strip().splitlines()[-15:])
            raise RuntimeError(f"worker {spec} failed ({result.returncode}):\n{tail}")
        data = json.loads(out.read_text())
    data["process"] = {
        "wall_seconds": result.wall_seconds,
        "cpu_seconds": result.cpu_seconds,
        "peak_rss_mb": result.peak_rss_mb,
    }
    return data


def seconds_of(function: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``function`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def matmul_gflops(size: int, repeats: int = 5) -> float:
    """The machine's float32 matrix multiply rate, ``2 size^3 / t``, in GFLOP/s (median)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator)
    right = torch.randn(size, size, generator=generator)
    times = seconds_of(lambda: torch.mm(left, right), repeats, warmup=2)
    return 2 * size**3 / median(times) / 1e9


def cpu_model() -> str:
    """The processor's model name from ``/proc/cpuinfo`` (else ``platform``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    """Total memory of the machine in GiB (NaN where ``/proc/meminfo`` is missing)."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return float("nan")
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def machine() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    import lightning
    import numpy
    import torch

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(memory_gib(), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "os": platform.platform(),
    }


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: ``-`` for missing values, fixed decimals for floats."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if type(value).__name__ in ("bool", "bool_"):  # Python's and numpy's booleans
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def spread(values: Sequence[float | None], digits: int = 2) -> str:
    """``min-max`` of the values (one value alone when they agree), ``-`` if none."""
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    low, high = min(present), max(present)
    if fmt(float(low), digits) == fmt(float(high), digits):
        return fmt(float(low), digits) if isinstance(low, float) else str(low)
    if isinstance(low, int) and isinstance(high, int):
        return f"{low}-{high}"
    return f"{low:.{digits}f}-{high:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; cells are passed through :func:`fmt`."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def progress(message: str) -> None:
    """A progress line on standard error (the report itself goes to a file)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
