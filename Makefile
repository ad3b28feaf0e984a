# sky_rs — every task a developer or CI runs.
#
#   make        the main job: .venv, the Go extension, the backend report and
#               a short speed-up table (about 2 minutes on a fresh machine)
#   make test   every test (about 25 minutes on 2 cores): Go vet, tests and
#               fuzzing, the Python suite on both backends, the Go runtime on
#               hostile hosts, the workflows linted, a real API server end to
#               end
#
# Everything Python goes into a project-local virtualenv (.venv); Go tools
# (gopy, goimports) come from go.mod. Nothing is rebuilt when nothing changed:
# the extension is rebuilt when a Go file, go.mod, setup.py or pyproject.toml
# is newer than the last build.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
# What the main job needs: the build requirements (pyproject.toml) and psutil.
BUILD_STAMP = $(VENV)/.build-deps
# What the tests and benchmarks need besides: SkyPilot itself is the oracle
# of the differential tests and the baseline of the benchmarks.
TEST_STAMP = $(VENV)/.test-deps
# What the benchmark suite (benchmarks/, run from the checkout, not part of
# the package) needs: pyperf keeps its samples and takes the medians,
# pytest-benchmark runs the user's guide's example. The main job's quick
# table is the suite's, so `make` installs these too (SkyPilot it does not).
BENCH_STAMP = $(VENV)/.bench-deps
INSTALL_STAMP = $(VENV)/.installed
GO_SOURCES := $(shell find skyrs -name '*.go') go.mod go.sum
# Executions per Go fuzz target in `make test`. A count, not a duration: with
# a duration, go1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" as the time runs out (go.dev/issue/75804,
# fixed in Go 1.27); seen here once on a busy machine.
FUZZTIME ?= 20000x

.PHONY: all demo install test test-go test-py test-host test-server server-system-deps fuzz-short fuzz stress bench bench-server lint clean

all: demo

$(BUILD_STAMP): pyproject.toml
	@echo "==> $(VENV): a virtualenv with the build requirements"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install "pybindgen==0.22.1" "setuptools>=77" wheel psutil
	touch $@

$(TEST_STAMP): $(BUILD_STAMP)
	@echo "==> $(VENV): the test requirements, SkyPilot among them (about a minute)"
	$(PIP) install build pytest "hypothesis>=6.100" "skypilot==0.14.1"
	touch $@

$(BENCH_STAMP): $(BUILD_STAMP)
	@echo "==> $(VENV): the benchmarks' requirements (pyperf, pytest-benchmark)"
	$(PIP) install "pyperf>=2.6" "pytest-benchmark>=4"
	touch $@

# Editable install: build_ext runs gopy and puts the extension in sky_rs/.
$(INSTALL_STAMP): $(BUILD_STAMP) $(GO_SOURCES) setup.py pyproject.toml
	@echo "==> building the Go extension with gopy (the first build compiles gopy and the Go runtime: 1-2 minutes on 2 cores)"
	SKY_RS_REQUIRE_NATIVE=1 $(PIP) install --no-build-isolation --no-deps -e .
	touch $@

install: $(INSTALL_STAMP)

demo: install $(BENCH_STAMP)
	@echo "==> which backend answers, and why"
	$(PY) -m sky_fallback info
	@echo "==> a quick speed-up table (make bench for the full one)"
	$(PY) -m benchmarks --quick

test: lint lint-workflows test-go fuzz-short test-py test-host test-server

lint:
	@test -z "$$(gofmt -l skyrs tests_go)" || { gofmt -l skyrs tests_go; exit 1; }
	go vet ./...

# Some Go tests compare with upstream SkyPilot, run by .venv's Python.
test-go: $(TEST_STAMP)
	go test -count=1 ./...

# Every fuzz target for FUZZTIME: a crash found becomes a testdata case.
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
fuzz: install $(TEST_STAMP)
	$(MAKE) fuzz-short FUZZTIME=$(FUZZ_LONG_TIME)
	HYPOTHESIS_PROFILE=long SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q \
		tests_py/test_differential.py tests_py/test_log_tail.py \
		tests_py/test_yaml_dump.py --hypothesis-show-statistics

# The reliability tests at the scale of issue #6 (make test runs them scaled
# down by SKY_RS_STRESS_SCALE=0.02): 16 threads x 10,000 calls, 1,000,000 calls
# of each cheap function, 20,000 reads of a changing log, ... Each test's
# figures go to $(FIGURES), one JSON object a line (docs/RELIABILITY.md).
FIGURES ?= _build/reliability-figures.jsonl
stress: install $(TEST_STAMP)
	mkdir -p $(dir $(FIGURES)) && rm -f $(FIGURES)
	SKY_RS_STRESS_SCALE=1 SKY_RS_FIGURES=$(abspath $(FIGURES)) SKY_RS_REQUIRE_NATIVE=1 \
		$(PY) -m pytest -q tests_py/test_hostile.py tests_py/test_faults.py \
		tests_py/test_concurrency.py tests_py/test_memory.py tests_py/test_fork.py

# Both backends through the fixture, then the suite again with the env gate
# off. The second run leaves out the slow tests (Ctrl-C, threads, gigabytes):
# the first ran them on both backends, and CI's whole run must stay under 45
# minutes on 2 cores.
test-py: install $(TEST_STAMP) $(BENCH_STAMP)
	@echo "==> the Python suite, both backends (about 6 minutes)"
	SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q tests_py
	@echo "==> the Python suite again, SKYPILOT_USE_RUST=0, slow tests left out (about 5 minutes)"
	SKYPILOT_USE_RUST=0 $(PY) -m pytest -q -m "not slow" tests_py

