"""DESIGN §2: the web app is a client of the API; it never imports the database or the model."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import outagecast.clients
import outagecast.webapp

FORBIDDEN = ("outagecast.db", "outagecast.ml", "outagecast.api", "outagecast.pipelines", "sqlalchemy")
PACKAGES = (Path(outagecast.webapp.__file__).parent, Path(outagecast.clients.__file__).parent)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_no_webapp_or_client_source_imports_db_ml_or_api() -> None:
    offenders = {
        str(path.relative_to(PACKAGES[0].parent)): sorted(n for n in _imports(path) if _forbidden(n))
        for package in PACKAGES
        for path in package.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


# Runs every page in a fresh interpreter (no API: the pages take their error paths), then
# reports which forbidden modules ended up loaded. A fresh process, because this test
# session itself imports the ML and DB code for other tests.
_PROBE = """
import json, os, sys
os.environ["API_URL"] = "http://127.0.0.1:9"
from streamlit.testing.v1 import AppTest
import outagecast.clients.api, outagecast.webapp.data, outagecast.webapp.launch
from outagecast.webapp import charts, csv_batch, formatting, ui, what_if
app = AppTest.from_file(sys.argv[1], default_timeout=30).run()
for page in (ui.PREDICT_PAGE, ui.PAST_PAGE, ui.MODEL_PAGE, ui.DATA_QUALITY_PAGE):
    app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
forbidden = json.loads(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))))
"""


def test_running_every_page_loads_no_db_ml_or_api_module() -> None:
    entry = Path(outagecast.webapp.__file__).with_name("streamlit_app.py")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(entry), json.dumps(FORBIDDEN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == []
