"""The security headers of every HTTP answer of the api and the web service.

One ASGI middleware (no framework import, so this library stays light) adds them to each
response that does not already carry them: the web service forwards the api's answers with
the api's own headers, and adds its own to the pages and files it serves itself.

- `Content-Security-Policy`: the web UI's policy allows only its own origin (scripts, styles,
  fetches), `data:` images (the UI's empty favicon) and `blob:` (a downloaded archive is handed
  to the browser as a blob URL); no inline script or style, no frame, no plugin. The UI sets
  styles through the DOM (CSSOM), which a policy does not restrict. The api's JSON answers get
  `default-src 'none'`; its documentation pages get what Swagger UI and ReDoc need (their own
  scripts, inline styles, `data:` images, a `blob:` worker).
- `X-Frame-Options: DENY` and `frame-ancestors 'none'`: no page of Podium is shown in a frame.
- `X-Content-Type-Options: nosniff`: a log served as text is never run as a script.
- `Referrer-Policy: no-referrer`: run and project ids in URLs never leave with a link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

UI_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""The web UI's content security policy."""

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The api's policy for its JSON, text and archive answers: nothing may load from them."""

DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
"""The api documentation pages' policy: ReDoc's styling injects <style> elements and runs a blob worker."""

COMMON_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware adding the security headers to each HTTP response lacking them.

    Args:
        app: the application.
        policy: the `Content-Security-Policy` of every path not in `policies`.
        policies: path prefix → policy, the longest matching prefix first.
    """

    def __init__(self, app: App, policy: str, policies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.policy = policy
        self.policies = sorted((policies or {}).items(), key=lambda item: -len(item[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = next((value for prefix, value in self.policies if path.startswith(prefix)), self.policy)
        added = [
            (b"content-security-policy", policy.encode()),
            *((k.encode(), v.encode()) for k, v in COMMON_HEADERS.items()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in added if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
