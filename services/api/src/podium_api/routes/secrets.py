"""`/projects/{project}/secrets`: set, list and delete a project's secrets; values never answered.

A value is sealed (`podium_storage.sealing`) before it reaches storage, and no answer, problem,
audit entry or log line carries it: listings show names and dates only. Setting and deleting
are audit entries (`secret.set`, `secret.delete`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from podium_api.deps import StorageDep, UserDep
from podium_api.errors import Conflict, NotFound
from podium_api.lookups import project_or_404
from podium_api.permissions import operation
from podium_model.secrets import SECRET_NAME_PATTERN, SecretInfo, SecretList, SecretValue
from podium_storage.sealing import SecretsKeys

Responses = dict[int | str, dict[str, Any]]

router = APIRouter(prefix="/projects/{project}/secrets", tags=["secrets"])

Name = Annotated[str, Path(pattern=SECRET_NAME_PATTERN, max_length=64, description="The secret's name")]

_NOT_FOUND: Responses = {404: {"description": "No such project or secret"}}


@router.get("", response_model=SecretList, responses=_NOT_FOUND, **operation("listSecrets", summary="List secrets"))
async def list_secrets(project: str, storage: StorageDep) -> SecretList:
    """The names of a project's secrets and when each was set, by name; never a value."""
    await project_or_404(storage, project)
    return SecretList(items=await storage.list_secrets(project))


@router.put(
    "/{name}",
    response_model=SecretInfo,
    responses={**_NOT_FOUND, 409: {"description": "This api has no secrets key"}, 422: {"description": "Bad value"}},
    **operation("putSecret", summary="Set a secret"),
)
async def put_secret(
    project: str, name: Name, body: SecretValue, request: Request, principal: UserDep, storage: StorageDep
) -> SecretInfo:
    """Create or replace a secret; the value is stored sealed and is never answered back."""
    keys: SecretsKeys | None = request.state.secrets_keys
    if keys is None:
        raise Conflict("this api has no secrets key (--secrets-key-file or PODIUM_SECRETS_KEY): secrets cannot be set")
    await project_or_404(storage, project)
    info = await storage.put_secret(project, name, keys.seal(project, name, body.value))
    await storage.record_audit(principal.id, "secret.set", f"project/{project}/secret/{name}")
    return info


@router.delete("/{name}", status_code=204, responses=_NOT_FOUND, **operation("deleteSecret", summary="Delete a secret"))
async def delete_secret(project: str, name: Name, principal: UserDep, storage: StorageDep) -> Response:
    """Delete a secret: jobs naming it end `exception` from their next run on."""
    await project_or_404(storage, project)
    if not await storage.delete_secret(project, name):
        raise NotFound(f"secret {name!r} does not exist in project {project!r}")
    await storage.record_audit(principal.id, "secret.delete", f"project/{project}/secret/{name}")
    return Response(status_code=204)
