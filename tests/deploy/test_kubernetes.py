"""deploy/kubernetes, checked statically: manifests parse and name only images, ports and variables that exist."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from podium_api.settings import ApiSettings
from podium_master.settings import MasterSettings
from podium_web.settings import WebSettings
from tests.deploy.tools import KUBERNETES, compose, kubernetes_documents, load_compose, variables_read

# What each image holds (the packages whose code may read its variables) and the port it listens on.
IMAGES: dict[str, tuple[tuple[str, ...], int | None]] = {
    "podium/master": (("services/master", "libs/storage", "libs/model"), MasterSettings().port),
    "podium/api": (("services/api", "libs/storage", "libs/model"), ApiSettings.model_fields["port"].default),
    "podium/web": (("services/web",), WebSettings.model_fields["port"].default),
    "podium/worker": (("services/worker", "libs/model"), None),
    "podium/client": (("libs/client", "libs/model"), None),
}
EXTERNAL = {"postgres": 5432}


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload."""
    for _, document in kubernetes_documents():
        spec = document.get("spec", {})
        if document["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield document["metadata"]["name"], spec["template"]["spec"]


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    """(object name, container) of every container and init container."""
    for name, pod in pod_specs():
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            yield name, container


def test_manifests_parse_and_kustomization_lists_them() -> None:
    """Each file parses; the kustomization names every manifest but the secret example."""
    kinds = {document["kind"] for _, document in kubernetes_documents()}
    assert {"Deployment", "Service", "StatefulSet", "Job", "PersistentVolumeClaim", "Kustomization"} <= kinds
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


def test_images_are_the_ones_compose_builds() -> None:
    """Every Podium image is one that compose.yaml builds (from a Dockerfile); others are compose's too."""
    resolved = compose("config", "--format", "json", env={"COMPOSE_PROFILES": "mongodb,tools"})
    assert resolved.returncode == 0, resolved.stderr
    compose_images = {s["image"] for s in yaml.safe_load(resolved.stdout)["services"].values()}
    built = {s["image"].split(":")[0] for s in load_compose()["services"].values() if "build" in s}
    assert built == set(IMAGES)
    for name, container in containers():
        assert container["image"] in compose_images, (name, container["image"])


def test_container_ports_match_the_services_settings() -> None:
    """Each container port is the port its service listens on; each Service targets a declared port."""
    declared: dict[str, set[int]] = {}
    for name, container in containers():
        image = container["image"].split(":")[0]
        port = IMAGES[image][1] if image in IMAGES else EXTERNAL.get(image)
        ports = {p["containerPort"] for p in container.get("ports", [])}
        assert ports <= ({port} if port else set()), (name, ports, port)
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        for variable, value in env.items():
            if variable.endswith("_PORT"):
                assert int(value) == port, (name, variable)
        declared.setdefault(name, set()).update(ports)
    for _, document in kubernetes_documents():
        if document["kind"] == "Service":
            target = document["spec"]["selector"]["app.kubernetes.io/name"]
            for port in document["spec"]["ports"]:
                assert port["targetPort"] in declared[target], (target, port)


def test_variables_are_read_by_the_image() -> None:
    """Every PODIUM_* variable given to a container is read by its image's code or its own command."""
    for name, container in containers():
        image = container["image"].split(":")[0]
        if image not in IMAGES:
            continue
        known = variables_read(*IMAGES[image][0])
        command = " ".join([*container.get("command", []), *container.get("args", [])])
        for variable in (e["name"] for e in container.get("env", [])):
            used = re.search(rf"\$\(?{variable}\b", command) is not None
            assert variable in known or used, (name, variable)


def test_secrets_come_from_the_kubernetes_secret() -> None:
    """Secrets are read from `podium-secrets`, with keys the example documents; no literal secret values."""
    example = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    keys = set(example["stringData"])
    for name, container in containers():
        for entry in container.get("env", []):
            reference = entry.get("valueFrom", {}).get("secretKeyRef")
            if reference is not None:
                assert reference["name"] == "podium-secrets" and reference["key"] in keys, (name, entry)
            elif re.search("SECRET|PASSWORD|TOKEN", entry["name"]):
                raise AssertionError(f"{name}: {entry['name']} must come from a secret")


def test_workers_are_a_scalable_deployment() -> None:
    """Workers are a Deployment, named after their pod, so `kubectl scale` adds workers."""
    workers = [d for _, d in kubernetes_documents() if d.get("metadata", {}).get("name") == "podium-worker"]
    assert [d["kind"] for d in workers] == ["Deployment"]
    env = {e["name"]: e for e in workers[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PODIUM_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
