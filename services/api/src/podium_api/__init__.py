"""podium_api."""
