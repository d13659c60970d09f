"""examples/digits_d4.py end to end with --quick, as one command, with W&B offline.

Checks the story's claims on the run's JSON: the group found from half of the compositions is
D4 and its completed table equals all 64 compositions; the classifier built on it has the same
accuracy on every transformed test set and logits unchanged by every element (float32 to 1e-5,
float64 to 1e-10); the plain CNN is not invariant and loses accuracy on transformed digits.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRANSFORMS = [
    "id",
    "turn_left",
    "upside_down",
    "turn_right",
    "mirror",
    "flip",
    "transpose",
    "antitranspose",
]


def test_quick_example_discovers_d4_and_builds_an_invariant_classifier(tmp_path: Path) -> None:
    markdown, results = tmp_path / "digits.md", tmp_path / "results.json"
    command = [
        sys.executable,
        str(ROOT / "examples" / "digits_d4.py"),
        "--quick",
        "--wandb",
        "--markdown",
        str(markdown),
        "--json",
        str(results),
        "--save-dir",
        str(tmp_path / "runs"),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=os.environ.copy(), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads(results.read_text())
    assert summary["group"] == "D4"
    assert summary["agrees_with_all_compositions"] is True
    rows = {row["model"]: row for row in summary["rows"]}
    assert list(rows) == ["discovered D4 CNN", "plain CNN", "escnn flipRot2dOnR2(4)"]

    for name in ("discovered D4 CNN", "escnn flipRot2dOnR2(4)"):
        accuracy = rows[name]["accuracy"]
        assert list(accuracy) == TRANSFORMS
        assert max(abs(accuracy[t] - accuracy["id"]) for t in TRANSFORMS) <= 0.01, accuracy
        assert rows[name]["invariance_error"] <= 1e-5
    assert rows["discovered D4 CNN"]["invariance_error_float64"] <= 1e-10

    plain = rows["plain CNN"]
    assert plain["invariance_error"] > 1e-2
    assert min(plain["accuracy"].values()) <= plain["accuracy"]["id"] - 0.2, plain["accuracy"]
    group_params = rows["discovered D4 CNN"]["parameters"]
    assert abs(plain["parameters"] - group_params) <= 0.1 * group_params

    text = markdown.read_text()
    assert "`python examples/digits_d4.py --quick`" in text
    assert text.count("\n| ") == 4  # header and three models
    assert "observed 32 of 64 products (50%): 32 matched" in text
    offline_runs = list((tmp_path / "runs" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 3
