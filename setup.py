"""Build sky_rs: run gopy for the interpreter that is building.

Metadata lives in pyproject.toml; this file only knows how to build the one
extension, ``sky_rs._sky_rs``, from the Go package ``skyrs/pyexport``:

    gopy gen -vm=<this python> -dynamic-link=true ...

then the steps of ``gopy build``, with gopy's wrappers edited so that the GIL
is released in C, around the call into Go (see release_gil_in_go_wrappers).
``-dynamic-link=true`` leaves the Python C API symbols to be resolved by the
interpreter that loads the module (no ``libpython`` is linked), which is what
manylinux and macOS wheels need.

The extension is built against the stable ABI (``Py_LIMITED_API`` for
CPython 3.9, PEP 384): one ``_sky_rs.abi3.so`` and one ``cp39-abi3`` wheel per
platform serve CPython 3.9 and every later version. On a free-threaded
CPython (whose stable ABI, abi3t, is another) the extension is built for that
one interpreter.
It is built for the CPU of the interpreter that builds it (a Python running
under emulation gets its own CPU's extension); ``CC`` chooses the C compiler,
as for any cgo build.

gopy and goimports are pinned as tools in go.mod and built from it, so the
only things a build machine needs are Go and the build requirements declared
in pyproject.toml (pybindgen among them).

Without Go (or on a platform whose Go shared libraries cannot be loaded by
CPython, such as musl libc) the install still succeeds, as pure Python
(sky_fallback answers every call), with one clear message, and the wheel is
tagged ``py3-none-any``. Release builds must not silently lose the
extension: under cibuildwheel (CIBUILDWHEEL=1) or with SKY_RS_REQUIRE_NATIVE=1
a failed native build is an error. SKY_RS_PURE_PYTHON=1 builds a pure
``py3-none-any`` wheel on purpose.
"""

import importlib.machinery
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
GO_PACKAGE = './skyrs/pyexport'

# ARCHFLAGS (set by cibuildwheel and by macOS users) names the target CPU;
# cgo then needs the matching GOARCH (it passes -arch itself).
_DARWIN_GOARCH = {'x86_64': 'amd64', 'arm64': 'arm64'}
# On Linux the CPU is the building interpreter's (sysconfig.get_platform()),
# which need not be Go's own: a Python under qemu-user, a 32-bit Python.
_LINUX_GOARCH = {
    'x86_64': 'amd64',
    'aarch64': 'arm64',
    'i686': '386',
    'armv7l': 'arm',
    'ppc64le': 'ppc64le',
    's390x': 's390x',
    'riscv64': 'riscv64',
    'loongarch64': 'loong64',
}

# The stable ABI: the oldest CPython served, as Py_LIMITED_API and wheel tag.
LIMITED_API_HEX = '0x03090000'
LIMITED_API_TAG = 'cp39'

# The limited API lacks three names that the generated C code mentions:
# pybindgen's `typedef PyAsyncMethods* cmpfunc;` (unused for functions) and
# gopy's complex-number helpers (Py_complex, PyComplex_AsCComplex), given
# here from stable-ABI calls. Force-included into every cgo compile, so it
# declares only what it must and nothing for assembler files. gopy's callback
# helper gopy_method_check (PyMethod_Check) stays undeclared: it is emitted
# only if an export takes a Python callable, and would then be caught by
# abi3audit in `make wheels`.
LIMITED_API_SHIM = r"""
#if defined(Py_LIMITED_API) && !defined(__ASSEMBLER__)
struct _object;
typedef struct _sky_rs_unused_async_methods PyAsyncMethods;
typedef struct {
    double real;
    double imag;
} Py_complex;
double PyComplex_RealAsDouble(struct _object *op);
double PyComplex_ImagAsDouble(struct _object *op);
static inline Py_complex PyComplex_AsCComplex(struct _object *op) {
    Py_complex c;
    c.real = PyComplex_RealAsDouble(op);
    c.imag = PyComplex_ImagAsDouble(op);
    return c;
}
#endif
"""


