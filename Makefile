# Two commands do everything on a fresh machine with Python 3.11+: `make up` and `make test`.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

PACKAGES := contracts rules servicekit campaign_api scheduler content_generator mailer devstack testkit

.PHONY: install up test lint typecheck imports browser pytest bench chaos asyncapi clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

# Bytecode is compiled once here, the workspace's own sources too: where
# PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile its imports anew,
# seconds of CPU for each service process a test or `make up` starts.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml $(wildcard */*/pyproject.toml)
	$(UV) sync --all-packages --frozen --python $(PYTHON) --compile-bytecode
	@touch $@

install: $(VENV)/.synced
	@$(VENV)/bin/python -m compileall -q -j 0 libs/*/src services/*/src tools/*/src bench

up: install
	$(VENV)/bin/python -m devstack up

test: install lint typecheck imports browser pytest

lint:
	$(VENV)/bin/ruff check .

typecheck:
	$(VENV)/bin/mypy $(addprefix -p ,$(PACKAGES) bench)

imports:
	$(VENV)/bin/lint-imports

# Debian's Chromium for the dashboard tests (Playwright drives it; nothing is downloaded else).
browser: install
	$(VENV)/bin/python services/campaign-api/tests/dashboard/ensure_browser.py

# Whole files go to parallel workers, each with its own embedded NATS and PostgreSQL: most of
# the end-to-end modules' time is waiting for due times, which then overlaps the rest. More
# workers than this make the CPU-bound tests on a 2-core machine slower, not the run shorter.
PYTEST_WORKERS ?= 3

pytest:
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

bench: install
	$(VENV)/bin/python -m bench

# The crash suite, not part of `make bench` as it takes many minutes (CHAOS_EMAILS=n: another
# number of emails per scenario); `make test` runs its short profile, tests/e2e/test_chaos.py.
chaos: install
	$(VENV)/bin/python -m bench chaos

asyncapi: install
	$(VENV)/bin/python -m contracts.asyncapi > libs/contracts/asyncapi.json

clean:
	rm -rf $(VENV) $(TOOLS)
