"""Buildbot's venv, master and workers: created under a cache directory, started as processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from bench.peers.venv import ensure_venv
from bench.stack import Process, free_port, wait_until

VERSION = "4.3.*"
BUILDERS = 8
SLOTS = 8
PASSWORD = "bench"

MASTER_CFG = """\
from buildbot.plugins import schedulers, steps, util, worker

c = BuildmasterConfig = {{}}
c["workers"] = [worker.Worker(name, "{password}", max_builds={slots}) for name in ("w1", "w2")]
c["protocols"] = {{"pb": {{"port": "tcp:{pb_port}:interface=127.0.0.1"}}}}
factory = util.BuildFactory([steps.ShellCommand(command=["echo", "hello"])])
names = ["echo-%d" % number for number in range({builders})]
c["builders"] = [util.BuilderConfig(name=name, workernames=["w1", "w2"], factory=factory) for name in names]
c["schedulers"] = [schedulers.ForceScheduler(name="force", builderNames=names)]
c["collapseRequests"] = False
c["title"] = "bench"
c["buildbotURL"] = "http://127.0.0.1:{www_port}/"
c["www"] = {{"port": "tcp:{www_port}:interface=127.0.0.1", "plugins": {{}}}}
c["db"] = {{"db_url": "sqlite:///state.sqlite"}}
c["buildbotNetUsageData"] = None
"""


def version(bin_dir: Path) -> str:
    """The installed Buildbot version."""
    out = subprocess.run([str(bin_dir / "buildbot"), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[0]


class BuildbotStack:
    """A Buildbot master and 2 workers in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bin = ensure_venv(
            "buildbot", [f"{name}=={VERSION}" for name in ("buildbot", "buildbot-www", "buildbot-worker")]
        )
        self.pb_port = free_port()
        self.www_port = free_port()
        self.url = f"http://127.0.0.1:{self.www_port}"
        self.processes: dict[str, Process] = {}

    def _run(self, *argv: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.directory)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> BuildbotStack:
        """Create and start the master, then the workers; wait until both workers are connected."""
        master = self.directory / "master"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._run(str(self.bin / "buildbot"), "create-master", "-q", str(master))
        (master / "master.cfg").write_text(MASTER_CFG.format(password=PASSWORD, slots=SLOTS, builders=BUILDERS,
                                                             pb_port=self.pb_port, www_port=self.www_port))  # fmt: skip
        self._run(str(self.bin / "buildbot"), "checkconfig", str(master))
        self.processes["master"] = Process("buildbot-master", [str(self.bin / "buildbot"), "start", "--nodaemon",
                                           str(master)], self.directory)  # fmt: skip
        wait_until(lambda: self._check() and self._answers("/api/v2/builders"), 120, "the Buildbot master")
        for name in ("w1", "w2"):
            home = self.directory / name
            self._run(str(self.bin / "buildbot-worker"), "create-worker", "-q", str(home),
                      f"127.0.0.1:{self.pb_port}", name, PASSWORD)  # fmt: skip
            self.processes[name] = Process(f"buildbot-{name}", [str(self.bin / "buildbot-worker"), "start",
                                           "--nodaemon", str(home)], self.directory)  # fmt: skip
        wait_until(lambda: self._check() and self._connected() == 2, 120, "2 Buildbot workers connected")
        return self

    def _check(self) -> bool:
        for process in self.processes.values():
            if not process.alive():
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
        return True

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _connected(self) -> int:
        try:
            workers = httpx.get(f"{self.url}/api/v2/workers", timeout=5).json()["workers"]
        except (httpx.HTTPError, ValueError, KeyError):
            return 0
        return sum(1 for worker in workers if worker.get("connected_to"))

    def builder_ids(self) -> list[int]:
        """Ids of the echo builders."""
        builders = httpx.get(f"{self.url}/api/v2/builders", timeout=10).json()["builders"]
        return sorted(b["builderid"] for b in builders if str(b["name"]).startswith("echo-"))

    def pids(self) -> dict[str, int]:
        """Process id of the master and the workers."""
        return {name: process.pid for name, process in self.processes.items()}

    def stop(self) -> None:
        """Stop the workers, then the master."""
        for process in reversed(list(self.processes.values())):
            process.stop()
