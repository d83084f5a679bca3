#!/usr/bin/env bash
# Install the Debian packages the full test suite drives for real, when they are missing:
# redis-server (Celery broker tests), chromium (browser tests), postgresql (make test-pg).
# Needs root (or sudo) and apt; anywhere else it says what is missing and carries on, and the
# tests that need a missing program skip with that reason.
set -uo pipefail
want=()
command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
[ -x /usr/bin/chromium ] || want+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ ${#want[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not on Debian/Ubuntu; install ${want[*]} yourself to run every test" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "note: not root; install ${want[*]} to run every test" >&2
    exit 0
  fi
fi
echo "Installing ${want[*]} (apt)…"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1 \
  || echo "note: apt-get could not install ${want[*]}; the tests needing them will skip" >&2
exit 0
