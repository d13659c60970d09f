"""Bad input: every malformed or hostile table file gets one clear line, never a traceback.

Each corpus file is written into ``tmp_path`` by the test. Every file goes through
``hc_lightning.cli.main`` in-process (exit code 2, one line naming the file and the problem,
no warning on the way); a handful also run ``python -m hc_lightning.cli`` in subprocesses,
started together so that the interpreter start-ups overlap, where a stray warning or
traceback would reach stderr.

The CLI runs point ``--trainer.default_root_dir`` at a directory holding a file that must
survive untouched.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import resource
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hc_lightning.cli import main
from hc_lightning.data.io import read_table, write_table
from hc_lightning.data.table import CayleyTable, TableError

KEEP_NAME, KEEP_TEXT = "keep.txt", "written before the run\n"
Content = str | bytes | np.ndarray | Callable[[Path], None]


pytestmark = pytest.mark.usefixtures("one_thread")


@dataclasses.dataclass(frozen=True)
class Bad:
    """A bad file: its name, what it holds, and words its error message must contain."""

    name: str
    content: Content
    fragments: tuple[str, ...]

    def write(self, directory: Path) -> Path:
        path = directory / self.name
        if callable(self.content):
            self.content(path)
        elif isinstance(self.content, bytes):
            path.write_bytes(self.content)
        elif isinstance(self.content, str):
            path.write_text(self.content, encoding="utf-8")
        else:
            with path.open("wb") as stream:  # np.save(path) would append ".npy" to odd names
                np.save(stream, self.content, allow_pickle=True)
        return path

    def param(self) -> object:
        return pytest.param(self, id=self.name)


def _labels(count: int) -> list[str]:
    return [f"g{index}" for index in range(count)]


def _directory(path: Path) -> None:
    path.mkdir()


def _inside_a_file(path: Path) -> None:
    path.parent.write_text("0\n")


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


CORPUS = [
    # .csv
    Bad("empty.csv", "", ("no rows",)),
    Bad("blank_lines.csv", "  \n\n \n", ("no rows",)),
    Bad("one_cell.csv", "x\n", ("cell (0, 0)", "'x'")),
    Bad("ragged.csv", "0,1\n1\n", ("row 2", "1 cells", "expected 2")),
    Bad("non_numeric.csv", "0,1\n1,zz\n", ("cell (1, 1)", "'zz'")),
    Bad("out_of_range.csv", "0,5\n1,0\n", ("cell (0, 1)", "5", "0..1")),
    Bad("negative.csv", "0,-2\n1,0\n", ("cell (0, 1)", "-2")),
    Bad("float_index.csv", "0,1.0\n1,0\n", ("cell (0, 1)", "'1.0'")),
    Bad("duplicate_labels.csv", ",a,a\na,a,a\na,a,a\n", ("repeats the label 'a'",)),
    Bad("missing_row.csv", ",a,b\na,a,b\n", ("2 elements", "1 rows")),
    Bad("rows_out_of_order.csv", ",a,b\nb,b,a\na,a,b\n", ("row 2", "'b'", "expected 'a'")),
    Bad("cell_not_a_label.csv", ",a,b\na,a,zz\nb,b,a\n", ("('a', 'b')", "'zz'", "not a label")),
    Bad("broken_quoting.csv", ',"a,b,c\n"a,b",x,y\n', ("quot",)),
    Bad("huge_header.csv", "," + ",".join(_labels(10**5)) + "\n", ("100000", "4096")),
    Bad("huge_integer.csv", "0,99999999999999999999999\n1,0\n", ("cell (0, 1)",)),
    Bad("not_utf8.csv", b"\xff\xfe,\x80\n", ("cannot read", "utf-8")),
    # .obs / .txt
    Bad("empty.obs", "", ("no observations",)),
    Bad("comments_only.txt", "# one\n# two\n", ("no observations",)),
    Bad("two_fields.obs", "a,b\n", ("line 1", "'a,b,c'")),
    Bad("four_fields.txt", "a,b,c,d\n", ("line 1", "'a,b,c'")),
    Bad("contradicting.obs", "a,b,a\nb,a,b\na,b,b\n", ("line 3", "contradicts", "line 1")),
    Bad("undeclared_label.obs", "# labels: a,b\na,b,c\n", ("line 2", "'c'")),
    Bad("duplicate_labels.obs", "# labels: a,a\na,a,a\n", ("repeats the label 'a'",)),
    Bad("no_labels.txt", "# labels:\na,a,a\n", ("names no elements",)),
    Bad("broken_quoting.obs", '"x,1,y,x\n', ("line 1",)),
    Bad("huge_labels.obs", f"# labels: {','.join(_labels(10**5))}\ng0,g0,g0\n", ("100000",)),
    Bad("not_utf8.txt", b"a,b,\xff\n", ("cannot read", "utf-8")),
    # .json
    Bad("empty.json", "", ("invalid JSON", "line 1")),
    Bad("truncated.json", '{"table": [[0, 1],\n', ("invalid JSON", "line 2")),
    Bad("a_list.json", "[[0, 1], [1, 0]]", ('"table"', '"observations"')),
    Bad("a_string.json", '"S3"', ('"table"',)),
    Bad("labels_only.json", '{"labels": ["a"]}', ('"table"',)),
    Bad("table_is_number.json", '{"table": 5}', ('"table" must be a list',)),
    Bad("rows_are_numbers.json", '{"table": [1, 2]}', ('"table" must be a list',)),
    Bad("no_rows.json", '{"table": []}', ("no rows",)),
    Bad("ragged.json", '{"table": [[0, 1], [1]]}', ("row 1", "1 cells")),
    Bad("fractional_cell.json", '{"table": [[0, 1.5], [1, 0]]}', ("cell (0, 1)", "1.5")),
    Bad("boolean_cell.json", '{"table": [[0, true], [1, 0]]}', ("cell (0, 1)", "True")),
    Bad("nan_cell.json", '{"table": [[0, NaN], [1, 0]]}', ("cell (0, 1)", "nan")),
    Bad("numeric_labels.json", '{"labels": [1, 2], "table": [[0]]}', ("list of strings",)),
    Bad("duplicate_labels.json", '{"labels": ["a", "a"], "table": [[0]]}', ("repeats",)),
    Bad("labels_vs_rows.json", '{"labels": ["a", "b", "c"], "table": [[0]]}', ("3 elements",)),
    Bad(
        "million_labels.json", json.dumps({"labels": _labels(10**6), "table": [[0]]}), ("1000000",)
    ),
    Bad("pair.json", '{"observations": [["a", "b"]]}', ("observation 0", "[a, b, c]")),
    Bad("observations_dict.json", '{"observations": {"a": 1}}', ("[a, b, c]",)),
    Bad(
        "contradicting.json",
        '{"observations": [["a", "b", "a"], ["a", "b", "b"]]}',
        ("observation 1", "contradicts", "observation 0"),
    ),
    Bad(
        "newline_label.json",
        json.dumps({"observations": [["a\nb", "x", "a\nb"], ["a\nb", "x", "x"]]}),
        ("contradicts",),
    ),
    Bad("null_product.json", '{"observations": [["a", "b", null]]}', ("observation 0",)),
    Bad("deeply_nested.json", "[" * 100_000 + "]" * 100_000, ("JSON",)),
    Bad("huge_number.json", '{"table": [[0, ' + "9" * 5000 + "]]}", ("cell (0, 1)",)),
    Bad("not_utf8.json", b'{"table": [[0]], "note": "\xff"}', ("cannot read", "utf-8")),
    # .npy
    Bad("nan.npy", np.array([[0.0, np.nan], [1.0, 0.0]]), ("cell (0, 1)", "nan")),
    Bad("inf.npy", np.array([[0.0, np.inf], [1.0, 0.0]]), ("cell (0, 1)", "inf")),
    Bad("fraction.npy", np.array([[0.0, 0.5], [1.0, 0.0]]), ("cell (0, 1)", "0.5")),
    Bad("huge_float.npy", np.array([[0.0, 1e300], [1.0, 0.0]]), ("1e+300",)),
    Bad("strings.npy", np.array([["e", "x"], ["x", "e"]]), ("integer", "<U1")),
    Bad("objects.npy", np.array([[0, 1], [1, None]], dtype=object), ("allow_pickle",)),
    Bad("three_d.npy", np.zeros((2, 2, 2), dtype=np.int64), ("(2, 2, 2)",)),
    Bad("one_d.npy", np.arange(3), ("(3,)",)),
    Bad("scalar.npy", np.array(3), ("shape ()",)),
    Bad("rectangular.npy", np.zeros((2, 3), dtype=np.int64), ("(2, 3)",)),
    Bad("empty.npy", np.zeros((0, 0), dtype=np.int64), ("empty",)),
    Bad("out_of_range.npy", np.array([[0, 7], [1, 0]]), ("cell (0, 1)", "7")),
    Bad("booleans.npy", np.eye(2, dtype=bool), ("bool",)),
    Bad("complex.npy", np.array([[0, 1j], [1, 0]]), ("complex",)),
    Bad("record.npy", np.zeros((2, 2), dtype=[("a", np.int64)]), ("integer",)),
    Bad("not_numpy.npy", b"0,1\n1,0\n", (".npy",)),
    Bad("truncated.npy", _npy_bytes(np.eye(3, dtype=np.int64))[:-8], (".npy",)),
    Bad("too_big.npy", np.zeros((4097, 4097), dtype=np.int8), ("4097", "4096")),
    # paths
    Bad("a_directory.csv", _directory, ("directory",)),
    Bad("plain/inside_a_file.csv", _inside_a_file, ("not a directory",)),
    Bad("missing.json", lambda path: None, ("no such file",)),
    Bad("table.xlsx", "0,1\n1,0\n", ("unknown table format", "'.xlsx'")),
]
BY_NAME = {bad.name: bad for bad in CORPUS}


def check_message(message: str, path: Path, bad: Bad) -> None:
    """One line that names the file and, besides it, every expected fragment (any case)."""
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert str(path) in message, message
    rest = message.replace(str(path), "").lower()
    for fragment in bad.fragments:
        assert fragment.lower() in rest, (fragment, message)


def test_the_corpus_is_large_and_covers_every_format() -> None:
    suffixes = {Path(bad.name).suffix for bad in CORPUS}
    assert len(CORPUS) >= 30
    assert {".csv", ".obs", ".txt", ".json", ".npy"} <= suffixes


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli(path, run_dir, *args) -> (exit code, stdout, stderr)`` of an in-process ``fit``
    into ``run_dir``, which holds a file written beforehand."""
    monkeypatch.setattr(sys, "argv", ["hypercube"])

    def run(path: Path, run_dir: Path, *extra: str) -> tuple[int, str, str]:
        run_dir.mkdir(exist_ok=True)
        (run_dir / KEEP_NAME).write_text(KEEP_TEXT)
        code = 0
        try:
            main(
                [
                    "fit",
                    f"--data.path={path}",
                    f"--trainer.default_root_dir={run_dir}",
                    "--trainer.enable_progress_bar=false",
                    "--trainer.max_steps=50",  # bounds a run on a table wrongly accepted
                    *extra,
                ]
            )
        except SystemExit as stop:
            code = stop.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.parametrize("bad", [bad.param() for bad in CORPUS])
