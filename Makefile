# sky_rs — every task a developer or CI runs. `make` builds, installs and
# shows the backend and the speed-up table; `make test` runs every test.
# Everything Python goes into a project-local virtualenv (.venv); Go tools
# (gopy, goimports) come from go.mod.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.deps-stamp
# Executions per Go fuzz target in `make test`. A count, not a duration: with
# a duration, go1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" as the time runs out (go.dev/issue/75804,
# fixed in Go 1.27); seen here once on a busy machine.
FUZZTIME ?= 20000x

.PHONY: all demo install test test-go test-py test-host fuzz-short fuzz stress bench wheel lint clean

all: demo

# A fresh virtualenv with the test and benchmark dependencies (SkyPilot itself
# is the oracle for the differential tests and the baseline for benchmarks).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "pybindgen==0.22.1" "setuptools>=77" wheel build \
		pytest "hypothesis>=6.100" "skypilot==0.14.1" psutil
	touch $@

# Editable install: build_ext runs gopy and puts the extension in sky_rs/.
install: $(STAMP)
	SKY_RS_REQUIRE_NATIVE=1 $(PIP) install --quiet --no-build-isolation -e .

demo: install
	$(PY) -m sky_fallback info
	$(PY) -m sky_fallback bench --quick

test: lint test-go fuzz-short test-py test-host wheel-check wheel-matrix

lint:
	@test -z "$$(gofmt -l skyrs tests_go)" || { gofmt -l skyrs tests_go; exit 1; }
	go vet ./...

test-go: $(STAMP)
	go test -count=1 ./...

# Every fuzz target for a few seconds: a crash found becomes a testdata case.
fuzz-short:
	@for t in $$(go test -list '^Fuzz' ./tests_go | grep '^Fuzz'); do \
		echo "fuzz $$t ($(FUZZTIME))"; \
		go test ./tests_go -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# The long fuzzing run (docs/RELIABILITY.md): every Go fuzz target for
# FUZZ_LONG_TIME, then the Hypothesis differential tests against upstream
# SkyPilot with the `long` profile (10,000 examples per property and subject),
# printing how many examples each ran. FUZZ_LONG_TIME is a duration: a bare
# "context deadline exceeded" at its end, with no input written to
# testdata/fuzz/, is the Go bug above, not a find. A crash found becomes a regression
# case (Go: testdata/fuzz/; Hypothesis: an @example).
FUZZ_LONG_TIME ?= 2m
fuzz: install
	$(MAKE) fuzz-short FUZZTIME=$(FUZZ_LONG_TIME)
	HYPOTHESIS_PROFILE=long SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q \
		tests_py/test_differential.py --hypothesis-show-statistics

# The reliability tests at the scale of issue #6 (make test runs them scaled
# down by SKY_RS_STRESS_SCALE=0.02): 16 threads x 10,000 calls, 1,000,000 calls
# of each cheap function, 20,000 reads of a changing log, ... Each test's
# figures go to $(FIGURES), one JSON object a line (docs/RELIABILITY.md).
FIGURES ?= _build/reliability-figures.jsonl
stress: install
	mkdir -p $(dir $(FIGURES)) && rm -f $(FIGURES)
	SKY_RS_STRESS_SCALE=1 SKY_RS_FIGURES=$(abspath $(FIGURES)) SKY_RS_REQUIRE_NATIVE=1 \
		$(PY) -m pytest -q tests_py/test_hostile.py tests_py/test_faults.py \
		tests_py/test_concurrency.py tests_py/test_memory.py tests_py/test_fork.py

# Both backends through the fixture, then the whole suite with the env gate off.
test-py: install
	SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q tests_py
	SKYPILOT_USE_RUST=0 $(PY) -m pytest -q tests_py

# The Go runtime as a guest on a hostile host (docs/RELIABILITY.md): each
# case in a child process under a lowered limit or in a cgroup made for it
# (cgroup v1, as root; skipped otherwise, with the reason). About a minute.
test-host: install
	SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q tests_host

# Every function timed four ways (upstream SkyPilot, the Python reference, the
# public API, sky_rs) on this machine: writes docs/BENCHMARKS.md and the
# picture docs/benchmarks.png (matplotlib, installed here for it). About eight
# minutes on two cores (issue #11's threads, busy thread, busy machine and
# config-hash workloads included); see sky_fallback/_bench.py.
bench: install
	$(PIP) install --quiet "matplotlib>=3.5"
	$(PY) -m sky_fallback bench --write

wheel: $(STAMP)
	rm -rf dist
	SKY_RS_REQUIRE_NATIVE=1 $(PY) -m build --wheel --no-isolation --outdir dist

clean:
	rm -rf _build build dist *.egg-info sky_rs/_sky_rs*.so

# Release wheels, as .github/workflows/wheels.yml builds them: from the sdist,
# auditwheel-checked, installed into a clean virtualenv outside the tree and
# tested there; then the pure-Python paths (Go hidden, SKY_RS_PURE_PYTHON=1);
# the workflows linted first. See scripts/check_wheel.sh.
WHEEL_PYTHONS ?= $(foreach v,3.9 3.10 3.11 3.12 3.13,$(lastword $(wildcard $(HOME)/.pyenv/versions/$(v).*/bin/python)))

.PHONY: wheel-check wheel-matrix lint-workflows

wheel-check: $(STAMP)
	scripts/check_wheel.sh all

# One release wheel per CPython in WHEEL_PYTHONS, each installed and smoke-tested.
wheel-matrix: $(STAMP)
	scripts/check_wheel.sh smoke $(WHEEL_PYTHONS)

lint-workflows: $(STAMP)
	scripts/check_wheel.sh lint
