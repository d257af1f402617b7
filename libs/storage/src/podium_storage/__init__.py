"""podium_storage."""
