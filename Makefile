# The two commands (see README.md):
#   make demo   install, migrate, build the offline MiniLM demo on the task queue, serve on :8000
#   make test   install what the tests need and run the whole suite (lint, migrations, pytest)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# circuit-tracer, the reference our attribution graphs are tested against, pins transformers<=4.57.3: its own venv
REFERENCE_VENV := .venv-circuit-tracer

.PHONY: demo test install install-dev reference-venv serve worker lint

$(VENV)/.installed-runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(REFERENCE_VENV)/.installed: requirements-circuit-tracer.txt
	test -x $(REFERENCE_VENV)/bin/python || $(PYTHON) -m venv $(REFERENCE_VENV)
	$(REFERENCE_VENV)/bin/python -m pip install --quiet -r requirements-circuit-tracer.txt
	touch $@

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev $(REFERENCE_VENV)/.installed
reference-venv: $(REFERENCE_VENV)/.installed

demo: install
	./scripts/demo.sh

lint: install-dev
	$(BIN)/ruff check .
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=1 $(BIN)/python manage.py check
	DJANGO_DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

test: lint
	$(BIN)/python -m pytest
