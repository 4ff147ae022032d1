"""Start a real ``outagecast serve`` on loopback for tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A server process and where to reach it."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(
    *, home: Path, env: Mapping[str, str], log_path: Path, timeout: float = 180.0, expect_status: int = 200
) -> RunningServer:
    """Run ``outagecast serve`` with ``env`` on a free port; wait until /health answers."""
    port = free_port()
    full_env = {**os.environ, "OUTAGECAST_HOME": str(home), **env}
    log_file = open(log_path, "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [sys.executable, "-m", "outagecast.cli", "serve", "--port", str(port)],
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=home,
    )
    server = RunningServer(process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == expect_status:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"server did not become ready in {timeout} s:\n{server.log()}")
