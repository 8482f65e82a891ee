# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The intent engine's hot path compiled with mypyc (intents/build_native.py): rebuilt when a module it
# compiles or type-checks changes. A failed build is a one-line note and the pure-Python modules run
# (a failure stops make only with LOUDONG_REQUIRE_NATIVE=1, as in CI); a failed attempt is not repeated
# until a source changes: `make native` builds again.
NATIVE_SRC := $(addprefix intents/,binfile.py matcher.py normalize.py places.py segment.py emergency.py \
              override.py intent_model.py engine.py lexicon.py model.py native.py build_native.py)
NATIVE := $(VENV)/.native

.PHONY: demo test lint format bench clean native

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test,native]'
	touch $(STAMP)

$(NATIVE): $(STAMP) $(NATIVE_SRC)
	$(PY) intents/build_native.py
	touch $(NATIVE)

native: $(STAMP)
	$(PY) intents/build_native.py
	touch $(NATIVE)

demo: $(NATIVE)
	$(PY) -m bot demo

test: $(NATIVE)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(NATIVE)
	$(PY) -m pip install --quiet -e '.[test,native,bench]'
	$(PY) benchmarks/intents_bench.py
	$(PY) benchmarks/onebot_load.py

clean:
	rm -rf $(VENV) data .pytest_cache intents/_native build/native
