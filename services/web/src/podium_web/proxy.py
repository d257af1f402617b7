"""Forwarding of `/api/` requests to podium-api, streamed both ways.

The request body flows to the api as it arrives and the response body flows back chunk by
chunk (server-sent events and large logs are never buffered). Hop-by-hop headers are
dropped; everything else, method, path (as the client encoded it) and query included,
goes through unchanged. When the api cannot be reached the answer is a 502 problem; when its
TLS certificate is refused, the problem and an error log line say why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from http.cookiejar import CookieJar, DefaultCookiePolicy

import anyio
import httpx
from starlette.types import Message, Receive, Scope, Send

from podium_model import transport

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://podium.dev/problems/"

# RFC 9110 section 7.6.1 connection-specific headers, plus the ones this hop rewrites.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
    }
)


def refusing_cookie_jar() -> CookieJar:
    """A cookie jar that keeps nothing, for the proxy's client.

    The client is shared by every browser: a jar that kept the api's `Set-Cookie` (the login
    session) would send one browser's session with every other browser's requests. Cookies pass
    through as the headers they are, never through the jar. (Pass the jar itself to httpx: a
    `httpx.Cookies` given to a client is copied into a jar of the default policy.)
    """
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class ClientGone(Exception):
    """The browser disconnected before its request body was read."""


class ApiProxy:
    """An ASGI app forwarding every HTTP request to `api_url` with the same path and query.

    Args:
        api_url: base URL of podium-api.
        client: the HTTP client to forward with (its TLS context verifies an https api; its
            cookie jar must keep nothing, see `refusing_cookie_jar`).
        trusted: what the client trusts, named when the api's certificate is refused.
    """

    def __init__(self, api_url: str, client: httpx.AsyncClient, trusted: str = "the system certificate store") -> None:
        self.api_url = api_url.rstrip("/")
        self.client = client
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            # Websockets are not forwarded yet: refuse the upgrade (answered as 403).
            await send({"type": "websocket.close", "code": 1003})
            return
        request = self._build_request(scope, receive)
        try:
            upstream = await self.client.send(request, stream=True)
        except ClientGone:
            return
        except httpx.HTTPError as exc:
            tls = transport.find_tls_error(exc)
            if tls is not None:
                reason = transport.describe_tls_failure(tls, "the api")
                logger.error("connection to %s refused: %s (trusting %s)", self.api_url, reason, self.trusted)
                await _problem(send, 502, "api-unavailable", "API unavailable", reason)
                return
            logger.warning("api at %s unreachable for %s %s: %r", self.api_url, scope["method"], scope["path"], exc)
            await _problem(send, 502, "api-unavailable", "API unavailable", f"the api service does not answer: {exc}")
            return
        try:
            await self._relay(upstream, receive, send)
        finally:
            await upstream.aclose()

    def _build_request(self, scope: Scope, receive: Receive) -> httpx.Request:
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.api_url + path.decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and k != b"host"]
        names = {k for k, _ in scope["headers"]}
        host = dict(scope["headers"]).get(b"host")
        if host is not None:
            headers.append((b"x-forwarded-host", host))
        headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode()))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        has_body = b"content-length" in names or b"transfer-encoding" in names
        return self.client.build_request(
            scope["method"], url, headers=headers, content=_body(receive) if has_body else None
        )

    async def _relay(self, upstream: httpx.Response, receive: Receive, send: Send) -> None:
        headers = [(k.lower(), v) for k, v in upstream.headers.raw if k.lower() not in HOP_BY_HOP]
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                # The request body is fully sent by now, so the next message is the disconnect.
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                await send({"type": "http.response.start", "status": upstream.status_code, "headers": headers})
                async for chunk in upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except httpx.HTTPError as exc:
                logger.warning("api stream broke off: %r", exc)
            except OSError:
                pass  # the browser went away (ASGI 2.4 servers raise on send)
            group.cancel_scope.cancel()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def _problem(send: Send, status: int, slug: str, title: str, detail: str) -> None:
    """Answer an `application/problem+json` document."""
    body = json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
