#!/usr/bin/env bash
# Migrate, start a django-q2 worker, build the demo through it, then serve the site with the worker
# still running (for later runs). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
PY=.venv/bin/python

$PY manage.py migrate --no-input
$PY manage.py qcluster >var/qcluster.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT
echo "django-q2 worker started (pid $worker, log in var/qcluster.log)"

$PY manage.py build_demo
echo "Serving on http://127.0.0.1:8000/ (Ctrl-C to stop)"
$PY manage.py runserver 127.0.0.1:8000
