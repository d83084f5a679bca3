#!/usr/bin/env bash
# Install the Debian packages the full test suite drives for real, when they are missing:
# redis-server (Celery broker tests), chromium (browser tests), postgresql (make test-pg),
# nodejs and npm (the single sign-on tests' OpenID provider, tests/oidc/; the tests run its
# `npm ci` themselves).
#
# Exit status, read by the Makefile:
#   0  everything is here (now): the tests that need these programs must run, never skip;
#   3  something is missing and this machine cannot install it (no apt, or not root and no
#      sudo): those tests skip, saying what is missing;
#   1  apt could have installed it and did not: a broken machine, so the run fails.
set -uo pipefail
missing() {
  local want=()
  command -v redis-server >/dev/null 2>&1 || want+=(redis-server)
  [ -x /usr/bin/chromium ] || want+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
  echo "${want[@]}"
}
want=($(missing))
[ ${#want[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not on Debian/Ubuntu; install ${want[*]} yourself to run every test" >&2
  exit 3
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "note: not root; install ${want[*]} to run every test" >&2
    exit 3
  fi
fi
echo "Installing ${want[*]} (apt)…"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null 2>&1 || true
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null 2>&1
still=($(missing))
if [ ${#still[@]} -gt 0 ]; then
  echo "error: apt-get could not install ${still[*]}; the tests that need them cannot run" >&2
  exit 1
fi
exit 0
