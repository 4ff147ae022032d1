"""Split one incident CSV round-robin into ``batch_001.csv`` ... (the original design's utility).

Row ``i`` (0-based, data rows) goes to file ``i % num_files``; every file has the header. Cells
are copied as text, unchanged (nothing is re-parsed or re-formatted), and each file is written
atomically so that the ingestion job never reads a partial batch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from outagecast.datasets import write_csv_atomic

logger = logging.getLogger(__name__)


def batch_name(index: int, num_files: int) -> str:
    """File name of batch ``index`` (1-based): ``batch_001.csv``, wider when ``num_files`` > 999."""
    width = max(3, len(str(num_files)))
    return f"batch_{index:0{width}d}.csv"


def split_round_robin(input_path: str | Path, output_dir: str | Path, num_files: int) -> list[Path]:
    """Split ``input_path`` into ``num_files`` CSVs in ``output_dir``, dealing rows round-robin.

    Args:
        input_path: the CSV to split (any columns; cells are kept verbatim).
        output_dir: destination folder, created if missing.
        num_files: number of batch files (>= 1). When it exceeds the number of rows, the extra
            files hold only the header, so the result always has ``num_files`` files.

    Returns:
        The written paths, in batch order.
    """
    if num_files < 1:
        raise ValueError(f"num_files must be >= 1, got {num_files}")
    # Strings only, no NA detection: the batches must carry the input's cells byte for byte.
    frame = pd.read_csv(input_path, dtype=str, keep_default_na=False, na_filter=False)
    output_dir = Path(output_dir)
    paths = []
    for k in range(num_files):
        path = write_csv_atomic(frame.iloc[k::num_files], output_dir / batch_name(k + 1, num_files))
        paths.append(path)
    logger.info("split %s (%d rows) into %d files in %s", input_path, len(frame), num_files, output_dir)
    return paths
