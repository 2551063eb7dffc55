# Two set-up-and-go targets: `make bench` (ceilings, quick sweep -> CSV -> roofline) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: bench test lint typecheck-view venv clean

$(BIN)/gemmbench-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/gemmbench-installed

bench: venv
	$(BIN)/gemmbench machine --if-missing
	$(BIN)/gemmbench run --quick
	$(BIN)/gemmbench plot
	$(BIN)/gemmbench report

# bench/ installs as gemmbench and kernels/ as gemmbench.kernels; mypy reads packages from folders,
# so it checks a view of symlinks named as they install (docs/architecture.md, "Checks").
typecheck-view:
	rm -rf build/typecheck && mkdir -p build/typecheck/gemmbench
	ln -s $(CURDIR)/bench/* build/typecheck/gemmbench/
	ln -s $(CURDIR)/kernels build/typecheck/gemmbench/kernels

# Architecture contracts (import-linter reads kernels/ as the top-level package "kernels"), style, types.
lint: venv typecheck-view
	PYTHONPATH=$(CURDIR) $(BIN)/lint-imports --no-cache
	$(BIN)/ruff check bench kernels tests
	$(BIN)/ruff format --check bench kernels tests
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
