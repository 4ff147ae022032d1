"""``make bench``: end-to-end /predict over loopback HTTP, OutageCast vs the original design.

Both servers run on this machine, are measured by this one process, on the same rows, against
the same database backend (SQLite, then PostgreSQL), and every figure is printed beside the
baseline's as a ratio. Usage: ``python -m bench [--quick] [--backends sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from outagecast import schema
from tests.utils.server import RunningServer, free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH_SIZES = (1, 100, 1_000, 10_000)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(home: Path) -> tuple[pd.DataFrame, Path]:
    """Dataset + our model (cold-start path) + the original RandomForest pipeline."""
    import joblib

    from outagecast.ml.bootstrap import ensure_dataset, ensure_model
    from outagecast.ml.features import build_pipeline
    from outagecast.ml.train import load_training_frame
    from outagecast.settings import Settings

    settings = Settings(outagecast_home=home)
    ensure_dataset(settings, progress=True)
    _log("training OutageCast's model ...")
    ensure_model(settings)
    frame, target, _ = load_training_frame(settings.dataset_path)
    _log("training the original RandomForest(100) ...")
    rf = build_pipeline("random_forest", seed=42).fit(frame, target)
    rf_path = home / "baseline_rf.joblib"
    joblib.dump(rf, rf_path)
    return frame, rf_path


def request_rows(frame: pd.DataFrame, n: int, seed: int) -> list[dict]:
    sample = frame.sample(n=n, replace=n > len(frame), random_state=seed)[list(schema.FEATURES)]
    sample = sample.assign(start_time=pd.to_datetime(sample["start_time"]).dt.strftime("%Y-%m-%dT%H:%M:%S"))
    return json.loads(sample.to_json(orient="records"))


def time_posts(url: str, bodies: list[dict], params: dict | None = None) -> list[float]:
    times = []
    with httpx.Client(timeout=3600) as client:
        client.post(url + "/predict", json=bodies[0], params=params).raise_for_status()  # warm-up
        for body in bodies:
            t0 = time.perf_counter()
            client.post(url + "/predict", json=body, params=params).raise_for_status()
            times.append(time.perf_counter() - t0)
    return times


def make_database(backend: str, home: Path) -> tuple[str, callable]:
    if backend == "sqlite":
        return f"sqlite:///{home}/bench-{uuid.uuid4().hex[:8]}.db", lambda: None
    from sqlalchemy import create_engine, text

    name = f"oc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def start_baseline(rf_path: Path, db_url: str, log_path: Path) -> RunningServer:
    port = free_port()
    log = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.baseline_app",
            "--model",
            str(rf_path),
            "--database-url",
            db_url,
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = RunningServer(process=proc, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(server.log())


def run_backend(backend: str, home: Path, frame: pd.DataFrame, rf_path: Path, quick: bool) -> list[dict]:
    ours_db, drop_ours = make_database(backend, home)
    base_db, drop_base = make_database(backend, home)
    ours = start_server(home=home, env={"DATABASE_URL": ours_db}, log_path=home / f"ours-{backend}.log")
    base = start_baseline(rf_path, base_db, home / f"base-{backend}.log")
    results = []
    try:
        for size in BATCH_SIZES:
            reps_ours = {1: 300, 100: 30, 1_000: 10, 10_000: 5}[size]
            reps_base = {1: 100, 100: 3, 1_000: 1, 10_000: 1}[size]
            if quick and size >= 1_000:
                reps_base = 1 if size == 1_000 else 0
            bodies = [
                {"features": request_rows(frame, size, seed=i)} for i in range(max(reps_ours, reps_base))
            ]
            t_ours = time_posts(ours.url, bodies[:reps_ours])
            _log(f"[{backend}] {size:>6} rows: ours {statistics.median(t_ours):.4f} s")
            t_base = time_posts(base.url, bodies[:reps_base]) if reps_base else []
            if t_base:
                _log(f"[{backend}] {size:>6} rows: original {statistics.median(t_base):.4f} s")
            results.append({"backend": backend, "rows": size, "ours": t_ours, "original": t_base})
            if size == 1_000:
                t_explained = time_posts(ours.url, bodies[:reps_ours], params={"explain": "true"})
                results.append(
                    {"backend": backend, "rows": size, "ours": t_explained, "original": [], "explain": True}
                )
    finally:
        ours.stop()
        base.stop()
        drop_ours()
        drop_base()
    return results


def report(results: list[dict]) -> None:
    print("\n/predict end to end over loopback HTTP (predict + persist), median of repeats")
    header = f"{'backend':<16}{'rows':>7}{'ours s':>11}{'rows/s':>11}"
    print(header + f"{'original s':>12}{'rows/s':>10}{'speed-up':>10}")
    for r in results:
        ours = statistics.median(r["ours"])
        label = r["backend"] + ("+explain" if r.get("explain") else "")
        line = f"{label:<16}{r['rows']:>7}{ours:>11.4f}{r['rows'] / ours:>11.0f}"
        if r["original"]:
            base = statistics.median(r["original"])
            line += f"{base:>12.3f}{r['rows'] / base:>10.0f}{base / ours:>9.0f}×"
        print(line)
    print("\nsingle-row latency over HTTP")
    for r in results:
        if r["rows"] != 1 or not r["original"]:
            continue
        o = np.array(r["ours"]) * 1000
        b = np.array(r["original"]) * 1000
        print(
            f"{r['backend']:<9} ours p50 {np.percentile(o, 50):6.1f} ms  p99 {np.percentile(o, 99):6.1f} ms"
            f" | original p50 {np.percentile(b, 50):6.1f} ms  p99 {np.percentile(b, 99):6.1f} ms"
            f" | ratio p50 {np.percentile(b, 50) / np.percentile(o, 50):.1f}×"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the original design's 10,000-row batch")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp:
        home = Path(tmp)
        frame, rf_path = prepare(home)
        results = []
        for backend in args.backends.split(","):
            results += run_backend(backend, home, frame, rf_path, args.quick)
        report(results)


if __name__ == "__main__":
    main()
