"""Reading and writing tables in every format, and the errors for malformed files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hc_lightning.data import CayleyTable, TableError, load, read_table, write_table


@pytest.fixture
def partial() -> CayleyTable:
    cells = load("S3").cells.copy()
    cells[0, 1] = cells[2, 3] = cells[5, 5] = -1
    return CayleyTable.from_cells(cells, ["e", "a, b", 'q"x', "r", "s", "t"])


@pytest.mark.parametrize("suffix", [".csv", ".obs", ".txt", ".json", ".npy"])
def test_round_trip_keeps_cells(partial: CayleyTable, tmp_path, suffix: str) -> None:
    path = write_table(partial, tmp_path / f"table{suffix}")
    back = read_table(path)
    np.testing.assert_array_equal(back.cells, partial.cells)
    if suffix != ".npy":
        assert back.labels == partial.labels
    assert back.source_format == {".txt": "obs"}.get(suffix, suffix[1:])


@pytest.mark.parametrize("suffix", [".csv", ".obs", ".json"])
def test_labels_that_look_like_unknown_marks_survive(tmp_path, suffix: str) -> None:
    cells = load("Q8").cells.copy()  # labels 1, -1, i, -i, ...
    cells[0, 1] = cells[3, 3] = -1
    table = CayleyTable.from_cells(cells, ["1", "-1", "null", "-i", "j", "-j", "k", "-k"])
    back = read_table(write_table(table, tmp_path / f"q8{suffix}"))
    np.testing.assert_array_equal(back.cells, table.cells)
    assert back.labels == table.labels


@pytest.mark.parametrize("label", ["", "?"])
def test_empty_and_question_mark_are_never_labels(tmp_path, label: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f",a,{label}\na,a,\n{label},,a\n")
    with pytest.raises(TableError, match="empty or reserved label"):
        read_table(path)


def test_csv_with_labels_and_empty_cells(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(",e,x,y\ne,e,x,\nx,x,?,e\ny,y,e,x\n")
    table = read_table(path)
    assert table.labels == ("e", "x", "y")
    assert table.cells.tolist() == [[0, 1, -1], [1, -1, 0], [2, 0, 1]]
    assert table.known_fraction == pytest.approx(7 / 9)


def test_csv_of_indices_without_header(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("0,1\n1,\n")
    assert read_table(path).cells.tolist() == [[0, 1], [1, -1]]


def test_observation_order_and_declared_labels(tmp_path) -> None:
    path = tmp_path / "t.obs"
    path.write_text("# labels: e,x\n# a comment\nx,x,e\ne,x,x\n")
    table = read_table(path)
    assert table.labels == ("e", "x")
    assert table.cells.tolist() == [[-1, 1], [-1, 0]]


def test_json_observations(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"observations": [["a", "a", "a"], ["a", "b", "b"]]}))
    table = read_table(path)
    assert table.labels == ("a", "b")
    assert table.cells.tolist() == [[0, 1], [-1, -1]]


def test_repeated_value_is_a_finding_not_an_error(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("0,0\n1,0\n")
    table = read_table(path)
    assert not table.is_latin_square
    assert table.latin_violation() == "row '0' repeats '0'"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ragged.csv", "0,1\n1\n", "row 2 has 1 cells, expected 2"),
        ("nonsquare.csv", ",a,b\na,a,b\n", "the header names 2 elements but 1 rows follow"),
        ("label.csv", ",a,b\na,a,c\nb,b,a\n", "cell ('a', 'b') holds 'c', not a label"),
        ("range.csv", "0,5\n1,0\n", "cell (0, 1) holds 5, outside 0..1"),
        ("word.csv", "0,x\n1,0\n", "cell (0, 1) holds 'x'"),
        ("dup.csv", ",a,a\na,a,a\na,a,a\n", "repeats the label 'a'"),
        (
            "clash.obs",
            "a,b,c\na,b,a\n",
            "line 2: 'a' * 'b' = 'a' contradicts 'a' * 'b' = 'c' on line 1",
        ),
        ("short.obs", "a,b\n", "line 1: expected 'a,b,c'"),
        ("empty.obs", "", "holds no observations"),
        ("empty.csv", "", "holds no rows"),
        ("broken.json", "{", "invalid JSON at line 1"),
        ("shape.json", "[1, 2]", 'expected an object with "table"'),
        ("cell.json", '{"table": [[0, 7], [1, 0]]}', "cell (0, 1) holds 7, outside 0..1"),
        ("table.xlsx", "", "unknown table format '.xlsx'"),
    ],
)
def test_malformed_files_name_the_problem(tmp_path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TableError) as error:
        read_table(path)
    text = str(error.value)
    assert message in text
    assert text.startswith(str(path))
    assert "\n" not in text


def test_npy_refuses_nan_and_strings(tmp_path) -> None:
    np.save(tmp_path / "nan.npy", np.array([[0.0, np.nan], [1.0, 0.0]]))
    np.save(tmp_path / "str.npy", np.array([["a", "b"], ["b", "a"]]))
    with pytest.raises(TableError, match=r"cell \(0, 1\) holds nan"):
        read_table(tmp_path / "nan.npy")
    with pytest.raises(TableError, match="expected an integer array"):
        read_table(tmp_path / "str.npy")


def test_directory_and_missing_file(tmp_path) -> None:
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(TableError, match="is a directory"):
        read_table(tmp_path / "dir.csv")
    with pytest.raises(TableError, match="cannot read the file"):
        read_table(tmp_path / "missing.csv")


def test_mask_is_seeded_and_sized() -> None:
    table = load("S4")
    first, again, other = table.mask(0.3, 1), table.mask(0.3, 1), table.mask(0.3, 2)
    assert first.sum() == round(0.3 * 576)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_a_npy_header_is_checked_before_the_array_is_allocated(tmp_path) -> None:
    path = tmp_path / "claims_a_lot.npy"
    with path.open("wb") as stream:  # 10^12 int64 entries claimed, 16 bytes given
        header = {"descr": "<i8", "fortran_order": False, "shape": (10**6, 10**6)}
        np.lib.format.write_array_header_1_0(stream, header)
        stream.write(bytes(16))
    with pytest.raises(TableError, match="1000000 x 1000000 array is more than the 4096"):
        read_table(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (',"a,b\n1,2\n', "lines 1 to 2 (a quote left open?)"),
        ('0,1\n"1"x,0\n', "line 2: cannot split into cells (',' expected after '\"')"),
        ("0," + "7" * 200_000 + "\n1,0\n", "line 1: cannot split into cells (field larger"),
    ],
)
def test_csv_that_cannot_be_split_names_the_lines(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(TableError) as error:
        read_table(path)
    assert message in str(error.value)


def test_long_values_are_shortened_in_messages(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(",a,b\na,a," + "z" * 10_000 + "\nb,b,a\n")
    with pytest.raises(TableError) as error:
        read_table(path)
    text = str(error.value).removeprefix(str(path))
    assert "not a label" in text and "(10002 characters)" in text and len(text) < 150


def test_json_observations_read_integers_as_labels(tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"labels": ["0", "1"], "observations": [[1, 1, 0], [0, 1, "1"]]}')
    assert read_table(path).cells.tolist() == [[-1, 1], [-1, 0]]


@pytest.mark.parametrize(("entry", "shown"), [("true", "True"), ('["a"]', "['a']")])
def test_json_observations_refuse_other_entries(tmp_path, entry: str, shown: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(f'{{"observations": [["a", "a", "a"], ["a", {entry}, "a"]]}}')
    with pytest.raises(TableError, match=f"observation 1 holds {re.escape(shown)}, expected a"):
        read_table(path)
