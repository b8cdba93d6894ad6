#!/usr/bin/env bash
# Back up a live Auteur workspace volume and its specs, while the stack keeps running.
#
#   scripts/backup-workspace.sh WORKSPACE SPECS DEST_DIR
#
# Writes DEST_DIR/{workspace.tar,objects.tar,specs.tar}; scripts/restore-workspace.sh
# puts them back. Why the copy is consistent although nothing is paused:
#   * git and LFS objects are immutable and only ever added (written to a temp file,
#     then renamed); refs, HEAD, the index, status files and upload records are
#     replaced by atomic renames, so every file copied is whole (old or new).
#   * the object stores are copied LAST, after everything that points into them: a
#     ref or index copied in pass 1 names objects that existed then, and pass 2 still
#     finds them (Auteur never deletes objects). Pass 2 copies the object stores of
#     exactly the repositories pass 1 captured.
#   * the specs are copied after the workspace: a project deleted meanwhile goes to
#     the trash on restore (as its owner asked), one created meanwhile is created anew.
# A media file being copied into a project by hand at that very moment may be caught
# half-written; the restored controller then commits what it finds, as it would have.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 WORKSPACE SPECS DEST_DIR" >&2
  exit 2
fi
workspace=$(cd "$1" && pwd)
specs=$(cd "$2" && pwd)
dest=$3
mkdir -p "$dest"

# tar exits 1 when a file changed while it was read (the journal grows, a working
# tree file is being written): expected on a live volume, and safe for the reasons above.
live_tar() {
  local status=0
  tar --warning=no-file-changed --warning=no-file-removed --warning=no-file-shrank --ignore-failed-read "$@" || status=$?
  ((status <= 1)) || { echo "tar failed ($status)" >&2; exit "$status"; }
}

# Pass 1: everything but the object stores.
live_tar -C "$workspace" -cf "$dest/workspace.tar" --exclude='.git/objects' --exclude='.git/lfs/objects' .

# Pass 2: the object stores of the repositories pass 1 captured.
tar -tf "$dest/workspace.tar" | sed -n 's#^\(.*\)/\.git/HEAD$#\1#p' | while IFS= read -r repo; do
  for store in "$repo/.git/objects" "$repo/.git/lfs/objects"; do
    # an `if`, not `&&`: a store that is not there (no LFS object yet) must not end the loop with
    # status 1, which pipefail and set -e would turn into the end of the backup, before objects.tar
    if [[ -d "$workspace/$store" ]]; then printf '%s\0' "$store"; fi
  done
done > "$dest/.objects.list"
live_tar -C "$workspace" -cf "$dest/objects.tar" --null -T "$dest/.objects.list"
rm -f "$dest/.objects.list"

# Pass 3: the desired state.
live_tar -C "$specs" -cf "$dest/specs.tar" .

echo "backup of $workspace and $specs written to $dest"
