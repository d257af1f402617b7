"""`make run`'s launcher (deploy/local/run.py) as a person uses it: start, log in, trigger, Ctrl-C."""

from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.databases import fresh_postgres
from tests.support import Service, free_port, wait_until

REPOSITORY = Path(__file__).resolve().parents[2]
LAUNCHER = REPOSITORY / "deploy" / "local" / "run.py"
SERVICES = ["podium_storage.admin", "podium_master.__main__", "podium_api.__main__", "podium_worker.__main__"]


def missing_services() -> list[str]:
    """The service modules that cannot be imported yet."""
    missing = []
    for name in SERVICES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def start_launcher(env: dict[str, str], output_dir: Path, timeout: float = 90) -> Service:
    """Start the launcher with `env` and wait for its banner (an early exit fails with its output)."""
    launcher = Service("launcher", [sys.executable, str(LAUNCHER)], env=env, output_dir=output_dir, cwd=REPOSITORY)
    launcher.start()

    def running() -> bool:
        if not launcher.alive():
            raise AssertionError(f"the launcher exited early:\n{launcher.output}")
        return "Podium is running." in launcher.output

    try:
        wait_until(running, timeout, "the launcher's banner")
    except BaseException:
        launcher.kill()
        raise
    return launcher


def stop_launcher(launcher: Service) -> None:
    """Stop a launcher still running (Ctrl-C, then a kill after 60 s): a failed test leaves no stack."""
    process = launcher.process
    if process is not None and launcher.alive():
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            launcher.kill()


def hello_succeeds(client: httpx.Client, tmp_path: Path, timeout: float) -> None:
    """Trigger the example job `hello` through the web's api; it succeeds and logs its greeting."""
    created = client.post("/projects/examples/jobs/hello/runs", json={"parameters": {"name": "podium"}})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    def finished() -> dict[str, object] | None:
        run: dict[str, object] = client.get(f"/projects/examples/runs/{run_id}").json()
        return run if run["status"] not in {"pending", "running"} else None

    run = wait_until(finished, timeout, f"run {run_id} to end")
    outputs = [p.read_text() for p in sorted((tmp_path / "home" / "output").glob("*.log"))]
    assert run["status"] == "succeeded", (run, outputs)
    assert client.get(f"/projects/examples/runs/{run_id}/log", params={"offset": 0}).content == b"hello podium\n"


