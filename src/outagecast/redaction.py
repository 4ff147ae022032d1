"""Secrets never reach the logs: a log record factory that masks the configured secret values.

Stdlib only, so that every process (the API, the CLI and its jobs, the web app) can install it
without importing the web stack.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from outagecast.settings import Settings

_redacted: set[str] = set()
_factory_installed = False
REDACTED = "***"


def secret_values(settings: Settings) -> set[str]:
    """The secret strings of ``settings``: keys, passwords in URLs, the webhook URL itself."""
    values: set[str] = set()
    for secret in (settings.api_key, settings.webapp_password):
        if secret is not None:
            values.add(secret.get_secret_value())
    for url in (settings.database_url, settings.mlflow_tracking_uri):
        if url:
            try:
                password = urlsplit(url).password
            except ValueError:
                password = None
            if password:
                values.add(password)
    if settings.alert_webhook_url:
        # The whole URL is the credential (Teams and Slack webhooks carry their token in the path).
        webhook = settings.alert_webhook_url
        values.update({webhook, webhook.split("?", 1)[0]})
    # Very short values would mangle ordinary words; nobody should configure such secrets.
    return {v for v in values if len(v) >= 4}


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***`` (longest first)."""
    for value in sorted(_redacted, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def install_log_redaction(settings: Settings) -> None:
    """Mask the secrets of ``settings`` in every log record this process creates from now on.

    A log record factory rather than a handler filter: it covers every logger and handler,
    including ones configured later (uvicorn's) and the last-resort handler. httpx logs each
    request's URL at INFO, which for alerts is the webhook URL: it is raised to WARNING.
    Idempotent; several settings objects add up.
    """
    global _factory_installed
    _redacted.update(secret_values(settings))
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _redacted:
            try:
                message = record.getMessage()
            except Exception:  # a malformed call is the logging module's to report
                return record
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True