def _flag(name: str) -> bool:
    return os.environ.get(name, '').strip().lower() in ('1', 'true', 'yes',
                                                         'on')


def native_required() -> bool:
    return _flag('CIBUILDWHEEL') or _flag('SKY_RS_REQUIRE_NATIVE')


def pure_python_requested() -> bool:
    return _flag('SKY_RS_PURE_PYTHON')


def limited_api() -> bool:
    """Whether to build against the stable ABI (not on free-threaded builds)."""
    return not sysconfig.get_config_var('Py_GIL_DISABLED')


def _go_quote(arg: str) -> str:
    """One argument of a cgo flags variable (Go splits them like a shell)."""
    if not any(c.isspace() or c in '\'"' for c in arg):
        return arg
    for quote in ("'", '"'):
        if quote not in arg:
            return quote + arg + quote
    raise NativeBuildError(f'cannot pass {arg!r} to cgo')


def _glibc() -> bool:
    """Whether this Linux runs on glibc (as packaging's manylinux test)."""
    try:
        return bool(os.confstr('CS_GNU_LIBC_VERSION'))
    except (AttributeError, OSError, ValueError):
        return False


class NativeBuildError(Exception):
    """The Go extension could not be built."""


def write_build_info(package_dir: str, native_missing) -> None:
    """Write sky_rs/_build_info.py beside the extension: why the build left
    the extension out (None when it is there), for get_backend_info()."""
    os.makedirs(package_dir, exist_ok=True)
    with open(os.path.join(package_dir, '_build_info.py'), 'w',
              encoding='utf-8') as f:
        f.write('"""Written by setup.py as sky_rs was built."""\n\n'
                '# Why the Go extension was left out of this build, or None.\n'
                f'NATIVE_MISSING = {native_missing!r}\n')


# gopy's wrapper of an exported function is Go code that releases the GIL
# (PyEval_SaveThread) as its first statement and takes it back
# (PyEval_RestoreThread) before it returns. But a thread runs Go code only
# while it holds one of the runtime's GOMAXPROCS Ps: a thread calling in while
# every P is busy waits for one still holding the GIL, and every other Python
# thread waits with it (an asyncio loop beside native hashing stalled for
# 100-500 ms); a thread done with Go waits for the GIL still holding its P.
# So the GIL is released and taken back in C, around the call into Go, and
# the Go wrapper touches no Python state, but for setting an error, which
# takes the GIL for that moment (skyrs_set_error). The build fails if gopy's
# code is not what these edits expect.
#
# A function whose name ends in KEEPING_GIL is called with the GIL held: it
# does bounded work on local files, and released and taken back beside a busy
# Python thread the GIL would cost a switch interval, 5 ms, hundreds of times
# the call.
KEEPING_GIL = 'KeepingGIL'
_GO_SAVE_THREAD = '_saved_thread := C.PyEval_SaveThread()'
_GO_RESTORE_THREAD = ('C.PyEval_RestoreThread(_saved_thread)',
                      'defer C.PyEval_RestoreThread(_saved_thread)')
_GO_SET_ERROR = 'C.PyErr_SetString(C.PyExc_RuntimeError, estr)'
_GO_SET_ERROR_HELPER = """
static inline void skyrs_set_error(const char* msg) {
\tPyGILState_STATE gil = PyGILState_Ensure();
\tPyErr_SetString(PyExc_RuntimeError, msg);
\tPyGILState_Release(gil);
}
"""
_GO_EXPORT = '//export pyexport_'
_C_CALL = re.compile(r'^( *)((?:retval = )?pyexport_\w+\([^;\n]*\);)$', re.M)


