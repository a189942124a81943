# The README's two commands: `make demo` and `make test`. Both create .venv when needed,
# install aidebt with its report, test and Spark extras into it (only again when
# pyproject.toml changes) and run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.aidebt-installed

.PHONY: demo test setup lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[report,dev,spark]'
	$(PY) -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/aidebt demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check aidebt tests benchmarks
	$(VENV)/bin/ruff format --check aidebt tests benchmarks

bench: setup
	$(PY) benchmarks/bench_disaggregate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
