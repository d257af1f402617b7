"""podium_client."""
