#!/usr/bin/env bash
# The demo's backup hook: scripts/demo.sh configures it as the [[hook]] named "backup",
# which the walkthrough's window runs before it freezes and again once it has reopened.
# It saves the demo app's notes, read from the app itself (maintgate may be refusing by
# then), to a file of its own in FOLDER, and writes the result file that maintgate's
# backup gate checks: {"artifact", "bytes", "sha256"}. maintgate computes the SHA-256
# again, checks the size against min_bytes and the last good backup, and the age.
#   demo_backup.sh APP_URL FOLDER
set -euo pipefail
app_url="$1"
folder="$2"
mkdir -p "$folder"
artifact="$folder/notes-$(date -u +%Y%m%dT%H%M%S.%NZ).json"
curl -fsS --max-time 10 -o "$artifact" "$app_url/api/notes"
bytes="$(stat -c %s "$artifact")"
sha256="$(sha256sum "$artifact" | cut -d' ' -f1)"
# Written whole, then renamed: the gate never reads half a result.
printf '{"artifact": "%s", "bytes": %s, "sha256": "%s"}\n' "$artifact" "$bytes" "$sha256" >"$folder/result.json.tmp"
mv "$folder/result.json.tmp" "$folder/result.json"
echo "saved $bytes bytes of notes to $(basename "$artifact")"
