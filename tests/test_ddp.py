"""Two CPU processes under Lightning's ``ddp`` strategy follow the single-process run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).with_name("ddp_script.py")


def train(devices: int, steps: int, out: Path) -> dict:
    env = {**os.environ, "PL_TORCH_DISTRIBUTED_BACKEND": "gloo", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(devices), str(steps), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return torch.load(out)


def test_two_processes_match_one(tmp_path) -> None:
    single = train(1, 260, tmp_path / "single.pt")
    double = train(2, 260, tmp_path / "ddp.pt")
    for name in "ABC":
        torch.testing.assert_close(
            double["step50"][name], single["step50"][name], rtol=0, atol=1e-5
        )
    # Past the fit phase both train on the same completed table.
    assert single["completed_step"] is not None
    assert single["completed_step"] == double["completed_step"]
    for name in "ABC":
        torch.testing.assert_close(double[name], single[name], rtol=0, atol=1e-5)
