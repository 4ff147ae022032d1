"""The DAG tests use the ingestion tests' source batches."""

from tests.pipelines.conftest import clean_source, other_sources  # noqa: F401 - fixtures
