"""podium_web."""
