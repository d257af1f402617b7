"""Settings of the worker, built by `__main__` from flags and `PODIUM_WORKER_*` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr

DEFAULT_MASTER = "ws://127.0.0.1:8701/ws/worker"
MAX_MASTERS = 16


class WorkerSettings(BaseModel):
    """Everything the worker needs; tests build it directly."""

    masters: list[str] = Field(
        default_factory=lambda: [DEFAULT_MASTER],
        min_length=1,
        max_length=MAX_MASTERS,
        description="Websocket URLs of the masters, tried in turn: the next one when a connection fails or ends",
    )
    id: str = Field(description="This worker's id (a slug)")
    user: str = Field(description="User whose token authenticates the worker (role `worker`)")
    token: SecretStr = Field(description="The user's token")
    executor_limit: int = Field(default=1, ge=0, le=10_000, description="Runs executed at once at most")
    properties: dict[str, str] = Field(default_factory=dict, description="Matched against job properties")
    home: Path = Field(default=Path("./.podium/worker"), description="Where run directories live")
    heartbeat_interval: float = Field(default=10.0, gt=0, description="Seconds between heartbeats")
    backoff_max: float = Field(default=10.0, gt=0, description="Longest pause between reconnection attempts")
    watch_interval: float = Field(default=0.2, gt=0, description="Poll period of recovered runs (no pipe)")
    chunk_size: int = Field(
        default=1 << 20,
        gt=0,
        le=(4 << 20) - 2048,
        description="Largest piece of a log or an artifact sent in one frame",
    )
    ca_file: Path | None = Field(default=None, description="CA bundle verifying the master (None: system store)")
    allow_insecure: bool = Field(default=False, description="Allow plain ws:// to a host other than loopback")
    drain: bool = Field(default=False, description="On SIGTERM/SIGINT finish the running runs before stopping")
    health_host: str = Field(default="127.0.0.1", description="Address of the local health endpoint")
    health_port: int | None = Field(default=None, ge=0, le=65535, description="Port of `GET /health` (None: off)")
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=255)]] = Field(
        default_factory=list, max_length=1000, description="Variables of the worker's environment commands also see"
    )
    containers: Literal["docker"] | None = Field(
        default=None, description="Run jobs with an image in containers of this engine (None: such jobs go elsewhere)"
    )
    run_as: str | None = Field(default=None, description="The unprivileged user commands run as (the worker is root)")
