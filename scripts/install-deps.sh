#!/usr/bin/env bash
# Installs the Debian 12 packages maintgate needs, and only those that are missing.
#
#   scripts/install-deps.sh [build|test|bench|pages] [EXTRA_PACKAGE...]
#
#   build  compiler, CMake, Ninja, ccache and the libraries (RE2, Boost.JSON, libsystemd) (default)
#   test   build + Catch2, python3, curl, procps, openssl, socat (the integration
#          tests use them: openssl makes the TLS tests' certificates), and what
#          test_ops checks the installed files with (groff, man, shellcheck,
#          systemd-analyze, python3-yaml), and etcd-server, etcd-client (test_cluster)
#   bench  test + wrk, nginx-light, haproxy, gnuplot-nox, a font for its PNGs, valgrind
#          (bench/run.sh: maintgate against nginx and HAProxy)
#   pages  headless Chromium, python3 and curl for scripts/screenshot-pages.sh (the
#          pages' and the banner's screenshots)
#
# Safe to run again and again: a machine that has everything is not touched, and
# apt-get is not even asked to refresh its lists.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_pkgs=(g++ cmake ninja-build libboost1.81-dev libboost-json1.81-dev libssl-dev
            libtomlplusplus-dev libspdlog-dev libre2-dev libsystemd-dev pkg-config)
# ccache only makes rebuilds cheap (the sanitizer and fuzz folders, a fresh clone).
build_pkgs+=(ccache)
test_pkgs=("${build_pkgs[@]}" catch2 python3 curl procps openssl socat)
# test_ops checks what is installed beside the binary: the man page (groff, man), the
# completion script (shellcheck), the unit file (systemd-analyze), the compose file (yaml).
test_pkgs+=(groff-base man-db shellcheck systemd python3-yaml)
# test_cluster runs a real etcd (the server and etcdctl, for compaction).
test_pkgs+=(etcd-server etcd-client)
bench_pkgs=("${test_pkgs[@]}" wrk nginx-light haproxy gnuplot-nox fonts-dejavu-core valgrind)
pages_pkgs=(chromium python3 curl)

set_name="${1:-build}"
case "$set_name" in
    build) wanted=("${build_pkgs[@]}") ;;
    test)  wanted=("${test_pkgs[@]}") ;;
    bench) wanted=("${bench_pkgs[@]}") ;;
    pages) wanted=("${pages_pkgs[@]}") ;;
    -h|--help)
        sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *)
        echo "install-deps: unknown set '$set_name' (expected build, test, bench or pages)" >&2
        exit 2
        ;;
esac
shift || true
# Callers such as demo.sh add a few single packages to a set.
wanted+=("$@")

is_installed() {
    # dpkg-query fails for a package it has never heard of; that just means "missing".
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: '$set_name': nothing missing (${#wanted[@]} packages already installed)"
    exit 0
fi

# Root installs directly (CI, containers); a user goes through sudo when there is one.
as_root=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "install-deps: missing ${missing[*]}; run as root (no sudo here)" >&2
        exit 1
    fi
fi

# Refresh the package lists once, and only because something has to be installed:
# a fresh image often has no lists at all.
"${as_root[@]}" apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"

# apt-get can succeed without installing what was asked (a virtual package): say so.
still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if ((${#still_missing[@]} > 0)); then
    echo "install-deps: still missing after apt-get: ${still_missing[*]}" >&2
    exit 1
fi

echo "install-deps: '$set_name': installed ${#missing[@]} package(s): ${missing[*]}"
