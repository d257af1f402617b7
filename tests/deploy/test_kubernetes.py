"""deploy/kubernetes, checked statically: manifests parse and name only images, ports and variables that exist."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from podium_api.settings import ApiSettings
from podium_master.settings import MASTER_ID_LENGTH, MasterSettings
from podium_web.settings import WebSettings
from tests.deploy.tools import KUBERNETES, REPOSITORY, compose, kubernetes_documents, load_compose, tool, variables_read

# What each image holds (the packages whose code may read its variables) and the port it listens on.
IMAGES: dict[str, tuple[tuple[str, ...], int | None]] = {
    "podium/master": (("services/master", "libs/storage", "libs/model"), MasterSettings().port),
    "podium/api": (("services/api", "libs/storage", "libs/model"), ApiSettings.model_fields["port"].default),
    "podium/web": (("services/web",), WebSettings.model_fields["port"].default),
    "podium/worker": (("services/worker", "libs/model"), 8703),  # its /health
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
        known = variables_read(*IMAGES[image][0]) | entrypoint_file_variables()
        command = " ".join([*container.get("command", []), *container.get("args", [])])
        for variable in (e["name"] for e in container.get("env", [])):
            used = re.search(rf"\$\(?{variable}\b", command) is not None
            assert variable in known or used, (name, variable)


def entrypoint_file_variables() -> set[str]:
    """The NAME_FILE variables the images' entrypoint reads (deploy/image/entrypoint.sh)."""
    text = (REPOSITORY / "deploy" / "image" / "entrypoint.sh").read_text()
    loop = re.search(r"for name in (.*?); do", text, flags=re.DOTALL)
    assert loop is not None
    return {f"{name}_FILE" for name in loop.group(1).replace("\\", " ").split()}


def test_secrets_reach_the_pods_as_files_from_the_secrets() -> None:
    """No secret in an env value: *_FILE variables name files of mounted Secrets, with keys the example documents."""
    example = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    keys = {"podium-secrets": set(example["stringData"]), "podium-worker-token": {"token"}}
    for name, pod in pod_specs():
        secret_volumes = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
        for container in pod["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            for entry in container.get("env", []):
                assert "secretKeyRef" not in entry.get("valueFrom", {}), (name, entry)
                if entry["name"].endswith("_FILE"):
                    directory, _, file = entry["value"].rpartition("/")
                    secret = secret_volumes[mounts[directory]]
                    items = {item["path"]: item["key"] for item in secret.get("items", [])}
                    assert items.get(file, file) in keys[secret["secretName"]], (name, entry)
                elif re.search("SECRET|PASSWORD|TOKEN", entry["name"]):
                    raise AssertionError(f"{name}: {entry['name']} must come from a secret file")


def test_no_init_container_and_resources_on_every_container() -> None:
    """Nothing logs in with the administrator's password; every container has requests and limits."""
    for name, pod in pod_specs():
        assert not pod.get("initContainers"), name
    for name, container in containers():
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), (name, container["name"], kind)


def test_workers_are_a_stateful_set_with_health_probes_and_a_drain_grace_period() -> None:
    """Workers: a StatefulSet named after the pod, a home volume per pod, /health probes, time to drain."""
    workers = [d for _, d in kubernetes_documents() if d.get("metadata", {}).get("name") == "podium-worker"]
    assert sorted(d["kind"] for d in workers) == ["Service", "StatefulSet"]
    stateful = next(d for d in workers if d["kind"] == "StatefulSet")
    pod = stateful["spec"]["template"]["spec"]
    worker = pod["containers"][0]
    env = {e["name"]: e for e in worker["env"]}
    assert env["PODIUM_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["PODIUM_WORKER_DRAIN"]["value"] == "1" and pod["terminationGracePeriodSeconds"] >= 300
    assert env["PODIUM_WORKER_HEALTH_HOST"]["value"] == "0.0.0.0"
    assert worker["readinessProbe"]["httpGet"]["path"] == "/health" and "tcpSocket" in worker["livenessProbe"]
    home = env["PODIUM_WORKER_HOME"]["value"]
    claim = {m["mountPath"]: m["name"] for m in worker["volumeMounts"]}[home]
    assert claim in {t["metadata"]["name"] for t in stateful["spec"]["volumeClaimTemplates"]}
    token = next(v for v in pod["volumes"] if v["name"] == "token")
    assert token["secret"]["secretName"] == "podium-worker-token"  # created by the setup Job


def test_setup_job_creates_the_worker_token_secret_with_a_narrow_role() -> None:
    """The setup Job's ServiceAccount may create Secrets and read only podium-worker-token; no `|| true`."""
    documents = {(d["kind"], d["metadata"]["name"]): d for _, d in kubernetes_documents() if "metadata" in d}
    role = documents[("Role", "podium-setup")]
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"create", "get"}
    assert all(rule["resources"] == ["secrets"] for rule in role["rules"])
    job = documents[("Job", "podium-setup")]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "podium-setup"
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "|| true" not in script and "podium-worker-token" in script


