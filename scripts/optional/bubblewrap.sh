#!/bin/sh
# Not run by the setup (scripts/setup/*.sh). Installs bubblewrap (`bwrap`), the sandbox Codex runs commands in
# on Linux, when it is missing and apt offers a version Codex 0.171 can use from anywhere: 0.9 or newer.
#
# Why not older (Debian 12 has 0.8.0): a bwrap without `--argv0` makes Codex start its sandbox helper through a
# `codex-linux-sandbox` link under $CODEX_HOME/tmp, which Codex refuses to make when CODEX_HOME is under the
# temporary directory; every sandboxed command then fails at once ("bwrap: execvp codex-linux-sandbox: No such
# file or directory"). Deputy keeps its overlay of the Codex home out of /tmp (so ~/.codex works), but the
# test suite's scratch homes are in /tmp: with 0.8.0 installed, the Codex e2e tests fail (measured). Without a
# system bwrap Codex uses its bundled one and warns once. Idempotent; never fails: where it does not install,
# it prints one line and exits 0.
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
# `apt-cache policy` prints "Candidate: 0.8.0-2+deb12u1"; 0.9 added --argv0.
candidate="$(apt-cache policy bubblewrap 2>/dev/null | sed -n 's/^ *Candidate: *//p')"
case "$candidate" in
  "" | "(none)")
    echo "bubblewrap: apt offers no bubblewrap here (Codex uses its bundled copy)"
    exit 0
    ;;
  0.[0-8].* | 0.[0-8])
    echo "bubblewrap: apt offers $candidate, older than 0.9 (no --argv0): not installed (Codex uses its bundled copy)"
    exit 0
    ;;
esac
if DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 &&
  command -v bwrap >/dev/null 2>&1; then
  echo "bubblewrap: installed ($(bwrap --version 2>/dev/null || echo bwrap))"
else
  echo "bubblewrap: apt-get could not install it (Codex uses its bundled copy): sudo apt-get install bubblewrap"
fi
exit 0
