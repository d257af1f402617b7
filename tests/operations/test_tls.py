"""TLS on every hop: worker to master over wss, api to master, web to api and the CLI over https.

Each process verifies its peer against a test CA; one trusting another CA refuses and says why.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium_model.transport import check_url, is_loopback
from tests.databases import sqlite_url
from tests.master.conftest import START_TIMEOUT
from tests.operations.certificates import CertificateAuthority
from tests.operations.helpers import configured_stack, create_run, start_worker, wait_final
from tests.stack import ADMIN_PASSWORD, FINAL, Stack
from tests.support import Service, free_port, wait_until


def _start_https_master(stack: Stack, cert: Path, key: Path, directory: Path) -> Service:
    """Start the stack's master serving https with `cert` and `key` (not waited for)."""
    argv = [
        "podium-master",
        "--port", str(stack.master_port),
        "--database-url", stack.database_url,
        "--log-dir", str(stack.log_dir),
        "--control-secret", stack.secret,
        "--tls-cert", str(cert),
        "--tls-key", str(key),
    ]  # fmt: skip
    return Service("master", argv, output_dir=directory).start()


def test_worker_over_wss_verifies_the_master(tmp_path: Path) -> None:
    """A worker trusting the test CA runs a job over wss; one trusting another CA refuses and says why."""
    ca, other = CertificateAuthority(tmp_path, "podium-test-ca"), CertificateAuthority(tmp_path, "other-ca")
    cert, key = ca.server()
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    stack.master_url = f"https://127.0.0.1:{stack.master_port}"
    trust = ssl.create_default_context(cafile=str(ca.cert_file))
    stack.master = _start_https_master(stack, cert, key, tmp_path)
    master = stack.master

    def healthy() -> bool:
        assert master.alive(), master.output
        try:
            return httpx.get(f"{stack.master_url}/health", verify=trust, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, START_TIMEOUT, "the master over https")
        wss = f"wss://127.0.0.1:{stack.master_port}/ws/worker"
        good = start_worker(stack, "trusting", "--ca-file", str(ca.cert_file), master=wss)
        wait_until(lambda: "connected to wss://" in good.output, 60, "the trusting worker connected")
        run = create_run(stack, "hello", verify=trust)
        assert wait_final(stack, run.id).status.value == "succeeded"

        bad = start_worker(stack, "doubting", "--ca-file", str(other.cert_file), master=wss)
        wait_until(lambda: "TLS certificate was refused" in bad.output, 60, "the refusal")
        assert "connected to wss://" not in bad.output
        assert "unable to get local issuer certificate" in bad.output
    finally:
        stack.stop()


