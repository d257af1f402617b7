"""Where `podium login` keeps the api URL and token between commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8080"


def credentials_path() -> Path:
    """`$PODIUM_CONFIG_DIR/credentials.json`, else under `$XDG_CONFIG_HOME/podium` or `~/.config/podium`."""
    base = os.environ.get("PODIUM_CONFIG_DIR")
    if base:
        return Path(base) / "credentials.json"
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "podium" / "credentials.json"


def load() -> tuple[str | None, str | None]:
    """The saved (url, token), each None when not saved."""
    try:
        data = json.loads(credentials_path().read_text())
    except (OSError, ValueError):
        return None, None
    return data.get("url"), data.get("token")


def save(url: str, token: str) -> Path:
    """Save url and token, readable by the user only."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"url": url, "token": token}, file)
    return path


def resolve(url: str | None, token: str | None) -> tuple[str, str | None]:
    """Flags first, then `PODIUM_API_URL`/`PODIUM_TOKEN`, then what `podium login` saved."""
    saved_url, saved_token = load()
    final_url = url or os.environ.get("PODIUM_API_URL") or saved_url or DEFAULT_URL
    final_token = token or os.environ.get("PODIUM_TOKEN") or saved_token
    return final_url, final_token
