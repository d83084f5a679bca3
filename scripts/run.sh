#!/usr/bin/env bash
# Serve the portal for `make run`: a Celery worker with beat (embedded broker unless
# CELERY_BROKER_URL is set) beside Django's development server. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PY:=.venv/bin/python}" "${HOST:=127.0.0.1}" "${PORT:=8000}"
mkdir -p var
# Links in notification e-mail point at this very server (docs/notifications.md).
export PORTAL_BASE_URL="${PORTAL_BASE_URL:-http://$HOST:$PORT}"

"$PY" -m celery -A casesite worker --beat --loglevel INFO --concurrency 2 \
  --schedule var/celerybeat-schedule >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT INT TERM

echo
echo "  Case Portal:  http://$HOST:$PORT/"
echo "  Simulator:    http://$HOST:$PORT/simulator/  (the demo stream's Kore.ai host)"
echo "  Worker log:   var/worker.log"
echo
"$PY" manage.py runserver "$HOST:$PORT"
