"""Run tracking: a W&B offline run read back from disk, TensorBoard and CSV loggers, the
progress bar."""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from hc_lightning import complete, load
from hc_lightning.callbacks.progress import StepProgressBar
from hc_lightning.callbacks.tracking import artifact_name, table_rows
from hc_lightning.cli import main

FIGURES = ("structure_tensor", "singular_values", "irreducible_blocks", "training_curves")
BLOCK = 32 * 1024  # the .wandb file is a LevelDB-style log of 32 KiB blocks


def wandb_records(path: Path) -> list:
    """The protobuf records of an offline run's ``run-<id>.wandb`` file.

    Layout: a 7-byte header (``:W&B``, magic, version), then chunks with a 7-byte header
    (CRC-32 of type + payload, little-endian length, type: 1 full, 2 first, 3 middle,
    4 last) that never cross a block boundary; a block's tail shorter than a header is
    zero padding.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, position = [], b"", 7
    while position + 7 <= len(data):
        if BLOCK - position % BLOCK < 7:
            position += BLOCK - position % BLOCK
            continue
        checksum, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if position + 7 + length > len(data):
            break  # a chunk still being written
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 0:
            continue
        assert zlib.crc32(bytes([kind]) + payload) == checksum
        pending += payload
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def finished_run_records(path: Path, timeout: float = 60.0) -> list:
    """The records once the run's closing ``exit`` record is on disk: W&B's service may
    still be writing the log when ``finish()`` returns."""
    deadline = time.monotonic() + timeout
    while True:
        records = wandb_records(path)
        if by_type(records, "exit") or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def by_type(records: list, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def history_rows(records: list) -> list[dict]:
    rows = []
    for history in by_type(records, "history"):
        rows.append(
            {
                "/".join(item.nested_key) or item.key: json.loads(item.value_json)
                for item in history.item
            }
        )
    return rows


def md5_base64(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory):
    """``hypercube fit --wandb offline`` on S3, in-process; returns the run directory, the
    offline run's folder, its records and the printed summary."""
    root = tmp_path_factory.mktemp("wandb")
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
            patch.setenv(name, str(root / name.lower()))
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_SILENT", "true")
        patch.delenv("WANDB_PROJECT", raising=False)
        main(
            [
                "fit",
                "--wandb=offline",
                f"--trainer.default_root_dir={root / 'runs'}",
                "--trainer.enable_progress_bar=false",
            ]
        )
    (run_dir,) = (root / "runs" / "hypercube").iterdir()
    (wandb_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return run_dir, wandb_file.parent, finished_run_records(wandb_file), printed.getvalue()


def test_wandb_run_records_the_configuration(wandb_run) -> None:
    run_dir, _, records, _ = wandb_run
    config = {
        item.key: json.loads(item.value_json)
        for update in by_type(records, "config")
        for item in update.update
    }
    assert config["data"]["group"] == "S3" and config["data"]["train_fraction"] == 0.6
    assert config["model"]["lr"] == 0.5 and config["model"]["eps"] == 0.1
    assert config["seed_everything"] == 0 and config["wandb"] == "offline"
    assert config["n"] == 6  # the model's own hyperparameters, linked from the table
    assert (run_dir / "config.yaml").is_file()
    assert by_type(records, "exit")  # the run was closed


def test_wandb_run_records_the_metrics(wandb_run) -> None:
    run_dir, _, records, printed = wandb_run
    report = json.loads((run_dir / "report.json").read_text())
    rows = history_rows(records)
    losses = [row for row in rows if "train/data_loss" in row]
    assert len(losses) >= report["steps"] // 10  # logged every 10 steps
    accuracy = [row["val/accuracy"] for row in rows if "val/accuracy" in row]
    assert accuracy[-1] == 1.0
    (final,) = [row for row in rows if "report/exact" in row]
    assert final["report/exact"] == 1.0 and final["report/heldout_accuracy"] == 1.0
    assert final["report/steps"] == report["steps"] == final["trainer/global_step"]
    assert abs(final["report/h_over_3n2"] - 1) < 1e-3
    assert f"files in {run_dir}" in printed and "W&B offline run in" in printed


def test_wandb_run_holds_the_figures(wandb_run) -> None:
    run_dir, offline_dir, records, _ = wandb_run
    images = {key for row in history_rows(records) for key in row if key.startswith("figures/")}
    assert {key.split("/")[1] for key in images} == set(FIGURES)
    logged = [f.path for files in by_type(records, "files") for f in files.files]
    for name in FIGURES:
        (media,) = [p for p in logged if p.startswith(f"media/images/figures/{name}_")]
        copy = offline_dir / "files" / media
        assert copy.read_bytes() == (run_dir / "figures" / f"{name}.png").read_bytes()


def test_wandb_artifact_holds_the_result_files(wandb_run) -> None:
    run_dir, _, records, _ = wandb_run
    (artifact,) = [a for a in by_type(records, "artifact") if a.type == "hypercube-result"]
    assert artifact.name == "hypercube-S3"
    assert json.loads(artifact.metadata)["report/exact"] == 1.0
    entries = {entry.path: entry.digest for entry in artifact.manifest.contents}
    expected = ["report.json", "completed.csv", "representation.npz"]
    expected += [f"figures/{name}.png" for name in FIGURES]
    assert sorted(entries) == sorted(expected)
    for name in expected:
        assert entries[name] == md5_base64(run_dir / name), name
    with np.load(run_dir / "representation.npz") as saved:
        assert saved["rho_orthogonal"].shape == (6, 6, 6)


def test_wandb_tables_hold_the_table_and_the_irreps(wandb_run) -> None:
    _, offline_dir, _, _ = wandb_run
    media = offline_dir / "files" / "media" / "table" / "hypercube"
    (completed,) = media.glob("completed_table_*.table.json")
    (irreps,) = media.glob("irreps_*.table.json")
    truth = load("S3")
    columns, rows = table_rows(truth.labels, truth.cells)
    assert json.loads(completed.read_text()) == {"columns": columns, "data": rows}
    found = json.loads(irreps.read_text())
    assert found["columns"] == ["dimension", "copies", "type", "character"]
    dims = [(row[0], row[1], row[2]) for row in found["data"]]
    assert dims == [(1, 1, "real"), (1, 1, "real"), (2, 2, "real")]
    characters = np.array([[float(x) for x in row[3].split(",")] for row in found["data"]])
    # Irreducible characters are orthonormal: (1/|G|) sum_g chi_i(g) chi_j(g) = delta_ij.
    np.testing.assert_allclose(characters @ characters.T / 6, np.eye(3), atol=1e-9)
    assert characters[:, 0].tolist() == [1, 1, 2]  # chi(e) = dimension


def test_wandb_flag_and_explicit_logger_conflict(capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as stop:
        main(
            [
                "fit",
                "--wandb=offline",
                "--trainer.logger=CSVLogger",
                f"--trainer.logger.save_dir={tmp_path}",
            ]
        )
    assert stop.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("hypercube: error: `--wandb offline` chooses the logger")


LOGGERS = """
trainer:
  logger:
    - class_path: lightning.pytorch.loggers.TensorBoardLogger
      init_args: {save_dir: %(root)s, name: tb}
    - class_path: lightning.pytorch.loggers.CSVLogger
      init_args: {save_dir: %(root)s, name: csv}
"""


def test_tensorboard_and_csv_runs_without_a_display_get_the_figures(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tmp_path / "loggers.yaml"
    config.write_text(LOGGERS % {"root": tmp_path})
    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")
    env = {key: value for key, value in os.environ.items() if key not in hidden}
    env["PYTHONWARNINGS"] = "ignore"
    command = [sys.executable, "-m", "hc_lightning.cli", "fit", f"--config={config}"]
    command.append("--trainer.enable_progress_bar=false")
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr

    run_dir = tmp_path / "tb" / "version_0"  # the first logger's directory holds the files
    for name in FIGURES:
        assert (run_dir / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figures in {run_dir / 'figures'}" in result.stdout
    report = json.loads((run_dir / "report.json").read_text())

    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "tensors": 0}).Reload()
    assert {f"figures/{name}" for name in FIGURES} <= set(events.Tags()["images"])
    (image,) = events.Images("figures/training_curves")
    assert image.step == report["steps"] and (image.width, image.height) == (900, 700)
    assert "hypercube/report/text_summary" in events.Tags()["tensors"]
    assert events.Scalars("report/exact")[-1].value == 1.0

    csv_dir = tmp_path / "csv" / "version_0"
    with open(csv_dir / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["report/exact"] for row in rows if row.get("report/exact")] == ["1.0"]
    assert "train_fraction: 0.6" in (csv_dir / "hparams.yaml").read_text()


def test_progress_bar_counts_steps(capsys) -> None:
    result = complete("S3", callbacks=[StepProgressBar()], enable_progress_bar=True)
    frames = [frame for frame in capsys.readouterr().out.split("\r") if frame.strip()]
    last = frames[-1].strip()
    assert last.startswith(f"S3 polish: {result.report['steps']} steps [")
    assert "acc=1.000" in last and "H/3n2=1.00000" in last
    assert not any("Epoch" in frame for frame in frames)


def test_artifact_names_are_valid() -> None:
    assert artifact_name("x-y mod 31") == "hypercube-x-y-mod-31"
    assert artifact_name("S4:a*b*a^-1") == "hypercube-S4-a-b-a-1"
