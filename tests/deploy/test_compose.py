"""deploy/docker-compose.yml: what `docker compose up` needs, checked without a Docker engine."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from outagecast.cli import app as cli_app
from outagecast.settings import Settings
from tests.deploy.conftest import (
    AIRFLOW_DOCKERFILE,
    APP_DOCKERFILE,
    COMPOSE_FILE,
    ENV_EXAMPLE,
    ONE_OFF,
    ROOT,
    command_list,
    env_example_names,
    environment,
    host_path,
    interpolate_defaults,
    is_bind,
    strings,
    variables,
    volume_entries,
)

EXPECTED_SERVICES = {
    "db",
    "migrate",
    "bootstrap",
    "api",
    "gateway",
    "webapp",
    "mlflow",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "grafana",
    "prometheus",
}
APP_SERVICES = ("migrate", "bootstrap", "api", "webapp", "mlflow", "cli")
AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
# Environment names that are not OutageCast settings (third-party switches and configuration).
FOREIGN_ENV = re.compile(
    r"^(AIRFLOW__\w+|AIRFLOW_ADMIN_\w+|MLFLOW_DISABLE_TELEMETRY|DO_NOT_TRACK|GX_ANALYTICS_ENABLED"
    r"|STREAMLIT_\w+|SCARF_ANALYTICS|PROMETHEUS_MULTIPROC_DIR)$"
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|API_KEY|TOKEN")


def test_compose_file_parses_with_every_part_of_the_design(services: dict[str, Any]) -> None:
    assert set(services) >= EXPECTED_SERVICES, EXPECTED_SERVICES - set(services)


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES | {"cli"}))
def test_service_has_an_image_or_a_build_that_exists(services: dict[str, Any], name: str) -> None:
    service = services[name]
    build = service.get("build")
    if build is None:
        assert service.get("image"), f"{name}: neither image nor build"
        return
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT, f"{name}: build context {context} is not the repository root"
    assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} missing"
    assert (ROOT / ".dockerignore").is_file()


def test_app_services_share_one_image_and_airflow_has_its_own(services: dict[str, Any]) -> None:
    app_builds = {services[name]["build"]["dockerfile"] for name in APP_SERVICES}
    airflow_builds = {services[name]["build"]["dockerfile"] for name in AIRFLOW_SERVICES}
    assert app_builds == {APP_DOCKERFILE}
    assert airflow_builds == {AIRFLOW_DOCKERFILE}
    assert len({services[name]["image"] for name in APP_SERVICES}) == 1
    assert len({services[name]["image"] for name in AIRFLOW_SERVICES}) == 1


def test_every_variable_is_listed_in_env_example() -> None:
    used = {name for name, _, _ in variables(COMPOSE_FILE.read_text(encoding="utf-8"))}
    missing = sorted(used - env_example_names())
    assert not missing, f"add these to {ENV_EXAMPLE.name} (safe placeholders): {missing}"


def test_secrets_come_from_the_environment_without_defaults(services: dict[str, Any]) -> None:
    """No credential is written in the compose file: each is a variable, required or empty."""
    for name, operator, argument in variables(COMPOSE_FILE.read_text(encoding="utf-8")):
        if SECRET_NAME.search(name):
            assert operator in (":?", "?") or not argument, f"${{{name}}} has a default: {argument!r}"
    for service_name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE") and "://" not in value:
                assert value == "" or variables(value), f"{service_name}: {key} is written inline"
            if "://" in value and "@" in value:  # a URL with credentials: the password is a variable
                credentials = value.split("://", 1)[1].split("@", 1)[0]
                assert ":" not in credentials or variables(credentials.split(":", 1)[1]), (
                    f"{service_name}: {key} has an inline password"
                )


def test_bind_mounted_paths_exist_in_the_repository(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for source, _target in volume_entries(service):
            if is_bind(source):
                assert host_path(source).exists(), f"{name}: {source} does not exist in the repository"


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _target in volume_entries(service):
            if source and not is_bind(source):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_long_running_services_have_health_checks(long_running: dict[str, Any]) -> None:
    for name, service in long_running.items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"
        assert service.get("restart") in ("unless-stopped", "always"), f"{name}: no restart policy"


def test_one_off_services_are_not_restarted(services: dict[str, Any]) -> None:
    for name in ONE_OFF:
        assert services[name].get("restart") == "no", name


def test_dependencies_wait_for_health_or_completion(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs the long syntax with conditions"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown {target}"
            expected = "service_completed_successfully" if target in ONE_OFF else "service_healthy"
            assert spec.get("condition") == expected, f"{name} -> {target}: {spec}"
            if expected == "service_healthy":
                assert services[target].get("healthcheck"), f"{target} has no health check to wait for"


def test_dependencies_have_no_cycle(services: dict[str, Any]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in services[name].get("depends_on") or {}:
            visit(target, (*path, name))
        done.add(name)

    for name in services:
        visit(name, ())


def test_migrations_run_once_before_the_api(services: dict[str, Any]) -> None:
    assert command_list(services["migrate"]) == ["outagecast", "migrate"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "bootstrap", "airflow-scheduler", "grafana"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"


def _published(services: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Host port (with defaults applied) -> (service, raw mapping)."""
    ports: dict[str, tuple[str, int]] = {}
    for name, service in services.items():
        for mapping in service.get("ports") or []:
            raw = str(mapping)
            host = interpolate_defaults(raw).rsplit(":", 1)[0].split(":")[-1]
            assert host.isdigit(), f"{name}: host port of {raw!r} has no default"
            assert host not in ports, f"host port {host}: {ports[host][0]} and {name}"
            ports[host] = (name, raw)
    return ports


