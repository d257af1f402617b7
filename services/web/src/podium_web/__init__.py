"""podium_web: the single-page web UI and the one-origin `/api/` proxy in front of podium-api."""