def test_plain_ws_to_another_host_is_refused() -> None:
    """ws:// to a non-loopback host needs --allow-insecure; the worker says so and exits 2."""
    argv = ["podium-worker", "--id", "w", "--token", "t", "--master", "ws://192.0.2.10:8701/ws/worker"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "not loopback" in done.stderr and "--allow-insecure" in done.stderr


# The whole stack over TLS -------------------------------------------------------------------


@dataclass
class TlsStack:
    """master, api and web serving https with certificates of one test CA, and a worker over wss."""

    stack: Stack
    ca: CertificateAuthority
    other: CertificateAuthority
    trust: ssl.SSLContext
    web_url: str
    directory: Path

    def token(self) -> str:
        """A fresh administrator token, by logging in through the web's https URL."""
        with httpx.Client(base_url=self.web_url, verify=self.trust, timeout=10) as client:
            response = client.post("/api/v1/me/login", json={"user": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token


def _wait_https(service: Service, url: str, trust: ssl.SSLContext, ready: Callable[[httpx.Response], bool]) -> None:
    """Wait until `url`, verified against `trust`, answers what `ready` accepts."""

    def answers() -> bool:
        assert service.alive(), f"{service.name} exited early:\n{service.output}"
        try:
            return ready(httpx.get(url, verify=trust, timeout=2))
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, START_TIMEOUT, f"{service.name} at {url}")
    except TimeoutError:
        raise TimeoutError(f"{service.name} not ready at {url}:\n{service.output}") from None


def _start_api(tls: TlsStack, name: str, port: int, master_ca: Path) -> Service:
    """An api serving https on `port`, calling the https master and trusting `master_ca` for it."""
    stack = tls.stack
    cert, key = tls.ca.server(name)
    argv = [
        "podium-api",
        "--port", str(port),
        "--database-url", stack.database_url,
        "--log-dir", str(stack.log_dir),
        "--master-url", stack.master_url,
        "--master-ca-file", str(master_ca),
        "--control-secret", stack.secret,
        "--tls-cert", str(cert),
        "--tls-key", str(key),
    ]  # fmt: skip
    return Service(name, argv, output_dir=tls.directory).start()


def _start_web(tls: TlsStack, name: str, port: int, api_ca: Path) -> Service:
    """A web service serving https on `port`, forwarding to the https api and trusting `api_ca` for it."""
    cert, key = tls.ca.server(name)
    argv = [
        "podium-web",
        "--port", str(port),
        "--api-url", tls.stack.api_url,
        "--api-ca-file", str(api_ca),
        "--tls-cert", str(cert),
        "--tls-key", str(key),
    ]  # fmt: skip
    return Service(name, argv, output_dir=tls.directory).start()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    """The TLS stack, started once for the module (starting four processes is the slow part)."""
    directory = tmp_path_factory.mktemp("tls-stack")
    ca, other = CertificateAuthority(directory, "podium-test-ca"), CertificateAuthority(directory, "other-ca")
    stack = configured_stack(directory, sqlite_url(directory))
    stack.master_url = f"https://127.0.0.1:{stack.master_port}"
    stack.api_url = f"https://127.0.0.1:{stack.api_port}"
    web_port = free_port()
    tls = TlsStack(stack, ca, other, ssl.create_default_context(cafile=str(ca.cert_file)),
                   f"https://127.0.0.1:{web_port}", directory)  # fmt: skip
    cert, key = ca.server("master")
    stack.master = _start_https_master(stack, cert, key, directory)
    web: Service | None = None
    try:
        _wait_https(stack.master, f"{stack.master_url}/health", tls.trust, lambda r: r.status_code == 200)
        # api, web and worker start together: none needs the others to start.
        stack.api = _start_api(tls, "api", stack.api_port, ca.cert_file)
        web = _start_web(tls, "web", web_port, ca.cert_file)
        wss = f"wss://127.0.0.1:{stack.master_port}/ws/worker"
        worker = start_worker(stack, "w1", "--ca-file", str(ca.cert_file), master=wss)
        _wait_https(stack.api, f"{stack.api_url}/api/v1/health", tls.trust,
                    lambda r: r.status_code == 200 and r.json()["master"] == "ok")  # fmt: skip
        _wait_https(web, f"{tls.web_url}/health", tls.trust, lambda r: r.status_code == 200)
        wait_until(lambda: "connected to wss://" in worker.output, START_TIMEOUT, "the worker connected")
        yield tls
    finally:
        if web is not None:
            web.stop()
        stack.stop()


@pytest.mark.timeout(300)
def test_whole_stack_over_tls_through_the_web(tls: TlsStack) -> None:
    """Log in, trigger and watch a run succeed through the web's https URL, every hop verified."""
    headers = {"Authorization": f"Bearer {tls.token()}"}
    with httpx.Client(base_url=f"{tls.web_url}/api/v1", verify=tls.trust, headers=headers, timeout=10) as client:
        health = client.get("/health").json()
        assert health["master"] == "ok" and health["master_reason"] is None, health
        response = client.post("/projects/ops/jobs/hello/runs", json={"parameters": {}})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]

        def final() -> dict[str, Any] | None:
            run: dict[str, Any] = client.get(f"/projects/ops/runs/{run_id}").json()
            return run if run["status"] in FINAL else None

        try:
            run = wait_until(final, 60, f"run {run_id} final")
        except TimeoutError:
            raise TimeoutError(f"run {run_id} never ended\n{tls.stack.outputs()}") from None
        assert run["status"] == "succeeded", run
        assert run["worker"] == "w1"
        assert client.get(f"/projects/ops/runs/{run_id}/log").text == "hello\n"


@pytest.mark.timeout(300)
def test_api_trusting_another_ca_reports_the_master_unreachable(tls: TlsStack) -> None:
    """An api that cannot verify the master says why in its log and in its readiness, never a 500."""
    port = free_port()
    api = _start_api(tls, "api-doubting", port, tls.other.cert_file)
    try:
        url = f"https://127.0.0.1:{port}/api/v1/health"
        _wait_https(api, url, tls.trust, lambda r: r.status_code == 200)
        body = httpx.get(url, verify=tls.trust, timeout=10).json()
        assert body["status"] == "degraded" and body["master"] == "unreachable", body
        assert "the master's TLS certificate was refused" in body["master_reason"], body
        assert "unable to get local issuer certificate" in body["master_reason"], body
        refused = f"connection to {tls.stack.master_url} refused: the master's TLS certificate was refused"
        wait_until(lambda: refused in api.output, 30, "the refusal in the api's log")
        wait_until(lambda: "event feed at wss://" in api.output, 30, "the feed's refusal in the api's log")
        assert f"(trusting {tls.other.cert_file})" in api.output
    finally:
        assert api.stop() == 0, api.output
    assert "Traceback" not in api.output


@pytest.mark.timeout(300)
def test_web_trusting_another_ca_answers_502_with_the_reason(tls: TlsStack) -> None:
    """A web service that cannot verify the api answers a 502 problem naming the refused certificate."""
    port = free_port()
    web = _start_web(tls, "web-doubting", port, tls.other.cert_file)
    try:
        _wait_https(web, f"https://127.0.0.1:{port}/health", tls.trust, lambda r: r.status_code == 200)
        response = httpx.get(f"https://127.0.0.1:{port}/api/v1/health", verify=tls.trust, timeout=10)
        assert response.status_code == 502
        assert response.headers["content-type"] == "application/problem+json"
        assert "the api's TLS certificate was refused" in response.json()["detail"]
        wait_until(lambda: "the api's TLS certificate was refused" in web.output, 30, "the refusal in the web's log")
    finally:
        web.stop()


@pytest.mark.timeout(300)
def test_cli_verifies_the_api_with_its_ca_file(tls: TlsStack, tmp_path: Path) -> None:
    """`podium --ca-file` (or PODIUM_CA_FILE) works over https; another CA exits 4 naming the certificate."""
    env = {k: v for k, v in os.environ.items() if k not in ("PODIUM_API_URL", "PODIUM_TOKEN", "PODIUM_CA_FILE")}
    env["PODIUM_CONFIG_DIR"] = str(tmp_path)
    token = tls.token()

    def podium(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["podium", "--url", tls.stack.api_url, "--token", token, *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env={**env, **extra})

    listed = podium("--ca-file", str(tls.ca.cert_file), "workers", "list")
    assert listed.returncode == 0, listed.stderr
    assert "w1" in listed.stdout
    from_env = podium("runs", "list", "ops", PODIUM_CA_FILE=str(tls.ca.cert_file))
    assert from_env.returncode == 0, from_env.stderr

    refused = podium("--ca-file", str(tls.other.cert_file), "workers", "list")
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.startswith(f"podium: cannot reach {tls.stack.api_url}/api/v1/"), refused.stderr
    assert "the api's TLS certificate was refused: unable to get local issuer certificate" in refused.stderr
    assert f"(trusting {tls.other.cert_file})" in refused.stderr
    assert "Traceback" not in refused.stderr

    system_store = podium("workers", "list")  # the test CA is in no system store
    assert system_store.returncode == 4, system_store.stderr
    assert "TLS certificate was refused" in system_store.stderr and "system certificate store" in system_store.stderr

    missing = podium("--ca-file", str(tmp_path / "missing.pem"), "workers", "list")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"podium: --ca-file {tmp_path / 'missing.pem'} is not a readable file"


# Plain http off loopback ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "secret"),
    [
        (["podium-api", "--master-url", "http://192.0.2.10:8701", "--control-secret", "s"], "the control secret"),
        (["podium-web", "--api-url", "http://192.0.2.10:8702"], "tokens and passwords"),
    ],
)
def test_plain_http_to_another_host_is_refused(argv: list[str], secret: str) -> None:
    """The api's master URL and the web's api URL may be plain http:// only on loopback without --allow-insecure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "is plain http:// to 192.0.2.10, which is not loopback" in done.stderr
    assert f"use https:// (or --allow-insecure to send {secret} in clear)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_plain_url_rule() -> None:
    """Loopback names and addresses pass plain; other hosts need allow_insecure; other schemes never pass."""
    for url in ("http://127.0.0.1:1", "http://127.5.0.1", "http://[::1]:8", "http://localhost", "https://x.example"):
        check_url(url, option="--x", plain="http", allow_insecure=False, secret="it")
    check_url("http://10.0.0.1", option="--x", plain="http", allow_insecure=True, secret="it")
    with pytest.raises(ValueError, match="not loopback"):
        check_url("http://localhost.example", option="--x", plain="http", allow_insecure=False, secret="it")
    with pytest.raises(ValueError, match="is not a ws:// or wss:// URL"):
        check_url("http://127.0.0.1", option="--master", plain="ws", allow_insecure=True, secret="it")
    assert is_loopback("LOCALHOST") and is_loopback("::1") and not is_loopback("192.0.2.1")
