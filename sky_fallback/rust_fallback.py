"""SkyPilot's utilities, answered by the Go module ``sky_rs`` when it can.

A drop-in for ``sky.utils.rust_fallback``: the twelve public functions have
upstream's signatures and give upstream's results and exceptions whichever
backend answers. Each call goes to ``sky_rs`` when

- ``sky_rs`` loads (it is loaded on the first call that wants it, not at
  import),
- ``SKYPILOT_USE_RUST`` is not ``0``/``false``/``no``/``off`` (any case) at the
  moment of the call, and
- this process is not a child forked after the Go runtime started (Go does not
  survive ``fork()``), and
- Go is the faster backend for that function: where the Python reference is
  faster (``PYTHON_ROUTED``, measured in docs/BENCHMARKS.md) the public
  function *is* the reference, unless ``SKY_RS_FORCE_NATIVE=1`` was set at
  import. ``get_backend_info()['routes']`` shows the routing.

Otherwise, and whenever the native call raises, the pure-Python reference
(``_python_<name>``) answers that call. Native results are trusted; native
exceptions are not: the reference re-runs the call and raises upstream's
exact exception itself. ``NotImplementedError`` is how ``sky_rs`` declines
input it does not handle, and is silent; ``sky_rs.NativeFault`` (a recovered Go
panic) is logged once per function.
"""

import itertools
import logging
import os
import platform
import sys
import time
from typing import (Any, Dict, FrozenSet, Iterable, List, Optional, Protocol,
                    Set, Union)

from sky_fallback._reference import _python_are_processes_alive
from sky_fallback._reference import _python_base36_encode
from sky_fallback._reference import _python_estimate_fd_for_directory
from sky_fallback._reference import _python_find_free_port
from sky_fallback._reference import _python_format_float
from sky_fallback._reference import _python_get_cpu_count
from sky_fallback._reference import _python_get_max_workers_for_file_mounts
from sky_fallback._reference import _python_get_mem_size_gb
from sky_fallback._reference import _python_get_parallel_threads
from sky_fallback._reference import _python_hash_file
from sky_fallback._reference import _python_hash_files
from sky_fallback._reference import _python_is_process_alive
from sky_fallback._reference import _python_read_last_n_lines
from sky_fallback._reference import _python_truncate_long_string

__all__ = [
    'read_last_n_lines',
    'hash_file',
    'find_free_port',
    'base36_encode',
    'format_float',
    'truncate_long_string',
    'get_cpu_count',
    'get_mem_size_gb',
    'get_parallel_threads',
    'is_process_alive',
    'get_max_workers_for_file_mounts',
    'estimate_fd_for_directory',
    'hash_files',
    'are_processes_alive',
    'is_rust_available',
    'get_backend_info',
]

logger = logging.getLogger(__name__)


class FileHash(Protocol):
    """What ``hash_file`` returns: a ``hashlib`` object or sky_rs's twin."""

    @property
    def name(self) -> str:
        ...

    @property
    def digest_size(self) -> int:
        ...

    @property
    def block_size(self) -> int:
        ...

    def digest(self) -> bytes:
        ...

    def hexdigest(self) -> str:
        ...


# The gate. It is read on every call, so it must cost next to nothing:
# os.environ.get goes through encodekey/decodevalue (hundreds of ns), while
# the raw mapping behind os.environ (kept in sync by its __setitem__ and
# __delitem__) is a plain dict lookup, and the "off" spellings are
# precomputed in raw form.
GATE_VARIABLE = 'SKYPILOT_USE_RUST'
_GATE_OFF_WORDS = ('0', 'false', 'no', 'off')


def _case_variants(word: str) -> List[str]:
    return [
        ''.join(letters) for letters in itertools.product(
            *({c.lower(), c.upper()} for c in word))
    ]


_GATE_OFF_TEXT: FrozenSet[str] = frozenset(
    variant for word in _GATE_OFF_WORDS for variant in _case_variants(word))

try:
    _environ: Any = os.environ._data  # type: ignore[attr-defined]
    _GATE_KEY: Any = os.environ.encodekey(  # type: ignore[attr-defined]
        GATE_VARIABLE)
    _GATE_OFF: FrozenSet[Any] = frozenset(
        os.environ.encodevalue(value)  # type: ignore[attr-defined]
        for value in _GATE_OFF_TEXT)
