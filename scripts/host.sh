#!/usr/bin/env bash
# What the host needs for `make test` and `make docker-up`, set up on a fresh Debian machine.
#
#   scripts/host.sh packages        install the Debian packages below that are missing
#                                   (as root; otherwise name them and the command, exit 1)
#   scripts/host.sh packages-docker the same for the Docker targets' packages alone
#   scripts/host.sh dockerd         start dockerd if no engine answers; prints the pid of
#                                   the daemon it started (nothing when one was running)
#   scripts/host.sh dockerd-stop PID  stop that daemon (only a daemon this script started)
set -euo pipefail

# What the tests use; the Docker targets alone need the engine and debootstrap.
PACKAGES=(git git-lfs redis-server chromium ffmpeg docker.io debootstrap docker-compose prometheus)
DOCKER_PACKAGES=(docker.io debootstrap)
STATE=${AUTEUR_HOST_STATE:-/var/tmp/auteur-host}

missing() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || echo "$pkg"
  done
}

packages() {
  local need
  mapfile -t need < <(missing "$@")
  ((${#need[@]})) || return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]}" >&2
    echo "install them once with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
  engine_answers && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "no Docker engine answers and only root can start one here: start dockerd (e.g. sudo dockerd &)" >&2
    exit 1
  fi
  mkdir -p "$STATE"
  nohup dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
  local pid=$!
  local _
  for _ in $(seq 1 150); do
    if engine_answers; then
      echo "$pid"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  echo "dockerd did not start; its log, $STATE/dockerd.log, ends:" >&2
  tail -n 20 "$STATE/dockerd.log" >&2 || true
  exit 1
}

stop_dockerd() {
  local pid=$1 _
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
  packages) packages "${PACKAGES[@]}" ;;
  packages-docker) packages "${DOCKER_PACKAGES[@]}" ;;
  dockerd) start_dockerd ;;
  dockerd-stop) stop_dockerd "${2:?pid}" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
