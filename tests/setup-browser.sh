#!/usr/bin/env bash
# Page tests drive a real Chromium through Playwright. Playwright's own browser
# download is not available everywhere, so the tests use the system Chromium
# (Debian's package), installed here when missing and when we are allowed to.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here: browser tests will fail unless IDP_REQUIRE_SERVICES is unset (then they skip)." >&2
fi
