"""podium_worker."""
