# Trainable Depth. Every target sets up .venv itself (Python 3.11 and make are all it needs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAB_ARGS ?=
# `make notebooks NB=notebooks/02_shortcut_connections.py` re-executes one chapter only.
NB ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.py))
# One nbgrader assignment per folder notebooks/assignments/source/chNN/ (a .py source + its notebook).
COURSE := notebooks/assignments
ASSIGNMENTS := $(sort $(notdir $(wildcard $(COURSE)/source/ch[0-9][0-9])))

.PHONY: lab test test-browser test-paths test-seeds notebooks assignments figures site bench gpu-check lock clean

# .venv/colab: what tests/test_colab.py needs, pinned in tests/colab/: Colab's ipywidgets 7 (kept apart, for a
# kernel's PYTHONPATH) and the wheel of the build backend, so that the test needs no network.
$(STAMP): pyproject.toml constraints.txt tests/colab/ipywidgets7.txt tests/colab/build-backend.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and f"make needs Python 3.11, the version constraints.txt is locked for; $(PYTHON) is {sys.version.split()[0]}: run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,teach,site]"
	rm -rf $(VENV)/colab
	$(BIN)/pip install --quiet --no-deps --target $(VENV)/colab/ipywidgets7 -r tests/colab/ipywidgets7.txt
	$(BIN)/pip download --quiet --no-deps --dest $(VENV)/colab/wheels -r tests/colab/build-backend.txt
	touch $(STAMP)

lab: $(STAMP)  ## start JupyterLab on the book
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/01_vanishing_gradients.ipynb $(LAB_ARGS)

test: $(STAMP)  ## every test: unit, widgets, notebook pairs, strict nbval, browser
	$(BIN)/python -m pytest

# Numeric paths other than this CPU's own, as another reader's machine may take them: ATEN_CPU_CAPABILITY
# picks PyTorch's vector kernels (default = none, avx2, avx512 where the CPU has it), MKL_CBWR MKL's code path.
NUMERIC_PATHS ?= "ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE" "ATEN_CPU_CAPABILITY=avx2"
# Seed shifts for test-seeds: with the stored run's seeds (shift 0), the book's asserts meet 5 seeds.
SEED_SHIFTS ?= 1 2 3 4

test-paths: $(STAMP)  ## strict nbval of every chapter on each of NUMERIC_PATHS: the stored outputs must reproduce
	@for p in $(NUMERIC_PATHS); do \
		echo "strict nbval, numeric path: $$p"; \
		env $$p $(BIN)/python -m pytest notebooks -p no:cacheprovider -q || exit 1; \
	done

test-seeds: $(STAMP)  ## every chapter with every seed shifted by SEED_SHIFTS: each assert must still hold
	@for s in $(SEED_SHIFTS); do \
		echo "every chapter, seeds shifted by $$s (outputs not compared; asserts must hold)"; \
		TRAINABLE_DEPTH_SEED_SHIFT=$$s PYTHONPATH="$(CURDIR)/tests/seed_shift" \
			$(BIN)/python -m pytest notebooks -p no:cacheprovider -q --nbval-lax || exit 1; \
	done

test-browser: $(STAMP)  ## only the browser tests (JupyterLab, first open, website)
	$(BIN)/python -m pytest tests/browser

notebooks: $(STAMP)  ## re-sync every .ipynb from its .py source (keeping cell ids), execute it in place, keep the widget state it shows
	@for nb in $(NB); do \
		echo "executing $$nb"; \
		$(BIN)/jupytext --update --to ipynb --set-kernel python3 "$$nb" || exit 1; \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.store_widget_state=True --ExecutePreprocessor.record_timing=False \
			--ExecutePreprocessor.timeout=300 "$${nb%.py}.ipynb" || exit 1; \
		$(BIN)/python -m utils.widget_state "$${nb%.py}.ipynb" || exit 1; \
	done

# nbgrader reads nbgrader_config.py from the current directory and runs `alembic` from PATH: hence cd and PATH.
assignments: $(STAMP)  ## sync each assignment's notebook from its .py, generate release/, autograde + feedback demo
	@for a in $(ASSIGNMENTS); do \
		$(BIN)/jupytext --update --to ipynb $(COURSE)/source/$$a/*.py || exit 1; \
	done
	cd $(COURSE) && export PATH="$(CURDIR)/$(BIN):$$PATH" && for a in $(ASSIGNMENTS); do \
		nbgrader generate_assignment $$a --force || exit 1; \
		rm -rf submitted/demo_student/$$a && mkdir -p submitted/demo_student && \
		cp -r source/$$a submitted/demo_student/$$a && rm -f submitted/demo_student/$$a/*.py && \
		nbgrader autograde $$a --student demo_student --force && \
		nbgrader generate_feedback $$a --student demo_student --force || exit 1; \
	done
	@echo "student versions: $(COURSE)/release/; feedback example (the solution, graded): $(COURSE)/feedback/demo_student/"

figures: $(STAMP)  ## regenerate figures/*.png
	$(BIN)/python -c 'from utils.figures import main; main()'

site: $(STAMP)  ## the website in build/site/html, from the stored notebooks (npm fetches its JavaScript once)
	$(BIN)/python site/build.py

bench: $(STAMP)  ## explorer latency, notebook run time, kernel memory
	$(BIN)/python benchmarks/run.py

gpu-check: $(STAMP)  ## every experiment on CUDA/MPS against the CPU: key numbers within tolerance, timings
	$(BIN)/python benchmarks/gpu_check.py

lock: $(STAMP)  ## rewrite constraints.txt from the installed environment
	( sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//' ) > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts build
