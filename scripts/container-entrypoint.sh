#!/bin/sh
# Every Auteur container starts here. As root (the default), it hands the mounted folders
# to the service user, uid 10001, when that user cannot write them — a bind-mounted
# ./specs is owned by whoever made it on the host — then becomes that user for good.
# Only the folders themselves change owner: files inside stay as they were (writers
# replace files by rename, which needs the folder, not the file).
set -eu
uid=10001
if [ "$(id -u)" = 0 ]; then
  for dir in /workspace /specs; do
    [ -d "$dir" ] || continue
    if ! setpriv --reuid=$uid --regid=$uid --clear-groups test -w "$dir"; then
      chown $uid:$uid "$dir" 2>/dev/null || echo "warning: $dir is not writable by uid $uid and cannot be given to it" >&2
    fi
  done
  exec setpriv --reuid=$uid --regid=$uid --clear-groups -- "$@"
fi
exec "$@"
