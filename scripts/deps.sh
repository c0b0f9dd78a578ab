#!/usr/bin/env bash
# Installs every Debian 12 (bookworm) package needed to build, run and test inboxd.
# Idempotent: when everything is already installed it does nothing (no apt-get update).
# Run as root (or with sudo available).
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libcaf-dev libhiredis-dev libjemalloc-dev libboost1.74-dev libssl-dev nlohmann-json3-dev libspdlog-dev libjwt-dev
  libgtest-dev libgmock-dev
  prometheus # promtool: the tests check GET /metrics with `promtool check metrics`
  redis-server redis-tools
  curl openssl ca-certificates
  python3 # examples/echo-bot (the bot e2e tests run it)
  python3-jsonschema # tests/openapi/validate.py (CTest openapi_document)
  chromium
  firefox-esr # headless Firefox for the browser tests (tests/support/firefox.hpp: WebDriver BiDi)
  dpkg-dev # dpkg-shlibdeps: the Debian package's Depends (cmake/package.cmake)
  systemd  # systemd-analyze verify/security: the package test checks the unit (no systemd is booted)
)

installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps.sh: installing: ${missing[*]}" >&2
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps.sh: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"

