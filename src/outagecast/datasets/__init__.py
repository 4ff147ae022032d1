"""Datasets: the synthetic incident generator (and its oracle), the batch splitter and the corruptor.

Shared here: atomic CSV output, so that a folder watcher (the ingestion job) never sees a
half-written file, and :data:`CSV_READ_OPTIONS` for reading incident CSVs faithfully.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TextIO

import pandas as pd

# Read incident CSVs with only the empty field as missing: pandas' default NA strings include
# "None", which is a real external_factors category (and "NA"/"null" could be text too).
CSV_READ_OPTIONS: Final[dict[str, Any]] = {"keep_default_na": False, "na_values": [""]}


@contextmanager
def atomic_output(path: str | Path) -> Iterator[TextIO]:
    """A text handle on a hidden temp file beside ``path``, renamed onto ``path`` on success.

    The temp file is ``.<name>.<random>.tmp`` in the destination folder (same file system, so
    ``os.replace`` is atomic; watchers that skip dot-files never pick it up). It is created with
    the process umask, like any ordinary file, and removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "x", newline="", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_csv_atomic(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV (no index) to ``path`` atomically; returns the path."""
    with atomic_output(path) as fh:
        frame.to_csv(fh, index=False)
    return Path(path)
