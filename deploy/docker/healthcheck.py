#!/usr/bin/env python3
"""Container health check without curl: ``healthcheck URL [TIMEOUT_SECONDS]``.

Exits 0 when URL answers with a 2xx status within the timeout (default 5 s), 1 otherwise
(an error status such as the API's 503 "degraded", a refused connection, a timeout) and 2 on
a usage error. Standard library only, so it runs in both images.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def check(url: str, timeout: float) -> int:
    """0 when ``url`` answers 2xx within ``timeout`` seconds, else 1 (the reason goes to stderr)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed local URLs
            status = response.status
    except (urllib.error.URLError, OSError, ValueError) as exc:
        sys.stderr.write(f"unhealthy: {url}: {exc}\n")
        return 1
    if 200 <= status < 300:
        return 0
    sys.stderr.write(f"unhealthy: {url}: HTTP {status}\n")
    return 1


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        sys.stderr.write("usage: healthcheck URL [TIMEOUT_SECONDS]\n")
        return 2
    try:
        timeout = float(argv[2]) if len(argv) == 3 else 5.0
    except ValueError:
        sys.stderr.write(f"usage: healthcheck URL [TIMEOUT_SECONDS]; not a number: {argv[2]}\n")
        return 2
    return check(argv[1], timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
