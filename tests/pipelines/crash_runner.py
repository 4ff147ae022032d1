"""A process that runs ``ingest_once`` in forked children, to be killed with SIGKILL at chosen moments.

Started once per test session (``python tests/pipelines/crash_runner.py``), it imports Great
Expectations and builds its context, then for each JSON command read from stdin forks a child
that runs one ingestion exactly as ``outagecast ingest --once`` would (its own engine,
migration check, lock, recovery), so a kill costs milliseconds instead of the ~7 s GX import of
a fresh process. Commands::

    {"settings": {...Settings fields...}, "kill_after": 0.35 | null, "fsize_limit": 200000 | null}

The runner itself sends the SIGKILL (so it can never hit a reused pid) and answers one JSON
line: {"pid", "killed": bool, "exit": int | null, "signal": int | null, "result": {...} | null}.
``fsize_limit`` sets RLIMIT_FSIZE in the child: writes past that size fail with EFBIG, a
disk-full that works even as root.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path


def _child(command: dict, result_path: Path) -> None:
    from outagecast.pipelines.ingest import ingest_once
    from outagecast.settings import Settings

    if command.get("fsize_limit"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of dying
        limit = int(command["fsize_limit"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    result = ingest_once(Settings(**command["settings"]))
    result_path.write_text(json.dumps(result.as_dict(), default=str))
    os._exit(result.exit_code)


def main() -> None:
    from outagecast.validation import warm_up

    warm_up()
    import outagecast.alerts  # noqa: F401 - loaded before forking, like the rest
    import outagecast.pipelines.ingest  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        fd, name = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        result_path = Path(name)
        pid = os.fork()
        if pid == 0:
            try:
                _child(command, result_path)
            finally:
                os._exit(70)
        killed = False
        deadline = None if command.get("kill_after") is None else time.monotonic() + command["kill_after"]
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if deadline is not None and time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                killed = True
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(0.002)
        text = result_path.read_text() if result_path.stat().st_size else ""
        result_path.unlink()
        answer = {
            "pid": pid,
            "killed": killed,
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "result": json.loads(text) if text else None,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
