# The README's commands. `make run` sets everything up and starts OutageCast on the embedded
# defaults; `make test` runs the whole test suite. Both install from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9

.PHONY: install run serve test test-fast lint format bench loadtest fuzz audit system-deps clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## Create .venv with the locked versions and the package

run: install ## Start OutageCast (API + web app) on the embedded defaults
	$(BIN)/outagecast up

serve: install ## Start only the API
	$(BIN)/outagecast serve

system-deps: ## What the tests need from the system: a running PostgreSQL and Debian's chromium
	bash scripts/system-deps.sh

test: install system-deps ## The whole test suite (SQLite, PostgreSQL, browser)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install ## Tests not marked slow
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests bench dags
	$(BIN)/ruff format --check src tests bench dags

format: install
	$(BIN)/ruff format src tests bench dags
	$(BIN)/ruff check --fix src tests bench dags

bench: install system-deps ## Benchmarks against the original design, each in one process
	$(BIN)/python -m bench
	$(BIN)/python -m bench.ingest

FUZZ_EXAMPLES ?= 200
fuzz: install system-deps ## Explore: fuzz the API and the CSV reader with fresh random examples (CI replays fixed ones)
	OUTAGECAST_FUZZ_RANDOM=1 OUTAGECAST_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider \
		tests/reliability/test_fuzz_api.py tests/reliability/test_fuzz_reader.py

LOADTEST_ARGS ?= --clients 32 --seconds 60
loadtest: install system-deps ## Bounded load test of the API on PostgreSQL (loopback; LOADTEST_ARGS="--clients 32 --seconds 60 --json")
	$(BIN)/python -m bench.loadtest $(LOADTEST_ARGS)

# pip-audit asks a vulnerability database over the internet: PyPI's JSON API (default) or OSV.
AUDIT_SERVICE ?= pypi
AUDIT_PROBE_URL = $(if $(filter osv,$(AUDIT_SERVICE)),https://api.osv.dev/,https://pypi.org/pypi/pip/json)
AUDIT_REPORT ?= var/pip-audit.json
# Judges pip-audit's JSON report: a package the database did not answer for is "no verdict", not
# "no vulnerability" (pip-audit itself exits 0 then, e.g. behind a PyPI mirror without the JSON API).
define AUDIT_SUMMARY
import json, pathlib, sys
report = pathlib.Path(sys.argv[1])
if not report.exists():
    sys.exit("make audit: pip-audit wrote no report (see its errors above): no verdict.")
deps = json.loads(report.read_text())["dependencies"]
vulns = [(d["name"], d["version"], v["id"], v.get("fix_versions") or []) for d in deps for v in d.get("vulns", [])]
for name, version, vid, fixes in vulns:
    print(f"VULNERABLE {name} {version}: {vid} (fixed in: {', '.join(fixes) or 'no release yet'})")
skipped = [d["name"] for d in deps if d.get("skip_reason")]
if skipped:
    print(f"make audit: {len(skipped)} of {len(deps)} packages could not be checked ({', '.join(skipped[:3])}, ...): "
          "the vulnerability database did not answer for them; no verdict.", file=sys.stderr)
    sys.exit(2)
print(f"make audit: {len(deps)} packages checked, {len(vulns)} known vulnerabilities (after audit-ignore.txt).")
sys.exit(1 if vulns else 0)
endef
export AUDIT_SUMMARY
audit: install ## Known vulnerabilities in requirements.lock (pip-audit; needs internet, not a CI gate; ignores in audit-ignore.txt)
	@$(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(AUDIT_PROBE_URL)', timeout=10)" 2>/dev/null || { \
		echo "make audit: the vulnerability database ($(AUDIT_PROBE_URL)) is unreachable from this machine;" >&2; \
		echo "run it where the internet is reachable (AUDIT_SERVICE=osv to ask osv.dev instead)." >&2; exit 2; }
	@mkdir -p $(dir $(AUDIT_REPORT)) && rm -f $(AUDIT_REPORT)
	-$(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off \
		--vulnerability-service $(AUDIT_SERVICE) --format json --output $(AUDIT_REPORT) \
		$$(grep -v '^[[:space:]]*#' audit-ignore.txt | awk 'NF {printf "--ignore-vuln %s ", $$1}')
	@$(BIN)/python -c "$$AUDIT_SUMMARY" $(AUDIT_REPORT)

lock: ## Re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock

clean:
	rm -rf var test-output .pytest_cache
