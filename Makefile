# The README's two commands: `make run` and `make test`. Both set up .venv/ first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Local development defaults; production sets DEBUG=0 and a SECRET_KEY explicitly.
export DEBUG ?= 1

.PHONY: run test lint bench chaos clean

$(VENV)/.run-deps: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-deps: $(VENV)/.run-deps requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.run-deps
	$(PY) -m chatsite.dev run

test: $(VENV)/.dev-deps
	$(PY) -m chatsite.dev test $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# bench/fanout's load generator is Node (`ws` from npm, locked in bench/fanout/package-lock.json).
bench: $(VENV)/.dev-deps
	command -v node >/dev/null || { echo "bench needs Node.js: apt-get install nodejs npm" >&2; exit 1; }
	test -d bench/fanout/node_modules/ws || npm ci --prefix bench/fanout --no-audit --no-fund
	$(PY) -m bench $(BENCH_ARGS)

# Chat load on two servers while Redis restarts (from AOF, then empty), a server and a worker are killed.
chaos: $(VENV)/.dev-deps
	timeout 300 $(PY) -m chatsite.dev chaos

clean:
	rm -rf $(VENV) var
