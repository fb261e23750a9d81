# Two commands for a fresh machine (see README):
#   make run   installs everything and starts Gridcase with demo data (web + API + scheduler)
#   make test  installs everything and runs the whole test suite (SQLite and PostgreSQL)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
export FLASK_APP = app

.PHONY: install run test bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask deploy
	$(BIN)/flask seed-demo
	$(BIN)/flask serve --host 127.0.0.1 --port 5000

test: install
	VENV=$(VENV) bash scripts/test.sh

bench: install
	bash scripts/ensure-postgres.sh
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.growth
	$(BIN)/python -m bench.timers
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.inbox

lint: install
	$(BIN)/ruff check app workflows tests bench config.py

clean:
	rm -rf $(VENV) instance .pytest_cache .coverage
