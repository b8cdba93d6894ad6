#!/usr/bin/env bash
# Baseline for the bulk benchmark: create N projects the plain way with the git CLI
# (git init, git lfs install --local, write the files, git add -A, git commit).
set -euo pipefail
dest=$1; n=$2
mkdir -p "$dest"
for ((i = 0; i < n; i++)); do
  p="$dest/base-$i"
  mkdir -p "$p"/assets/{scripts,storyboards,characters,locations,styles,audio} "$p"/outputs/{renders,edits} "$p/temp"
  for d in assets/scripts assets/storyboards assets/characters assets/locations assets/styles assets/audio outputs/renders outputs/edits; do
    : > "$p/$d/.gitkeep"
  done
  printf '{"id": "base-%d", "name": "base-%d", "quality": "standard", "version": "1.0.0"}\n' "$i" "$i" > "$p/project.json"
  printf '/temp/\n' > "$p/.gitignore"
  printf '*.mp4 filter=lfs diff=lfs merge=lfs -text\n*.MP4 filter=lfs diff=lfs merge=lfs -text\n*.wav filter=lfs diff=lfs merge=lfs -text\n' > "$p/.gitattributes"
  git -C "$p" init -q -b main
  git -C "$p" lfs install --local >/dev/null
  git -C "$p" add -A
  git -C "$p" -c user.name=Auteur -c user.email=auteur@localhost commit -qm "Create project"
done
