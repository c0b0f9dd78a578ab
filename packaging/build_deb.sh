#!/usr/bin/env bash
# Builds the Debian package from a Release build: build/release/deb/inboxd_<version>_<arch>.deb
# (the path is printed last). The build of scripts/run.sh (scripts/build_release.sh). Run from anywhere.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/build_release.sh
build_dir="$root/build/release"
rm -rf "$build_dir/deb"
(cd "$build_dir" && cpack -G DEB -B "$build_dir/deb" >&2)
ls "$build_dir"/deb/inboxd_*.deb
