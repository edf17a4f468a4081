# The two commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch: the CUDA build where nvidia-smi finds a GPU, the CPU build elsewhere (scripts/install-torch.sh).
# Override: make setup TORCH_BUILD=cpu|cuda, or TORCH_INDEX=URL; `make torch ...` reinstalls it.
TORCH_VERSION ?= 2.13.0
TORCH_BUILD ?= auto
TORCH_INDEX ?=
TORCH_ENV = TORCH_BUILD="$(TORCH_BUILD)" TORCH_INDEX="$(TORCH_INDEX)"

.PHONY: setup torch run demo test lint bundle clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	bash scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(TORCH_ENV) bash scripts/install-torch.sh $(PY) $(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Reinstalls torch in an existing environment (e.g. `make torch TORCH_BUILD=cuda`).
torch:
	$(TORCH_ENV) bash scripts/install-torch.sh $(PY) $(TORCH_VERSION)

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
