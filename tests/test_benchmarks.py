"""The benchmark suite runs end to end in its toy ``--quick`` mode and measures the right
things. Nothing here checks a time: the figures of a quick run mean nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402
import irreps  # noqa: E402
import run  # noqa: E402
import scaling  # noqa: E402
import transformer  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    output = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    results = run.main(["--quick", "--output", str(output)])
    return results, output.read_text()


def test_quick_suite_writes_every_section(quick: tuple[dict, str]) -> None:
    results, text = quick
    assert set(results["sections"]) == set(run.SECTIONS)
    failed = {name: data["error"] for name, data in results["sections"].items() if "error" in data}
    assert not failed
    for title in ("## Targets", "## Cost per step as n grows", "## Lightning overhead per step"):
        assert title in text
    assert common.cpu_model() in text
    assert "python benchmarks/run.py --quick" in text


def test_quick_tasks_complete_s3_exactly(quick: tuple[dict, str]) -> None:
    (s3,) = quick[0]["sections"]["tasks"]["S3 (60%)"]["runs"]
    assert s3["exact"] and s3["heldout_accuracy"] == 1.0
    assert 1 <= s3["first_step"] <= s3["completed_step"] < s3["eps_off_step"] <= s3["steps"]
    # The peak is the worker's own: it imported torch, far above the launcher's floor.
    assert s3["process"]["peak_rss_mb"] > 150


def test_quick_large_run_section_checks_every_fifth_step(quick: tuple[dict, str]) -> None:
    sections = quick[0]["sections"]
    (riding,) = sections["s5"]["runs"]
    (separate,) = sections["tasks"]["S3 (60%)"]["runs"]
    # Same seed, same trajectory: the first checked step at 100 % comes no earlier.
    assert riding["first_step"] % 5 == 0 and riding["first_step"] >= separate["first_step"]
    # The large-run section ends at the first exact group table (`finish="table"`).
    assert riding["steps"] == riding["completed_step"] <= separate["steps"] and riding["exact"]


def test_quick_cli_completes_s3(quick: tuple[dict, str]) -> None:
    lines = quick[0]["sections"]["cli"]["hypercube fit"]["output"]
    assert any("held-out accuracy 100.0%, exact after" in line for line in lines)


def test_quick_irreps_of_regular_representations(quick: tuple[dict, str]) -> None:
    found = quick[0]["sections"]["irreps"]
    # Every irrep of S3 and S4 is real: dimension d, d copies, sum of d^2 = n.
    assert [(d, c) for d, c, _ in found["S3"]["irreps"]] == [(1, 1), (1, 1), (2, 2)]
    s4 = [(d, c) for d, c, _ in found["S4"]["irreps"]]
    assert s4 == [(1, 1), (1, 1), (2, 2), (3, 3), (3, 3)]
    assert all(kind == "real" for _, _, kind in found["S4"]["irreps"])


def test_quick_transformer_trains_on_the_same_split(quick: tuple[dict, str]) -> None:
    (only,) = quick[0]["sections"]["transformer"]["S3 (60%)"]
    assert only["steps_run"] == 10 and 0.0 <= only["heldout_accuracy"] <= 1.0
    table = scaling.load("S3")
    mask = table.mask(0.6, 0)  # the seeded split HyperCube trains on
    (a, b, c), (ha, hb, hc) = transformer.split_cells("S3", 0.6, 0)
    assert mask[a, b].all() and len(a) == mask.sum() == 22
    assert not mask[ha, hb].any() and len(ha) == 36 - 22
    assert (table.cells[a, b] == c.numpy()).all() and (table.cells[ha, hb] == hc.numpy()).all()


def test_transformer_is_the_grokking_architecture() -> None:
    n, width = 6, 128
    block = 2 * width + (width * 3 * width + 3 * width) + (width * width + width)
    block += 2 * width + (width * 4 * width + 4 * width) + (4 * width * width + width)
    expected = (n + 1) * width + 3 * width + 2 * block + 2 * width + width * n + n
    model = transformer.GrokkingTransformer(n)
    assert sum(p.numel() for p in model.parameters()) == expected
    logits = model(torch.tensor([0, 5]), torch.tensor([1, 2]))
    assert logits.shape == (2, n)


def test_textbook_and_our_prediction_agree() -> None:
    assert scaling.agreement(12) < 1e-5


def test_flop_count_of_our_step_matches_the_formula() -> None:
    factors, cells = scaling.problem(6, 0.5)
    counted = scaling.step_flops(scaling.FactorStep(factors, cells))
    assert counted == scaling.our_step_flops(6, len(cells[0])) == 93312


def test_flop_count_with_recomputed_chunks_matches_the_formula() -> None:
    factors, cells = scaling.problem(6, 0.5)
    factors.chunk_elements = 3 * 36  # three pairs per chunk
    counted = scaling.step_flops(scaling.FactorStep(factors, cells))
    assert counted == scaling.our_step_flops(6, len(cells[0]), factors.chunk_elements)
    assert counted == 93312 + 2 * len(cells[0]) * 6**3


def test_regular_representation_is_a_homomorphism() -> None:
    table = scaling.load("S4").cells
    rho = irreps.regular_representation(table)
    products = np.einsum("gij,hjk->ghik", rho, rho)
    np.testing.assert_array_equal(products, rho[table])


def test_peak_memory_is_the_childs_own() -> None:
    # This process holds torch (hundreds of MB); a bare interpreter must not inherit that.
    result = common.run_process([sys.executable, "-c", "pass"])
    assert result.returncode == 0 and result.peak_rss_mb < 100


def test_unknown_section_is_refused() -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--sections", "tasks,bogus"])
