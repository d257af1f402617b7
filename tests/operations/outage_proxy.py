"""A TCP proxy in a thread of its own that can play a database outage.

`down()` aborts every open connection and refuses new ones (accepted, then closed at once,
as a database that went away); `up()` forwards again. Used in front of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future


class OutageProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port` until told to go down."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.refused = 0
        self._down = False
        self._transports: set[asyncio.WriteTransport] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="outage-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> OutageProxy:
        self._thread.start()
        self._call(self._open()).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._close()).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: object) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        self._abort_all()

    def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    def down(self) -> None:
        """Cut every connection and refuse new ones."""

        def cut() -> None:
            self._down = True
            self._abort_all()

        self._loop.call_soon_threadsafe(cut)

    def up(self) -> None:
        """Forward again."""
        self._loop.call_soon_threadsafe(setattr, self, "_down", False)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self._transports.update(pair)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            for transport in pair:
                transport.abort()
                self._transports.discard(transport)

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