def test_published_host_ports_do_not_clash_and_are_configurable(services: dict[str, Any]) -> None:
    ports = _published(services)
    assert set(ports) == {"5433", "8000", "8501", "5000", "8080", "3000", "9090"}
    for host, (name, raw) in ports.items():
        assert variables(raw.rsplit(":", 1)[0]), f"{name}: host port {host} is not configurable"


def test_db_is_published_on_host_port_5433_by_default(services: dict[str, Any]) -> None:
    assert services["db"]["ports"] == ["${POSTGRES_PORT:-5433}:5432"]
    assert ("db-data", "/var/lib/postgresql/data") in volume_entries(services["db"])


def test_api_scales_by_replicas_behind_the_gateway(services: dict[str, Any]) -> None:
    api = services["api"]
    assert "ports" not in api, "replicas cannot share a published port: the gateway publishes it"
    assert interpolate_defaults(str(api["deploy"]["replicas"])).isdigit()
    assert services["gateway"]["depends_on"]["api"]["condition"] == "service_healthy"
    conf = host_path("./gateway/nginx.conf")
    assert ("./gateway/nginx.conf", "/etc/nginx/conf.d/default.conf") in volume_entries(services["gateway"])
    assert "http://api:8000" in conf.read_text(encoding="utf-8")


def test_third_party_images_are_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = interpolate_defaults(service["image"])
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" not in service:
            assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def _cli_commands() -> dict[str, set[str]]:
    group = typer.main.get_command(cli_app)
    return {
        name: {opt for param in command.params for opt in param.opts}
        for name, command in group.commands.items()  # type: ignore[attr-defined]
    }


def test_outagecast_commands_exist_with_their_options(services: dict[str, Any]) -> None:
    commands = _cli_commands()
    for name, service in services.items():
        argv = command_list(service)
        if argv[:1] != ["outagecast"] or argv[1:2] == ["--help"]:
            continue
        subcommand, options = argv[1], [arg for arg in argv[2:] if arg.startswith("--")]
        assert subcommand in commands, f"{name}: `outagecast {subcommand}` does not exist"
        assert set(options) <= commands[subcommand], f"{name}: {options} vs {commands[subcommand]}"


