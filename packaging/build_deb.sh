#!/usr/bin/env bash
# Builds the Debian package from a Release build: build/release/deb/inboxd_<version>_<arch>.deb
# (the path is printed last). Same build tree and flags as scripts/run.sh. Run from anywhere.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/deps.sh

build_dir="$root/build/release"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINBOXD_TESTS=OFF -DINBOXD_BENCH=OFF >/dev/null
cmake --build "$build_dir" --target inboxd
rm -rf "$build_dir/deb"
(cd "$build_dir" && cpack -G DEB -B "$build_dir/deb" >&2)
ls "$build_dir"/deb/inboxd_*.deb
