"""Request guards applied before routing.

- Bodies above `REQUEST_BODY_BYTES` (declared or streamed) get a 413 problem naming the limit;
  a configuration document may be up to `CONFIGURATION_BYTES`, a webhook's body (`/api/v1/hooks/...`)
  up to `WEBHOOK_BODY_BYTES`.
- NUL characters, in the path, the query or a JSON body (raw or as the `\\u0000` escape), get
  a 404 (path) or 422 problem: no identifier or text of Podium may hold one, and PostgreSQL
  refuses them in text columns, which would otherwise surface as a 500.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium_api.errors import problem_response
from podium_model.limits import CONFIGURATION_BYTES, REQUEST_BODY_BYTES, WEBHOOK_BODY_BYTES
from podium_model.problems import Problem

_NUL_MARKERS = (b"\x00", b"\\u0000")
# The routes whose bodies may be larger than REQUEST_BODY_BYTES, with their own limit.
_LARGER_BODIES = {"/api/v1/admin/configuration": ("configuration", CONFIGURATION_BYTES)}
# Webhook bodies become a run's payload file: a limit of their own, smaller.
_WEBHOOKS = "/api/v1/hooks/"


class RequestGuard:
    """ASGI middleware enforcing the body size limits and refusing NUL characters."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if "\x00" in path:
            await self._answer(Problem.of("not-found", "Not Found", 404, "no such resource"), scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b""):
            await self._answer(_nul_problem("the query"), scope, receive, send)
            return
        name, limit = _LARGER_BODIES.get(path, ("request-body", REQUEST_BODY_BYTES))
        if path.startswith(_WEBHOOKS):
            name, limit = "webhook", WEBHOOK_BODY_BYTES
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._answer(_too_large(name, limit), scope, receive, send)
            return
        # Read the whole (bounded) body first, so a refusal is an answer of its own and not an
        # error half-way through the route's body parsing.
        check_nul = b"json" in headers.get(b"content-type", b"application/json")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._answer(_too_large(name, limit), scope, receive, send)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        whole = b"".join(chunks)
        if check_nul and any(marker in whole for marker in _NUL_MARKERS):
            await self._answer(_nul_problem("the body"), scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _answer(self, problem: Problem, scope: Scope, receive: Receive, send: Send) -> None:
        problem.instance = scope.get("path", "").replace("\x00", "\\0")
        await problem_response(problem)(scope, receive, send)


def _too_large(name: str, limit: int) -> Problem:
    detail = f"the body is over the {name} limit of {limit} bytes"
    return Problem.of("payload-too-large", "Payload too large", 413, detail, limit=name, limit_bytes=limit)


def _nul_problem(where: str) -> Problem:
    return Problem.of("validation-error", "Invalid request", 422, f"NUL characters are not allowed in {where}")