def test_api_webapp_and_airflow_commands(services: dict[str, Any]) -> None:
    assert command_list(services["api"])[:6] == ["outagecast", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert command_list(services["webapp"]) == ["outagecast", "ui", "--host", "0.0.0.0", "--port", "8501"]
    assert command_list(services["airflow-apiserver"]) == ["api-server"]
    assert command_list(services["airflow-scheduler"]) == ["scheduler"]
    assert command_list(services["airflow-dag-processor"]) == ["dag-processor"]
    bootstrap = " ".join(command_list(services["bootstrap"]))
    assert "from outagecast.ml.bootstrap import ensure_model" in bootstrap
    from outagecast.ml import bootstrap as bootstrap_module

    assert callable(bootstrap_module.ensure_model)


def test_mlflow_server_runs_on_postgresql_with_artifacts_on_a_volume(services: dict[str, Any]) -> None:
    mlflow = services["mlflow"]
    argv = command_list(mlflow)
    assert argv[:2] == ["mlflow", "server"]
    flags = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert flags["--artifacts-destination"] == "/mlartifacts"
    assert flags["--host"] == "0.0.0.0" and flags["--port"] == "5000"
    assert "mlflow:5000" in flags["--allowed-hosts"].split(","), "clients send Host: mlflow:5000"
    assert environment(mlflow)["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://")
    assert ("mlflow-artifacts", "/mlartifacts") in volume_entries(mlflow)
    # The flags and the variable exist in the installed MLflow (read, not imported: it is slow).
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.submodule_search_locations
    package = Path(spec.submodule_search_locations[0])
    cli_source = "".join(
        (package / part).read_text(encoding="utf-8") for part in ("cli/__init__.py", "utils/cli_args.py")
    )
    for flag in [*flags, "--backend-store-uri"]:
        assert f'"{flag}"' in cli_source, f"mlflow server has no {flag}"
    assert 'envvar="MLFLOW_BACKEND_STORE_URI"' in cli_source


def test_airflow_configuration_names_exist_in_airflow(services: dict[str, Any]) -> None:
    spec = importlib.util.find_spec("airflow")
    assert spec is not None and spec.submodule_search_locations
    config_file = Path(spec.submodule_search_locations[0]) / "config_templates" / "config.yml"
    sections = yaml.load(
        config_file.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    )
    env = environment(services["airflow-scheduler"])
    for key in (k for k in env if k.startswith("AIRFLOW__")):
        _, section, option = key.split("__")
        assert option.lower() in sections[section.lower()]["options"], f"{key} is not an Airflow option"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_airflow_services_mount_the_dags_and_share_the_data(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = volume_entries(services[name])
        assert ("../dags", "/opt/airflow/dags") in mounts, name
        assert ("outagecast-data", "/srv/outagecast/data") in mounts, name
        assert ("outagecast-var", "/srv/outagecast/var") in mounts, name
        assert services[name]["user"] == "50000:0", name
    for name in ("api", "bootstrap"):
        assert ("outagecast-data", "/srv/outagecast/data") in volume_entries(services[name]), name


def test_outagecast_environment_names_are_settings(services: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in (*APP_SERVICES, *AIRFLOW_SERVICES):
        if name == "mlflow":
            continue
        for key in environment(services[name]):
            assert FOREIGN_ENV.match(key) or key in fields, f"{name}: {key} is not an OutageCast setting"


# Settings the services need not be given: fixed by the image layout or meaningless in compose.
NOT_FORWARDED = {
    "OUTAGECAST_HOME",  # set per service (the image's home)
    "DATASET_FILE",  # under DATA_DIR, which compose sets
    "DATA_DOCS_DIR",  # under VAR_DIR, which compose sets
    "SCHEDULER_ENABLED",  # only `outagecast up` runs the embedded scheduler; compose uses Airflow
}


def test_every_setting_reaches_the_services_that_read_it(services: dict[str, Any]) -> None:
    """An operator's .env value for any setting gets into the API, the jobs and Airflow's tasks."""
    fields = {name.upper() for name in Settings.model_fields} - NOT_FORWARDED
    for name in ("api", "bootstrap", "airflow-scheduler"):
        missing = sorted(fields - set(environment(services[name])))
        assert not missing, f"{name} never receives {missing}"
    webapp_needs = {"API_URL", "API_KEY", "WEBAPP_PASSWORD", "WEBAPP_MAX_UPLOAD_MB", "MAX_BATCH_ROWS"}
    assert webapp_needs <= set(environment(services["webapp"]))


def test_processes_reach_each_other_by_service_name(services: dict[str, Any]) -> None:
    for name in ("webapp", "api", "bootstrap", "airflow-scheduler"):
        env = environment(services[name])
        assert env["API_URL"] == "http://api:8000", name
    for name in ("api", "bootstrap", "airflow-scheduler"):
        env = environment(services[name])
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert "@db:5432/" in env["DATABASE_URL"], name
    webapp = environment(services["webapp"])
    assert "DATABASE_URL" not in webapp, "the web app talks to the API only"


@pytest.mark.parametrize(
    ("service", "name", "value"),
    [
        ("api", "MLFLOW_DISABLE_TELEMETRY", "true"),
        ("api", "DO_NOT_TRACK", "true"),
        ("api", "GX_ANALYTICS_ENABLED", "false"),
        ("airflow-scheduler", "GX_ANALYTICS_ENABLED", "false"),
        ("airflow-scheduler", "MLFLOW_DISABLE_TELEMETRY", "true"),
        ("mlflow", "MLFLOW_DISABLE_TELEMETRY", "true"),
        ("webapp", "STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false"),
        ("grafana", "GF_ANALYTICS_REPORTING_ENABLED", "false"),
        ("grafana", "GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
    ],
)
def test_telemetry_is_off(services: dict[str, Any], service: str, name: str, value: str) -> None:
    assert environment(services[service]).get(name) == value


def test_compose_strings_are_plain(compose: dict[str, Any]) -> None:
    """No unescaped `$` that Compose would try (and fail) to interpolate."""
    for text in strings(compose):
        leftover = re.sub(r"\$\$|\$\{[^}]+\}|\$[A-Za-z_]\w*", "", text)
        assert "$" not in leftover, f"stray $ in {text!r}"


def test_prometheus_scrapes_every_api_replica_and_keeps_its_data(services: dict[str, Any]) -> None:
    prometheus = services["prometheus"]
    config_mount = ("./prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml")
    assert config_mount in volume_entries(prometheus)
    assert ("prometheus-data", "/prometheus") in volume_entries(prometheus)
    command = command_list(prometheus)
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert "--storage.tsdb.path=/prometheus" in command
    config = yaml.safe_load(host_path(config_mount[0]).read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "outagecast-api"]
    assert job["metrics_path"] == "/metrics"
    # DNS discovery of the service name: one target per replica, not the gateway's one address.
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["api"] and discovery["port"] == 8000
    assert "8000" in services["api"]["expose"]
    assert services["prometheus"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_api_workers_share_their_metrics(services: dict[str, Any]) -> None:
    """With several uvicorn workers, /metrics must add up every worker (api/metrics.py)."""
    api = services["api"]
    folder = environment(api)["PROMETHEUS_MULTIPROC_DIR"]
    assert folder in api.get("tmpfs", []), "an empty folder at every start, as prometheus_client needs"
