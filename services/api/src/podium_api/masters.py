"""Every master the api talks to (`Masters`): their control clients, their feeds, and which ones there are.

The api is given one or more master URLs (`--master-url`, repeatable). With `--master-discovery
dns`, each URL's host name stands for all the addresses it resolves to, one master each (compose
`--scale master=N`, a Kubernetes headless service), resolved again every `DISCOVERY_INTERVAL`
seconds: a master that appears is followed and called, one that disappears is dropped.

Control calls are broadcast: every master receives each one, in parallel, and answers what it
did (`ControlAnswer`); the api takes the answer of the master that acted (`ACTED`), else the
first one answered. A master acts only on what it holds (the worker connected to it) or on
what any master may do alone (a compare-and-set in the database: cancelling a pending run), so
the api never needs to know which master holds a worker, and a worker that moved between two
masters a moment ago is still reached. A master that does not answer is logged, as with one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from podium_api.control import ControlClient
from podium_api.feed import MasterFeed
from podium_model.control import ControlAnswer, ControlResult

logger = logging.getLogger(__name__)

DISCOVERY_INTERVAL: Final = 10.0
"""Seconds between two resolutions of the master URLs' host names (`--master-discovery dns`)."""

ACTED: Final = frozenset(
    {
        ControlResult.dispatching,
        ControlResult.cancelled,
        ControlResult.sent,
        ControlResult.aborting,
        ControlResult.refreshed,
        ControlResult.disconnected,
    }
)
"""The results saying a master did something; the others say it had nothing to act on."""


@dataclass(frozen=True)
class MasterState:
    """What one master's health check found."""

    url: str
    id: str | None
    reachable: bool
    leader: bool | None
    reason: str | None


def preferred(answers: Iterable[ControlAnswer | None]) -> ControlAnswer | None:
    """The answer of a master that acted, else the first answer, else None (none answered)."""
    given = [answer for answer in answers if answer is not None]
    return next((answer for answer in given if answer.result in ACTED), given[0] if given else None)


def _with_host(url: str, address: str) -> str:
    """`url` with its host replaced by `address` (an IPv6 address in brackets), port kept."""
    parts = urlsplit(url)
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return urlunsplit((parts.scheme, f"{host}:{port}", parts.path, "", ""))


