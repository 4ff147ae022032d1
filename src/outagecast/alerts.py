"""Webhook alerts: Teams MessageCard, Slack-compatible or generic JSON, throttled per kind, never fatal.

``send_alert(settings, kind, title, facts, text, link)`` is the one entry point; ingestion uses
kind ``"ingestion"``, and later jobs (monitoring, retraining) pass their own kinds.

- **Where**: ``ALERT_WEBHOOK_URL``; unset, the alert is only logged (status ``logged``).
- **Format**: ``ALERT_FORMAT`` = ``teams`` (an Office 365 connector MessageCard, which Teams
  incoming webhooks and Power Automate's "post to a channel when a webhook request is
  received" accept), ``slack`` (``text`` plus Block Kit blocks; Mattermost and Rocket.Chat
  read the ``text``) or ``json`` (a flat document for anything else).
- **Delivery**: httpx with ``ALERT_TIMEOUT_SECONDS`` per attempt, up to ``ALERT_MAX_ATTEMPTS``
  attempts with exponential back-off from ``ALERT_RETRY_BACKOFF_SECONDS`` (capped at 30 s, a
  ``Retry-After`` honoured within that cap) on connection errors, timeouts, 429 and 5xx; any
  other answer is final. Failures are logged and returned, never raised.
- **Throttle**: at most one alert per kind per ``ALERT_THROTTLE_SECONDS``. The alerts in between
  are recorded as ``suppressed`` and the next alert of that kind says "+N more since ...";
  ``flush_suppressed`` sends that summary on its own once the interval has passed, so a burst
  that ends is still reported.

The throttle's state is the ``alert_log`` table rather than a file under ``var/``: the API,
the embedded scheduler, CLI runs and Airflow workers on other hosts all share the database,
not a local folder (DESIGN §6), and the table doubles as the history of what was sent. The
decision to send is taken in a transaction that holds a per-kind lock (an advisory lock on
PostgreSQL, the write lock on SQLite), so two processes never both open a window. If the
database is unreachable the alert is sent unthrottled: losing an alert is worse than a
duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import httpx

from outagecast.settings import Settings

log = logging.getLogger(__name__)

Level = Literal["info", "warning", "critical"]
AlertStatus = Literal["sent", "failed", "logged", "suppressed"]

MAX_BACKOFF_SECONDS: Final = 30.0
_THEME_COLORS: Final[dict[str, str]] = {"info": "0078D7", "warning": "FFB900", "critical": "D13438"}
_SLACK_FIELDS_PER_SECTION: Final = 10  # Block Kit's limit
_SLACK_TEXT_LIMIT: Final = 2900  # Block Kit allows 3000 characters per text object


@dataclass(frozen=True, slots=True)
class AlertResult:
    """What became of one ``send_alert`` call."""

    status: AlertStatus
    attempts: int = 0
    suppressed_count: int = 0  # earlier suppressed alerts this one summarised
    detail: str | None = None  # last HTTP status or error
    alert_id: int | None = None  # its alert_log row, when the database was reachable


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _summary_line(kind: str, count: int, since: datetime | None) -> str:
    when = f" since {since:%Y-%m-%d %H:%M:%S} UTC" if since else ""
    return f"+{count} more {kind} alert{'s' if count != 1 else ''}{when} (throttled)"


def build_payload(
    fmt: Literal["teams", "slack", "json"],
    *,
    kind: str,
    title: str,
    text: str,
    facts: Mapping[str, Any],
    link: str | None,
    level: Level = "warning",
    link_label: str = "Open report",
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The webhook body for ``fmt``; ``facts`` are shown as name/value pairs in their order."""
    pairs = [(str(k), "" if v is None else str(v)) for k, v in facts.items()]
    if fmt == "teams":
        card: dict[str, Any] = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": _THEME_COLORS[level],
            "title": title,
            "sections": [{"facts": [{"name": k, "value": v} for k, v in pairs]}],
        }
        if text:
            card["text"] = text
        if link:
            card["potentialAction"] = [
                {"@type": "OpenUri", "name": link_label, "targets": [{"os": "default", "uri": link}]}
            ]
        return card
    if fmt == "slack":
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}}
        ]
        if text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:_SLACK_TEXT_LIMIT]}})
        fields = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:_SLACK_TEXT_LIMIT]} for k, v in pairs]
        for start in range(0, len(fields), _SLACK_FIELDS_PER_SECTION):
            blocks.append({"type": "section", "fields": fields[start : start + _SLACK_FIELDS_PER_SECTION]})
        if link:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": link_label}, "url": link}
                    ],
                }
            )
        # "text" is the notification and the fallback of clients without Block Kit.
        fallback = "\n".join([f"*{title}*", *([text] if text else []), *(f"{k}: {v}" for k, v in pairs)])
        if link:
            fallback += f"\n<{link}|{link_label}>"
        return {"text": fallback, "blocks": blocks}
    if fmt == "json":
        return {
            "kind": kind,
            "level": level,
            "title": title,
            "text": text,
            "facts": dict(pairs),
            "link": link,
            "timestamp": (timestamp or _utcnow()).isoformat(),
        }
    raise ValueError(f"unknown alert format {fmt!r}")


