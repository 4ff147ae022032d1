"""GitHub Actions workflows for forks: CI runs the README's test command, releases push images."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.deploy.conftest import AIRFLOW_DOCKERFILE, APP_DOCKERFILE, ROOT, load_yaml

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
RELEASE = WORKFLOWS / "release.yml"


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` mapping (YAML 1.1 reads the bare key `on` as True)."""
    value = workflow.get("on", workflow.get(True))
    return {value: None} if isinstance(value, str) else dict(value)


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def run_lines(workflow: dict[str, Any]) -> list[str]:
    return [line.strip() for step in steps(workflow) for line in step.get("run", "").splitlines()]


def readme_test_command() -> str:
    """The command the README gives for running the whole test suite."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^(make \S+)\s+#\s*run the whole test suite", readme, re.MULTILINE)
    assert match, "README.md names its test command"
    return match.group(1)


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return load_yaml(CI)


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return load_yaml(RELEASE)


def test_ci_runs_on_pushes_and_pull_requests(ci: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(triggers(ci))
    (job,) = ci["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-")


def test_ci_runs_exactly_the_readme_test_command(ci: dict[str, Any]) -> None:
    command = readme_test_command()
    assert command == "make test"
    assert command in run_lines(ci)
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert re.search(r"^test:", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)


def test_ci_has_postgresql_as_a_service_the_tests_reach(ci: dict[str, Any]) -> None:
    (job,) = ci["jobs"].values()
    (name, service), *_ = job["services"].items()
    assert re.fullmatch(r"postgres:\d+\.\d+", service["image"])
    assert service["env"].get("POSTGRES_HOST_AUTH_METHOD") == "trust" or service["env"].get(
        "POSTGRES_PASSWORD"
    )
    assert "pg_isready" in service["options"]
    url = make_url(job["env"]["TEST_POSTGRES_URL"])
    assert url.drivername == "postgresql+psycopg"
    # In a container job, services are reached by their name; on the runner, by 127.0.0.1.
    assert url.host == (name if "container" in job else "127.0.0.1")
    assert url.database == service["env"]["POSTGRES_DB"]
    assert job["env"]["CI"] == "true"


def test_ci_installs_chromium_from_the_distribution(ci: dict[str, Any]) -> None:
    (job,) = ci["jobs"].values()
    installs = [line for line in run_lines(ci) if "apt-get install" in line]
    assert any(re.search(r"\bchromium\b", line) for line in installs)
    assert re.search(r"bookworm|trixie", job["container"]["image"]), "Debian's chromium at /usr/bin/chromium"


def test_release_builds_and_pushes_both_images_on_version_tags(release: dict[str, Any]) -> None:
    assert triggers(release)["push"]["tags"] == ["v*"]
    assert release["permissions"]["packages"] == "write"
    (job,) = release["jobs"].values()
    dockerfiles = {entry["dockerfile"] for entry in job["strategy"]["matrix"]["include"]}
    assert dockerfiles == {APP_DOCKERFILE, AIRFLOW_DOCKERFILE}
    build = next(
        step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push-action@")
    )
    assert build["with"]["push"] is True
    assert (ROOT / build["with"]["context"]).is_dir()
    login = next(step for step in job["steps"] if step.get("uses", "").startswith("docker/login-action@"))
    assert login["with"]["registry"] == "ghcr.io"


@pytest.mark.parametrize("path", [CI, RELEASE], ids=lambda p: p.name)
def test_actions_are_pinned_and_referenced_files_exist(path: Path) -> None:
    workflow = load_yaml(path)
    for step in steps(workflow):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]
    for dockerfile in re.findall(r"deploy/[\w./-]+", path.read_text(encoding="utf-8")):
        assert (ROOT / dockerfile).exists(), f"{path.name} refers to {dockerfile}"
    for lock in re.findall(r"hashFiles\(([^)]*)\)", path.read_text(encoding="utf-8")):
        for name in re.findall(r"'([^']+)'", lock):
            assert (ROOT / name).is_file(), name
