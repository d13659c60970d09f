"""Runs that survive: kill and resume, atomic files, divergence, determinism."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hc_lightning import complete
from hc_lightning.cli import main
from hc_lightning.data.catalog import load
from hc_lightning.data.io import read_table, write_table, write_text_atomic

KEEP_NAME, KEEP_TEXT = "keep.txt", "written before the run\n"
FIGURES = ("steps", "heldout_accuracy", "h_over_3n2", "data_loss", "exact", "eps_off_step")


pytestmark = pytest.mark.usefixtures("one_thread")


def hypercube(*args: str) -> subprocess.Popen:
    """``python -m hc_lightning.cli`` started in the background, on one thread: several run
    at once, and spinning thread pools on a shared two-core machine cost far more than they
    bring."""
    return subprocess.Popen(
        [sys.executable, "-m", "hc_lightning.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=900)
    return process.returncode, out, err


def only(root: Path, pattern: str) -> Path:
    (path,) = root.glob(pattern)
    return path


def wait_for(root: Path, pattern: str, process: subprocess.Popen, timeout: float) -> Path | None:
    """Poll until a file matching ``pattern`` exists under ``root`` (None if the process
    ends first or time runs out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.02)
    return None


def test_a_killed_run_resumes_to_the_same_table(tmp_path: Path) -> None:
    common = ["fit", "--data.group=S4", "--data.train_fraction=0.5"]
    common += ["--trainer.max_steps=100000", "--trainer.enable_progress_bar=false"]
    whole = hypercube(*common, f"--trainer.default_root_dir={tmp_path / 'whole'}")
    doomed = hypercube(*common, f"--trainer.default_root_dir={tmp_path / 'killed'}")
    checkpoint = wait_for(tmp_path / "killed", "**/checkpoints/last.ckpt", doomed, timeout=600)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    assert checkpoint is not None, "the run ended before writing last.ckpt"
    assert doomed.returncode == -signal.SIGKILL
    assert not list((tmp_path / "killed").glob("**/report.json")), "killed too late"
    saved_step = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]

    resumed = hypercube(
        *common,
        f"--ckpt_path={checkpoint}",
        f"--trainer.default_root_dir={tmp_path / 'resumed'}",
    )
    for process in (whole, resumed):
        code, _, err = finish(process)
        assert code == 0, err[-3000:]
    reports = [
        json.loads(only(tmp_path / run, "**/report.json").read_text())
        for run in ("whole", "resumed")
    ]
    assert 0 < saved_step < reports[0]["steps"]
    assert reports[0]["exact"] and reports[0]["heldout_accuracy"] == 1.0
    for key in FIGURES:
        assert reports[0][key] == reports[1][key], key
    tables = [only(tmp_path / run, "**/completed.csv").read_text() for run in ("whole", "resumed")]
    assert tables[0] == tables[1]
    np.testing.assert_array_equal(
        read_table(only(tmp_path / "resumed", "**/completed.csv")).cells, load("S4").cells
    )


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_an_interrupted_run_says_how_to_resume(tmp_path: Path, signal_number: int) -> None:
    endless = hypercube(
        "fit",
        "--model.stop_loss=0",  # never done: the run waits for the signal
        "--trainer.max_steps=1000000",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
    )
    checkpoint = wait_for(tmp_path, "**/checkpoints/last.ckpt", endless, timeout=600)
    assert checkpoint is not None
    endless.send_signal(signal_number)
    code, out, err = finish(endless)
    assert code == 128 + signal_number
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hypercube: "), err
    assert "--ckpt_path" in lines[0] and str(checkpoint.parent) in lines[0]
    step = int(lines[0].split(" at step ")[1].split(";")[0])
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert saved["global_step"] == step > 0


