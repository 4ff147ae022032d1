"""Shared helpers of the AppTest page tests: reading what a page shows."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from streamlit.testing.v1 import AppTest

ISO_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z\b")


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def texts(app: AppTest) -> str:
    parts = [
        e.value for e in (*app.markdown, *app.caption, *app.error, *app.warning, *app.info, *app.success)
    ]
    return "\n".join(str(p) for p in parts)


def assert_no_iso(app: AppTest) -> None:
    assert not ISO_LIKE.search(texts(app)), texts(app)


def open_page(app: AppTest, page: str) -> AppTest:
    app.run()
    return app.switch_page(page).run()


def chart(app: AppTest, key: str) -> dict[str, Any]:
    """The Plotly figure (as JSON) of the chart with ``key``."""
    (found,) = [c for c in app.get("plotly_chart") if str(c.proto.id).endswith(key)]
    return json.loads(found.proto.spec)


def traces(figure: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {t.get("name"): t for t in figure["data"]}


def table(app: AppTest, column: str):
    """The first dataframe shown that has ``column``."""
    frames = [d.value for d in app.dataframe if column in d.value.columns]
    assert frames, f"no table with a {column!r} column"
    return frames[0]


def direct_predict(url: str, rows: list[dict], source: str = "webapp") -> list[dict]:
    response = httpx.post(f"{url}/predict", json={"features": rows, "source": source}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]
