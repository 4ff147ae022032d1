"""The scripts the images and services run: shell syntax, the health check, the gateway."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY, command_list

SHELL_SCRIPTS = sorted(DEPLOY.rglob("*.sh"))
HEALTHCHECK = DEPLOY / "docker" / "healthcheck.py"


@pytest.mark.parametrize("path", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_shell_script_is_valid_and_executable(path: os.PathLike[str]) -> None:
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert os.access(path, os.X_OK), f"{path} is not executable"
    text = open(path, encoding="utf-8").read()  # noqa: SIM115 - one-shot read
    assert text.startswith("#!/"), "shebang"
    assert "set -eu" in text or "set -euo pipefail" in text


def test_entrypoint_execs_the_command_with_a_shared_umask() -> None:
    text = (DEPLOY / "docker" / "entrypoint.sh").read_text(encoding="utf-8")
    assert "umask 0002" in text and 'exec "$@"' in text


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oc_healthcheck", HEALTHCHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's API
        status = int(self.path.strip("/") or 200)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "code"), [(200, 0), (204, 0), (503, 1), (500, 1)])
def test_healthcheck_follows_the_http_status(http_base: str, status: int, code: int) -> None:
    assert _load_healthcheck().main(["healthcheck", f"{http_base}/{status}", "2"]) == code


def test_healthcheck_fails_when_nothing_listens_and_on_bad_usage() -> None:
    healthcheck = _load_healthcheck()
    assert healthcheck.main(["healthcheck", "http://127.0.0.1:9/health", "1"]) == 1
    assert healthcheck.main(["healthcheck"]) == 2
    assert healthcheck.main(["healthcheck", "http://127.0.0.1:9/", "soon"]) == 2


def test_gateway_listens_where_compose_expects(services: dict[str, Any]) -> None:
    conf = (DEPLOY / "gateway" / "nginx.conf").read_text(encoding="utf-8")
    listen = re.search(r"listen\s+(\d+);", conf)
    assert listen
    assert services["gateway"]["ports"][0].endswith(f":{listen.group(1)}")
    health = command_list({"command": services["gateway"]["healthcheck"]["test"]})[-1]
    assert health.endswith(re.search(r"location = (/\S+)", conf).group(1))  # type: ignore[union-attr]
    assert "resolver 127.0.0.11" in conf, "re-resolve `api` as replicas come and go"
    assert "proxy_pass $api_upstream;" in conf
