# Fresh machine: `make demo` or `make test`. Both create .venv and install camforge first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/camforge evaluate examples/designs/phone_main_12mp.yaml --out demo-out --db demo-out/results.db

test: install
	$(PY) -m pytest -q -n 2 --durations=15

bench: install
	$(PY) bench/bench_simulate.py

clean:
	rm -rf $(VENV) demo-out build src/*.egg-info
