#!/bin/sh
# Entrypoint of every Podium image (PODIUM_SERVICE says which service the image holds).
#
# 1. Secrets as files. The services read their own NAME_FILE variables (PODIUM_CONTROL_SECRET_FILE,
#    PODIUM_SECRETS_KEY_FILE, PODIUM_WORKER_TOKEN_FILE, ...), so those values never enter an
#    environment. For the NAMEs below, read by tools that take no file (`podium_storage.admin`,
#    `podium`, asyncpg's PGPASSWORD), NAME_FILE (a Compose or Kubernetes secret mounted as a
#    file) gives the value of NAME. A missing or empty file stops the container with a message,
#    never a start without the secret.
# 2. Defaults that only make sense in a container: listen on all interfaces, the usual port.
# 3. Workers without PODIUM_WORKER_ID take a slot under PODIUM_WORKER_SLOTS (a volume): the first
#    slot no running worker holds (an flock, released when the worker dies). The slot keeps the
#    worker's id and home, so a re-created container (`docker compose up` after a kill, an
#    upgrade, `--scale`) comes back as the same worker and finds its runs.
# 4. No arguments, or only options: the service's own command; else the command given.
set -eu

say() { echo "podium-entrypoint: $*" >&2; }

for name in PODIUM_DATABASE_URL PODIUM_ADMIN_PASSWORD PODIUM_TOKEN PGPASSWORD; do
    eval "file=\${${name}_FILE:-}"
    [ -n "$file" ] || continue
    if [ ! -r "$file" ]; then
        say "${name}_FILE=$file is not a readable file"
        exit 64
    fi
    value="$(cat "$file")"
    if [ -z "$value" ]; then
        say "${name}_FILE=$file is empty"
        exit 64
    fi
    export "$name=$value"
    unset "${name}_FILE"
done

case "$PODIUM_SERVICE" in
    master) : "${PODIUM_MASTER_HOST:=0.0.0.0}" "${PODIUM_MASTER_PORT:=8701}"
        export PODIUM_MASTER_HOST PODIUM_MASTER_PORT; default=podium-master ;;
    api) : "${PODIUM_API_HOST:=0.0.0.0}" "${PODIUM_API_PORT:=8702}"
        export PODIUM_API_HOST PODIUM_API_PORT; default=podium-api ;;
    web) : "${PODIUM_WEB_HOST:=0.0.0.0}" "${PODIUM_WEB_PORT:=8080}"
        export PODIUM_WEB_HOST PODIUM_WEB_PORT; default=podium-web ;;
    worker) : "${PODIUM_WORKER_HEALTH_PORT:=8703}"
        export PODIUM_WORKER_HEALTH_PORT; default=podium-worker ;;
    client) default=podium ;;
    *) say "PODIUM_SERVICE=$PODIUM_SERVICE is not master, api, web, worker or client"; exit 64 ;;
esac
# No arguments, or arguments that are not a command (`docker compose run --rm cli runs list`,
# `docker run podium/master --config FILE`): they go to the service's own command.
if [ "$#" -eq 0 ] || ! command -v "$1" >/dev/null 2>&1; then
    set -- "$default" "$@"
fi

if [ "$PODIUM_SERVICE" = worker ] && [ "$1" = podium-worker ] && [ -z "${PODIUM_WORKER_ID:-}" ]; then
    slots="${PODIUM_WORKER_SLOTS:-/var/lib/podium/workers}"
    limit="${PODIUM_WORKER_SLOT_LIMIT:-64}"
    slot=1
    while :; do
        if [ "$slot" -gt "$limit" ]; then
            say "all $limit worker slots under $slots are held by running workers (PODIUM_WORKER_SLOT_LIMIT)"
            exit 75
        fi
        mkdir -p "$slots/$slot/home"
        exec 9>"$slots/$slot/lock"
        if flock -n 9; then
            break
        fi
        exec 9>&-
        slot=$((slot + 1))
    done
    # The id is chosen once, at the slot's first use, and kept with it.
    if [ ! -s "$slots/$slot/id" ]; then
        echo "${PODIUM_WORKER_ID_PREFIX:-worker}-$slot" >"$slots/$slot/id"
    fi
    PODIUM_WORKER_ID="$(cat "$slots/$slot/id")"
    PODIUM_WORKER_HOME="$slots/$slot/home"
    export PODIUM_WORKER_ID PODIUM_WORKER_HOME
    say "worker $PODIUM_WORKER_ID (slot $slot, home $PODIUM_WORKER_HOME)"
    # The lock stays on descriptor 9, inherited by the worker: held exactly as long as it runs.
fi
exec "$@"
