"""``load_group``: the group of a run from its completion, files, run directory or checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _threads import one_thread

from hc_lightning import (
    CayleyTable,
    FiniteGroup,
    HyperCubeModule,
    TableError,
    complete,
    load,
    load_group,
)
from hc_lightning.api import _checkpoint_table


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    """A Q8 run from 60 % of its table, with its files and a checkpoint in a directory."""
    directory = tmp_path_factory.mktemp("run")
    with one_thread():
        result = complete(
            "Q8", seed=0, explain=False, default_root_dir=str(directory), enable_checkpointing=True
        )
    assert result.report["exact"]
    return result, directory


def sources(directory: Path) -> dict[str, Path]:
    (checkpoint,) = directory.glob("checkpoints/*.ckpt")
    return {
        "directory": directory,
        "report": directory / "report.json",
        "table": directory / "completed.csv",
        "checkpoint": checkpoint,
    }


@pytest.mark.parametrize("kind", ["directory", "report", "table", "checkpoint"])
def test_every_trace_of_a_run_gives_its_group(run, kind: str) -> None:
    result, directory = run
    group = load_group(sources(directory)[kind])
    truth = load("Q8")
    np.testing.assert_array_equal(group.table, truth.cells)
    assert group.labels == truth.labels
    assert load_group(result).labels == truth.labels


def test_a_checkpoint_keeps_the_given_cells_and_the_labels(run) -> None:
    _, directory = run
    saved = torch.load(sources(directory)["checkpoint"], weights_only=True)
    data = saved["CayleyDataModule"]
    assert data["labels"] == list(load("Q8").labels)
    assert data["train_mask"].sum().item() == round(0.6 * 64)
    np.testing.assert_array_equal(data["cells"].numpy(), load("Q8").cells)


def test_groups_and_tables_pass_through() -> None:
    group = FiniteGroup(load("S3").cells)
    assert load_group(group) is group
    assert load_group(load("C4")).order == 4


def test_what_is_not_a_group_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="no completed table"):
        load_group(tmp_path)
    with pytest.raises(TableError, match=r"missing\.ckpt: no such file or directory"):
        load_group(tmp_path / "missing.ckpt")
    with pytest.raises(TableError, match="gone: no such file or directory"):
        load_group(tmp_path / "gone")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(TableError, match="not a checkpoint of a HyperCube run"):
        load_group(tmp_path / "junk.ckpt")
    partial = load("S3").cells.copy()
    partial[0, 0] = -1
    with pytest.raises(TableError, match="unknown cells"):
        load_group(CayleyTable.from_cells(partial))
    latin = np.array(
        [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]
    )
    with pytest.raises(ValueError, match="associativ"):
        load_group(CayleyTable.from_cells(latin))


def test_an_early_checkpoint_keeps_the_given_cells_and_predicts_the_others(tmp_path) -> None:
    complete(
        "Q8", seed=0, explain=False, max_steps=3, default_root_dir=str(tmp_path),
        enable_checkpointing=True,
    )  # fmt: skip
    (checkpoint,) = tmp_path.glob("checkpoints/*.ckpt")
    table = _checkpoint_table(checkpoint)
    data = torch.load(checkpoint, weights_only=True)["CayleyDataModule"]
    given = data["train_mask"].numpy()
    module = HyperCubeModule.load_from_checkpoint(checkpoint, map_location="cpu")
    predicted = module.predicted_table().numpy()
    np.testing.assert_array_equal(table.cells[given], data["cells"].numpy()[given])
    np.testing.assert_array_equal(table.cells[~given], predicted[~given])
    assert (predicted[given] != data["cells"].numpy()[given]).any()  # the merge matters here
    with pytest.raises(ValueError) as error:  # three steps in, the table is no group
        load_group(checkpoint)
    assert "\n" not in str(error.value)
