"""The web app's password gate and API key, in Debian's headless chromium against a real API.

The API here requires ``X-API-Key`` for writes and the web app is launched the way
``outagecast ui`` launches it, with ``API_KEY``, ``WEBAPP_PASSWORD`` and ``WEBAPP_MAX_UPLOAD_MB``
in its environment. Every wait is on something the page shows, never a sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from outagecast.webapp.auth import WRONG_PASSWORD, password_matches
from outagecast.webapp.launch import run_ui, stop_ui, wait_until_ready
from tests.utils.server import RunningServer, free_port, start_server
from tests.webapp.conftest import TEST_DATASET_ROWS, VIEWER_TIMEZONE, make_app

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
WAIT_MS = 60_000
PASSWORD = "correct horse battery staple"
KEY = "webapp-test-api-key-0123456789"
UPLOAD_MB = 3


@pytest.fixture(scope="module")
def keyed_api(api_home: Path, api_server: RunningServer) -> Iterator[RunningServer]:
    """A second API on the test home (its model trained by ``api_server``) that requires a key."""
    server = start_server(
        home=api_home,
        env={
            "DATASET_ROWS": TEST_DATASET_ROWS,
            "DATABASE_URL": f"sqlite:///{api_home}/keyed.db",
            "API_KEY": KEY,
        },
        log_path=api_home / "keyed-api.log",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gated_url(keyed_api: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("webapp-auth") / "streamlit.log"
    with open(log_path, "wb") as log:
        process = run_ui(
            port,
            keyed_api.url,
            api_key=KEY,
            env={"WEBAPP_PASSWORD": PASSWORD, "WEBAPP_MAX_UPLOAD_MB": str(UPLOAD_MB)},
            stdout=log,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url, process=process, timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            stop_ui(process)
            pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')}")
        yield url
        stop_ui(process)
    assert PASSWORD not in log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    expect.set_options(timeout=WAIT_MS)
    if not CHROMIUM.exists():  # never download a browser
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`make system-deps`)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1200}, timezone_id=VIEWER_TIMEZONE)
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def _sign_in(page, password: str) -> None:
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_the_password_page_comes_before_any_page_and_refuses_a_wrong_password(page, gated_url: str) -> None:
    for path in ("/", "/past_predictions"):  # a page's own address does not get around it
        page.goto(gated_url + path)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(page.get_by_role("heading", name="Past predictions")).to_have_count(0)
    _sign_in(page, PASSWORD + "x")
    expect(page.get_by_text(WRONG_PASSWORD)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


@pytest.mark.browser
@pytest.mark.timeout(600)
def test_the_right_password_lets_in_and_writes_carry_the_api_key(
    page, gated_url: str, keyed_api: RunningServer
) -> None:
    # The API really refuses writes without the key, so a prediction shown proves the app sent it.
    assert httpx.post(f"{keyed_api.url}/predict", json={"features": []}, timeout=30).status_code == 401
    page.goto(gated_url)
    _sign_in(page, PASSWORD)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    nav.get_by_role("link", name="Predict", exact=True).click()
    expect(page.get_by_role("heading", name="Predict outage duration")).to_be_visible()
    page.get_by_label("Customers affected", exact=True).fill("1200")
    page.get_by_label("Support tickets", exact=True).fill("35")
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.get_by_test_id("stMetricLabel").get_by_text("Predicted duration", exact=True)).to_be_visible()
    stored = httpx.get(f"{keyed_api.url}/past-predictions", params={"source": "webapp"}, timeout=30).json()
    assert stored and stored[0]["ticket_count"] == 35
    # WEBAPP_MAX_UPLOAD_MB reached Streamlit's own upload limit.
    expect(page.get_by_test_id("stFileUploaderDropzoneInstructions")).to_contain_text(f"{UPLOAD_MB}MB")
    # Signing out asks again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


# --- Without a browser (AppTest): the gate's logic ---------------------------------------------


def test_password_comparison_is_exact() -> None:
    assert password_matches(PASSWORD, PASSWORD)
    assert not password_matches(PASSWORD + " ", PASSWORD)
    assert not password_matches("", PASSWORD)
    assert password_matches("pässwörd", "pässwörd")  # not only ASCII


def test_no_password_configured_means_no_gate(monkeypatch: pytest.MonkeyPatch, dead_url: str) -> None:
    monkeypatch.delenv("WEBAPP_PASSWORD", raising=False)
    app: AppTest = make_app(monkeypatch, dead_url)
    app.run()
    assert not [t for t in app.text_input if t.label == "Password"]


def test_the_gate_stops_every_page_until_signed_in(monkeypatch: pytest.MonkeyPatch, dead_url: str) -> None:
    app: AppTest = make_app(monkeypatch, dead_url, WEBAPP_PASSWORD=PASSWORD)
    app.run()
    assert [t.label for t in app.text_input] == ["Password"]
    assert not app.exception
    app.text_input[0].input("nope")
    app.button[0].click().run()
    assert [e.value for e in app.error] == [WRONG_PASSWORD]
    app.text_input[0].input(PASSWORD)
    app.button[0].click().run()
    assert not [t for t in app.text_input if t.label == "Password"]
    assert not app.error or WRONG_PASSWORD not in [e.value for e in app.error]
