#!/bin/bash
# The simulated boards of a demo site: agents/run.sh SITE_FILE CREDENTIALS_DIR BROKER_HOST:PORT
#
# `makerwatch simulate` publishes every board's messages through one MQTT client, but
# the site's broker admits each board only as itself (its user name, its password, its
# own topics). So the simulation publishes to a broker of its own, on this container's
# loopback, which bridges each board's topics to the site's broker with that board's
# credentials from broker-setup: the site's broker sees each simulated board exactly as
# it would see the real one, under the same ACL.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 SITE_FILE CREDENTIALS_DIR BROKER_HOST:PORT" >&2
    exit 2
fi
site_file=$1 credentials=$2 broker=$3
local_port=${AGENTS_LOCAL_PORT:-1883}

# A board's credentials file is credentials/<site>.<device>.json (ids have no dot;
# ingest's, the floor board's and the health check's names have none either).
shopt -s nullglob
boards=("$credentials"/*.*.json)
if [ ${#boards[@]} -eq 0 ]; then
    echo "$credentials: no board credentials (credentials/<site>.<device>.json from broker-setup)" >&2
    exit 1
fi

umask 077 # the configuration carries the boards' passwords
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
conf=$workdir/mosquitto.conf
{
    echo "listener $local_port 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "log_dest stdout"
    echo "log_type error"
    echo "log_type warning"
    for file in "${boards[@]}"; do
        user=$(sed -n 's/.*"mqtt_user": *"\([^"]*\)".*/\1/p' "$file")
        password=$(sed -n 's/.*"mqtt_password": *"\([^"]*\)".*/\1/p' "$file")
        if [ -z "$user" ] || [ -z "$password" ]; then
            echo "$file: not a credentials file from \`makerwatch broker provision\`" >&2
            exit 1
        fi
        site=${user%%.*} device=${user#*.}
        # A smart plug's credentials name its own topic trees (docs/smart-plugs.md).
        trees=$(sed -n 's/.*"topics": *"\([^"]*\)".*/\1/p' "$file")
        # What the board publishes (telemetry, state, status, event) goes up; the
        # site's ACL lets nothing else through. No notifications: $SYS is not the board's.
        cat <<EOF

connection $user
address $broker
remote_clientid $user
remote_username $user
remote_password $password
notifications false
keepalive_interval 30
restart_timeout 2 30
EOF
        if [ -n "$trees" ]; then
            read -r -a tree_list <<<"$trees" # split on spaces, never globbed
            for tree in "${tree_list[@]}"; do echo "topic $tree out 1"; done
        else
            echo "topic makerspace/$site/$device/+ out 1"
        fi
    done
} >"$conf"

mosquitto -c "$conf" &
local_broker=$!
trap 'kill "$local_broker" 2>/dev/null; rm -rf "$workdir"' EXIT

# The simulation connects once: wait until the local broker listens (or has failed).
until (exec 3<>"/dev/tcp/127.0.0.1/$local_port") 2>/dev/null; do
    if ! kill -0 "$local_broker" 2>/dev/null; then
        echo "the local broker for the simulated boards did not start (its log is above)" >&2
        exit 1
    fi
    sleep 0.1
done

makerwatch simulate scenario demo --config "$site_file" --mqtt "127.0.0.1:$local_port" &
simulation=$!
# Compose stops the container with SIGTERM to this script: pass it to the simulation,
# which ends its run cleanly, then stop the local broker (the EXIT trap).
trap 'kill -TERM "$simulation" 2>/dev/null' TERM INT
status=0
wait "$simulation" || status=$?
if [ "$status" -gt 128 ] && kill -0 "$simulation" 2>/dev/null; then
    status=0
    wait "$simulation" || status=$?
fi
exit "$status"