def release_gil_in_go_wrappers(go_file: str) -> int:
    """Edit gopy's Go wrappers of the pyexport functions in go_file so that
    they neither release nor take the GIL; returns how many were edited."""
    with open(go_file, encoding='utf-8') as f:
        lines = f.read().split('\n')
    out, edited, in_export = [], 0, False
    for line in lines:
        if line.startswith('//export '):
            in_export = line.startswith(_GO_EXPORT)
        code = line.strip()
        if in_export and code == _GO_SAVE_THREAD:
            edited += 1
            continue
        if in_export and code in _GO_RESTORE_THREAD:
            continue
        if in_export and code == _GO_SET_ERROR:
            line = line.replace(_GO_SET_ERROR, 'C.skyrs_set_error(estr)')
        elif in_export and 'C.Py' in code:
            raise NativeBuildError(f'unexpected Python call in gopy wrapper: '
                                   f'{code}')
        out.append(line)
    text = '\n'.join(out)
    preamble_end = '*/\nimport "C"'
    if text.count(preamble_end) != 1 or edited != text.count(_GO_EXPORT):
        raise NativeBuildError('gopy\'s Go wrappers are not as expected')
    text = text.replace(preamble_end, _GO_SET_ERROR_HELPER + preamble_end)
    with open(go_file, 'w', encoding='utf-8') as f:
        f.write(text)
    return edited


def release_gil_in_c_wrappers(c_file: str, expected: int) -> None:
    """Release the GIL in pybindgen's C wrappers around each call of a
    pyexport function in c_file (expected of them), but for the functions
    named ...KEEPING_GIL."""
    with open(c_file, encoding='utf-8') as f:
        text = f.read()
    calls = 0

    def release(call: 're.Match[str]') -> str:
        nonlocal calls
        calls += 1
        indent, statement = call.group(1), call.group(2)
        if statement.split('(', 1)[0].endswith(KEEPING_GIL):
            return call.group(0)
        return (f'{indent}Py_BEGIN_ALLOW_THREADS\n{indent}{statement}\n'
                f'{indent}Py_END_ALLOW_THREADS')

    text = _C_CALL.sub(release, text)
    if calls != expected:
        raise NativeBuildError(f'{calls} calls of pyexport functions in '
                               f'{c_file}, {expected} expected')
    with open(c_file, 'w', encoding='utf-8') as f:
        f.write(text)


def remove_shadowing_extensions(target: str) -> None:
    """Remove the extension files that Python would import instead of target
    (a path in the build directory), there and in the source package: it
    prefers _sky_rs.cpython-311-x86_64-linux-gnu.so, an older build's, to
    the _sky_rs.abi3.so built now, which an editable install copies beside it
    in the checkout."""
    name = os.path.basename(target)
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    built = next((s for s in suffixes if name.endswith(s)), None)
    if built is None:
        return
    stem = name[:-len(built)]
    for directory in {os.path.dirname(target), os.path.join(HERE, 'sky_rs')}:
        for suffix in suffixes[:suffixes.index(built)]:
            path = os.path.join(directory, stem + suffix)
            if os.path.exists(path):
                sys.stderr.write(f'sky_rs build: removing {path}, which '
                                 f'would import instead of {name}\n')
                os.remove(path)


