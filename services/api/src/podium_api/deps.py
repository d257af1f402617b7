"""Dependencies of the routes, as `Annotated` aliases reading the lifespan state.

They are coroutines although they only read an attribute: FastAPI runs a plain function
dependency in its thread pool, a thread hand-off on every request for nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from podium_api.access import Access
from podium_api.feed import MasterFeed
from podium_api.masters import Masters
from podium_api.passwords import PasswordPool
from podium_api.permissions import access_of, visibility_of
from podium_api.security import Principal, require_user
from podium_api.settings import ApiSettings
from podium_api.throttle import LoginThrottle
from podium_storage.interface import Storage
from podium_storage.logs import LogStore


async def get_storage(request: Request) -> Storage:
    """The storage opened by the lifespan."""
    storage: Storage = request.state.storage
    return storage


async def get_logs(request: Request) -> LogStore:
    """The log store shared with the master."""
    logs: LogStore = request.state.logs
    return logs


async def get_control(request: Request) -> Masters:
    """The masters' control API (every call reaches every master)."""
    master: Masters = request.state.master
    return master


async def get_feed(request: Request) -> MasterFeed:
    """The master's event feed held by the lifespan."""
    feed: MasterFeed = request.state.feed
    return feed


async def get_settings(request: Request) -> ApiSettings:
    """The settings the application was built with."""
    settings: ApiSettings = request.state.settings
    return settings


async def get_passwords(request: Request) -> PasswordPool:
    """The bounded pool that hashes and verifies passwords."""
    passwords: PasswordPool = request.state.passwords
    return passwords


async def get_throttle(request: Request) -> LoginThrottle:
    """The failed-login counts of this process."""
    throttle: LoginThrottle = request.state.throttle
    return throttle


StorageDep = Annotated[Storage, Depends(get_storage)]
LogsDep = Annotated[LogStore, Depends(get_logs)]
ControlDep = Annotated[Masters, Depends(get_control)]
FeedDep = Annotated[MasterFeed, Depends(get_feed)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
PasswordsDep = Annotated[PasswordPool, Depends(get_passwords)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_throttle)]
UserDep = Annotated[Principal, Depends(require_user)]
"""The authenticated caller (401 when the request carries no valid credentials)."""
AccessDep = Annotated[Access, Depends(access_of)]
"""What the caller may see and do, project by project (computed once per request)."""
VisibilityDep = Annotated[Access, Depends(visibility_of)]
"""Rights enough to filter what the caller sees (no grants lookup for a global reader)."""
