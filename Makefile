# Everything a fresh machine needs: `make run` serves the app, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 8501

.PHONY: run test bench lint lock clean-env

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	mkdir -p data
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

test: $(STAMP)
	PY=$(PY) scripts/run-tests

bench: $(STAMP)
	$(PY) -m benchmarks.run

# Static checks; CI runs them before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Refresh the pinned versions after changing dependencies in pyproject.toml (--all keeps setuptools, which the
# wheel test builds with; pip itself is left out).
lock: $(STAMP)
	$(PY) -m pip freeze --all --exclude-editable | grep -v -e '^-e' -e '^pip==' > requirements.lock

clean-env:
	rm -rf $(VENV)
