#!/usr/bin/env bash
# CTest openapi_conformance: runs e2e tests with the HTTP client recording every exchange
# (INBOXD_OPENAPI_RECORD_DIR, tests/support/http_client.hpp), then checks each recorded request
# and response against http/openapi.json (tests/openapi/validate.py: the path and method are
# documented, the status is one of the operation's, the headers and the JSON body match its
# schemas). Usage: conformance.sh <e2e_tests binary> <source dir> <gtest filter>
set -euo pipefail
e2e="$1"
src="$2"
filter="$3"
records="$(mktemp -d "${TMPDIR:-/tmp}/inboxd-openapi-XXXXXX")"
trap 'rm -rf "$records"' EXIT
INBOXD_OPENAPI_RECORD_DIR="$records" "$e2e" --gtest_filter="$filter" >"$records/e2e.log" 2>&1 ||
  { tail -50 "$records/e2e.log"; echo "conformance: the e2e tests failed"; exit 1; }
/usr/bin/python3 "$src/tests/openapi/validate.py" --spec "$src/http/openapi.json" \
  --router "$src/http/router.cpp" --records "$records"
