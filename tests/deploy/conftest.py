"""Shared helpers of the deployment tests: the repository's files, parsed.

No Docker engine is needed: these tests read deploy/, .github/ and .env.example the way
Compose, Grafana and GitHub Actions would, and check what can go wrong before a deploy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"
COMPOSE_FILE: Final = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE: Final = ROOT / ".env.example"

# Services that run once and exit; everything else is long-running.
ONE_OFF: Final = frozenset({"migrate", "bootstrap", "airflow-init", "cli"})
APP_DOCKERFILE: Final = "deploy/Dockerfile"
AIRFLOW_DOCKERFILE: Final = "deploy/airflow.Dockerfile"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, ${NAME:+alt}
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def strings(node: Any) -> list[str]:
    """Every string (mapping keys included) anywhere in a parsed YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def variables(text: str) -> list[tuple[str, str | None, str | None]]:
    """Compose-style references in ``text`` as (name, operator, argument); ``$$`` is a literal $."""
    text = text.replace("$$", "")
    found = [(m.group(1), m.group(2), m.group(3)) for m in _BRACED.finditer(text)]
    found += [(m.group(1), None, None) for m in _BARE.finditer(_BRACED.sub("", text))]
    return found


def interpolate_defaults(text: str) -> str:
    """``text`` with each variable replaced by its default (as Compose does with an empty .env)."""
    text = text.replace("$$", "\0")

    def default(match: re.Match[str]) -> str:
        return match.group(3) if match.group(2) in (":-", "-") else ""

    return _BRACED.sub(default, text).replace("\0", "$")


def env_example_names() -> set[str]:
    """Variable names .env.example lists, set (``NAME=``) or commented out (``# NAME=``)."""
    pattern = re.compile(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return set(pattern.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping (Compose accepts a list of NAME=value too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def volume_entries(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of a service's volumes, short or long syntax."""
    entries = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        entries.append((source, target))
    return entries


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def host_path(source: str) -> Path:
    """Where a bind mount's source is in the repository (relative to the compose file)."""
    return (COMPOSE_FILE.parent / source).resolve()


def command_list(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """deploy/docker-compose.yml, parsed (YAML anchors and merge keys resolved)."""
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="session")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="session")
def long_running(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services `up` starts and keeps running (no one-offs, no optional profiles)."""
    return {name: s for name, s in services.items() if name not in ONE_OFF and not s.get("profiles")}
