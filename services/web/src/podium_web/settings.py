"""Settings of the web service: where it listens and where the api is."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

STATIC_DIR = Path(__file__).parent / "static"


class WebSettings(BaseSettings):
    """Settings of `podium-web`, from flags, `PODIUM_WEB_*` variables and `PODIUM_API_URL`."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_WEB_", populate_by_name=True, extra="ignore")

    host: str = Field(default="127.0.0.1", description="Address to listen on (PODIUM_WEB_HOST)")
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on (PODIUM_WEB_PORT)")
    api_url: str = Field(
        default="http://127.0.0.1:8702",
        validation_alias=AliasChoices("api_url", "PODIUM_API_URL"),
        description="Base URL of podium-api; every /api/ request is forwarded there (PODIUM_API_URL)",
    )
    static_dir: Path = Field(default=STATIC_DIR, description="Directory of the single-page UI (PODIUM_WEB_STATIC_DIR)")
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to wait for a connection to the api")
    shutdown_timeout: float = Field(
        default=5.0, ge=0, description="Seconds open streams (live logs, events) may take to end on shutdown"
    )
