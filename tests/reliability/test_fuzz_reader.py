"""Hostile files through the reader, the validation suite and a whole ingestion run (Hypothesis).

Arbitrary bytes, CSVs with the real header and hostile cells (ragged rows, stray quotes, huge
numbers, NaN/inf, formulas, control characters, very long text), and damaged copies of a clean
batch. Properties:

- ``read_incident_csv`` never raises; a file it cannot read comes with a reason code and a
  sentence.
- ``validate_frame`` never raises on what the reader returns; every row is either valid or
  has at least one named broken rule, and the counts add up.
- ``ingest_once`` never stops on content: each file ends quarantined with a non-empty reason text
  beside a byte-for-byte copy, or split into good and bad rows that add up to the rows read.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outagecast import schema
from outagecast.datasets.generate import write_dataset
from outagecast.db.migrate import upgrade_to_head
from outagecast.db.session import make_engine, make_session_factory
from outagecast.pipelines.ingest import REASON_SUFFIX, ingest_once
from outagecast.settings import Settings
from outagecast.validation import ReadProblem, read_incident_csv, validate_frame, warm_up
from tests.reliability.fuzzing import EXPLORE, examples

pytestmark = [pytest.mark.slow]

HEADER = ",".join(schema.COLUMN_NAMES)
HOSTILE_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e309",
            "-0",
            "9" * 400,
            "-9223372036854775809",
            "None",
            "null",
            "N/A",
            '"',
            '""',
            '"a,b"',
            '"line\nbreak"',
            "=cmd|' /C calc'!A0",
            "@SUM(1)",
            "\t",
            "\r",
            "\x7f",
            "\u202e",
            "\ufeff",
            "é",
            "😀",
            "2025-02-30T25:61:00",
            "0000-00-00",
            "AWS",
            "Critical",
            "Yes",
            "12.5",
            "-3",
            "1,5",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
HOSTILE_ROW = st.lists(HOSTILE_CELLS, min_size=0, max_size=len(schema.COLUMN_NAMES) + 3).map(",".join)
HOSTILE_CSV = st.lists(HOSTILE_ROW, min_size=0, max_size=12).map(
    lambda rows: ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")
)


@pytest.fixture(scope="module")
def clean_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_dataset(tmp_path_factory.mktemp("clean") / "c.csv", 30, 99, progress=False).read_bytes()


@st.composite
def damaged(draw: st.DrawFn, clean: bytes) -> bytes:
    """A clean batch cut short, with bytes overwritten or inserted."""
    data = bytearray(clean[: draw(st.integers(min_value=0, max_value=len(clean)))])
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        if not data:
            break
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        junk = draw(st.binary(min_size=1, max_size=4))
        if draw(st.booleans()):
            data[at : at + len(junk)] = junk
        else:
            data[at:at] = junk
    return bytes(data)


def contents(clean: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=500), HOSTILE_CSV, damaged(clean))


def _check_report(frame_rows: int, report: object) -> None:
    assert report.total_rows == frame_rows  # type: ignore[attr-defined]
    assert report.valid_rows + report.invalid_rows == frame_rows  # type: ignore[attr-defined]
    assert len(report.row_errors) == report.invalid_rows  # type: ignore[attr-defined]
    assert all(isinstance(e, str) and e for e in report.row_errors)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def gx() -> None:
    warm_up()


FUZZ = settings(
    max_examples=examples(40),
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@FUZZ
@given(data=st.data())
def test_reader_and_suite_never_crash_and_always_explain(
    tmp_path: Path, clean_bytes: bytes, gx: None, data: st.DataObject
) -> None:
    content = data.draw(contents(clean_bytes))
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)

    result = read_incident_csv(path)

    if not result.ok:
        assert isinstance(result.reason_code, ReadProblem)
        assert result.reason and result.reason.endswith((".", ")")), result.reason
        return
    _check_report(len(result.frame), validate_frame(result.frame, batch_name="fuzz.csv"))


@pytest.fixture(scope="module")
def ingest_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, object]]:
    home = tmp_path_factory.mktemp("ingest-fuzz")
    settings_ = Settings(
        outagecast_home=home, database_url=f"sqlite:///{home}/oc.db", ingest_settle_seconds=0
    )
    upgrade_to_head(settings_.resolved_database_url)
    engine = make_engine(settings_.resolved_database_url)
    yield settings_, make_session_factory(engine)
    engine.dispose()


_names = itertools.count()
_seen: set[str] = set()


@settings(
    max_examples=examples(25),
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_ingestion_quarantines_with_a_reason_or_accounts_for_every_row(
    ingest_settings: tuple[Settings, object], clean_bytes: bytes, gx: None, data: st.DataObject
) -> None:
    settings_, factory = ingest_settings
    content = data.draw(contents(clean_bytes))
    name = f"hostile_{next(_names):04d}.csv"
    raw = settings_.folder("raw_data")
    raw.mkdir(parents=True, exist_ok=True)
    (raw / name).write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()

    result = ingest_once(settings_, session_factory=factory)  # type: ignore[arg-type]

    assert result.status == "ok", result.errors
    [outcome] = result.files
    assert not (raw / name).exists(), "the file must leave raw_data/"
    if digest in _seen:
        assert outcome.state == "duplicate"
        return
    _seen.add(digest)
    good = settings_.folder("good_data") / name
    bad = settings_.folder("bad_data") / name
    if outcome.state == "quarantined":
        reason = (settings_.folder("bad_data") / (name + REASON_SUFFIX)).read_text(encoding="utf-8")
        line = next(x for x in reason.splitlines() if x.startswith("reason: "))
        assert len(line) > len("reason: ") + 10, reason  # a sentence, not a code
        assert bad.read_bytes() == content, "the quarantined copy must be the file as delivered"
        assert not good.exists()
        return
    assert outcome.state == "done", outcome
    read = read_incident_csv(good) if good.exists() else None
    good_rows = len(read.frame) if read is not None and read.ok else 0
    bad_read = read_incident_csv(bad) if bad.exists() else None
    bad_rows = len(bad_read.frame) if bad_read is not None and bad_read.ok else 0
    assert (good_rows, bad_rows) == (outcome.valid_rows, outcome.invalid_rows), outcome
    assert good_rows + bad_rows == outcome.total_rows