except AttributeError:  # Not CPython's os._Environ: take the slow path.
    _environ = os.environ
    _GATE_KEY = GATE_VARIABLE
    _GATE_OFF = _GATE_OFF_TEXT


_environ_get = _environ.get

# Each function tests the gate inline, as
#     _GATE_KEY not in _environ or _environ[_GATE_KEY] not in _GATE_OFF
# which, with the variable unset (the usual case), is one dict lookup and no
# call at all.
def gate_open() -> bool:
    """Whether ``SKYPILOT_USE_RUST`` allows the native backend right now
    (unset, or not ``0``/``false``/``no``/``off`` in any case)."""
    return _GATE_KEY not in _environ or _environ[_GATE_KEY] not in _GATE_OFF


# The native side. ``_native`` is the sky_rs module once loaded, None when it
# cannot be used in this process, and a stand-in that loads it on first use
# before that, so a process that never wants native never starts Go. While
# sky_rs defers its load (the process cannot host the Go runtime right now:
# sky_rs.LoadDeferred), the stand-in stays, each call is answered in Python,
# and sky_rs tries again once a second at most.
class _NativeNotLoaded:
    """Stands in for sky_rs until the first call that wants native."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        native = _load_native()
        if native is None:
            raise NotImplementedError(_unavailable_reason)
        return getattr(native, name)


_NOT_LOADED = _NativeNotLoaded()
_native: Any = _NOT_LOADED
# While loading is deferred: the time.monotonic() before which not to retry.
_retry_at = 0.0
# sky_rs.NativeFault once sky_rs is loaded; () matches no exception.
_native_fault: Any = ()
_unavailable_reason: Optional[str] = None
_faults_logged: Set[str] = set()


def _load_native() -> Any:
    """Return the loaded sky_rs module, or None when it cannot be used here
    (for now, while sky_rs defers its load)."""
    global _native, _native_fault, _unavailable_reason, _retry_at
    if _native is not _NOT_LOADED:
        return _native
    if _retry_at and time.monotonic() < _retry_at:
        return None
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
        sky_rs.load()
    except Exception as error:  # pylint: disable=broad-except
        sky_rs = sys.modules.get('sky_rs')
        # At the open-file limit even the import of sky_rs fails (OSError).
        if isinstance(error,
                      (OSError, getattr(sky_rs, 'LoadDeferred', OSError))):
            _unavailable_reason = ('sky_rs defers loading Go, this process '
                                   f'cannot host it now: {error}')
            _retry_at = time.monotonic() + getattr(sky_rs, 'RETRY_SECONDS',
                                                   1.0)
        else:
            _unavailable_reason = (
                f'sky_rs cannot be loaded: {type(error).__name__}: {error}')
            _native = None
        return None
    _native_fault = sky_rs.NativeFault
    _unavailable_reason = None
    _native = sky_rs
    return sky_rs


def _after_fork_in_child() -> None:
    # The Go runtime's threads do not exist in the child: calling into Go
    # there can hang. If Go has started in the parent, the child uses Python.
    global _native, _unavailable_reason
    sky_rs = sys.modules.get('sky_rs')
    if sky_rs is None:
        return
    is_loaded = getattr(sky_rs, 'is_loaded', None)
    try:
        go_started = is_loaded() if is_loaded else _native is sky_rs
    except Exception:  # pylint: disable=broad-except
        go_started = True
    if go_started:
        _native = None
        _unavailable_reason = ('forked child of a process running Go: the Go '
                               'runtime does not survive fork()')


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _native_failed(name: str, error: Exception) -> None:
    """Note a native exception; the Python reference answers the call."""
    if isinstance(error, _native_fault) and name not in _faults_logged:
        _faults_logged.add(name)
        logger.warning(
            'sky_rs.%s hit an internal fault (%s); the Python reference '
            'answers instead. Further faults of %s are not logged.', name,
            error, name)


# The twelve functions. Each is the same three steps, written out so that
# the signature, the docstring and the fast path stay plain.


def read_last_n_lines(file_path: str,
                      n: int,
                      chunk_size: int = 8192,
                      encoding: str = 'utf-8',
                      errors: str = 'replace') -> List[str]:
    """Read the last ``n`` lines of a file, as ``common_utils`` does.

    Every line but the last ends in ``'\\n'``; trailing ``'\\r'`` are stripped.
    Raises ``AssertionError`` for ``n < 0``, ``chunk_size <= 0`` or a missing
    file, and ``RuntimeError`` for other read errors.
    """
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.read_last_n_lines(file_path, n, chunk_size,
                                             encoding, errors)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('read_last_n_lines', error)
    return _python_read_last_n_lines(file_path, n, chunk_size, encoding,
                                     errors)


def hash_file(path: str, hash_alg: str) -> FileHash:
    """Hash a whole file with ``hash_alg`` (a ``hashlib`` name).

    The result has ``digest()``, ``hexdigest()``, ``name``, ``digest_size`` and
    ``block_size``. The file is opened first, so a missing file raises
    ``FileNotFoundError`` even when the algorithm is unknown.
    """
    if (_native is not None and _environ_get(_GATE_KEY) not in _GATE_OFF and
            not (type(hash_alg) is str and  # pylint: disable=unidiomatic-typecheck
                 hash_alg in PYTHON_ROUTED_HASH_ALGORITHMS)):
        try:
            return _native.hash_file(path, hash_alg)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('hash_file', error)
    return _python_hash_file(path, hash_alg)


def hash_files(paths: Iterable[str], hash_alg: str) -> List[FileHash]:
    """Return ``[hash_file(path, hash_alg) for path in paths]``.

    The native side hashes the files on all cores, a batch per call into Go:
    the form for SkyPilot's file mounts, thousands of small files hashed on
    every launch. The first error is raised as that loop would raise it.
    """
    if not isinstance(paths, (list, tuple)):
        paths = list(paths)  # The reference may have to go over them again.
    if (_native is not None and _environ_get(_GATE_KEY) not in _GATE_OFF and
            not (type(hash_alg) is str and  # pylint: disable=unidiomatic-typecheck
                 hash_alg in PYTHON_ROUTED_HASH_ALGORITHMS)):
        try:
            return _native.hash_files(paths, hash_alg)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('hash_files', error)
    return _python_hash_files(paths, hash_alg)


def _file_digests(paths: List[str], hash_alg: str) -> List[bytes]:
    """``[h.digest() for h in hash_files(paths, hash_alg)]``, routed as
    hash_files is, without a hash object per file: for SkyPilot's config
    hash (sky_fallback.skypilot.config_hash), the files of a launch's file
    mounts."""
    if _file_digests_go_native(hash_alg):
        try:
            return _native._file_digests(paths, hash_alg)  # pylint: disable=protected-access
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('hash_files', error)
    return [h.digest() for h in _python_hash_files(paths, hash_alg)]


def _file_digests_go_native(hash_alg: str) -> bool:
    """Whether _file_digests(..., hash_alg) asks Go now (or loads it to)."""
    return (_native is not None and _environ_get(_GATE_KEY) not in _GATE_OFF and
            not (type(hash_alg) is str and  # pylint: disable=unidiomatic-typecheck
                 hash_alg in PYTHON_ROUTED_HASH_ALGORITHMS))


def _native_for_file_digests(hash_alg: str) -> Any:
    """sky_rs, loaded now if need be, when _file_digests(..., hash_alg)
    asks Go; otherwise None."""
    return _load_native() if _file_digests_go_native(hash_alg) else None


def find_free_port(start_port: int) -> int:
    """Return the first port from ``start_port`` up to 65534 that binds.

    Raises ``OSError('No free ports available.')`` when none does.
    """
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.find_free_port(start_port)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('find_free_port', error)
    return _python_find_free_port(start_port)


def base36_encode(hex_str: str) -> str:
    """Convert a hex string (as ``int(hex_str, 16)`` reads it) to base 36.

    A negative number raises ``ValueError`` (upstream loops forever).
    """
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.base36_encode(hex_str)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('base36_encode', error)
    return _python_base36_encode(hex_str)


def format_float(num: Union[float, int], precision: int = 1) -> str:
    """Format a number without a decimal point when it is whole."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.format_float(num, precision)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('format_float', error)
    return _python_format_float(num, precision)


