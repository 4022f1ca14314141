# Trainable Depth. Every target sets up .venv itself (Python 3.11 and make are all it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_ARGS ?=
# `make notebooks NB=notebooks/02_shortcut_connections.py` re-executes one chapter only.
NB ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.py))

.PHONY: lab test test-browser notebooks figures bench gpu-check lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)  ## start JupyterLab on the book
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/01_vanishing_gradients.ipynb $(LAB_ARGS)

test: $(STAMP)  ## every test: unit, widgets, notebook pairs, strict nbval, browser
	$(BIN)/python -m pytest

test-browser: $(STAMP)  ## only the end-to-end browser test
	$(BIN)/python -m pytest tests/browser

notebooks: $(STAMP)  ## re-sync every .ipynb from its .py source (keeping cell ids) and execute it in place
	@for nb in $(NB); do \
		echo "executing $$nb"; \
		$(BIN)/jupytext --update --to ipynb --set-kernel python3 "$$nb" || exit 1; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.store_widget_state=False --ExecutePreprocessor.record_timing=False \
			--ExecutePreprocessor.timeout=300 "$${nb%.py}.ipynb" || exit 1; \
	done

figures: $(STAMP)  ## regenerate figures/*.png
	$(BIN)/python -c 'from utils.figures import main; main()'

bench: $(STAMP)  ## explorer latency, notebook run time, kernel memory
	$(BIN)/python benchmarks/run.py

gpu-check: $(STAMP)  ## every experiment on CUDA/MPS against the CPU: key numbers within tolerance, timings
	$(BIN)/python benchmarks/gpu_check.py

lock: $(STAMP)  ## rewrite constraints.txt from the installed environment
	( sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' ) > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
