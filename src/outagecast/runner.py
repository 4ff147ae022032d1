"""``outagecast up``: the API and the web app as child processes, supervised together, and the
scheduled jobs (ingestion...) in this process once the API is up (``scheduling.embedded``)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

import httpx

from outagecast.settings import get_settings

log = logging.getLogger(__name__)

API_READY_TIMEOUT_S = 900.0  # a cold start generates the dataset and trains the first model


def _wait_for_api(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with code {process.returncode} during start-up")
        try:
            if httpx.get(url + "/health", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the API at {url} did not answer within {timeout:g} s")


def run_stack(*, host: str, api_port: int, ui_port: int) -> int:
    """Start API then web app; stop both when either exits or on Ctrl-C/SIGTERM. Returns an exit code."""
    from outagecast.scheduling.embedded import start_embedded_scheduler
    from outagecast.webapp.launch import run_ui, stop_ui, wait_until_ready

    settings = get_settings()
    api_url = f"http://{host}:{api_port}"
    api = subprocess.Popen(
        [sys.executable, "-m", "outagecast.cli", "serve", "--host", host, "--port", str(api_port)]
    )
    children: list[subprocess.Popen] = [api]
    scheduler = None

    def _stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        log.info("starting the API on %s (a first start trains a model; this can take a minute)", api_url)
        _wait_for_api(api_url, api, API_READY_TIMEOUT_S)
        # After the API: it has migrated the database, and the jobs' alerts link to its pages.
        scheduler = start_embedded_scheduler(settings)
        key = settings.api_key.get_secret_value() if settings.api_key else None
        web = run_ui(ui_port, api_url, host=host, api_key=key)
        children.append(web)
        wait_until_ready(f"http://{host}:{ui_port}", process=web, timeout=120)
        log.info(
            "OutageCast is up: API %s (docs %s/docs), web app http://%s:%d", api_url, api_url, host, ui_port
        )
        while all(child.poll() is None for child in children):
            time.sleep(1)
        failed = next(child for child in children if child.poll() is not None)
        log.error("a component exited (code %s); stopping the others", failed.returncode)
        return failed.returncode or 1
    except KeyboardInterrupt:
        log.info("stopping OutageCast")
        return 0
    except (RuntimeError, TimeoutError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        if scheduler is not None:
            scheduler.stop()  # running jobs finish their current file first
        for child in reversed(children):
            stop_ui(child)
