"""TLS between worker and master: wss with a test CA works, another CA is refused with a reason."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import httpx

from tests.databases import sqlite_url
from tests.master.conftest import START_TIMEOUT
from tests.operations.certificates import CertificateAuthority
from tests.operations.helpers import configured_stack, create_run, start_worker, wait_final
from tests.support import Service, wait_until


def test_worker_over_wss_verifies_the_master(tmp_path: Path) -> None:
    """A worker trusting the test CA runs a job over wss; one trusting another CA refuses and says why."""
    ca, other = CertificateAuthority(tmp_path, "podium-test-ca"), CertificateAuthority(tmp_path, "other-ca")
    cert, key = ca.server()
    stack = configured_stack(tmp_path, sqlite_url(tmp_path))
    stack.master_url = f"https://127.0.0.1:{stack.master_port}"
    trust = ssl.create_default_context(cafile=str(ca.cert_file))
    argv = [
        "podium-master",
        "--port", str(stack.master_port),
        "--database-url", stack.database_url,
        "--log-dir", str(stack.log_dir),
        "--control-secret", stack.secret,
        "--tls-cert", str(cert),
        "--tls-key", str(key),
    ]  # fmt: skip
    stack.master = Service("master", argv, output_dir=tmp_path).start()
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