def _backoff(settings: Settings, attempt: int, response: httpx.Response | None) -> float:
    delay = settings.alert_retry_backoff_seconds * 2 ** (attempt - 1)
    if response is not None and (after := response.headers.get("Retry-After", "")).strip().isdigit():
        delay = max(delay, float(after))
    return min(delay, MAX_BACKOFF_SECONDS)


def post_with_retries(
    settings: Settings,
    url: str,
    payload: Mapping[str, Any],
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """POST ``payload`` as JSON until a 2xx, a final answer or the last attempt.

    Returns:
        (delivered, attempts made, last HTTP status or error).
    """
    own_client = client is None
    client = client or httpx.Client(timeout=settings.alert_timeout_seconds)
    detail: str | None = None
    try:
        for attempt in range(1, settings.alert_max_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = client.post(url, json=payload, timeout=settings.alert_timeout_seconds)
            except httpx.HTTPError as exc:  # connection refused, DNS, timeout...
                detail = f"{type(exc).__name__}: {exc}"
            else:
                detail = f"HTTP {response.status_code}"
                if response.is_success:
                    return True, attempt, detail
                if response.status_code != 429 and response.status_code < 500:
                    return False, attempt, f"{detail}: {response.text[:200]}"  # retrying cannot help
            if attempt < settings.alert_max_attempts:
                log.info("alert delivery attempt %d failed (%s); retrying", attempt, detail)
                sleep(_backoff(settings, attempt, response))
        return False, settings.alert_max_attempts, detail
    finally:
        if own_client:
            client.close()


@dataclass(frozen=True, slots=True)
class _Decision:
    send: bool
    alert_id: int | None = None
    suppressed_count: int = 0
    suppressed_since: datetime | None = None


def _decide(
    settings: Settings, session_factory: Any, *, kind: str, title: str, facts: dict, link: str | None
) -> _Decision:
    from outagecast.db import repository

    now = _utcnow()
    window = timedelta(seconds=settings.alert_throttle_seconds)
    with session_factory() as session, session.begin():
        repository.serialize_writers(session, name=f"outagecast:alert:{kind}")
        last = repository.last_emitted_alert(session, kind=kind)
        common = {"kind": kind, "title": title, "facts": facts, "link": link, "timestamp": now}
        if last is not None and window.total_seconds() > 0 and now - last.timestamp < window:
            row = repository.insert_alert(session, status="suppressed", **common)
            return _Decision(send=False, alert_id=row.id)
        count, since = repository.suppressed_alerts_since(
            session, kind=kind, after_id=last.id if last else None
        )
        row = repository.insert_alert(
            session, status="sending", suppressed_count=count, suppressed_since=since, **common
        )
        return _Decision(send=True, alert_id=row.id, suppressed_count=count, suppressed_since=since)


def _session_factory_for(settings: Settings) -> tuple[Any, Callable[[], None]]:
    from outagecast.db.session import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    return make_session_factory(engine), engine.dispose


def _json_facts(facts: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): (v if isinstance(v, int | float | bool | str) or v is None else str(v))
        for k, v in facts.items()
    }


def send_alert(
    settings: Settings,
    kind: str,
    title: str,
    facts: Mapping[str, Any] | None = None,
    text: str = "",
    link: str | None = None,
    *,
    level: Level = "warning",
    link_label: str = "Open report",
    session_factory: Any = None,
    client: httpx.Client | None = None,
) -> AlertResult:
    """Raise an alert of ``kind``: throttle it, format it for ``ALERT_FORMAT``, send or log it.

    Never raises. ``session_factory`` is the caller's (one is made from ``DATABASE_URL`` and
    disposed of otherwise); ``client`` lets tests and long-lived callers reuse a connection pool.
    """
    facts = _json_facts(facts or {})
    dispose: Callable[[], None] = lambda: None  # noqa: E731 - nothing to clean up by default
    decision = _Decision(send=True)
    try:
        if session_factory is None:
            session_factory, dispose = _session_factory_for(settings)
        decision = _decide(settings, session_factory, kind=kind, title=title, facts=facts, link=link)
    except Exception as exc:  # no throttle state: better a duplicate alert than a lost one
        log.warning("alert throttle unavailable (%s); sending %r unthrottled", exc, title)
        session_factory = None
    try:
        if not decision.send:
            log.info("alert suppressed by the %s throttle: %s", kind, title)
            return AlertResult(status="suppressed", alert_id=decision.alert_id)
        return _deliver(
            settings,
            decision,
            session_factory,
            kind=kind,
            title=title,
            facts=facts,
            text=text,
            link=link,
            level=level,
            link_label=link_label,
            client=client,
        )
    except Exception as exc:  # never let an alert break the job that raised it
        log.exception("alert %r could not be processed", title)
        return AlertResult(status="failed", detail=str(exc), alert_id=decision.alert_id)
    finally:
        dispose()


def _deliver(
    settings: Settings,
    decision: _Decision,
    session_factory: Any,
    *,
    kind: str,
    title: str,
    facts: dict[str, Any],
    text: str,
    link: str | None,
    level: Level,
    link_label: str,
    client: httpx.Client | None,
) -> AlertResult:
    if decision.suppressed_count:
        summary = _summary_line(kind, decision.suppressed_count, decision.suppressed_since)
        text = f"{text}\n\n{summary}" if text else summary
        facts = {**facts, "Suppressed": summary}
    url = settings.alert_webhook_url
    if not url:
        log.warning("ALERT [%s] %s | %s | %s | %s", kind, title, text, facts, link or "")
        status: AlertStatus = "logged"
        attempts, detail = 0, "ALERT_WEBHOOK_URL unset"
    else:
        payload = build_payload(
            settings.alert_format,
            kind=kind,
            title=title,
            text=text,
            facts=facts,
            link=link,
            level=level,
            link_label=link_label,
        )
        delivered, attempts, detail = post_with_retries(settings, url, payload, client=client)
        status = "sent" if delivered else "failed"
        if delivered:
            log.info("alert sent (%s, %d attempt(s)): %s", settings.alert_format, attempts, title)
        else:
            log.error("alert NOT delivered after %d attempt(s) (%s): %s", attempts, detail, title)
    if session_factory is not None and decision.alert_id is not None:
        try:
            from outagecast.db import repository

            with session_factory() as session, session.begin():
                repository.update_alert(
                    session, alert_id=decision.alert_id, status=status, attempts=attempts, detail=detail
                )
        except Exception as exc:  # the alert itself went out; only its record is incomplete
            log.warning("could not record the outcome of alert %s: %s", decision.alert_id, exc)
    return AlertResult(
        status=status,
        attempts=attempts,
        suppressed_count=decision.suppressed_count,
        detail=detail,
        alert_id=decision.alert_id,
    )


def flush_suppressed(settings: Settings, kind: str, *, session_factory: Any = None) -> AlertResult | None:
    """Send the "+N more" summary of ``kind`` on its own once the throttle interval has passed.

    Called at the end of each job run: a burst that stops would otherwise be summarised only
    when the next alert of its kind happens. Returns None when there is nothing to flush.
    """
    dispose: Callable[[], None] = lambda: None  # noqa: E731
    try:
        if session_factory is None:
            session_factory, dispose = _session_factory_for(settings)
        from outagecast.db import repository

        with session_factory() as session:
            last = repository.last_emitted_alert(session, kind=kind)
            count, since = repository.suppressed_alerts_since(
                session, kind=kind, after_id=last.id if last else None
            )
        window = timedelta(seconds=settings.alert_throttle_seconds)
        if count == 0 or (last is not None and _utcnow() - last.timestamp < window):
            return None
        return send_alert(
            settings,
            kind,
            f"OutageCast {kind}: alerts held back by the throttle",
            {},
            "",
            None,
            session_factory=session_factory,
        )
    except Exception as exc:
        log.warning("could not flush throttled %s alerts: %s", kind, exc)
        return None
    finally:
        dispose()
