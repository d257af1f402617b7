"""Authentication: who sends a request, from its `Authorization` header.

Accepted: `Authorization: Bearer TOKEN`, or HTTP Basic `user:token` (the seed's convention), or
the web UI's session cookie (`podium_session`, set by `POST /me/login` with `"session": true`).
A token is looked up by its SHA-256; an expired token or a disabled user is refused like an
unknown token, with a 401 problem.

The session cookie is HttpOnly (scripts never see the token) and SameSite=Strict (other sites'
pages do not send it). As a second guard against cross-site requests, a request authenticated by
the cookie that changes something (any method but GET, HEAD, OPTIONS) must carry the header
`X-Podium-Session: 1`: a page of another origin cannot add a custom header without a CORS
preflight, which the api never grants. An Authorization header wins over the cookie.

A run token (`podium-run.…`, minted by the master for the commands of one run, see
`podium_storage.auth`) is checked with the control secret instead, in either form (Basic with any
user name). It is valid while its run exists and has not ended; its principal is a synthetic
user `run:<run id>` without roles, allowed to read and trigger in the run's project only by the
permission check (`permissions.py`). It is not a worker credential: the `worker` role grants
nothing of this API.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

from fastapi import Request

from podium_api.errors import Forbidden, Unauthorized
from podium_model import User, utcnow
from podium_model.access import ProjectPermission
from podium_model.users import Role
from podium_storage.auth import RUN_TOKEN_PREFIX, hash_token, parse_run_token
from podium_storage.interface import Storage

logger = logging.getLogger(__name__)

SESSION_COOKIE = "podium_session"
"""The cookie holding a login token for the web UI."""
SESSION_HEADER = "x-podium-session"
"""The header a cookie-authenticated request that changes something must carry (value `1`)."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user and the credential used, or anonymous (`user` None)."""

    user: User | None = None
    credential_id: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)
    run_id: str | None = None
    """Set for a run token: the run whose commands call (the principal is then that run's)."""
    run_project: str | None = None
    """Set for a run token: the only project the principal may touch."""
    token_projects: frozenset[str] | None = None
    """Set for a narrowed token: the projects it may touch (the others do not exist for it)."""
    token_operations: frozenset[ProjectPermission] | None = None
    """Set for a narrowed token: what it may do inside those projects."""

    @property
    def id(self) -> str:
        """The user id, or "anonymous"."""
        return self.user.id if self.user is not None else "anonymous"


ANONYMOUS = Principal()


def _parse(header: str) -> tuple[str | None, str]:
    """(user or None, token) from an Authorization header value.

    Raises:
        Unauthorized: the scheme is unknown or the value malformed.
    """
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        user, colon, token = decoded.partition(":")
        if colon and user and token:
            return user, token
        raise Unauthorized("Basic credentials must be user:token")
    raise Unauthorized("use Authorization: Bearer TOKEN or Basic user:token")


async def _resolve_run_token(storage: Storage, token: str, control_secret: str) -> Principal:
    """The principal of a run token: valid while its run exists and is not final."""
    run_id = parse_run_token(control_secret, token)
    run = await storage.get_run(run_id) if run_id is not None else None
    if run is None or run.status.is_final:
        raise Unauthorized("invalid or expired token")
    now = utcnow()
    user = User.model_construct(  # synthetic: "run:…" is not a valid user id, by design
        id=f"run:{run.id}", display_name=f"run {run.id}", roles=[], is_enabled=True,
        created_at=now, updated_at=now,
    )  # fmt: skip
    return Principal(user=user, run_id=run.id, run_project=run.project)


async def resolve(storage: Storage, header: str | None, control_secret: str = "") -> Principal:
    """The principal an Authorization header stands for (ANONYMOUS when absent).

    `control_secret` checks run tokens; without it they are refused.

    Raises:
        Unauthorized: the header is present but its credentials are not valid now.
    """
    if not header:
        return ANONYMOUS
    claimed_user, token = _parse(header)
    if len(token) > 1000:
        raise Unauthorized("invalid or expired token")
    if token.startswith(RUN_TOKEN_PREFIX):
        return await _resolve_run_token(storage, token, control_secret)
    found = await storage.find_token(hash_token(token))
    if found is None:
        raise Unauthorized("invalid or expired token")
    credential, user = found
    if claimed_user is not None and claimed_user != user.id:
        raise Unauthorized("invalid or expired token")
    if credential.expires_at is not None and credential.expires_at <= utcnow():
        raise Unauthorized("invalid or expired token")
    if not user.is_enabled:
        raise Unauthorized("invalid or expired token")
    return Principal(
        user=user,
        credential_id=credential.id,
        roles=frozenset(user.roles),
        token_projects=None if credential.projects is None else frozenset(credential.projects),
        token_operations=None if credential.operations is None else frozenset(credential.operations),
    )


async def authenticate(request: Request) -> Principal:
    """The principal of `request`, resolved once per request and kept on `request.state`."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        secret = request.state.settings.control_secret.get_secret_value()
        header = request.headers.get("authorization")
        cookie = request.cookies.get(SESSION_COOKIE)
        if not header and cookie:
            if request.method not in _SAFE_METHODS and request.headers.get(SESSION_HEADER) != "1":
                raise Forbidden(f"a request authenticated by the session cookie must send {SESSION_HEADER}: 1")
            header = f"Bearer {cookie}"
        principal = await resolve(request.state.storage, header, secret)
        request.state.principal = principal
    return principal


async def require_user(request: Request) -> Principal:
    """The authenticated principal of `request`.

    Raises:
        Unauthorized: the request carries no credentials.
    """
    principal = await authenticate(request)
    if principal.user is None:
        raise Unauthorized("this operation needs credentials")
    return principal
