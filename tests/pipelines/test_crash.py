"""Exactly once under kill -9: ingestion processes killed at random instants, then one clean run.

The runs happen in a separate process (``crash_runner.py``, one forked child per run, killed
with SIGKILL by the runner), so what is tested is what survives a real process death: files
renamed or not, outputs half-written, transactions cut off, locks dropped by the kernel.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outagecast.datasets.corrupt import corrupt_file
from outagecast.datasets.generate import write_dataset
from outagecast.pipelines.ingest import ERRORS_COLUMN, ROW_COLUMN
from tests.utils.ingestion import drop, query, read_text_csv, settings_for, visible_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KILLS = 25
MAX_KILL_DELAY_SECONDS = 1.6


class CrashRunner:
    """Talks to ``crash_runner.py``: one ingestion run per call, optionally killed after a delay."""

    def __init__(self, log_path: Path) -> None:
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "pipelines" / "crash_runner.py")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert json.loads(self._readline()) == {"ready": True}

    def _readline(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"crash runner exited: {Path(self.log.name).read_text()[-3000:]}")
        return line

    def run(
        self, settings: dict[str, Any], *, kill_after: float | None = None, fsize_limit: int | None = None
    ):
        command = {"settings": settings, "kill_after": kill_after, "fsize_limit": fsize_limit}
        self.process.stdin.write(json.dumps(command, default=str) + "\n")
        self.process.stdin.flush()
        return json.loads(self._readline())

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def crash_runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashRunner]:
    runner = CrashRunner(tmp_path_factory.mktemp("crash") / "runner.log")
    yield runner
    runner.stop()


def _settings_dict(home: Path, db_url: str) -> dict[str, Any]:
    return {"outagecast_home": str(home), "database_url": db_url, "ingest_settle_seconds": 0}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inputs(tmp_path: Path, clean_source: Path, other_sources: list[Path]) -> list[Path]:
    """Corrupted and clean batches, one unreadable file and one redelivered (duplicate) batch."""
    made = tmp_path / "inputs"
    made.mkdir()
    files = []
    for i, (source, probability) in enumerate(zip(other_sources, (0.05, 0.1, 0.4, 0.2), strict=True)):
        files.append(corrupt_file(source, made / f"corrupt_{i}.csv", probability, seed=40 + i).output_path)
    for i, source in enumerate(other_sources[:2]):
        files.append(Path(shutil.copyfile(source, made / f"clean_{i}.csv")))
    (made / "broken.csv").write_text(clean_source.read_text().replace(",", ";"))
    files.append(made / "broken.csv")
    files.append(Path(shutil.copyfile(other_sources[0], made / "clean_0_again.csv")))
    return files


def assert_exactly_once(settings: Any, db_url: str, inputs: list[Path]) -> None:
    """Every input row in exactly one of good/bad, one stats row per distinct content, nothing left over."""
    data = settings.data_path
    assert visible_files(settings.folder("raw_data")) == []
    assert visible_files(data / "processing") == []
    distinct = {_sha(p): p for p in inputs}
    ledger = query(db_url, "SELECT * FROM ingested_files")
    owners = [r for r in ledger if r["state"] in ("done", "quarantined")]
    assert sorted(r["content_sha256"] for r in owners) == sorted(distinct)
    assert not [r for r in ledger if r["state"] == "claimed"]
    stats = query(db_url, "SELECT id, filename FROM ingestion_stats")
    assert len(stats) == len(distinct)  # one per content: no file counted twice
    assert sorted(r["ingestion_stat_id"] for r in owners) == sorted(s["id"] for s in stats)

    expected: Counter[str] = Counter()
    quarantined = {r["output_name"] for r in owners if r["state"] == "quarantined"}
    for sha, path in distinct.items():
        owner = next(r for r in owners if r["content_sha256"] == sha)
        if owner["state"] == "quarantined":
            assert (settings.folder("bad_data") / owner["output_name"]).read_bytes() == path.read_bytes()
        else:
            expected.update(read_text_csv(path)["incident_id"])
    found: Counter[str] = Counter()
    for name in visible_files(settings.folder("good_data")):
        found.update(read_text_csv(settings.folder("good_data") / name)["incident_id"])
    for name in visible_files(settings.folder("bad_data")):
        if name.endswith(".reason.txt") or name in quarantined:
            continue
        bad = read_text_csv(settings.folder("bad_data") / name)
        assert bad[ROW_COLUMN].notna().all() and bad[ERRORS_COLUMN].notna().all()
        found.update(bad["incident_id"])
    assert found == expected  # every row once: nothing lost, nothing doubled (ids repeat in duplicates)
    # Only the owners' outputs exist: no file written twice under another name.
    names = {r["output_name"] for r in owners}
    produced = set(visible_files(settings.folder("good_data"))) | {
        n for n in visible_files(settings.folder("bad_data")) if not n.endswith(".reason.txt")
    }
    assert produced <= names


@pytest.mark.parametrize("seed", [20260504])
def test_kill_9_at_random_instants_then_one_clean_run(
    tmp_path: Path,
    db_url: str,
    clean_source: Path,
    other_sources: list[Path],
    crash_runner: CrashRunner,
    seed: int,
) -> None:
    rng = random.Random(seed)
    home = tmp_path / "home"
    settings = settings_for(home, db_url)
    inputs = _inputs(tmp_path, clean_source, other_sources)
    queue = list(inputs)
    outcomes = Counter()
    for _ in range(KILLS):
        # Keep work flowing: a new file arrives before most runs, so kills land mid-processing.
        if queue and (rng.random() < 0.6 or not visible_files(settings.folder("raw_data"))):
            drop(settings, queue.pop(0))
        answer = crash_runner.run(
            _settings_dict(home, db_url), kill_after=rng.uniform(0.0, MAX_KILL_DELAY_SECONDS)
        )
        outcomes["killed" if answer["killed"] else "finished"] += 1
    for path in queue:
        drop(settings, path)

    final = crash_runner.run(_settings_dict(home, db_url))
    recovered = sum(f["recovered"] for f in final["result"]["files"])
    print(f"\n{db_url.split(':')[0]}: {dict(outcomes)} runs; final run recovered {recovered} claim(s)")

    assert final["exit"] == 0, final
    assert final["result"]["status"] == "ok"
    assert outcomes["killed"] >= KILLS // 2, outcomes  # most runs really were killed mid-way
    assert_exactly_once(settings, db_url, inputs)


def test_disk_full_hands_the_file_back_and_nothing_is_lost(
    tmp_path: Path, sqlite_url: str, crash_runner: CrashRunner
) -> None:
    # RLIMIT_FSIZE makes writes past 3 MB fail with EFBIG, as a full disk would, even as root:
    # the good output of this ~4 MB batch cannot be written.
    home = tmp_path / "home"
    settings = settings_for(home, sqlite_url)
    big = write_dataset(tmp_path / "big.csv", 10_000, 77, progress=False)
    drop(settings, big)

    failed = crash_runner.run(_settings_dict(home, sqlite_url), fsize_limit=3_000_000)

    assert failed["exit"] == 1 and failed["result"]["status"] == "error", failed
    assert "File too large" in failed["result"]["errors"][0]
    assert visible_files(settings.folder("raw_data")) == ["big.csv"]
    assert visible_files(settings.folder("good_data")) == []
    assert [r["state"] for r in query(sqlite_url, "SELECT state FROM ingested_files")] == ["released"]

    retried = crash_runner.run(_settings_dict(home, sqlite_url))

    assert retried["exit"] == 0 and retried["result"]["files"][0]["state"] == "done"
    assert_exactly_once(settings, sqlite_url, [big])