def test_the_cli_refuses_with_one_line(bad: Bad, tmp_path: Path, cli) -> None:
    path = bad.write(tmp_path)
    run_dir = tmp_path / "run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = cli(path, run_dir)
    assert [str(w.message) for w in caught] == []
    assert code == 2
    assert err.startswith("hypercube: error: "), err
    check_message(err, path, bad)
    assert "Traceback" not in out
    assert sorted(p.name for p in run_dir.iterdir()) == [KEEP_NAME]
    assert (run_dir / KEEP_NAME).read_text() == KEEP_TEXT


SUBPROCESS = {
    "empty.csv": BY_NAME["empty.csv"],
    "huge_float.npy": BY_NAME["huge_float.npy"],
    "too_big.npy": BY_NAME["too_big.npy"],
    "huge_n.obs": Bad("huge_n.obs", f"# labels: {','.join(_labels(4096))}\ng0,g1,g2\n", ("4096",)),
}
ADDRESS_SPACE_LIMIT = 8 * 2**30  # so that no case can take the machine's memory


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every ``SUBPROCESS`` case run by ``python -m hc_lightning.cli``, all at once:
    ``key -> (path, run_dir, exit code, stdout, stderr)``."""
    started = {}
    for key, bad in SUBPROCESS.items():
        directory = tmp_path_factory.mktemp(key.replace(".", "_"))
        path, run_dir = bad.write(directory), directory / "run"
        run_dir.mkdir()
        (run_dir / KEEP_NAME).write_text(KEEP_TEXT)
        command = [
            sys.executable,
            "-m",
            "hc_lightning.cli",
            "fit",
            f"--data.path={path}",
            f"--trainer.default_root_dir={run_dir}",
        ]
        process = subprocess.Popen(
            command,
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_limit_memory,
        )
        started[key] = (path, run_dir, process)
    results = {}
    for key, (path, run_dir, process) in started.items():
        try:
            out, err = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        results[key] = (path, run_dir, process.returncode, out, err)
    return results


@pytest.mark.parametrize("key", list(SUBPROCESS))
def test_the_command_refuses_with_one_line(key: str, subprocess_runs: dict) -> None:
    path, run_dir, code, out, err = subprocess_runs[key]
    assert code == 2, err[-2000:]
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-2000:]
    assert lines[0].startswith("hypercube: error: ")
    check_message(lines[0], path, SUBPROCESS[key])
    assert sorted(p.name for p in run_dir.iterdir()) == [KEEP_NAME]
    assert (run_dir / KEEP_NAME).read_text() == KEEP_TEXT


def test_a_table_without_known_cells_is_refused(tmp_path: Path, cli) -> None:
    path = tmp_path / "all_unknown.csv"
    path.write_text("?,?,?\n?,,?\n?,?,?\n")
    code, _, err = cli(path, tmp_path / "run")
    assert code == 2
    assert err.count("\n") == 1 and str(path) in err and "known" in err
    assert (tmp_path / "run" / KEEP_NAME).read_text() == KEEP_TEXT


def test_a_one_element_table_is_completed_or_clearly_refused(tmp_path: Path, cli) -> None:
    path = tmp_path / "trivial.csv"
    path.write_text("0\n")
    code, out, err = cli(path, tmp_path / "run", "--trainer.max_steps=200")
    if code == 0:
        (completed,) = (tmp_path / "run").glob("**/completed.csv")
        assert read_table(completed).cells.tolist() == [[0]]
    else:
        assert code == 2 and err.count("\n") == 1 and str(path) in err, err
    assert "Traceback" not in out + err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bom.csv", ",e,x\ne,e,x\nx,x,e\n"),
        ("bom.obs", "e,e,e\ne,x,x\nx,e,x\nx,x,e\n"),
        ("bom_labels.txt", "# labels: e,x\ne,x,x\nx,x,e\n"),
        ("bom.json", '{"labels": ["e", "x"], "table": [["e", "x"], ["x", "e"]]}'),
    ],
)
def test_a_byte_order_mark_is_read_or_named(name: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes("\ufeff".encode() + text.encode())
    try:
        table = read_table(path)
    except TableError as error:
        assert str(path) in str(error)
        message = str(error).replace(str(path), "").lower()
        assert "bom" in message or "byte order" in message, message
        return
    assert table.labels == ("e", "x")
    known = table.cells[table.known]
    assert (known == np.array([[0, 1], [1, 0]])[table.known]).all()


QUOTED_LABELS = ("a,b", 'say "hi"', "c'", 'd,"e",f', "#g", "h")


def test_quoted_labels_are_read(tmp_path: Path) -> None:
    grid = tmp_path / "quoted.csv"
    grid.write_text(',"a,b","x""y"\n"a,b","a,b","x""y"\n"x""y","x""y","a,b"\n')
    table = read_table(grid)
    assert table.labels == ("a,b", 'x"y')
    assert table.cells.tolist() == [[0, 1], [1, 0]]
    observations = tmp_path / "quoted.obs"
    observations.write_text('"a,b","x""y","x""y"\n"x""y","x""y","a,b"\n')
    table = read_table(observations)
    assert table.labels == ("a,b", 'x"y')
    assert table.cells.tolist() == [[-1, 1], [-1, 0]]


@pytest.mark.parametrize("suffix", [".csv", ".json", ".obs"])
def test_quoted_labels_round_trip(suffix: str, tmp_path: Path) -> None:
    grid = CayleyTable.from_cells(np.arange(36).reshape(6, 6) % 6, QUOTED_LABELS)
    again = read_table(write_table(grid, tmp_path / f"labels{suffix}"))
    assert again.labels == QUOTED_LABELS
    assert again.cells.tolist() == grid.cells.tolist()


def test_the_cli_completes_a_table_with_quoted_labels(tmp_path: Path, cli) -> None:
    from hc_lightning.data.catalog import load

    truth = load("S3")
    cells = np.where(truth.mask(0.7, seed=0), truth.cells, -1)
    path = write_table(CayleyTable.from_cells(cells, QUOTED_LABELS), tmp_path / "quoted.csv")
    code, _, err = cli(path, tmp_path / "run", "--trainer.max_steps=20000")
    assert code == 0, err
    (completed,) = (tmp_path / "run").glob("**/completed.csv")
    result = read_table(completed)
    assert result.labels == QUOTED_LABELS
    assert result.cells.tolist() == truth.cells.tolist()
    assert (tmp_path / "run" / KEEP_NAME).read_text() == KEEP_TEXT


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "table.csv"
    os.mkfifo(fifo)
    outcome: dict[str, BaseException | None] = {}

    def read() -> None:
        try:
            read_table(fifo)
            outcome["error"] = None
        except BaseException as error:  # handed to the main thread
            outcome["error"] = error

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    blocked = reader.is_alive()
    if blocked:  # open the writing end and close it: the reader sees end of file
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
    assert not blocked, "reading a FIFO blocked"
    assert isinstance(outcome["error"], TableError)
    assert "regular file" in str(outcome["error"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "secret.csv"
    path.write_text("0,1\n1,0\n")
    path.chmod(0)
    with pytest.raises(TableError, match="cannot read the file") as error:
        read_table(path)
    assert str(path) in str(error.value)
