#!/usr/bin/env bash
# Restore a backup made by scripts/backup-workspace.sh into new (empty) folders.
#
#   scripts/restore-workspace.sh BACKUP_DIR WORKSPACE SPECS
#
# Then start a controller on them (`make up`, `make stack` or the compose stack): it
# adopts every restored project (its project.json carries its id), converges what
# changed during the backup and picks up uploads that were stored but not ingested.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 BACKUP_DIR WORKSPACE SPECS" >&2
  exit 2
fi
backup=$1 workspace=$2 specs=$3
for part in workspace.tar objects.tar specs.tar; do
  [[ -f "$backup/$part" ]] || { echo "$backup/$part is missing" >&2; exit 1; }
done
for target in "$workspace" "$specs"; do
  if [[ -e "$target" && -n "$(ls -A "$target")" ]]; then
    echo "$target is not empty: restore into a new folder" >&2
    exit 1
  fi
  mkdir -p "$target"
done

tar -C "$workspace" -xf "$backup/workspace.tar"
tar -C "$workspace" -xf "$backup/objects.tar"
tar -C "$specs" -xf "$backup/specs.tar"
# The old controller's liveness is not this one's.
rm -f "$workspace/.auteur/heartbeat.json"

echo "restored $backup into $workspace (specs: $specs)"
