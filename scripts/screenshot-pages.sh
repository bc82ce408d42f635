#!/usr/bin/env bash
# Screenshots of the gate's pages with headless Chromium, into maintenance_pages/screenshots/:
#   maintenance-light.png  maintenance-dark.png  maintenance-phone.png
#   read-only-light.png    read-only-dark.png
#   banner-light.png       banner-dark.png      (the maintenance window's banner on a page)
#
#   scripts/screenshot-pages.sh              # the templates in maintenance_pages/, sample values
#   scripts/screenshot-pages.sh BASE_URL     # what a running gate serves at BASE_URL
#
# Templates are rendered the way the proxy renders them (blocks, then HTML-escaped values)
# into a temporary folder, and the result is photographed.
#
# With BASE_URL, the body of GET BASE_URL (Accept: text/html) is photographed when it is the
# maintenance page. The read-only page is the answer to a write, so it is fetched with an
# empty POST, but only when the GET's response headers say the gate is read-only, and to
# a path no app serves (/maintgate-screenshot-probe): a screenshot must never write to an app.
# The gate is in one mode at a time, so one run captures one of the two pages; the other is
# skipped with a note. Run from a bypass address, you get the app, not the pages.
#
# The banner: without BASE_URL, a sample page carrying the banner's markup as the proxy
# renders it (proxy/http/banner.cpp) with maintenance_pages/banner.css and banner.js. With
# BASE_URL, BASE_URL itself is loaded in Chromium when the gate puts the banner on it (a
# window is announced): the page, the stylesheet and the script all come through the gate.
#
# Environment:
#   OUT_DIR    output folder (default maintenance_pages/screenshots)
#   PAGES_DIR  template folder (default maintenance_pages)
#   PAGE_REASON PAGE_UNTIL PAGE_UNTIL_ISO PAGE_RETRY_AFTER PAGE_REFRESH
#              sample values; PAGE_REASON= PAGE_UNTIL= PAGE_UNTIL_ISO= shows the pages with
#              the optional sections left out
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

base_url="${1:-}"
out_dir="${OUT_DIR:-maintenance_pages/screenshots}"
pages_dir="${PAGES_DIR:-maintenance_pages}"

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (scripts/install-deps.sh pages)..."
    scripts/install-deps.sh pages
fi
if [[ -n "$base_url" ]] && ! command -v curl >/dev/null 2>&1; then
    echo "curl is needed to fetch the pages from $base_url" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out_dir"

# render TEMPLATE MODE OUT: what the proxy does once per mode change (proxy/http/pages.cpp).
# {{#name}}...{{/name}} is dropped when the value is empty and kept otherwise, then each
# {{name}} becomes its HTML-escaped value. A placeholder it does not know is an error.
render() {
    python3 - "$@" <<'PY'
import html, os, re, sys
src, mode, out = sys.argv[1:4]
values = {
    "mode": mode,
    "reason": os.environ.get("PAGE_REASON", "Upgrading the database to a new version. Everything you have saved is safe."),
    "until": os.environ.get("PAGE_UNTIL", "2026-11-22 03:00 UTC"),
    "until_iso": os.environ.get("PAGE_UNTIL_ISO", "2026-11-22T03:00:00Z"),
    "retry_after": os.environ.get("PAGE_RETRY_AFTER", "1800"),
    "refresh": os.environ.get("PAGE_REFRESH", "300"),
    "until_in": os.environ.get("PAGE_UNTIL_IN", "in 45 min"),
    "status_path": "/.well-known/maintgate",
}
text = open(src, encoding="utf-8").read()
# {{^name}}...{{/name}} is the inverse: kept only when the value is empty.
text = re.sub(r"\{\{([#^])(reason|until)\}\}(.*?)\{\{/\2\}\}",
              lambda m: m.group(3) if bool(values[m.group(2)]) == (m.group(1) == "#") else "",
              text, flags=re.S)
def value(m):
    if m.group(1) not in values:
        sys.exit(f"{src}: unknown or misplaced {m.group(0)}")
    return html.escape(values[m.group(1)], quote=True)
text = re.sub(r"\{\{([^}]*)\}\}", value, text)
open(out, "w", encoding="utf-8").write(text)
PY
}

