"""podium_api: the public HTTP API of Podium (FastAPI).

Build the application with `podium_api.app.create_app(settings)`; run it with the
`podium-api` command (see `podium_api.__main__`).
"""

__version__ = "0.1.0"
