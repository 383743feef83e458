# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each makes its own virtual environment (.venv), installs vaekit into it and
# fetches MNIST; each is safe to run again.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vaekit-installed
EPOCHS ?= 10
RUN    ?= runs/demo
# One data folder for the CLI, the tests and the notebooks (which run in notebooks/).
export VAEKIT_DATA ?= $(CURDIR)/data

.PHONY: install data nbconvert-cdn demo test test-quick lint lab explore bench bench-tf1 clean

install: $(STAMP)

# A new environment takes about 6 GB (PyTorch's CUDA build): said at once, before pip runs out of room.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -c "import shutil, sys; free = shutil.disk_usage('.').free / 2**30; \
	sys.exit(f'make: {free:.1f} GB free here; a new .venv needs about 7 GB. Free some space and run it again.') \
	if free < 7 else None"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

data: install
	$(PY) -m vaekit data --dataset mnist --dataset fashion-mnist

# Trains the seed VAE (10 epochs by default: about a minute and a half on 2 CPU cores, set-up aside;
# `make demo EPOCHS=50` is the seed's full schedule) and writes the README's figures. The commands
# would write them into the run folder; --figures puts them in figures/, where the README shows them.
demo: data
	$(PY) -m vaekit train --preset seed --epochs $(EPOCHS) --out $(RUN) --figures figures
	$(PY) -m vaekit sample --checkpoint $(RUN) --figures figures
	$(PY) -m vaekit reconstruct --checkpoint $(RUN) --figures figures
	$(PY) -m vaekit interpolate --checkpoint $(RUN) --figures figures
	$(PY) -m vaekit evaluate --checkpoint $(RUN)
	@echo "Figures are in figures/: samples.png, reconstructions.png, interpolation.png, loss_curves.png"

# What a page written by nbconvert loads from CDNs (require.js, the widget HTML manager, anywidget's frontend),
# fetched with npm into .cache/nbconvert-cdn for tests/test_browser_nbconvert.py, which serves the page those
# copies offline. When npm cannot fetch them, the rest of the suite still runs and that test fails, saying why.
nbconvert-cdn: install
	-$(PY) tests/widget_cdn.py

# The notebooks run too, under nbval in quick mode (VAEKIT_QUICK=1: seconds of training each);
# --nbval-lax checks that every cell runs (their own asserts check the widgets), not saved outputs.
test: data nbconvert-cdn
	$(PY) -m ruff check .
	VAEKIT_QUICK=1 $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env --nbval-cell-timeout=600

# ruff, configured in pyproject.toml (line length 120, pyflakes, import order).
lint: install
	$(PY) -m ruff check .

# Benchmarks (not part of `make test`): results go to benchmarks/results/.
# `make bench` is the short run; `make bench BENCH=--full` adds the 10-epoch
# --fast check and a 20-epoch binarized run scored with k = 5000.
BENCH ?=
TFVENV ?= .tfvenv
bench: data
	$(PY) benchmarks/bench_speed.py $(BENCH)
	$(PY) benchmarks/evaluate_quality.py $(if $(BENCH),,--k 100 --test-limit 1000)
	$(PY) benchmarks/literature_binarized.py $(if $(BENCH),--epochs 20 --k 5000 --test-limit 1000,)

# The seed's own TF1 code in its own venv (tensorflow-cpu is large: about 2 GB installed).
$(TFVENV)/bin/python:
	$(PYTHON) -m venv $(TFVENV)
	$(TFVENV)/bin/pip install --quiet --disable-pip-version-check tensorflow-cpu tf-keras numpy

bench-tf1: data $(TFVENV)/bin/python
	$(PY) benchmarks/bench_tf1.py --tf-python $(TFVENV)/bin/python

# Both servers listen on 127.0.0.1 only and want a token of at least 16 characters (a kernel runs any
# code it is sent): $JUPYTER_TOKEN, or a random one. They get it through their environment, never on a
# command line, where every local user could read it in the process list.
LAB_PORT ?= 8888
lab: install
	$(PY) -m vaekit lab --port $(LAB_PORT)

# The slider and interpolation explorer as a web app without code (Voila), with the shipped model.
explore: data
	$(PY) -m vaekit explore

clean:
	rm -rf $(VENV) runs .pytest_cache .cache
