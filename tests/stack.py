"""The real Podium processes on free loopback ports, for integration tests.

`Stack` migrates a fresh database, seeds an administrator and a worker user through
`python -m podium_storage.admin`, then starts `podium-master`, `podium-api` and workers as
separate processes configured by flags, exactly as an operator would.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from podium_storage.admin import main as admin_main
from podium_storage.sealing import generate_key
from tests.support import Service, free_port, wait_until

ADMIN_PASSWORD = "admin-secret"
FINAL = {"succeeded", "failed", "aborted", "exception", "cancelled"}


def admin(database_url: str, *args: str) -> str:
    """Run the `podium_storage.admin` command in this process and return what it printed.

    In-process because a Python start with SQLAlchemy costs seconds here; the command's own
    tests run it as a process.
    """
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return admin_main(["--database-url", database_url, *args])

    # A thread of its own, so that async tests (whose loop is running) may call it too.
    with ThreadPoolExecutor(max_workers=1) as pool:
        code = pool.submit(call).result()
    if code != 0:
        raise RuntimeError(f"admin {args} failed:\n{out.getvalue()}\n{err.getvalue()}")
    return out.getvalue().strip()


class Stack:
    """master + api (+ workers) sharing one database and log directory."""

    def __init__(self, directory: Path, database_url: str, config: Path | None = None) -> None:
        self.directory = directory
        self.database_url = database_url
        self.config = config
        self.log_dir = directory / "logs"
        self.secret = uuid.uuid4().hex
        self.secrets_key = generate_key()
        self.secrets_key_file = directory / "secrets.key"
        self.master_port = free_port()
        self.api_port = free_port()
        self.master_url = f"http://127.0.0.1:{self.master_port}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.master: Service | None = None
        self.api: Service | None = None
        self.workers: dict[str, Service] = {}
        self.worker_token = ""
        self.worker_token_file = directory / "worker-token"
        self._client: httpx.Client | None = None

    # Processes ------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Migrate the database, create the administrator and the worker user, write the secrets key file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.secrets_key_file.write_text(self.secrets_key + "\n")
        self.secrets_key_file.chmod(0o600)
        admin(self.database_url, "migrate")
        admin(self.database_url, "create-user", "admin", "--role", "administrator", "--password", ADMIN_PASSWORD)
        admin(self.database_url, "create-user", "workers", "--role", "worker")
        self.worker_token = admin(self.database_url, "create-token", "workers")
        self.worker_token_file.write_text(self.worker_token + "\n")
        self.worker_token_file.chmod(0o600)

    def start_master(self, *extra: str) -> Service:
        """Start (or restart) the master and wait for its health endpoint."""
        argv = [
            "podium-master",
            "--port", str(self.master_port),
            "--database-url", self.database_url,
            "--log-dir", str(self.log_dir),
            "--control-secret", self.secret,
            "--secrets-key-file", str(self.secrets_key_file),
            "--api-url", self.api_url,
        ]  # fmt: skip
        if self.config is not None:
            argv += ["--config", str(self.config)]
        self.master = Service("master", [*argv, *extra], output_dir=self.directory).start()
        self.master.wait_http(f"{self.master_url}/health")
        return self.master

    def start_api(self, *extra: str, masters: tuple[str, ...] = ()) -> Service:
        """Start the api (with the flags `extra` too) and wait for its health endpoint.

        `masters`: the masters' base URLs it is given, each by its own `--master-url` (default:
        this stack's master).
        """
        argv = [
            "podium-api",
            "--port", str(self.api_port),
            "--database-url", self.database_url,
            "--log-dir", str(self.log_dir),
            *(flag for url in masters or (self.master_url,) for flag in ("--master-url", url)),
            "--control-secret", self.secret,
            "--secrets-key-file", str(self.secrets_key_file),
        ]  # fmt: skip
        self.api = Service("api", [*argv, *extra], output_dir=self.directory).start()
        self.api.wait_http(f"{self.api_url}/api/v1/health")
        return self.api

    def start_worker(
        self,
        worker_id: str = "w1",
        executor_limit: int = 4,
        *properties: str,
        extra: tuple[str, ...] = (),
        masters: tuple[str, ...] = (),
    ) -> Service:
        """Start a worker (with the flags `extra` too) and wait until the api shows it active.

        `masters`: the websocket URLs it is given, in turn (default: this stack's master).
        """
        argv = ["podium-worker"]
        for url in masters or (f"ws://127.0.0.1:{self.master_port}/ws/worker",):
            argv += ["--master", url]
        argv += [
            "--id", worker_id,
            "--user", "workers",
            "--token-file", str(self.worker_token_file),
            "--executor-limit", str(executor_limit),
            "--home", str(self.directory / f"worker-{worker_id}"),
        ]  # fmt: skip
        for prop in properties:
            argv += ["--property", prop]
        argv += extra
        service = Service(f"worker-{worker_id}", argv, output_dir=self.directory).start()
        self.workers[worker_id] = service
        return service

    def start(self, workers: int = 1) -> Stack:
        """Prepare the database and start master, api and `workers` workers."""
        self.prepare()
        self.start_master()
        self.start_api()
        for number in range(1, workers + 1):
            self.start_worker(f"w{number}")
        return self

    def stop(self) -> None:
        """Stop every process (workers first)."""
        for service in [*self.workers.values(), self.api, self.master]:
            if service is not None:
                service.stop()
        if self._client is not None:
            self._client.close()

    def outputs(self) -> str:
        """Every process's output, for failure messages."""
        services = [s for s in (self.master, self.api, *self.workers.values()) if s is not None]
        return "\n".join(f"===== {s.name}\n{s.output}" for s in services)

    # The api, as a client -------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """An httpx client logged in as the administrator."""
        if self._client is None:
            response = httpx.post(
                f"{self.api_url}/api/v1/me/login", json={"user": "admin", "password": ADMIN_PASSWORD}, timeout=10
            )
            response.raise_for_status()
            token = response.json()["token"]
            self._client = httpx.Client(
                base_url=f"{self.api_url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
        return self._client

    def trigger(self, project: str, job: str, **parameters: str) -> dict[str, Any]:
        """Trigger a run over HTTP; return the created run."""
        response = self.client.post(f"/projects/{project}/jobs/{job}/runs", json={"parameters": parameters})
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run

    def run(self, project: str, run_id: str) -> dict[str, Any]:
        """The run as the api answers it."""
        response = self.client.get(f"/projects/{project}/runs/{run_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        return run

    def wait_run(self, project: str, run_id: str, statuses: set[str] = FINAL, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until the run reaches one of `statuses`; return it."""

        def reached() -> dict[str, Any] | None:
            run = self.run(project, run_id)
            return run if run["status"] in statuses else None

        try:
            return wait_until(reached, timeout, f"run {run_id} in {statuses}")
        except TimeoutError:
            raise TimeoutError(f"run {run_id} never reached {statuses}\n{self.outputs()}") from None

    def log(self, project: str, run_id: str, offset: int = 0) -> bytes:
        """The run's log bytes from `offset`."""
        response = self.client.get(f"/projects/{project}/runs/{run_id}/log", params={"offset": offset})
        assert response.status_code == 200, response.text
        return response.content
