#!/usr/bin/env python3
"""Health check of every Podium image: GET the service's own health endpoint, exit 0 only on 200.

The worker's is its `/health` (200 while connected to the master, 503 otherwise), so a worker
that lost its master turns unhealthy. The client has no server: nothing to check, exit 0.
"""

import os
import sys
import urllib.error
import urllib.request


def url() -> str | None:
    service = os.environ.get("PODIUM_SERVICE", "")
    env = os.environ.get
    if service == "master":
        return f"http://127.0.0.1:{env('PODIUM_MASTER_PORT', '8701')}/health"
    if service == "api":
        return f"http://127.0.0.1:{env('PODIUM_API_PORT', '8702')}/api/v1/health"
    if service == "web":
        return f"http://127.0.0.1:{env('PODIUM_WEB_PORT', '8080')}/health"
    if service == "worker":
        host = env("PODIUM_WORKER_HEALTH_HOST", "127.0.0.1")
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # listening everywhere: ask locally
        return f"http://{host}:{env('PODIUM_WORKER_HEALTH_PORT', '8703')}/health"
    return None


def main() -> int:
    target = url()
    if target is None:
        return 0
    try:
        with urllib.request.urlopen(target, timeout=4) as answer:
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"{target}: {exc}\n")  # shown by `docker inspect` under .State.Health
        return 1


if __name__ == "__main__":
    sys.exit(main())
