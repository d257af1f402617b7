"""A TCP proxy for tests that cuts its connections after a number of bytes, a number of times."""

from __future__ import annotations

import asyncio
import contextlib


class CuttingProxy:
    """Forwards 127.0.0.1:`port` to `target_port`; aborts a connection once it carried `cut_after`
    bytes from the client, until it has cut `cuts` connections (then it only forwards)."""

    def __init__(self, target_port: int, cut_after: int, cuts: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = cuts
        self.cut = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            self._tasks.discard(task)
            return
        done = asyncio.Event()

        def abort() -> None:
            writer.transport.abort()
            up_writer.transport.abort()
            done.set()

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, counted: bool) -> None:
            carried = 0
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
                    carried += len(data)
                    if counted and self.cut < self.cuts and carried >= self.cut_after:
                        self.cut += 1
                        break
            except (OSError, asyncio.IncompleteReadError):
                pass
            abort()

        pumps = [
            asyncio.create_task(pump(reader, up_writer, True)),
            asyncio.create_task(pump(up_reader, writer, False)),
        ]
        try:
            await done.wait()
        finally:
            for running in pumps:
                running.cancel()
            for running in pumps:
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            self._tasks.discard(task)
