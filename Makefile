# `make run`: set up .venv and open the app on the bundled sample. `make test`: set up and run every test.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
XVFB := xvfb-run -a -s "-screen 0 1280x1024x24"

.PHONY: run test bench setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/depthviewer

test: $(STAMP)
	bash scripts/system-deps
	$(XVFB) $(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	bash scripts/system-deps
	$(XVFB) $(VENV)/bin/python bench/run.py
	$(XVFB) $(VENV)/bin/python bench/gui.py
