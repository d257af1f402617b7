"""Podium's typed HTTP client and the `podium` command line built on it."""

from podium_client._client import LogEvent, PodiumClient, PodiumError, PodiumUnreachable

__all__ = ["LogEvent", "PodiumClient", "PodiumError", "PodiumUnreachable"]
