#!/usr/bin/env bash
# Migrate, start a django-q2 worker, build the demo through it, then serve the site with the worker
# still running (for later runs). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
# The demo runs as a site would: DEBUG off (friendly error pages, no settings on show), with a secret key
# generated once and kept in var/secret_key (settings.py reads it), static files collected for whitenoise.
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}"
PY=.venv/bin/python
mkdir -p var
if [ -z "${DJANGO_SECRET_KEY:-}" ] && [ ! -s var/secret_key ]; then
  (umask 077; $PY -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
fi

$PY manage.py migrate --no-input
$PY manage.py collectstatic --no-input --verbosity 0
$PY manage.py qcluster >var/qcluster.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT
echo "django-q2 worker started (pid $worker, log in var/qcluster.log)"

$PY manage.py build_demo
echo "Serving on http://127.0.0.1:8000/ (Ctrl-C to stop)"
$PY manage.py runserver 127.0.0.1:8000 --noreload
