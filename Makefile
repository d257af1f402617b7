# Podium: everyday commands. `make help` lists them.
# A fresh machine needs only Python 3.11+: the targets install uv (with pip) and the workspace.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := $(or $(UV_PROJECT_ENVIRONMENT),.venv)
SRC_DIRS := $(wildcard libs/*/src services/*/src)
PYTEST_ARGS ?=

# Imports of compiled bytecode are several times faster than from source, and every test
# starts real processes: keep the .pyc files that the environment may tell Python not to write.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help uv install run test test-containers lint format bench bench-peers up down ui

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

uv: ## Install uv with pip when it is missing
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		$(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user --break-system-packages uv

install: uv ## Create .venv and install every workspace package from uv.lock
	$(UV) sync --frozen --all-packages --compile-bytecode

run: install ## Start master, api, web and a worker locally (PODIUM_HOME, PODIUM_WEB_PORT, PODIUM_ADMIN_PASSWORD, ...)
	$(VENV)/bin/python deploy/local/run.py

test: install ## Run the whole test suite
	$(UV) run --frozen pytest -p no:cacheprovider $(PYTEST_ARGS)

test-containers: install ## Build the images and break the compose stack on a Docker engine (tests/containers/engine.sh starts one)
	PODIUM_CONTAINER_TESTS=1 $(UV) run --frozen pytest -p no:cacheprovider tests/containers $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy --strict per package
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	@set -e; for dir in $(SRC_DIRS) deploy/local; do echo "mypy $$dir"; $(UV) run --frozen mypy $$dir; done

format: install ## Format the code and apply ruff's safe fixes
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

ui: ## Rebuild the web UI into services/web/src/podium_web/static (needs npm; the built files are committed)
	cd services/web/ui && npm ci --no-audit --no-fund && npm run build

bench: install ## Run the benchmarks in bench/ (when they exist)
	@if [ -f bench/__main__.py ]; then $(UV) run --frozen python -m bench; \
	else echo "make bench: the benchmarks are not built yet (bench/ has no __main__.py)"; fi

bench-peers: install ## Celery 5.7, Buildbot 4.3 (own venvs under ~/.cache/podium-bench) and Podium on latency and throughput, one table
	$(UV) run --frozen python -m bench.peers

up: ## Start the stack in containers (docker compose; needs PODIUM_CONTROL_SECRET, PODIUM_ADMIN_PASSWORD, POSTGRES_PASSWORD)
	docker compose up -d --build --wait

down: ## Stop the containers
	docker compose down
