# mr-storage-initializer: see README.md. Every target installs what it needs itself.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-fast test-python lint bench image system-deps clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[registry,test,dev]'
	touch $(STAMP)

# Debian and npm packages the tests use (nginx for HTTP throughput, azurite for Azure Blob).
system-deps:
	bash scripts/install-system-deps.sh

demo: venv
	$(PY) scripts/demo.py

# One pytest worker per core (pytest-xdist); TEST_WORKERS=0 runs in this process, e.g. for a debugger.
TEST_WORKERS ?= auto

test: venv system-deps
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The unit tests that start no server (the `slow` marker is set in tests/conftest.py): well under 30 s.
test-fast: venv
	$(BIN)/pytest -q tests/unit -m "not slow"

LINT_PATHS := $(wildcard src tests benchmarks scripts)

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

bench: venv
	bash scripts/install-system-deps.sh bench
	$(BIN)/pip install -q -c requirements.lock -e '.[bench]'
	$(PY) benchmarks/run.py $(BENCH_ARGS)

image:
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "make image: no container engine here (docker info failed)"; exit 1; }
	docker build -t mr-storage-initializer:$$($(PYTHON) -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])") .

clean:
	rm -rf $(VENV) models .pytest_cache .mypy_cache .ruff_cache
