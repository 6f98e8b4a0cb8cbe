# Set-up and the everyday jobs. Everything runs in a local virtual environment.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned for development and CI: this exact version installs as a CPU build
# here, while an open range would pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: install demo test bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## the main job: the flagship comparison on the default data
	$(BIN)/neuroai run compare_learning_rules --quick

test: $(STAMP)
	$(BIN)/python -m pytest -q

docs: $(STAMP)  ## the documentation site in docs/_build/html, warnings as errors (runs each study quick once)
	$(BIN)/python docs/gallery.py
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

bench: $(STAMP)
	$(BIN)/python simulations/benchmarks/backend_overhead.py
	$(BIN)/python simulations/benchmarks/stdp_training.py
	$(BIN)/python simulations/benchmarks/optimizers.py
	$(BIN)/python simulations/benchmarks/rnnlm.py
	$(BIN)/python simulations/benchmarks/rl.py --quick
	$(BIN)/python simulations/benchmarks/scaling.py
	$(BIN)/python simulations/benchmarks/sg_training.py
	$(BIN)/python simulations/benchmarks/target_parity.py
	$(BIN)/python simulations/benchmarks/equations.py

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build docs/_generated