def truncate_long_string(s: str,
                         max_length: int = 35,
                         truncate_middle: bool = False) -> str:
    """Truncate ``s`` to about ``max_length`` code points, adding ``'...'``."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.truncate_long_string(s, max_length,
                                                truncate_middle)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('truncate_long_string', error)
    return _python_truncate_long_string(s, max_length, truncate_middle)


def get_cpu_count() -> int:
    """Return the number of usable CPUs, aware of affinity and cgroups."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.get_cpu_count()
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('get_cpu_count', error)
    return _python_get_cpu_count()


def get_mem_size_gb() -> float:
    """Return the usable memory in GiB, aware of cgroups."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.get_mem_size_gb()
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('get_mem_size_gb', error)
    return _python_get_mem_size_gb()


def get_parallel_threads(cloud_str: Optional[str] = None) -> int:
    """Return ``max(4, cpus - 1)`` threads, four times that on Kubernetes."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.get_parallel_threads(cloud_str)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('get_parallel_threads', error)
    return _python_get_parallel_threads(cloud_str)


def is_process_alive(pid: int) -> bool:
    """Return whether ``pid`` is a live process (a zombie is not)."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.is_process_alive(pid)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('is_process_alive', error)
    return _python_is_process_alive(pid)


def are_processes_alive(pids: Iterable[int]) -> List[bool]:
    """Return ``[is_process_alive(pid) for pid in pids]``, in one call.

    The native side checks the whole batch in one call into Go, on all
    cores: the form for health checks over many pids.
    """
    if not isinstance(pids, (list, tuple)):
        pids = list(pids)  # The reference may have to go over them again.
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.are_processes_alive(pids)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('are_processes_alive', error)
    return _python_are_processes_alive(pids)


def get_max_workers_for_file_mounts(
        common_file_mounts: Optional[Dict[str, str]] = None,
        cloud_str: Optional[str] = None,
        *,
        num_sources: Optional[int] = None,
        estimated_files_per_source: Optional[int] = None) -> int:
    """Return how many rsync workers the file descriptor limit allows.

    Takes upstream's ``common_file_mounts`` (destination -> source) or the
    user's guide's ``num_sources=``/``estimated_files_per_source=``.
    """
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.get_max_workers_for_file_mounts(
                common_file_mounts,
                cloud_str,
                num_sources=num_sources,
                estimated_files_per_source=estimated_files_per_source)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('get_max_workers_for_file_mounts', error)
    return _python_get_max_workers_for_file_mounts(
        common_file_mounts,
        cloud_str,
        num_sources=num_sources,
        estimated_files_per_source=estimated_files_per_source)


def estimate_fd_for_directory(path: str) -> int:
    """Return five file descriptors per entry directly in ``path``."""
    if _native is not None and (_GATE_KEY not in _environ or
                                _environ[_GATE_KEY] not in _GATE_OFF):
        try:
            return _native.estimate_fd_for_directory(path)
        except Exception as error:  # pylint: disable=broad-except
            _native_failed('estimate_fd_for_directory', error)
    return _python_estimate_fd_for_directory(path)


# Routing. A function answers natively only where Go measured faster than
# the Python reference (docs/BENCHMARKS.md, made by `make bench`, shows the
# figures). Where Python is faster, the public name *is* the reference, so a
# call costs exactly what the reference costs, with no gate and no dispatch
# in between: for these functions a call into Go costs more than the whole
# Python answer. SKY_RS_FORCE_NATIVE=1, read at import, routes every function
# through the native side (as the test suite runs, so that every line of Go
# stays exercised through this module too).
FORCE_NATIVE_VARIABLE = 'SKY_RS_FORCE_NATIVE'
FORCE_NATIVE: bool = os.environ.get(FORCE_NATIVE_VARIABLE, '').strip().lower(
) in ('1', 'true', 'yes', 'on')

# The functions the reference answers (unless FORCE_NATIVE): a few hundred
# nanoseconds of Python each, less than one call into Go.
PYTHON_ROUTED: FrozenSet[str] = frozenset({
    'format_float',
    'truncate_long_string',
    'get_parallel_threads',
})

# hash_file and hash_files are routed by algorithm too: with these hashlib
# (OpenSSL) hashes a large file faster than Go, so the reference answers
# (unless FORCE_NATIVE). Both cases, as callers spell them.
PYTHON_ROUTED_HASH_ALGORITHMS: FrozenSet[str] = frozenset(
    () if FORCE_NATIVE else (spelling for algorithm in ('sha384', 'sha512')
                             for spelling in (algorithm, algorithm.upper())))

if not FORCE_NATIVE:
    format_float = _python_format_float  # type: ignore[assignment] # noqa: F811
    truncate_long_string = _python_truncate_long_string  # type: ignore[assignment] # noqa: F811
    get_parallel_threads = _python_get_parallel_threads  # type: ignore[assignment] # noqa: F811


def routes() -> Dict[str, str]:
    """Return which backend answers each function now: ``'go'`` or
    ``'python'`` (the gate, the availability of sky_rs and the routing
    together). ``hash_file`` and ``hash_files`` on ``'go'`` still answer
    the algorithms of PYTHON_ROUTED_HASH_ALGORITHMS in Python."""
    native = gate_open() and _load_native() is not None
    return {
        name: ('go' if native and (FORCE_NATIVE or name not in PYTHON_ROUTED)
               else 'python') for name in _ROUTED_NAMES
    }


# Every function of __all__: the two introspection calls are not routed.
_ROUTED_NAMES = tuple(
    name for name in __all__
    if name not in ('is_rust_available', 'get_backend_info'))


# Introspection.


def is_rust_available() -> bool:
    """Return whether the next call would go to the native module.

    True when ``sky_rs`` loads, ``SKYPILOT_USE_RUST`` allows it right now, and
    this is not a child forked after Go started. (The name is the one callers
    of the earlier Rust module already use.)
    """
    return gate_open() and _load_native() is not None


def get_backend_info() -> Dict[str, Any]:
    """Describe which backend answers calls right now, and why.

    Keys: ``backend`` (``'go'`` or ``'python'``), ``native_available``,
    ``loaded`` (whether the Go runtime has started in this process),
    ``enabled`` (the ``SKYPILOT_USE_RUST`` gate now), ``reason`` (why Python,
    else None), ``sky_rs_version``, ``go_version``, ``module_path`` (the
    extension file), ``python_version``, ``platform``, ``force_native``
    (``SKY_RS_FORCE_NATIVE`` at import), ``routes`` (see :func:`routes`:
    which backend answers each function now) and ``python_hash_algorithms``
    (those that ``hash_file`` and ``hash_files`` answer in Python even on
    the ``'go'`` route: hashlib is faster there).

    With the gate open this loads sky_rs if no call has yet, so that
    ``native_available`` is a fact, not a guess. With it off nothing starts
    the Go runtime: ``native_available`` then says whether the extension is
    installed and not known to fail, and ``go_version`` is read from its file.
    """
    enabled = gate_open()
    sky_rs = _sky_rs_module()
    if enabled:
        available = _load_native() is not None
        reason = None if available else _unavailable_reason
    loaded = sky_rs is not None and sky_rs.is_loaded()
    if not enabled:
        available = _native is not None and (
            loaded or _ask(sky_rs, 'extension_path') is not None)
        reason = (f'{GATE_VARIABLE}={os.environ.get(GATE_VARIABLE)!r} turns '
                  'the native backend off')
    return {
        'backend': 'go' if reason is None else 'python',
        'native_available': available,
        'loaded': loaded,
        'enabled': enabled,
        'reason': reason,
        'sky_rs_version': getattr(sky_rs, '__version__', None),
        'go_version': _ask(sky_rs, 'go_version'),
        'module_path': _ask(sky_rs, 'extension_path'),
        'python_version': platform.python_version(),
        'platform': platform.platform(),
        'force_native': FORCE_NATIVE,
        'routes': routes(),
        'python_hash_algorithms': sorted(
            {alg.lower() for alg in PYTHON_ROUTED_HASH_ALGORITHMS}),
    }


def _sky_rs_module() -> Any:
    """The sky_rs package (its Python part: importing it starts no Go), or
    None when it cannot be imported."""
    try:
        import sky_rs  # pylint: disable=import-outside-toplevel
    except (ImportError, OSError):
        return None
    return sky_rs


def _ask(sky_rs: Any, function_name: str) -> Optional[str]:
    """sky_rs.<function_name>(), or None (at the open-file limit, even
    finding the extension file can fail)."""
    if sky_rs is None:
        return None
    try:
        return getattr(sky_rs, function_name)()
    except Exception:  # pylint: disable=broad-except
        return None