def test_launcher_help_lists_the_variables() -> None:
    """`run.py --help` documents every variable `make run` honours."""
    result = subprocess.run([sys.executable, str(LAUNCHER), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for name in ("PODIUM_HOME", "PODIUM_WEB_PORT", "PODIUM_ADMIN_PASSWORD", "PODIUM_DATABASE_URL"):
        assert name in result.stdout
    assert "PODIUM_WORKER_EXECUTOR_LIMIT" in result.stdout and "PODIUM_WORKER_CONTAINERS" in result.stdout
    assert "PODIUM_MASTERS" in result.stdout


@pytest.mark.parametrize(
    ("masters", "message"),
    [
        ("2", "PODIUM_MASTERS=2 needs a PostgreSQL database"),
        ("0", "PODIUM_MASTERS=0: give a whole number from 1 to 8"),
        ("two", "PODIUM_MASTERS=two: give a whole number from 1 to 8"),
        ("9", "PODIUM_MASTERS=9: give a whole number from 1 to 8"),
    ],
)
def test_several_masters_refuse_sqlite_and_bad_counts(tmp_path: Path, masters: str, message: str) -> None:
    """PODIUM_MASTERS=2 on SQLite (the default) exits 1 before anything starts, saying how to give a
    PostgreSQL URL; a count that is not 1 to 8 is named the same way."""
    home = tmp_path / "home"
    env = {**os.environ, "PODIUM_HOME": str(home), "PODIUM_MASTERS": masters}
    env.pop("PODIUM_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, str(LAUNCHER)], env=env, capture_output=True, text=True, timeout=60, cwd=REPOSITORY
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout, result.stdout
    if masters == "2":
        assert "PODIUM_DATABASE_URL=postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "migrating" not in result.stdout and not home.exists()  # nothing was started nor created


@pytest.mark.slow
def test_make_run_serves_hello_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The launcher starts the stack (printing each step); a second one on the same port says the port
    is taken and exits non-zero without a banner; hello triggered through the web port succeeds;
    SIGINT exits 0."""
    missing = missing_services()
    if missing:
        pytest.skip(f"the services are not built yet: cannot import {', '.join(missing)}")
    port = free_port()
    env = {
        "PODIUM_HOME": str(tmp_path / "home"),
        "PODIUM_WEB_PORT": str(port),
        "PODIUM_ADMIN_PASSWORD": "secret",
        "PODIUM_WORKER_EXECUTOR_LIMIT": "2",
    }
    launcher = start_launcher(env, tmp_path)
    assert launcher.process is not None
    try:
        assert "Password:  secret" in launcher.output
        assert "migrating the database" in launcher.output  # each step of a first start is printed
        second = subprocess.run(
            [sys.executable, str(LAUNCHER)],
            env={**os.environ, **env, "PODIUM_HOME": str(tmp_path / "second")},
            capture_output=True, text=True, timeout=60, cwd=REPOSITORY,
        )  # fmt: skip
        assert second.returncode != 0, second.stdout
        assert f"port {port} (web, PODIUM_WEB_PORT) is taken" in second.stdout, second.stdout
        assert "Podium is running" not in second.stdout + second.stderr
        web = f"http://127.0.0.1:{port}/api/v1"
        login = httpx.post(f"{web}/me/login", json={"user": "admin", "password": "secret"}, timeout=10)
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        with httpx.Client(base_url=web, headers=headers, timeout=10) as client:
            hello_succeeds(client, tmp_path, 30)
        launcher.process.send_signal(signal.SIGINT)
        assert launcher.process.wait(60) == 0, launcher.output
        assert "stopped worker" in launcher.output
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        stop_launcher(launcher)


def listening(sock: socket.socket, port: int) -> bool:
    """Make `sock` listen on 127.0.0.1:`port` (past the killed owner's TIME_WAIT); False while it is in use."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    sock.listen()
    return True


def started_pids(output: str, name: str) -> list[int]:
    """The pids the launcher printed for each start of the service `name`, in order."""
    return [int(pid) for pid in re.findall(rf"started {re.escape(name)} \(pid (\d+)\)", output)]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_two_masters_on_postgresql_one_killed_is_started_again(tmp_path: Path) -> None:
    """PODIUM_MASTERS=2: two masters on PostgreSQL, the worker on the first. SIGKILL of the worker's
    master: the launcher names it and its exit status, the stack stays up, the worker moves to the
    other master and a run succeeds. The killed master, started again after 1 s while its port is
    held, exits and is started again after 2 s (the back-off doubles), then under its id and
    port once the port is free. The worker's exit still stops the whole stack, with status 1."""
    missing = missing_services()
    if missing:
        pytest.skip(f"the services are not built yet: cannot import {', '.join(missing)}")
    with fresh_postgres() as database_url:
        port = free_port()
        env = {
            "PODIUM_HOME": str(tmp_path / "home"),
            "PODIUM_WEB_PORT": str(port),
            "PODIUM_ADMIN_PASSWORD": "secret",
            "PODIUM_WORKER_EXECUTOR_LIMIT": "2",
            "PODIUM_DATABASE_URL": database_url,
            "PODIUM_MASTERS": "2",
        }
        launcher = start_launcher(env, tmp_path, timeout=120)
        assert launcher.process is not None
        try:
            banner = re.search(r"Masters: +master-1 (\S+), master-2 (\S+) ", launcher.output)
            assert banner is not None, launcher.output
            urls = {"master-1": banner.group(1), "master-2": banner.group(2)}
            for name, url in urls.items():
                assert httpx.get(f"{url}/health", timeout=10).json()["master"] == name
            web = f"http://127.0.0.1:{port}/api/v1"
            login = httpx.post(f"{web}/me/login", json={"user": "admin", "password": "secret"}, timeout=10)
            assert login.status_code == 200, login.text
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            with httpx.Client(base_url=web, headers=headers, timeout=10) as client:

                def held_by() -> str | None:
                    worker: dict[str, object] = client.get("/workers/local").json()
                    return str(worker["master"]) if worker.get("is_active") and worker.get("master") else None

                victim = wait_until(held_by, 30, "the worker connected to a master")
                other = next(name for name in urls if name != victim)
                (first_pid,) = started_pids(launcher.output, victim)
                holder = socket.socket()  # its port, taken while it is down: its restart fails
                os.kill(first_pid, signal.SIGKILL)
                wait_until(lambda: listening(holder, urlsplit(urls[victim]).port or 0), 10, f"{victim}'s port to free")
                wait_until(
                    lambda: f"{victim} exited (exit status -9, killed by SIGKILL)" in launcher.output,
                    30,
                    f"the launcher to report {victim}'s exit",
                )
                assert f"the stack stays up (masters serving: {other}); starting it again in 1 s" in launcher.output
                wait_until(lambda: held_by() == other, 30, f"the worker to move to {other}")

                hello_succeeds(client, tmp_path, 60)

                failed_again = rf"{victim} exited \(exit status [1-9][0-9]*\) after [0-9.]+ s; .* again in 2 s"
                wait_until(lambda: re.search(failed_again, launcher.output), 90, f"{victim}'s failed restart")
                holder.close()
                wait_until(lambda: f"{victim} is ready again" in launcher.output, 90, f"{victim} to start again")
                pids = started_pids(launcher.output, victim)
                assert len(pids) >= 3 and first_pid not in pids[1:], launcher.output  # 3, or more on a slow machine
                assert httpx.get(f"{urls[victim]}/health", timeout=10).json()["master"] == victim
            assert launcher.alive(), launcher.output
            (worker_pid,) = started_pids(launcher.output, "worker")
            os.kill(worker_pid, signal.SIGKILL)  # not a master: the stack stops, as with one master
            assert launcher.process.wait(60) == 1, launcher.output
            assert "worker exited unexpectedly (exit status -9, killed by SIGKILL)" in launcher.output
            assert "stopped master-1" in launcher.output and "stopped master-2" in launcher.output
        finally:
            stop_launcher(launcher)
