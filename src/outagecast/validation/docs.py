"""Great Expectations Data Docs: one HTML page per validated batch, in a folder the API serves.

Each ``data_docs_dir`` becomes a GX Data Docs *site* on the process's data context. GX rebuilds
a site's index from a validation-results store and deletes pages whose result is not in that
store, so each site gets its own file-backed store (``<data_docs_dir>/validation_results/``):
pages written by earlier processes survive, and the index lists the latest
``INDEX_VALIDATION_LIMIT`` validations across processes.

What is stored and rendered is a trimmed copy of the result: GX's COMPLETE format holds every
unexpected value and row index (millions of entries on a bad 1M-row file), which the row
routing needs but a page does not; the page keeps GX's sample of up to 20 values per
expectation.

Only ``validate.py`` calls this module, with a context it has already built, so Great
Expectations is never imported here at module level.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse
from urllib.request import url2pathname

RESULTS_SUBDIR: Final = "validation_results"
INDEX_VALIDATION_LIMIT: Final = 50  # the index re-reads this many results on every build (~10 ms each)
# Result keys that grow with the number of bad rows; the page renders the partial_* samples.
_BULKY_RESULT_KEYS: Final = frozenset({"unexpected_list", "unexpected_index_list", "unexpected_index_query"})


@dataclass(slots=True)
class _Site:
    name: str
    store_name: str
    root: Path
    suite_page_built: bool = False


# The sites registered so far, per data context (by id) and folder.
_SITES: dict[tuple[int, Path], _Site] = {}


def result_identifier(result: Any) -> Any:
    """The ``ValidationResultIdentifier`` a suite validation result is filed and rendered under."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=result.meta["run_id"],
        batch_identifier=result.batch_id,
    )


def _site(context: Any, data_docs_dir: Path) -> _Site:
    root = data_docs_dir.resolve()
    site = _SITES.get((id(context), root))
    if site is not None:
        return site
    tag = hashlib.sha1(str(root).encode(), usedforsecurity=False).hexdigest()[:12]
    site = _Site(name=f"outagecast_docs_{tag}", store_name=f"outagecast_docs_results_{tag}", root=root)
    root.mkdir(parents=True, exist_ok=True)
    context.add_store(
        site.store_name,
        {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(root / RESULTS_SUBDIR),
            },
        },
    )
    context.add_data_docs_site(
        site.name,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root)},
            "site_index_builder": {
                "class_name": "DefaultSiteIndexBuilder",
                "validation_results_limit": INDEX_VALIDATION_LIMIT,
            },
            "site_section_builders": {
                # GX's default filter hides runs whose name contains "profiling"; batch names are
                # file names, so every run is shown.
                "validations": {
                    "source_store_name": site.store_name,
                    "run_name_filter": {"matches_regex": ".*"},
                },
                "profiling": "None",
            },
        },
    )
    _SITES[(id(context), root)] = site
    return site


def _trimmed(result: Any) -> Any:
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

    results = [
        ExpectationValidationResult(
            success=r.success,
            expectation_config=r.expectation_config,
            result={k: v for k, v in r.result.items() if k not in _BULKY_RESULT_KEYS},
            meta=r.meta,
            exception_info=r.exception_info,
        )
        for r in result.results
    ]
    return ExpectationSuiteValidationResult(
        success=result.success,
        results=results,
        suite_name=result.suite_name,
        suite_parameters=result.suite_parameters,
        statistics=result.statistics,
        meta=result.meta,
        batch_id=result.batch_id,
    )


def write_data_docs(context: Any, result: Any, data_docs_dir: Path) -> str:
    """Render the page for ``result`` under ``data_docs_dir`` (and refresh the site index).

    Returns:
        The page's path relative to ``data_docs_dir``, with forward slashes, e.g.
        ``validations/outagecast_incidents/batch_001.csv/20260504T101500.123456Z/<batch id>.html``.
    """
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    site = _site(context, data_docs_dir)
    key = result_identifier(result)
    context.stores[site.store_name].set(key, _trimmed(result))
    identifiers: list[Any] = [key]
    if not site.suite_page_built:
        # The index links the suite's own page; it only needs writing once per process.
        identifiers.append(ExpectationSuiteIdentifier(name=result.suite_name))
    context.build_data_docs(site_names=[site.name], resource_identifiers=identifiers)
    site.suite_page_built = True
    (url,) = (
        entry["site_url"]
        for entry in context.get_docs_sites_urls(resource_identifier=key, site_name=site.name)
    )
    page = Path(url2pathname(urlparse(url).path))
    return page.resolve().relative_to(site.root).as_posix()
