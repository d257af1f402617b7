"""podium_master."""
