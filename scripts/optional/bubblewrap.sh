#!/bin/sh
# Not run by the setup (scripts/setup/*.sh): with Debian's bubblewrap 0.8.0 installed, Codex 0.171 does not end
# a turn interrupted while a command runs (CodexAgent.lifecycle tests time out); the bundled copy works.
# Installs bubblewrap (`bwrap`), the sandbox Codex runs commands in on Linux, when it is missing and apt
# can install it (Debian, Ubuntu). Idempotent; never fails the setup: where it cannot install, it prints
# one line and exits 0 (Codex then uses its bundled copy and says so, once, in Deputy's output).
set -u

if command -v bwrap >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -s)" != "Linux" ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
else
  echo "bubblewrap: not installed, and no root to install it (Codex uses its bundled copy): sudo apt-get install bubblewrap"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bubblewrap: not installed, and no apt-get here (Codex uses its bundled copy): install it with your package manager"
  exit 0
fi

# The package lists may be missing or stale on a fresh machine: update them once if the package is unknown.
if ! apt-cache show bubblewrap >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
fi
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 &&
  command -v bwrap >/dev/null 2>&1; then
  echo "bubblewrap: installed ($(bwrap --version 2>/dev/null || echo bwrap))"
else
  echo "bubblewrap: apt-get could not install it (Codex uses its bundled copy): sudo apt-get install bubblewrap"
fi
exit 0