def test_logs_need_no_read_write_many_volume() -> None:
    """The api shares the master's pod (and its ReadWriteOnce log volume); the api Service selects that pod."""
    documents = {(d["kind"], d["metadata"]["name"]): d for _, d in kubernetes_documents() if "metadata" in d}
    assert documents[("PersistentVolumeClaim", "podium-logs")]["spec"]["accessModes"] == ["ReadWriteOnce"]
    pod = documents[("Deployment", "podium-master")]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["master", "api"]
    assert documents[("Service", "podium-api")]["spec"]["selector"] == {"app.kubernetes.io/name": "podium-master"}


def test_masters_scale_with_ids_from_their_pods_and_a_headless_service_for_the_api() -> None:
    """replicas > 1: each master's id is its pod's name (downward API); the api beside it finds every
    master through a headless Service (discovery dns); the workers dial a Service of the masters;
    a rollout replaces one pod at a time instead of stopping them all."""
    documents = {(d["kind"], d["metadata"]["name"]): d for _, d in kubernetes_documents() if "metadata" in d}
    deployment = documents[("Deployment", "podium-master")]
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    budget = documents[("PodDisruptionBudget", "podium-master")]["spec"]
    assert budget == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}  # a drain takes one at a time
    pod = deployment["spec"]["template"]["spec"]
    env = {c["name"]: {e["name"]: e for e in c["env"]} for c in pod["containers"]}
    master_id = env["master"]["PODIUM_MASTER_MASTER_ID"]
    assert master_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert len("podium-master") + len("-0123456789-abcde") <= MASTER_ID_LENGTH  # a Deployment's pod names fit
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = {name: d["spec"] for (kind, name), d in documents.items() if kind == "Service"}
    api = urlsplit(env["api"]["PODIUM_API_MASTER_URL"]["value"])
    assert env["api"]["PODIUM_API_MASTER_DISCOVERY"]["value"] == "dns" and "PODIUM_MASTER_URL" not in env["api"]
    peers = services[str(api.hostname)]
    assert peers["clusterIP"] == "None" and peers["selector"].items() <= labels.items()
    assert peers["publishNotReadyAddresses"] is True  # the first pod's api finds its master before the pod is ready
    assert api.port in {port["port"] for port in peers["ports"]}
    stateful = documents[("StatefulSet", "podium-worker")]
    worker_env = {e["name"]: e for e in stateful["spec"]["template"]["spec"]["containers"][0]["env"]}
    worker = urlsplit(worker_env["PODIUM_WORKER_MASTER"]["value"])
    dialled = services[str(worker.hostname)]
    assert dialled.get("clusterIP") != "None" and dialled["selector"].items() <= labels.items()
    assert worker.port in {port["port"] for port in dialled["ports"]}


def rendered() -> list[dict[str, Any]]:
    """The manifests as `kubectl apply -k` sends them: the kustomization's labels and `images:` applied."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    images = {entry["name"]: f"{entry['newName']}:{entry['newTag']}" for entry in kustomization["images"]}
    labels = {k: v for entry in kustomization["labels"] for k, v in entry["pairs"].items()}
    documents = []
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            document["metadata"].setdefault("labels", {}).update(labels)
            documents.append(document)
    for document in documents:
        pod = document.get("spec", {}).get("template", {}).get("spec")
        for container in [*pod.get("initContainers", []), *pod["containers"]] if pod else []:
            container["image"] = images[container["image"].split(":")[0]]
    return documents


def test_kustomization_images_name_every_image_used() -> None:
    """`images:` has an entry for each image a container names, so one edit points all at a registry."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    listed = {entry["name"] for entry in kustomization["images"]}
    used = {container["image"].split(":")[0] for _, container in containers()}
    assert used == listed


def test_rendered_manifests_pass_the_kubernetes_schemas(tmp_path: Path) -> None:
    """kubernetes-validate --strict (the API schemas, offline) accepts every rendered object."""
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(rendered(), sort_keys=False))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
