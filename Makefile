# Two commands on a fresh machine:  make demo  (environment + the main job offline on the diagnostic task)
# and  make test  (make test-fast: the same without the slow tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU machines: take torch 2.13.0 first, before any dependency can pull a multi-GB CUDA build.
# With a GPU, keep your own CUDA torch:  make demo TORCH=   (or pip install -e . in your env).
TORCH ?= torch==2.13.0

.PHONY: demo test test-fast bench clean reference

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(if $(TORCH),$(BIN)/python -m pip install -q "$(TORCH)")
	$(BIN)/python -m pip install -q -e '.[test,demo]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/mire-eval demo

# The committed reference of the demo (docs/demo/, the README's quick-start block, docs/probe.md's
# tables), regenerated from an empty cache in a temporary folder: one command, nothing by hand.
reference: $(BIN)/.installed
	$(BIN)/python docs/diagnostic/run_diagnostic.py --clean --reference docs/demo --readme README.md --probe-doc docs/probe.md

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

# The newcomer's lane: every test but those marked slow (docs/contributing.md).
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_relevance.py

clean:
	rm -rf $(VENV) build *.egg-info
