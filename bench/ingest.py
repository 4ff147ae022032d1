"""Ingestion throughput: ``ingest_once`` (Great Expectations included) next to a per-row reference.

For 1k, 100k and 1M-row batches (generated, then corrupted at probability 0.05), one file each
is dropped into ``raw_data/`` and ingested end to end: claim, read, validate with the GX suite,
Data Docs, good/bad files written, statistics committed. The reference does the same checks
the way the original design did, one ``DataFrame.iterrows()`` row at a time in Python (nulls,
number and timestamp formats, ranges, categories, end >= start, repeated ids), then writes the
good and bad rows with ``to_csv``. It is run, never extrapolated: on 1k and 100k rows, and on
1M only when the 100k run says it would finish within 5 minutes.

Usage: ``python -m bench.ingest [--sizes 1000,100000,1000000]``. Great Expectations is imported
and its context built before timing (a once-per-process cost, printed separately).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

from outagecast import schema
from outagecast.datasets.corrupt import corrupt_file
from outagecast.datasets.generate import write_dataset

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
PROBABILITY = 0.05
REFERENCE_BUDGET_SECONDS = 300.0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reference_ingest(source: Path, good_path: Path, bad_path: Path) -> tuple[int, int]:
    """The per-row reference: the suite's checks in plain Python, one ``iterrows`` row at a time."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    columns = [c for c in schema.COLUMNS if c.kind is not schema.Kind.TEXT]
    missing = [c.name for c in columns if c.required and c.name not in frame.columns]
    seen: set[str] = set()
    good, bad, reasons = [], [], []
    for _, row in frame.iterrows():
        errors = [f"column_exists:{name}" for name in missing]
        stamps: dict[str, datetime] = {}
        for col in columns:
            if col.name not in frame.columns:
                continue
            value = row[col.name]
            if pd.isna(value):
                if col.required:
                    errors.append(f"not_null:{col.name}")
                continue
            if col.kind in (schema.Kind.INTEGER, schema.Kind.FLOAT):
                try:
                    number = float(value)
                except ValueError:
                    errors.append(f"number_format:{col.name}")
                    continue
                if col.kind is schema.Kind.INTEGER and not number.is_integer():
                    errors.append(f"number_format:{col.name}")
                elif (col.minimum is not None and number < col.minimum) or (
                    col.maximum is not None and number > col.maximum
                ):
                    errors.append(f"between:{col.name}")
            elif col.kind is schema.Kind.TIMESTAMP:
                try:
                    stamps[col.name] = datetime.fromisoformat(value)
                except ValueError:
                    errors.append(f"timestamp_format:{col.name}")
            if col.categories is not None and value not in col.categories:
                errors.append(f"in_set:{col.name}")
        start, end = schema.OUTAGE_INTERVAL
        if start in stamps and end in stamps and stamps[end] < stamps[start]:
            errors.append("end_after_start")
        incident = row.get(schema.ID_COLUMN)
        if isinstance(incident, str):
            if incident in seen:
                errors.append(f"unique_id:{schema.ID_COLUMN}")
            seen.add(incident)
        if errors:
            bad.append(row)
            reasons.append(";".join(errors))
        else:
            good.append(row)
    pd.DataFrame(good, columns=frame.columns).to_csv(good_path, index=False)
    pd.DataFrame(bad, columns=frame.columns).assign(_errors=reasons).to_csv(bad_path, index=False)
    return len(good), len(bad)


def make_batch(folder: Path, rows: int) -> Path:
    clean = write_dataset(folder / f"clean_{rows}.csv", rows, seed=rows, progress=False)
    report = corrupt_file(clean, folder / f"batch_{rows}.csv", PROBABILITY, seed=rows + 1)
    clean.unlink()
    return report.output_path


def time_outagecast(batch: Path, home: Path) -> tuple[float, int]:
    from outagecast.pipelines.ingest import ingest_once
    from outagecast.settings import Settings

    settings = Settings(
        outagecast_home=home, database_url=f"sqlite:///{home}/bench.db", ingest_settle_seconds=0
    )
    raw = settings.folder("raw_data")
    raw.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(batch, raw / batch.name)
    started = time.perf_counter()
    result = ingest_once(settings)
    elapsed = time.perf_counter() - started
    (outcome,) = result.files
    if result.status != "ok" or outcome.state != "done":
        raise RuntimeError(f"ingestion failed: {result.as_dict()}")
    return elapsed, outcome.total_rows or 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="rows per batch")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from outagecast.validation import warm_up

    started = time.perf_counter()
    warm_up()
    _log(f"Great Expectations import + context: {time.perf_counter() - started:.1f} s (once per process)")
    results = []
    reference_at: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="oc-bench-ingest-") as tmp:
        root = Path(tmp)
        for rows in sizes:
            _log(f"generating and corrupting {rows:,} rows ...")
            batch = make_batch(root, rows)
            ours, total = time_outagecast(batch, root / f"home_{rows}")
            _log(f"  OutageCast: {total:,} rows in {ours:.2f} s")
            largest_run = max(reference_at, default=None)
            estimate = reference_at[largest_run] * total / largest_run if largest_run else 0.0
            if largest_run and largest_run < rows and estimate > REFERENCE_BUDGET_SECONDS:
                reference = None
                _log(f"  reference skipped: ~{estimate:.0f} s at the 100k pace, over the 5 min budget")
            else:
                t0 = time.perf_counter()
                reference_ingest(batch, root / "ref_good.csv", root / "ref_bad.csv")
                reference = time.perf_counter() - t0
                reference_at[total] = reference
                _log(f"  iterrows reference: {reference:.2f} s")
            results.append((rows, total, ours, reference))
            batch.unlink()
            shutil.rmtree(root / f"home_{rows}", ignore_errors=True)

    print(
        "\nIngestion of one corrupted batch (p=0.05): claim, read, GX validation, Data Docs, good/bad, stats"
    )
    header = f"{'batch':>10}{'rows':>11}{'OutageCast s':>14}{'rows/s':>12}"
    print(header + f"{'iterrows s':>12}{'rows/s':>10}{'ratio':>9}")
    last_ratio = None
    for rows, total, ours, reference in results:
        ref_s = f"{reference:12.2f}" if reference is not None else f"{'skipped':>12}"
        ref_rate = f"{total / reference:10,.0f}" if reference is not None else f"{'-':>10}"
        ratio = f"{reference / ours:8.1f}x" if reference is not None else f"{'-':>9}"
        if reference is not None:
            last_ratio = (rows, reference / ours)
        print(f"{rows:>10,}{total:>11,}{ours:>14.2f}{total / ours:>12,.0f}{ref_s}{ref_rate}{ratio}")
    if results and results[-1][3] is None and last_ratio is not None:
        print(f"(1M-row reference skipped; ratio at {last_ratio[0]:,} rows: {last_ratio[1]:.1f}x)")


if __name__ == "__main__":
    main()
