#!/usr/bin/env bash
# Installs the dependencies (scripts/deps.sh) and builds the Release inboxd into build/release:
# the one build of scripts/run.sh, scripts/cluster.sh and packaging/build_deb.sh. Run from anywhere.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DINBOXD_TESTS=OFF -DINBOXD_BENCH=OFF >/dev/null
cmake --build build/release --target inboxd
