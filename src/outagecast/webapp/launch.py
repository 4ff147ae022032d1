"""Starting the web app as its own process (``outagecast ui`` and ``outagecast up`` call this).

Streamlit runs a script, not a function, so the app is started as ``python -m streamlit run``
on the entrypoint shipped inside the package; it works from any working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from outagecast.settings import Settings, get_settings

ENTRYPOINT = Path(__file__).with_name("streamlit_app.py")
# Streamlit's own liveness endpoint (answers "ok" once the server listens).
HEALTH_PATH = "/_stcore/health"


def streamlit_command(
    port: int,
    *,
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    python: str | None = None,
    max_upload_mb: int | None = None,
) -> list[str]:
    """The command line that serves the web app on ``host:port``.

    ``max_upload_mb`` caps CSV uploads (default: ``WEBAPP_MAX_UPLOAD_MB`` from the settings).
    """
    if max_upload_mb is None:
        max_upload_mb = get_settings().webapp_max_upload_mb
    return [
        python or sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ENTRYPOINT),
        "--server.port",
        str(port),
        "--server.address",
        host,
        # No browser to open, no first-run e-mail prompt: it may run as a service.
        "--server.headless",
        "true",
        # No telemetry: it must work without internet access, and should not phone home.
        "--browser.gatherUsageStats",
        "false",
        # The installed code does not change under a running app; watching files only costs.
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        # Viewers get the app, not Streamlit's developer menu (Deploy, Rerun, Settings).
        "--client.toolbarMode",
        "viewer",
        # Tracebacks stay in the server log; pages show their own messages.
        "--client.showErrorDetails",
        "none",
        # Streamlit refuses bigger uploads itself, before any of our code sees the file.
        "--server.maxUploadSize",
        str(max_upload_mb),
        *extra_args,
    ]


def run_ui(
    port: int,
    api_url: str,
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    cwd: str | Path | None = None,
    extra_args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start the web app on ``host:port`` talking to the API at ``api_url``; return the process.

    The child inherits this process's environment (plus ``env``), with ``API_URL`` (and
    ``API_KEY`` when given) set so that its settings point at the right API. The caller owns
    the process: ``terminate()`` it, or use ``stop_ui``.
    """
    child_env = {**os.environ, **(env or {}), "API_URL": api_url}
    if api_key:
        child_env["API_KEY"] = api_key
    return subprocess.Popen(
        streamlit_command(port, host=host, extra_args=extra_args, max_upload_mb=_max_upload_mb(env)),
        env=child_env,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
    )


def _max_upload_mb(env: Mapping[str, str] | None) -> int:
    """``WEBAPP_MAX_UPLOAD_MB`` as the child will see it: from ``env`` when given there (validated
    like the setting), else from this process's settings."""
    if env and env.get("WEBAPP_MAX_UPLOAD_MB"):
        return Settings(webapp_max_upload_mb=env["WEBAPP_MAX_UPLOAD_MB"]).webapp_max_upload_mb
    return get_settings().webapp_max_upload_mb


def wait_until_ready(
    url: str, *, timeout: float = 60.0, process: subprocess.Popen | None = None, interval: float = 0.2
) -> None:
    """Block until the web app at ``url`` answers its health check; raise if it does not.

    Raises ``RuntimeError`` when ``process`` exits first, ``TimeoutError`` after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    health = url.rstrip("/") + HEALTH_PATH
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the web app exited with code {process.returncode} before answering")
        try:
            if httpx.get(health, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"the web app at {url} did not answer within {timeout:g} s")


def stop_ui(process: subprocess.Popen, *, timeout: float = 10.0) -> None:
    """Stop a web app started by ``run_ui`` (politely, then firmly)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