# shoot FILE|URL PNG [chromium flags...]
shoot() {
    local file="$1" png="$2" target
    target="file://$1"
    [[ "$file" == http://* || "$file" == https://* ]] && target="$file"
    shift 2
    rm -f "$png"
    # A fresh profile per shot, so no state (or color scheme) leaks from one to the next.
    # The output goes to a log: Debian's wrapper script and Chromium are both chatty.
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$work/profile.XXXXXX")" --hide-scrollbars \
        --window-size=1280,800 "$@" --screenshot="$png" "$target" >"$work/chromium.log" 2>&1 || true
    if [[ ! -s "$png" ]]; then
        echo "chromium made no screenshot of $file:" >&2
        cat "$work/chromium.log" >&2
        exit 1
    fi
    echo "  $png ($(( $(stat -c %s "$png") / 1024 )) KB)"
}

# Checked with this Chromium (156): --force-dark-mode and the blink setting
# preferredColorScheme=0 (0 = dark, 1 = light) each make the page see
# prefers-color-scheme: dark, and neither turns on Chromium's automatic darkening of light
# pages (that is forceDarkModeEnabled), so the dark shots show the pages' own dark styles.
dark=(--force-dark-mode --blink-settings=preferredColorScheme=0)
light=(--blink-settings=preferredColorScheme=1)
# An iPhone-sized viewport at 2x, as a phone shows it.
# shellcheck disable=SC2054  # the comma is part of the flag
phone=(--window-size=390,844 --force-device-scale-factor=2)

maint="$work/maintenance.html"
ro="$work/read_only.html"
if [[ -z "$base_url" ]]; then
    render "$pages_dir/maintenance.html" maintenance "$maint"
    render "$pages_dir/read_only.html" read-only "$ro"
else
    curl -sS -o "$maint" -D "$work/get.headers" -H "Accept: text/html" "$base_url" || true
    if grep -q 'data-mode="maintenance"' "$maint" 2>/dev/null; then
        ro=""
    else
        maint=""
        echo "GET $base_url did not return the maintenance page; no maintenance screenshots"
        # Any response header whose value is "read-only" (the gate's mode header).
        if grep -qiE '^[^:]+:[[:space:]]*read-only[[:space:]]*$' "$work/get.headers" 2>/dev/null; then
            curl -sS -o "$ro" -X POST --data "" -H "Accept: text/html" \
                "${base_url%/}/maintgate-screenshot-probe" || true
        fi
        if ! grep -q 'data-mode="read-only"' "$ro" 2>/dev/null; then
            ro=""
            echo "the gate at $base_url is not serving the read-only page; no read-only screenshots"
        fi
    fi
fi

# The banner on a sample page, or on what BASE_URL serves through the gate.
banner="$work/banner.html"
banner_url=""
if [[ -z "$base_url" ]]; then
    cp "$pages_dir/banner.css" "$pages_dir/banner.js" "$work/"
    python3 - "$banner" <<'PY'
import sys
# The markup of render_banner() (proxy/http/banner.cpp) for an announced window, with the
# asset paths pointing at the copies beside this file.
fragment = ('<link rel="stylesheet" href="banner.css"><div id="maintgate-banner" class="maintgate-banner" '
            'role="status" data-cookie="maintgate_banner_db-upgrade" data-end="2026-11-22T04:00:00Z"><p>'
            '<strong>Scheduled maintenance:</strong> from <time datetime="2026-11-22T03:00:00Z" data-local>'
            '2026-11-22 03:00 UTC</time> until about <time datetime="2026-11-22T04:00:00Z" data-local>'
            '2026-11-22 04:00 UTC</time>. <span class="maintgate-message">The shop is read-only while we '
            'upgrade the database.</span></p><button type="button" class="maintgate-dismiss" '
            'aria-label="Dismiss" hidden>&times;</button></div><script src="banner.js" defer></script>')
page = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example shop</title>'
        '<style>body{margin:0;font:16px/1.5 Georgia,serif;background:#fafafa;color:#222}'
        'header{padding:1.5rem 2rem;background:#234;color:#fff;font-size:1.4rem}'
        'main{padding:2rem;max-width:48rem}@media (prefers-color-scheme: dark){body{background:#111;color:#ddd}}'
        '</style></head><body>' + fragment +
        '<header>Example shop</header><main><h1>Autumn collection</h1><p>Everything you see here '
        'is the app&rsquo;s own page; maintgate added only the banner above, after the body tag, while '
        'the page streamed through.</p></main></body></html>')
open(sys.argv[1], "w", encoding="utf-8").write(page)
PY
elif curl -sS -H "Sec-Fetch-Dest: document" -H "Accept: text/html" "$base_url" 2>/dev/null |
        grep -q 'id="maintgate-banner"'; then
    banner=""
    banner_url="$base_url"
else
    banner=""
    echo "GET $base_url carries no banner (no window announced?); no banner screenshots"
fi

echo "screenshots in $out_dir:"
if [[ -n "$maint" ]]; then
    shoot "$maint" "$out_dir/maintenance-light.png" "${light[@]}"
    shoot "$maint" "$out_dir/maintenance-dark.png" "${dark[@]}"
    shoot "$maint" "$out_dir/maintenance-phone.png" "${light[@]}" "${phone[@]}"
fi
if [[ -n "$ro" ]]; then
    shoot "$ro" "$out_dir/read-only-light.png" "${light[@]}"
    shoot "$ro" "$out_dir/read-only-dark.png" "${dark[@]}"
fi
if [[ -n "$banner" || -n "$banner_url" ]]; then
    shoot "${banner:-$banner_url}" "$out_dir/banner-light.png" "${light[@]}" --window-size=1280,400
    shoot "${banner:-$banner_url}" "$out_dir/banner-dark.png" "${dark[@]}" --window-size=1280,400
fi
