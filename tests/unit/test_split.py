"""Round-robin splitting of a CSV into batch files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from outagecast.datasets.generate import write_dataset
from outagecast.datasets.split import batch_name, split_round_robin


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_rows_are_dealt_round_robin(tmp_path: Path) -> None:
    source = write_dataset(tmp_path / "all.csv", 100, seed=1, progress=False)
    paths = split_round_robin(source, tmp_path / "batches", 3)
    assert [p.name for p in paths] == ["batch_001.csv", "batch_002.csv", "batch_003.csv"]
    original = _read(source)
    for k, path in enumerate(paths):
        batch = _read(path)
        assert list(batch.columns) == list(original.columns)  # header in every file
        expected = original.iloc[k::3].reset_index(drop=True)
        pd.testing.assert_frame_equal(batch, expected)  # cells verbatim, "None" included
    assert sum(len(_read(p)) for p in paths) == len(original)


def test_cells_needing_quotes_survive(tmp_path: Path) -> None:
    source = tmp_path / "odd.csv"
    source.write_text('a,b\n"x, with comma",None\n"say ""hi""",\n3,NA\n', encoding="utf-8")
    paths = split_round_robin(source, tmp_path / "out", 2)
    assert _read(paths[0])["a"].tolist() == ["x, with comma", "3"]
    assert _read(paths[0])["b"].tolist() == ["None", "NA"]
    assert _read(paths[1]).iloc[0].tolist() == ['say "hi"', ""]


def test_more_files_than_rows_gives_header_only_files(tmp_path: Path) -> None:
    source = write_dataset(tmp_path / "all.csv", 2, seed=1, progress=False)
    paths = split_round_robin(source, tmp_path / "batches", 4)
    assert [len(_read(p)) for p in paths] == [1, 1, 0, 0]
    assert list(_read(paths[3]).columns) == list(_read(source).columns)


@pytest.mark.parametrize(
    ("index", "num_files", "name"),
    [
        (1, 1, "batch_001.csv"),
        (42, 999, "batch_042.csv"),
        (7, 1000, "batch_0007.csv"),
        (12345, 12345, "batch_12345.csv"),
    ],
)
def test_batch_names_are_zero_padded(index: int, num_files: int, name: str) -> None:
    assert batch_name(index, num_files) == name


def test_num_files_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        split_round_robin(tmp_path / "missing.csv", tmp_path, 0)