async def resolve(urls: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """One URL per address each URL's host name resolves to, and why each name that did not resolve.

    An address given as such stands for itself; the order is the URLs', then the resolver's.
    """
    loop = asyncio.get_running_loop()
    found: dict[str, None] = {}
    failed: dict[str, str] = {}
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            infos = await loop.getaddrinfo(host, parts.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            failed[url] = str(exc) or type(exc).__name__
            continue
        for info in infos:
            found[_with_host(url, str(info[4][0]))] = None
    return list(found), failed


class Masters:
    """The masters of this api: a `ControlClient` and a feed connection for each.

    Args:
        urls: the masters' base URLs (`--master-url`).
        secret: the control secret.
        feed: the event feed, told which masters to follow.
        timeout: seconds for each control call.
        ca_file: the CA bundle of https masters.
        discovery: `dns` to stand each URL's host for all its addresses (see the module).
        runs_announced: the database wakes every master on a new run by itself
            (`Storage.announces_new_runs`): `run_created` sends nothing.
    """

    def __init__(
        self,
        urls: list[str],
        secret: str,
        feed: MasterFeed,
        timeout: float = 5.0,
        ca_file: str | os.PathLike[str] | None = None,
        discovery: Literal["none", "dns"] = "none",
        runs_announced: bool = False,
    ) -> None:
        self.configured = list(urls)
        self.runs_announced = runs_announced
        self.discovery = discovery
        self._secret = secret
        self._timeout = timeout
        self._ca_file = ca_file
        self._feed = feed
        self._clients: dict[str, ControlClient] = {}
        self._unresolved: dict[str, str] = {}
        self._ids: dict[str, str] = {}  # the id each master last answered, to name one that went down
        self._resolver: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def urls(self) -> list[str]:
        """The base URLs of the masters known now (with discovery: one per address found)."""
        return list(self._clients)

    async def start(self) -> None:
        """Know the masters (resolve their names first, with discovery) and follow their feeds."""
        if self.discovery == "dns":
            await self._discover()
            self._resolver = asyncio.get_running_loop().create_task(self._rediscover(), name="master discovery")
        else:
            await self._set(self.configured)
        self._feed.start()

    async def close(self) -> None:
        """Stop discovery, wait briefly for pending calls, close every client."""
        if self._resolver is not None:
            self._resolver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resolver
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        await asyncio.gather(*(client.close() for client in self._clients.values()))
        self._clients.clear()

    async def _set(self, urls: list[str]) -> None:
        """Make `urls` the masters: clients and feeds for the new ones, the others dropped."""
        for url in urls:
            if url not in self._clients:
                self._clients[url] = ControlClient(url, self._secret, self._timeout, self._ca_file)
                self._feed.follow(url)
                if self.discovery == "dns":
                    logger.info("master found at %s", url)
        for url in [url for url in self._clients if url not in urls]:
            logger.info("master at %s no longer found: dropped", url)
            client = self._clients.pop(url)
            self._ids.pop(url, None)
            await self._feed.unfollow(url)
            await client.close()

    async def _discover(self) -> None:
        urls, failed = await resolve(self.configured)
        for url, reason in failed.items():
            if self._unresolved.get(url) != reason:
                logger.warning(
                    "master URL %s does not resolve (%s); trying again in %.0f s", url, reason, DISCOVERY_INTERVAL
                )
        self._unresolved = failed
        if failed and not urls:
            return  # a resolver that fails for a moment does not drop the masters known
        await self._set(urls)

    async def _rediscover(self) -> None:
        while True:
            await asyncio.sleep(DISCOVERY_INTERVAL)  # the documented period of re-resolution
            try:
                await self._discover()
            except Exception:  # the next round tries again; the api keeps the masters it knows
                logger.exception("master discovery failed")

    # Health ------------------------------------------------------------------------------------

    async def probe(self, timeout: float = 1.0) -> list[MasterState]:
        """Every known master's health, asked in parallel (a name that did not resolve counts unreachable)."""
        clients = list(self._clients.values())
        documents = await asyncio.gather(*(client.probe(timeout) for client in clients))
        states = []
        for client, (document, reason) in zip(clients, documents, strict=True):
            identity = document.get("master") if document is not None else None
            leader = document.get("leader") if document is not None else None
            if isinstance(identity, str):
                self._ids[client.base_url] = identity
            states.append(
                MasterState(
                    url=client.base_url,
                    id=self._ids.get(client.base_url),
                    reachable=document is not None,
                    leader=leader if isinstance(leader, bool) else None,
                    reason=reason,
                )
            )
        for url, reason in self._unresolved.items():
            states.append(MasterState(url, None, False, None, f"the host name does not resolve: {reason}"))
        if not states:
            states.append(MasterState(",".join(self.configured), None, False, None, "no master address is known"))
        return states

    # Control calls -----------------------------------------------------------------------------

    def _each(self, call: Callable[[ControlClient], None]) -> None:
        if not self._clients:
            logger.warning("no master is known: the call waits for a master's next sweep")
        for client in self._clients.values():
            call(client)

    async def _first_acted(
        self, call: Callable[[ControlClient], Awaitable[ControlAnswer | None]]
    ) -> ControlAnswer | None:
        """Ask every master; the first answer of one that acted, else `preferred` of all.

        The others' calls finish in the background: a master that hangs delays nobody once
        another has acted.
        """
        tasks = [asyncio.ensure_future(call(client)) for client in self._clients.values()]
        answers: list[ControlAnswer | None] = []
        for finished in asyncio.as_completed(tasks):
            answer = await finished
            if answer is not None and answer.result in ACTED:
                for task in tasks:
                    if not task.done():
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                return answer
            answers.append(answer)
        if not tasks:
            logger.warning("no master is known: the call waits for a master's next sweep")
        return preferred(answers)

    def dispatch(self) -> None:
        """Something became runnable: wake every master (the run may be for any master's workers)."""
        self._each(lambda client: client.dispatch())

    def run_created(self) -> None:
        """A new pending run: the masters dispatch it.

        On PostgreSQL the insert itself woke every master (its NOTIFY, `podium_storage.wakeups`),
        so nothing is sent: each master told once more would only make one more, empty, pass.
        """
        if not self.runs_announced:
            self.dispatch()

    def configuration_changed(self) -> None:
        """Configuration was applied: every master re-reads notifications and schedules."""
        self._each(lambda client: client.configuration_changed())

    async def cancel(self, run_id: str) -> ControlAnswer | None:
        """Cancel a pending run: the answer of the master that cancelled it (see `ControlClient.cancel`)."""
        return await self._first_acted(lambda client: client.cancel(run_id))

    def abort(self, run_id: str) -> None:
        """A run's `should_abort` was set: the master holding its worker sends the abort."""
        self._each(lambda client: client.abort(run_id))

    async def refresh_worker(self, worker_id: str) -> None:
        """A worker's settings changed: every master re-reads them (awaited, as `ControlClient.refresh_worker`)."""
        await asyncio.gather(*(client.refresh_worker(worker_id) for client in self._clients.values()))

    def disconnect(self, worker_id: str) -> None:
        """A worker's `should_disconnect` was set: the master holding it closes its connection."""
        self._each(lambda client: client.disconnect(worker_id))
