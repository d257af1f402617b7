"""Authentication of the worker websocket upgrade (architecture: Worker websocket)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from podium_model import utcnow
from podium_model._base import SLUG_PATTERN
from podium_model.users import Role
from podium_storage.auth import hash_token
from podium_storage.interface import Storage

WORKER_ID_HEADER = "x-podium-worker-id"
_SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True)
class WorkerIdentity:
    """Who connects: the authenticated user and the worker id it claims."""

    user: str
    worker_id: str


class Refused(Exception):
    """The upgrade is refused; the message is logged, never sent to the client."""


def _basic(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Refused("no Basic credentials")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Refused("malformed Basic credentials") from exc
    user, sep, token = decoded.partition(":")
    if not sep or not user or not token:
        raise Refused("malformed Basic credentials")
    return user, token


async def authenticate_worker(storage: Storage, headers: Mapping[str, str]) -> WorkerIdentity:
    """Check the upgrade's credentials: a token of an enabled user with the `worker` role.

    Raises:
        Refused: anything is missing, malformed, unknown, expired or not allowed.
    """
    user_id, token = _basic(headers.get("authorization", ""))
    worker_id = headers.get(WORKER_ID_HEADER, "")
    if not _SLUG.match(worker_id):
        raise Refused("missing or invalid worker id")
    found = await storage.find_token(hash_token(token))
    if found is None:
        raise Refused(f"unknown token for user {user_id!r}")
    credential, user = found
    if credential.kind != "token" or user.id != user_id or credential.user != user_id:
        raise Refused(f"token does not belong to user {user_id!r}")
    if credential.expires_at is not None and credential.expires_at <= utcnow():
        raise Refused(f"expired token of user {user_id!r}")
    if not user.is_enabled:
        raise Refused(f"user {user_id!r} is disabled")
    if Role.worker not in user.roles:
        raise Refused(f"user {user_id!r} lacks the worker role")
    worker = await storage.get_worker(worker_id)
    if worker is not None and worker.owner != user_id:
        raise Refused(f"worker {worker_id!r} belongs to {worker.owner!r}, not {user_id!r}")
    return WorkerIdentity(user=user_id, worker_id=worker_id)
