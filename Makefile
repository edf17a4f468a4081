# The two commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU build by default; a user with an NVIDIA GPU overrides it (see README).
TORCH ?= torch==2.13.0

.PHONY: setup run demo test lint bundle clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# The desktop app on the demo recording; with no screen, the same pipeline from the command line.
run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(VENV)/bin/vqstudio-gui --demo; \
	else echo "no display: running the command-line demo (vqstudio demo)"; $(VENV)/bin/vqstudio demo; fi

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bundle: setup
	$(PY) packaging/build.py

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
