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

.PHONY: all demo install test test-go test-py fuzz-short fuzz stress bench lint clean

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

test: lint lint-workflows test-go fuzz-short test-py

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

# Every function timed four ways (upstream SkyPilot, the Python reference, the
# public API, sky_rs) on this machine: writes docs/BENCHMARKS.md and the
# picture docs/benchmarks.png (matplotlib, installed here for it). About five
# minutes on two cores; see sky_fallback/_bench.py.
bench: install
	$(PIP) install --quiet "matplotlib>=3.5"
	$(PY) -m sky_fallback bench --write

clean:
	rm -rf _build build dist wheelhouse *.egg-info sky_rs/_sky_rs*.so

# The release artifacts in wheelhouse/ (needs root): the sdist, a pure-Python
# wheel, and abi3 manylinux2014 wheels for x86_64 and aarch64 built in Debian
# 11 root filesystems (cached in ~/.cache/sky_rs/roots) with zig as cgo's C
# compiler; then each installed and tested in Debian roots of its CPU, CPython
# 3.9 to 3.15 (aarch64 under qemu-user). .github/workflows/wheels.yml runs the
# same two targets. See scripts/wheels.sh and docs/INSTALL.md.
.PHONY: wheels wheels-check lint-workflows

wheels: $(STAMP)
	scripts/wheels.sh build

wheels-check: $(STAMP)
	scripts/wheels.sh check

# The workflows (actionlint, shellcheck) and the cibuildwheel configuration.
lint-workflows: $(STAMP)
	scripts/wheels.sh lint