class FailingReplace:
    """``os.replace`` that fails like a full disk or a vanished directory."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, source: str | os.PathLike, target: str | os.PathLike) -> None:
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    report = write_text_atomic(tmp_path / "report.json", '{"steps": 1}\n')
    table = write_table(load("S3"), tmp_path / "completed.npy")
    old_table = table.read_bytes()
    failing = FailingReplace(error)
    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(type(error)):
        write_text_atomic(report, '{"steps": 2}\n')
    with pytest.raises(type(error)):
        write_table(load("S4"), table)
    monkeypatch.undo()
    assert failing.calls == 2
    assert report.read_text() == '{"steps": 1}\n'
    assert table.read_bytes() == old_table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["completed.npy", "report.json"]


def test_the_report_callback_keeps_the_previous_report_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = complete("S3", seed=0, explain=False, default_root_dir=str(tmp_path))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {"report.json", "completed.csv"} <= before.keys()
    assert json.loads(before["report.json"])["steps"] == first.report["steps"]
    monkeypatch.setattr(os, "replace", FailingReplace(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        complete("S3", seed=1, explain=False, default_root_dir=str(tmp_path))
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_readers_never_see_half_a_file(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    payloads = ["a" * 2**20, "b" * 2**20]
    write_text_atomic(path, payloads[0])
    done = threading.Event()
    seen: set[tuple[str, int]] = set()

    def read_continuously() -> None:
        while not done.is_set():
            text = path.read_text()
            seen.add((text[:1], len(text)) if len(set(text)) == 1 else ("mixed", len(text)))

    reader = threading.Thread(target=read_continuously)
    reader.start()
    try:
        for round_number in range(60):
            write_text_atomic(path, payloads[round_number % 2])
    finally:
        done.set()
        reader.join()
    assert seen <= {("a", 2**20), ("b", 2**20)}, seen
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        plain = tmp_path / "plain.json"
        plain.write_text("{}\n")
        atomic = write_text_atomic(tmp_path / "report.json", "{}\n")
        table = write_table(load("S3"), tmp_path / "completed.csv")
    finally:
        os.umask(umask)
    expected = plain.stat().st_mode & 0o777
    assert expected == 0o644
    assert atomic.stat().st_mode & 0o777 == expected
    assert table.stat().st_mode & 0o777 == expected


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli(run_dir, *args) -> (exit code, stdout, stderr)`` of an in-process ``fit`` on S3
    into ``run_dir``, which holds a file written beforehand."""
    monkeypatch.setattr(sys, "argv", ["hypercube"])

    def run(run_dir: Path, *extra: str) -> tuple[int, str, str]:
        run_dir.mkdir()
        (run_dir / KEEP_NAME).write_text(KEEP_TEXT)
        code = 0
        try:
            main(
                [
                    "fit",
                    f"--trainer.default_root_dir={run_dir}",
                    "--trainer.enable_progress_bar=false",
                    "--trainer.log_every_n_steps=1",
                    *extra,
                ]
            )
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_divergence_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path: Path, cli) -> None:
    run_dir = tmp_path / "run"
    code, out, err = cli(run_dir, "--model.lr=1e6", "--data.steps_per_epoch=1")
    assert code == 2
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hypercube: error: "), err
    assert "model.lr" in lines[0]
    assert any(word in lines[0] for word in ("inf", "nan", "diverged")), lines[0]
    failed_at = int(lines[0].split(" at step ")[1].split(";")[0])
    checkpoint = torch.load(
        only(run_dir, "**/checkpoints/last.ckpt"), map_location="cpu", weights_only=False
    )
    assert 0 < checkpoint["global_step"] <= failed_at
    for name, value in checkpoint["state_dict"].items():
        assert torch.isfinite(value.double()).all(), name
    assert (run_dir / KEEP_NAME).read_text() == KEEP_TEXT


@pytest.mark.parametrize(
    "option",
    [
        "--model.eps=1e6",  # the regularizer shrinks the factors (and T) to zero
        "--model.lr=1e3",  # the factors blow up without reaching inf
    ],
)
def test_a_run_that_cannot_converge_says_so(tmp_path: Path, cli, option: str) -> None:
    code, out, err = cli(tmp_path / "run", option, "--trainer.max_steps=300")
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hypercube: error: "), err
    assert option.split("=")[0].removeprefix("--") in lines[0]
    assert "Traceback" not in out + err


def test_the_same_seed_gives_the_same_run() -> None:
    runs = [complete("D4", train_fraction=0.5, seed=3) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].table.cells, runs[1].table.cells)
    reports = [dict(run.report, seconds=None) for run in runs]
    assert reports[0] == reports[1]
    assert reports[0]["exact"] and reports[0]["steps"] > 0
    for a, b in zip(runs[0].module.parameters(), runs[1].module.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resuming_a_finished_run_takes_no_step(tmp_path: Path, cli) -> None:
    code, _, _ = cli(tmp_path / "first")
    assert code == 0
    checkpoint = only(tmp_path / "first", "**/checkpoints/last.ckpt")
    finished = torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    code, out, err = cli(tmp_path / "again", f"--ckpt_path={checkpoint}")
    assert code == 0, err
    assert f"exact after {finished} steps" in out


@pytest.mark.parametrize("group", ["S4", "Z6"], ids=["other-size", "same-size"])
def test_resuming_on_another_table_is_refused_in_one_line(tmp_path: Path, cli, group: str) -> None:
    code, _, _ = cli(tmp_path / "first", "--trainer.max_steps=20")
    assert code == 0
    checkpoint = only(tmp_path / "first", "**/checkpoints/last.ckpt")
    code, out, err = cli(tmp_path / "again", f"--data.group={group}", f"--ckpt_path={checkpoint}")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "trained on another table" in lines[0], err
    assert "Traceback" not in out + err
