# Two set-up-and-go targets: `make bench` (ceilings, quick sweep -> CSV -> roofline) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: bench test venv clean

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

test: venv
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build *.egg-info
