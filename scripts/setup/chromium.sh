#!/bin/sh
# Installs Debian's Chromium (used by the @deputy/web browser tests) when it is missing.
# Idempotent: does nothing when /usr/bin/chromium exists; when apt-get is not usable as root it
# prints one line and exits 0 (the browser tests then skip with a notice, unless
# DEPUTY_REQUIRE_BROWSER=1 makes them mandatory).
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: /usr/bin/chromium missing and apt-get not usable as root; browser tests will skip"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends chromium >/dev/null
fi