class GopyBuildExt(build_ext):
    """Builds sky_rs._sky_rs with gopy instead of a C compiler."""

    def build_extensions(self):
        self._not_built = []
        super().build_extensions()
        # Whatever runs next (the in-place copy of an editable install, the
        # wheel's file list) must not look for the missing extension.
        self.extensions = [
            e for e in self.extensions if e not in self._not_built
        ]

    def build_extension(self, ext):
        # An in-tree build directory may hold the extension of an earlier
        # build; it must not ship in place of this one.
        target = self.get_ext_fullpath(ext.name)
        if os.path.exists(target):
            os.remove(target)
        remove_shadowing_extensions(target)
        try:
            if pure_python_requested():
                raise NativeBuildError('built as pure Python on purpose: '
                                       'SKY_RS_PURE_PYTHON=1')
            self._build_with_gopy(ext)
        except NativeBuildError as e:
            if native_required():
                raise
            self._not_built.append(ext)
            self.distribution.sky_rs_native_built = False
            write_build_info(os.path.dirname(target), str(e))
            if pure_python_requested():
                sys.stderr.write('*** sky_rs: pure Python, as '
                                 'SKY_RS_PURE_PYTHON=1 asks\n')
                return
            sys.stderr.write(
                '\n*** sky_rs: the Go extension was not built '
                f'({e}).\n*** Installing pure Python: sky_fallback answers '
                'every call. For the native backend install Go 1.26+ and '
                'reinstall from the source,\n*** e.g. in a checkout: '
                'pip install --no-cache-dir --force-reinstall .\n\n')
        else:
            self.distribution.sky_rs_native_built = True
            write_build_info(os.path.dirname(target), None)

    def _build_with_gopy(self, ext):
        if sys.platform not in ('linux', 'darwin'):
            raise NativeBuildError(f'no native build for {sys.platform}')
        if sys.platform == 'linux' and not _glibc():
            raise NativeBuildError('Go shared libraries cannot be loaded by '
                                   'CPython on a libc other than glibc (musl)')
        go = shutil.which('go')
        if go is None:
            raise NativeBuildError('no Go toolchain on PATH')
        # Inside the module, so gopy's generated main package resolves the
        # module's own packages; a leading underscore keeps ./... away from
        # it. One directory per build, so builds for several interpreters
        # (or an editable install beside `python -m build`) can run at once.
        top = os.path.join(HERE, '_build')
        os.makedirs(top, exist_ok=True)
        soabi = sysconfig.get_config_var('SOABI') or 'python'
        work = tempfile.mkdtemp(prefix=f'gopy-{soabi}-', dir=top)
        try:
            self._gopy(go, work, ext)
        finally:
            if not _flag('SKY_RS_KEEP_BUILD'):
                shutil.rmtree(work, ignore_errors=True)

    def _gopy(self, go, work, ext):
        # The steps of `gopy build`, with gopy's wrappers changed in between
        # (release_gil_in_go_wrappers, release_gil_in_c_wrappers): gen, goimports, a first c-shared build
        # for the export header, pybindgen's C module, the final link.
        tools = os.path.join(work, 'bin')
        out = os.path.join(work, 'out')
        env = self._go_env(tools)
        # gopy and goimports run here, whatever the extension's target.
        tools_env = dict(env, CGO_ENABLED='0')
        for name in ('GOOS', 'GOARCH'):
            tools_env.pop(name, None)
        self._run([
            go, 'build', '-o', tools + os.sep, 'github.com/go-python/gopy',
            'golang.org/x/tools/cmd/goimports'
        ], tools_env)
        if ext.py_limited_api:
            shim = os.path.join(work, 'limited_api.h')
            with open(shim, 'w', encoding='utf-8') as f:
                f.write(LIMITED_API_SHIM)
            # CPPFLAGS: gopy sets CGO_CFLAGS itself, for the interpreter.
            env['CGO_CPPFLAGS'] = ' '.join([
                env.get('CGO_CPPFLAGS', ''),
                '-DPy_LIMITED_API=' + LIMITED_API_HEX, '-include',
                _go_quote(shim)
            ]).strip()
        self._run([
            os.path.join(tools, 'gopy'), 'gen', '-output=' + out,
            '-vm=' + sys.executable, '-dynamic-link=true', '-name=sky_rs',
            '-no-make=true', GO_PACKAGE
        ], env)
        go_file = os.path.join(out, 'sky_rs.go')
        c_file = os.path.join(out, 'sky_rs.c')
        wrappers = release_gil_in_go_wrappers(go_file)
        self._run([os.path.join(tools, 'goimports'), '-w', go_file], env)
        c_shared = [go, 'build', '-mod=mod', '-buildmode=c-shared',
                    '-ldflags=-s -w', '-o']
        self._run(c_shared + ['sky_rs_go.so', '.'], env, cwd=out)
        os.remove(os.path.join(out, 'sky_rs_go.so'))  # only its header is used
        self._run([sys.executable, 'build.py'], env, cwd=out)
        release_gil_in_c_wrappers(c_file, wrappers)
        suffix = sysconfig.get_config_var('EXT_SUFFIX') or '.so'
        env['CGO_CFLAGS'] = ' '.join(
            ['-I' + sysconfig.get_path('include'), '-fPIC', '-Ofast'])
        # LDSHARED without the compiler and -bundle, as gopy passes it.
        ldshared = (sysconfig.get_config_var('LDSHARED') or 'cc').split(' ', 1)
        env['CGO_LDFLAGS'] = ' '.join(
            ldshared[1:]).replace('-bundle', '') + ' -s'
        self._run(c_shared + ['_sky_rs' + suffix, '.'], env, cwd=out)
        built = os.path.join(out, '_sky_rs' + suffix)
        if not os.path.exists(built):
            raise NativeBuildError(f'no {built} after the build')
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)

    @staticmethod
    def _go_env(tools):
        env = dict(os.environ)
        env['PATH'] = tools + os.pathsep + env.get('PATH', '')
        env['CGO_ENABLED'] = '1'
        # Reproducible paths; no VCS stamp (an sdist or a container copy of
        # the tree may have no usable .git).
        goflags = shlex.split(env.get('GOFLAGS', ''))
        for flag in ('-trimpath', '-buildvcs=false'):
            if not any(f.split('=')[0] == flag.split('=')[0] for f in goflags):
                goflags.append(flag)
        env['GOFLAGS'] = ' '.join(goflags)
        # gopy puts the interpreter's LDSHARED flags into a #cgo LDFLAGS
        # line; Debian's and Ubuntu's carry -fwrapv, which cgo refuses there.
        allow = env.get('CGO_LDFLAGS_ALLOW')
        env['CGO_LDFLAGS_ALLOW'] = (f'(?:{allow})|-fwrapv' if allow else
                                    '-fwrapv')
        if sys.platform == 'linux' and 'GOARCH' not in env:
            machine = sysconfig.get_platform().rpartition('-')[2]
            if machine in _LINUX_GOARCH:
                env['GOARCH'] = _LINUX_GOARCH[machine]
        if sys.platform == 'darwin' and 'GOARCH' not in env:
            archs = [
                a for a in shlex.split(env.get('ARCHFLAGS', ''))
                if a != '-arch'
            ]
            if len(archs) > 1:
                raise NativeBuildError(
                    f'one architecture at a time, not ARCHFLAGS={archs}')
            if archs:
                if archs[0] not in _DARWIN_GOARCH:
                    raise NativeBuildError(f'no Go target for {archs[0]}')
                env['GOARCH'] = _DARWIN_GOARCH[archs[0]]
        return env

    @staticmethod
    def _run(cmd, env, cwd=HERE):
        print('sky_rs build:', ' '.join(cmd), flush=True)
        try:
            subprocess.run(cmd, cwd=cwd, env=env, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise NativeBuildError(f'{os.path.basename(cmd[0])} failed: {e}')


class BdistWheel(bdist_wheel):
    """A wheel whose extension could not be built is tagged py3-none-any."""

    def run_command(self, command):
        # bdist_wheel.run() resets build_ext before it builds, so the outcome
        # is known only once its own "build" has run, before it is used.
        super().run_command(command)
        if (command == 'build' and
                not getattr(self.distribution, 'sky_rs_native_built', True)):
            self.root_is_pure = True


if pure_python_requested() and native_required():
    sys.exit('sky_rs: SKY_RS_PURE_PYTHON=1 contradicts a release build '
             '(CIBUILDWHEEL=1 or SKY_RS_REQUIRE_NATIVE=1)')
# Also with SKY_RS_PURE_PYTHON=1: build_ext then leaves the extension out and
# records why (write_build_info).
ext_modules = [
    Extension('sky_rs._sky_rs', sources=[], py_limited_api=limited_api())
]
options = {}
if limited_api():
    options['bdist_wheel'] = {'py_limited_api': LIMITED_API_TAG}

setup(ext_modules=ext_modules,
      options=options,
      cmdclass={
          'build_ext': GopyBuildExt,
          'bdist_wheel': BdistWheel
      })
