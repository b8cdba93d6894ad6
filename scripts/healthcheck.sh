#!/bin/bash
# The containers' health checks, cheap enough to run every few seconds (no Python start-up):
#
#   healthcheck.sh http PORT PATH     200 from http://127.0.0.1:PORT/PATH
#   healthcheck.sh fresh FILE SECONDS FILE was rewritten less than SECONDS ago
#   healthcheck.sh worker             the RQ worker's beat file (AUTEUR_WORKER_BEAT_FILE) is younger
#                                     than three heartbeats plus 5 s, as /health counts it
#   healthcheck.sh controller         the controller's own beat file (AUTEUR_CONTROLLER_BEAT_FILE, touched every
#                                     5 s, standing by or leading) or else the workspace's heartbeat is under 15 s old
set -u
fresh() {
  local mtime
  mtime=$(stat -c %Y "$1" 2>/dev/null) || { echo "no $1" >&2; return 1; }
  (($(date +%s) - mtime < $2)) || { echo "$1 is $(($(date +%s) - mtime)) s old" >&2; return 1; }
}
case "${1:-}" in
  http)
    exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$3" >&3
    read -r -t 3 _ status _ <&3 && [ "$status" = 200 ] ;;
  fresh) fresh "$2" "$3" ;;
  worker) fresh "${AUTEUR_WORKER_BEAT_FILE:?}" $((3 * ${AUTEUR_WORKER_HEARTBEAT_SECONDS:-10} + 5)) ;;
  controller) fresh "${AUTEUR_CONTROLLER_BEAT_FILE:-${AUTEUR_WORKSPACE:-/workspace}/.auteur/heartbeat.json}" 15 ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
