"""How ``outagecast ui`` starts Streamlit (the process itself is exercised by the browser tests)."""

from __future__ import annotations

import sys

from outagecast.webapp.launch import ENTRYPOINT, streamlit_command


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_entrypoint_ships_inside_the_package_with_its_pages() -> None:
    assert ENTRYPOINT.is_file()
    pages = {p.name for p in (ENTRYPOINT.parent / "app_pages").glob("*.py")}
    assert {"home.py", "predict.py", "past_predictions.py"} <= pages


def test_command_is_headless_offline_and_on_the_given_port() -> None:
    command = streamlit_command(8765, host="0.0.0.0", extra_args=["--theme.base", "light"])
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(ENTRYPOINT)]
    assert _option(command, "--server.port") == "8765"
    assert _option(command, "--server.address") == "0.0.0.0"
    assert _option(command, "--server.headless") == "true"
    assert _option(command, "--browser.gatherUsageStats") == "false"
    assert command[-2:] == ["--theme.base", "light"]
