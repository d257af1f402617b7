"""A small real HTTP server standing in for podium-api behind the web proxy in tests.

Run as `python -m uvicorn tests.web.upstream:app --port P`. It echoes requests, streams
events that wait on a release signal (so a test can tell streaming from buffering), serves
and swallows large bodies, and counts streams whose client went away.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK = bytes(range(256)) * 256  # 64 KiB of a known pattern
released = asyncio.Event()
closed_streams = 0


async def echo(request: Request) -> Response:
    """Answer what arrived: method, raw path, query, headers and body."""
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
            "body": body.decode("utf-8", errors="replace"),
        },
        status_code=int(request.query_params.get("status", "200")),
        headers={"X-Upstream": "yes", "Set-Cookie": "a=1"},
    )


async def events(request: Request) -> Response:
    """Send one event, then the rest only once `/api/release` was called."""

    async def stream() -> AsyncIterator[bytes]:
        yield b"data: first\n\n"
        await released.wait()
        for number in range(3):
            yield f"data: {number}\n\n".encode()

    return StreamingResponse(stream(), media_type="text/event-stream")


async def release(request: Request) -> Response:
    """Let the waiting event streams go on."""
    released.set()
    return Response(status_code=204)


async def endless(request: Request) -> Response:
    """Send a line, then hold the stream open until the client goes away, counting the ends."""

    async def stream() -> AsyncIterator[bytes]:
        global closed_streams
        try:
            yield b"tick\n"
            await asyncio.Event().wait()  # never set: only a disconnect ends this stream
        finally:
            closed_streams += 1

    return StreamingResponse(stream(), media_type="text/plain")


async def stats(request: Request) -> Response:
    """How many endless streams have ended."""
    return JSONResponse({"closed_streams": closed_streams})


async def large(request: Request) -> Response:
    """Stream `count` chunks of the known pattern without a length."""
    count = int(request.query_params["count"])

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield CHUNK

    return StreamingResponse(stream(), media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    """Read the body as a stream and answer its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return JSONResponse({"size": size, "sha256": digest.hexdigest()})


METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
app = Starlette(
    routes=[
        Route("/api/v1/events", events),
        Route("/api/release", release, methods=["POST"]),
        Route("/api/endless", endless),
        Route("/api/stats", stats),
        Route("/api/large", large),
        Route("/api/upload", upload, methods=["POST", "PUT"]),
        Route("/{path:path}", echo, methods=METHODS),
    ]
)
