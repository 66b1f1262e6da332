# The two commands of the README: `make run` (the server, its demo on) and `make test`. Every
# other target is a step they take; each is skipped when its inputs have not changed, so a
# second run is fast.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-test docs bench clean

run: setup
	$(BIN)/python serve.py --demo $(ARGS)

test: setup setup-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The Python API reference of chatcamp_web and chatcamp_client (tests/test_docs.py builds it too).
docs: setup-test
	$(BIN)/python docs/build.py build/docs

setup: $(VENV)/.runtime node_modules/.installed build/wheels/.installed

setup-test: setup $(VENV)/.test /usr/bin/chromium /usr/bin/redis-server /usr/sbin/haproxy \
	/usr/lib/postgresql/15/bin/initdb

# The project itself goes in editable, for the chatcamp-server command and the pytest plugin
# (entry points that only an install makes); its build backend comes from the registry.
$(VENV)/.runtime: requirements.txt pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

# Browser assets come from the npm registry, pinned exactly by package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

build/wheels/.installed: requirements-browser.txt $(VENV)/.runtime
	rm -rf build/wheels
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
		--only-binary=:all: --dest build/wheels -r requirements-browser.txt
	touch $@

# Debian's Chromium drives the browser tests; Playwright's own browser download is never used.
/usr/bin/chromium:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

# The cluster tests start private PostgreSQL, Redis and HAProxy instances of their own; these
# are Debian's packages, installed here and never started as services (nothing here enables
# them).
/usr/bin/redis-server /usr/sbin/haproxy /usr/lib/postgresql/15/bin/initdb:
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends \
		redis-server haproxy postgresql-15

clean:
	rm -rf $(VENV) node_modules build