# The Go runtime as a guest on a hostile host (docs/RELIABILITY.md): each
# case in a child process under a lowered limit or in a cgroup made for it
# (cgroup v1, as root; skipped otherwise, with the reason). About a minute.
test-host: install $(TEST_STAMP)
	@echo "==> the Go runtime on hostile hosts (about a minute)"
	SKY_RS_REQUIRE_NATIVE=1 $(PY) -m pytest -q tests_host

# End to end against a real local SkyPilot API server, stock and with the
# plugin, planning launches on a fake Kubernetes API on loopback (no cloud):
# tests_server/README.md. Three server starts: about 115 s of CPU; 1m50 on 2
# cores shared at load 4, 3-4 minutes at load 5-8; then make bench-server's
# --quick run (two more servers), 2m15 at load 2-6. SkyPilot's Kubernetes support needs its
# `kubernetes` extra, and `sky launch` on Kubernetes checks for socat, nc and
# rsync: installed with apt-get when missing (as root; Debian or Ubuntu).
SERVER_STAMP = $(VENV)/.server-test-deps
SERVER_DEBIAN_PACKAGES = socat netcat-openbsd rsync

$(SERVER_STAMP): $(TEST_STAMP)
	@echo "==> $(VENV): SkyPilot's Kubernetes extra, for the server tests"
	$(PIP) install "skypilot[kubernetes]==0.14.1"
	touch $@

server-system-deps:
	@missing=""; \
	for package in $(SERVER_DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
			echo "The server tests need the Debian packages$$missing: install them as root (apt-get install$$missing)." >&2; \
			exit 1; \
		fi; \
		echo "==> apt-get install$$missing (for the server tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test-server: install $(SERVER_STAMP) $(BENCH_STAMP) server-system-deps
	@echo "==> a real SkyPilot API server, stock and with the plugin (4-7 minutes)"
	$(PY) -m pytest -q tests_server

# Every function timed four ways (upstream SkyPilot, the Python reference, the
# public API, sky_rs) on this machine: writes docs/BENCHMARKS.md and the
# picture docs/benchmarks.png (matplotlib, installed here for it). About eight
# minutes on two cores; see benchmarks/. Then the user's guide's
# pytest-benchmark example (benchmarks/test_guide_example.py), a few seconds.
bench: install $(TEST_STAMP) $(BENCH_STAMP)
	$(PIP) install --quiet "matplotlib>=3.5"
	$(PY) -m benchmarks --write --docs docs
	$(PY) -m pytest -q benchmarks/test_guide_example.py

# What users wait on, through a real API server (benchmarks/server/): a stock
# and a plugin SkyPilot API server run at once (tests_server's harness), and
# the server-side tail, the cluster status request (serial, 8 clients, a soak
# of 1,000) and the launch dry run are timed on both in interleaved rounds.
# Rewrites only the section between the bench-server markers at the top of
# docs/BENCHMARKS.md (`make bench` keeps it). 14m20 on 2 idle cores (two runs);
# BENCH_SERVER_FLAGS=--full also runs stock once on the ~2 GB log (10-20
# minutes more), --quick is the few-minute version tests_server runs.
BENCH_SERVER_FLAGS ?=
bench-server: install $(SERVER_STAMP) $(BENCH_STAMP) server-system-deps
	$(PY) -m benchmarks.server --write --docs docs $(BENCH_SERVER_FLAGS)

clean:
	rm -rf _build build dist wheelhouse *.egg-info sky_rs/_sky_rs*.so $(INSTALL_STAMP)

# The release artifacts in wheelhouse/ (needs root): the sdist, a pure-Python
# wheel, and abi3 manylinux2014 wheels for x86_64 and aarch64 built in Debian
# 11 root filesystems (cached in ~/.cache/sky_rs/roots) with zig as cgo's C
# compiler; then each installed and tested in Debian roots of its CPU, CPython
# 3.9 to 3.15 (aarch64 under qemu-user); test-controller takes the x86_64
# one to a jobs controller. .github/workflows/wheels.yml runs the same
# targets. See scripts/wheels.sh and docs/INSTALL.md.
.PHONY: wheels wheels-check test-controller lint-workflows

wheels: $(TEST_STAMP)
	scripts/wheels.sh build

wheels-check: $(TEST_STAMP)
	scripts/wheels.sh check

# The wheel of wheelhouse/ reaches a managed-jobs controller through
# SkyPilot's plugin files (`python -m sky_fallback plugin install --remote`),
# is installed by SkyPilot's own script in a Debian root set up as SkyPilot
# sets up a controller, and the controller runs with Go (tests_controller/).
# Needs root and `make wheels`. The controller's HOME (SkyPilot 0.14.1 in
# ~/skypilot-runtime) is made on first use and cached in
# ~/.cache/sky_rs/controller-home. x86_64: about half a minute (the HOME:
# 25 s more). CONTROLLER_CPUS=x86_64,aarch64 adds the aarch64 wheel in the
# bullseye arm64 root under qemu-user: about 1.5 minutes more (the HOME:
# 4 more).
CONTROLLER_CPUS ?= x86_64
test-controller: $(TEST_STAMP)
	SKY_RS_CONTROLLER_CPUS=$(CONTROLLER_CPUS) $(PY) -m pytest -q tests_controller

# The workflows (actionlint, shellcheck) and the cibuildwheel configuration.
lint-workflows: $(TEST_STAMP)
	scripts/wheels.sh lint
