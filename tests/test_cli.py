"""The ``hypercube`` command as a person runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hc_lightning.cli import main
from hc_lightning.memory import (
    MemoryShortageError,
    available_memory,
    check_memory,
    training_memory,
)


def hypercube(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "hc_lightning.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def read_report(root: Path) -> dict:
    (path,) = root.glob("**/report.json")
    return json.loads(path.read_text())


def test_default_fit_completes_s3(tmp_path) -> None:
    result = hypercube("fit", "--trainer.enable_progress_bar=false", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = read_report(tmp_path / "runs")
    assert report["n"] == 6 and report["heldout_accuracy"] == 1.0 and report["exact"]
    assert abs(report["h_over_3n2"] - 1) < 1e-3
    assert {"known_fraction", "steps", "seconds", "latin_square"} <= report.keys()
    assert "S3: n = 6" in result.stdout
    (table,) = (tmp_path / "runs").glob("**/completed.csv")
    assert table.read_text().startswith(",[0 1 2],[0 2 1]")


@pytest.mark.parametrize(
    ("content", "suffix", "args"),
    [
        ("0,1\n1\n", ".csv", ()),
        ("a,b,c\na,b,a\n", ".obs", ()),
        ("{", ".json", ()),
        ("", ".csv", ()),
    ],
)
def test_malformed_input_is_one_line(tmp_path, content: str, suffix: str, args) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    result = hypercube("fit", f"--data.path={path}", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hypercube: error: ") and str(path) in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_unknown_group_lists_the_catalog(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--data.group=S99x", "--trainer.logger=false"])
    assert stop.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "available: groups" in message


def test_resume_matches_an_uninterrupted_run(tmp_path) -> None:
    common = ["--data.group=D4", "--data.train_fraction=0.5", "--trainer.enable_progress_bar=false"]
    main(["fit", *common, f"--trainer.default_root_dir={tmp_path / 'whole'}"])
    main(
        [
            "fit",
            *common,
            "--trainer.max_steps=100",
            f"--trainer.default_root_dir={tmp_path / 'cut'}",
        ]
    )
    (checkpoint,) = (tmp_path / "cut").glob("**/checkpoints/last.ckpt")
    main(
        [
            "fit",
            *common,
            f"--ckpt_path={checkpoint}",
            f"--trainer.default_root_dir={tmp_path / 'resumed'}",
        ]
    )
    whole, resumed = read_report(tmp_path / "whole"), read_report(tmp_path / "resumed")
    for key in ("steps", "heldout_accuracy", "exact", "h_over_3n2", "eps_off_step", "data_loss"):
        assert whole[key] == resumed[key], key
    tables = [
        next((tmp_path / run).glob("**/completed.csv")).read_text() for run in ("whole", "resumed")
    ]
    assert tables[0] == tables[1]


STEP_PEAK = """
import resource, sys, torch
from hc_lightning.model.factors import HyperCubeFactors
torch.set_num_threads(1)
n = int(sys.argv[1])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
factors = HyperCubeFactors(n)
optimizer = torch.optim.SGD(factors.parameters(), lr=0.1, momentum=0.9)
cells = torch.randperm(n * n)[: n * n // 2]
for _ in range(2):
    rows = factors.predict(cells // n, cells % n)
    (rows.square().sum() + factors.regularizer()).backward()
    optimizer.step()
    optimizer.zero_grad()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_training_memory_bounds_the_peak_of_real_steps() -> None:
    n = 160
    run = subprocess.run(
        [sys.executable, "-c", STEP_PEAK, str(n)], capture_output=True, text=True, check=True
    )
    peak = int(run.stdout.split()[-1])  # bytes the process grew by during two steps
    factors = 3 * n**3 * 4  # bytes of A, B and C in float32
    assert 2 * factors < peak <= training_memory(n)
    assert training_memory(n, double_precision=True) == 2 * training_memory(n)


def test_check_memory_refuses_what_does_not_fit() -> None:
    available = available_memory()
    assert available is not None and 0 < available < training_memory(4096)
    with pytest.raises(MemoryShortageError) as error:
        check_memory(4096, "big.obs")
    message = str(error.value)
    assert message.startswith("big.obs: a table of n = 4096 elements needs about 8.2 TB")
    largest = int(message.rsplit("n <= ", 1)[1].split()[0])
    assert training_memory(largest) <= available < training_memory(largest + 1)
    check_memory(6, "S3")
