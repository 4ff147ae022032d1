"""docs/deploy.md tells an operator what the files really do."""

from __future__ import annotations

import re
from typing import Any

from tests.deploy.conftest import COMPOSE_FILE, ROOT, env_example_names

DOC = ROOT / "docs" / "deploy.md"
ONE_COMMAND = "docker compose -f deploy/docker-compose.yml --env-file .env up -d"


def test_deploy_doc_gives_the_one_command() -> None:
    assert ONE_COMMAND in DOC.read_text(encoding="utf-8")


def test_deploy_doc_covers_every_service(services: dict[str, Any]) -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, service in services.items():
        assert f"`{name}`" in text, f"docs/deploy.md does not mention {name}"
        image = service.get("image", "")
        if "build" not in service:
            assert f"`{image}`" in text, f"docs/deploy.md names another image than {image}"


def test_deploy_doc_covers_scaling_backup_and_upgrade() -> None:
    headings = set(re.findall(r"^## (.+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert {"Run it", "How it scales", "Backup and restore", "Upgrade"} <= headings
    text = DOC.read_text(encoding="utf-8")
    for topic in ("API_REPLICAS", "CeleryExecutor", "NFS", "--artifacts-destination", "pg_dump", "Alembic"):
        assert topic in text, topic


def test_paths_named_in_the_doc_exist() -> None:
    for path in set(
        re.findall(r"`((?:deploy|docs|dags|\.github)/[\w./-]+)`", DOC.read_text(encoding="utf-8"))
    ):
        if "override" not in path:  # an override file is the operator's own
            assert (ROOT / path).exists(), path


def test_variables_named_in_the_doc_are_known() -> None:
    """Each UPPER_CASE name in backticks is in .env.example, the compose file or the README."""
    named = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", DOC.read_text(encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    known = env_example_names() | set(re.findall(r"^\| `([A-Z_]+)`", readme, re.MULTILINE))
    known |= set(re.findall(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b", COMPOSE_FILE.read_text(encoding="utf-8")))
    assert not named - known, f"docs/deploy.md names unknown variables: {sorted(named - known)}"
