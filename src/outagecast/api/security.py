"""API security: the ``X-API-Key`` check, the per-client write rate limit, the body-size limit.

How requests are classified (docs/security.md):

- A *read* is ``GET``, ``HEAD`` or ``OPTIONS``; every other method is a *write* (predictions,
  what-if, model reloads, anything added later). Classifying by method rather than by a list of
  routes means an endpoint added later is covered the day it is added.
- When ``API_KEY`` is set, writes need ``X-API-Key``; reads need it too when
  ``READS_REQUIRE_API_KEY`` is true. ``/health`` is always open: container health checks and the
  gateway probe it, and it says nothing secret.
- ``RATE_LIMIT_PER_MINUTE`` (0: off) caps writes per client in a moving one-minute window.

``api_guard`` is installed as an app-wide dependency (``FastAPI(dependencies=...)``), so it runs
for every route of every router, including routers included later. ``BodySizeLimit`` is pure
ASGI middleware: it must see the body as it streams in, which ``BaseHTTPMiddleware`` cannot do
without buffering it first.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outagecast.settings import Settings

API_KEY_HEADER = "X-API-Key"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths that never need a key: liveness probes must work without secrets.
ALWAYS_OPEN_PATHS = frozenset({"/health"})

# auto_error=False: a missing key is only an error when the settings say so (decided below).
# Declaring the header this way also puts the scheme in OpenAPI (the "Authorize" button).
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required for writes when API_KEY is set, and for reads too when READS_REQUIRE_API_KEY.",
)


def is_read(method: str) -> bool:
    """Whether an HTTP method only reads (the key and rate limit rules differ for writes)."""
    return method.upper() in READ_METHODS


def key_matches(presented: str | None, settings: Settings) -> bool:
    """Whether ``presented`` is the configured API key (True when no key is configured).

    Constant-time comparison: the time taken must not reveal how much of the key matched.
    """
    if settings.api_key is None:
        return True
    if presented is None:
        return False
    return secrets.compare_digest(presented.encode(), settings.api_key.get_secret_value().encode())


def key_required(method: str, path: str, settings: Settings) -> bool:
    """Whether a request with this method and path must carry the API key."""
    if settings.api_key is None or path in ALWAYS_OPEN_PATHS:
        return False
    return settings.reads_require_api_key or not is_read(method)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=f"Missing or wrong {API_KEY_HEADER}",
        headers={"WWW-Authenticate": "API-Key"},
    )


class WriteRateLimiter:
    """At most ``per_minute`` writes per client in any sliding minute (in this process).

    The client is the API key's digest when ``API_KEY`` is set (the requests are authenticated
    by then), else the client's host. Counts live in this process's memory: with several workers
    or replicas each one counts separately, so the effective ceiling is ``per_minute`` times the
    number of processes a client's requests are spread over (docs/security.md).
    """

    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, client: str) -> float | None:
        """Count one request of ``client``; None when allowed, else the seconds to wait."""
        if self._limiter.hit(self.item, client):
            return None
        reset = self._limiter.get_window_stats(self.item, client).reset_time
        return max(1.0, reset - time.time())


def client_identity(request: Request, settings: Settings) -> str:
    """Who a request counts against for the rate limit (never the raw key: it may end up in memory dumps)."""
    if settings.api_key is not None:
        digest = hashlib.sha256(settings.api_key.get_secret_value().encode()).hexdigest()[:16]
        return f"key:{digest}"
    host = request.client.host if request.client is not None else "unknown"
    return f"host:{host}"


def api_guard(request: Request, x_api_key: Annotated[str | None, Depends(api_key_header)]) -> None:
    """App-wide dependency: the API key check, then the write rate limit.

    The key is checked first so that requests refused with 401 do not use up a client's budget.
    """
    settings: Settings = request.app.state.settings
    if key_required(request.method, request.url.path, settings) and not key_matches(x_api_key, settings):
        raise _unauthorized()
    limiter: WriteRateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or is_read(request.method):
        return
    wait = limiter.hit(client_identity(request, settings))
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Rate limit exceeded: at most {settings.rate_limit_per_minute} write requests per "
            f"minute per client (RATE_LIMIT_PER_MINUTE); retry in {math.ceil(wait)} s",
            headers={"Retry-After": str(math.ceil(wait))},
        )


class ReadKeyProtected:
    """Wraps a mounted ASGI app (the Data Docs pages) with the read rule of ``api_guard``.

    Mounts are not routes, so app-wide dependencies do not reach them.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            method = scope.get("method", "GET")
            if key_required(method, scope.get("path", ""), self.settings) and not key_matches(
                headers.get(API_KEY_HEADER), self.settings
            ):
                exc = _unauthorized()
                response = JSONResponse(
                    {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit.

    An ``HTTPException`` on purpose: FastAPI turns other exceptions raised while it reads the
    body into a 400 "error parsing the body", but lets this one through to its 413 handler.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, detail=too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"Request body larger than {limit} bytes (MAX_BODY_BYTES); split the batch into smaller requests"


class BodySizeLimit:
    """Pure ASGI middleware: refuse request bodies larger than ``max_bytes`` with 413.

    A declared ``Content-Length`` above the limit is refused before any of the body is read.
    Bodies without one (chunked transfer encoding) or that lie about it are counted as they
    stream in, and refused as soon as the count passes the limit, so nobody can make a worker
    buffer an unbounded body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(scope, receive, send, 400, "Invalid Content-Length header")
                return
            if int(declared) > self.max_bytes:
                await _send_json(scope, receive, send, 413, too_large_message(self.max_bytes))
                return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # Reached only when the app below did not turn it into a response itself.
            if response_started:
                raise
            await _send_json(scope, receive, send, 413, too_large_message(self.max_bytes))


async def _send_json(scope: Scope, receive: Receive, send: Send, status_code: int, detail: str) -> None:
    # Connection: close - the rest of an oversized body is never read, so the connection
    # cannot be reused for another request.
    response = JSONResponse({"detail": detail}, status_code=status_code, headers={"Connection": "close"})
    await response(scope, receive, send)
