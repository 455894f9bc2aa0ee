# Two commands for a newcomer (see README.md):
#   make quickstart   set up .venv and run the whole recipe on the embedded models
#   make test         set up .venv and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup quickstart test
setup: $(VENV)/.hala-setup

$(VENV)/.hala-setup: pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $@

quickstart: setup
	$(VENV)/bin/hala run recipes/quickstart.yaml

# Lint and format check first (ruff, configured in pyproject.toml), then the suite. pytest exits 5 when it collects
# no test: report that as a failure of the suite, not as success.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest
