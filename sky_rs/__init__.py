"""sky_rs: SkyPilot's hot utilities in Go, as a CPython extension.

This module is the hand-written face of the gopy-built extension ``_sky_rs``:
upstream SkyPilot's names, parameters and defaults; the exceptions SPEC.md
requires; environment variables read here (Go only sees the environment the
process started with); results shaped as upstream returns them.

The extension is loaded on the first call, so ``import sky_rs`` starts no Go
runtime. The Go runtime does not survive ``fork()``: in a child forked after it
started every call raises :class:`ForkedChildError`.

Input that the native side deliberately does not handle (an encoding other
than UTF-8, an unusual hash algorithm, a string Go cannot carry) raises
``NotImplementedError``; ``sky_fallback.rust_fallback`` answers such calls in
pure Python. Most callers want that module, not this one.
"""

import builtins
import os
from typing import Dict, List, Optional

__version__ = '0.1.0'

__all__ = [
    'read_last_n_lines', 'hash_file', 'find_free_port', 'base36_encode',
    'format_float', 'truncate_long_string', 'get_cpu_count', 'get_mem_size_gb',
    'get_parallel_threads', 'is_process_alive',
    'get_max_workers_for_file_mounts', 'estimate_fd_for_directory',
    'hash_files', 'are_processes_alive', 'FileDigest', 'NativeFault',
    'ForkedChildError', 'load', 'is_loaded', 'go_version', 'extension_path',
]


class NativeFault(SystemError):
    """An internal fault in the Go code (a recovered panic): a bug in sky_rs."""


class ForkedChildError(NotImplementedError):
    """sky_rs was called in a child forked after the Go runtime had started."""


# --- loading --------------------------------------------------------------


class _ForkedExtension:
    """Stands in for the extension in a forked child: every use refuses."""

    def __getattr__(self, name):
        raise ForkedChildError(
            'the Go runtime does not survive fork(); sky_rs cannot be used in '
            'a child forked after it started (use the spawn start method, or '
            'sky_fallback.rust_fallback, which answers in Python)')


_FORKED = _ForkedExtension()
_lib = None  # the loaded extension, _FORKED in a forked child, or None


def load():
    """Load the Go extension (idempotent) and return it.

    Raises ImportError when it is missing or cannot load, and ForkedChildError
    in a child forked after the Go runtime started.
    """
    global _lib
    if _lib is None:
        _lib = _load_extension()
    elif _lib is _FORKED:
        getattr(_lib, 'load')
    return _lib


def _load_extension():
    # Go's runtime raises the soft RLIMIT_NOFILE to the hard limit when it
    # starts (go.dev/issue/46279). That would change what this process, and
    # upstream's get_max_workers_for_file_mounts, see: put the limit back.
    try:
        import resource  # pylint: disable=import-outside-toplevel
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        resource = limits = None
    try:
        from sky_rs import _sky_rs  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        if extension_path() is None:
            raise ImportError(
                'sky_rs was installed without its Go extension (no Go '
                'toolchain at build time?): install Go 1.26+ and reinstall '
                'with `pip install --no-cache-dir --force-reinstall sky-rs`; '
                'meanwhile sky_fallback answers every call in Python') from e
        raise
    # The runtime starts on a thread of its own; the first call waits for it.
    _sky_rs.pyexport_GoVersion()
    if limits is not None and resource.getrlimit(
            resource.RLIMIT_NOFILE) != limits:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    return _sky_rs


def is_loaded() -> bool:
    """Whether the Go runtime has started in this process (or its parent)."""
    return _lib is not None


def _after_fork_in_child():
    global _lib
    if _lib is not None:
        _lib = _FORKED


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def go_version() -> str:
    """The Go release the extension was built with (loads it)."""
    return load().pyexport_GoVersion()


def extension_path() -> Optional[str]:
    """The file of the extension module, or None when it is not installed."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    spec = importlib.util.find_spec('sky_rs._sky_rs')
    return spec.origin if spec is not None else None


# --- crossing the boundary ------------------------------------------------

_SEP = '\x1f'

# What pybindgen raises when an argument cannot be carried: a str with a NUL
# or a lone surrogate (ValueError), an int beyond int64 (OverflowError), a
# wrong type (TypeError). Such input is declined, not failed.
_CANNOT_CARRY = (TypeError, ValueError, OverflowError)


def _error(err: RuntimeError, filename=None) -> BaseException:
    """The exception an encoded Go error ("skyrs␟Kind␟errno␟msg") stands for."""
    parts = str(err).split(_SEP, 3)
    if len(parts) != 4 or parts[0] != 'skyrs':
        return NativeFault(f'unexpected error from the Go extension: {err}')
    _, kind, errno, message = parts
    if kind == 'OSError':
        code = int(errno)
        if code:  # message is the file name Go knew, if any
            return OSError(code, os.strerror(code), filename or message or None)
        return OSError(message)
    if kind == 'Decline':
        return NotImplementedError(message)
    if kind == 'Panic':
        return NativeFault(f'Go panic: {message}')
    exc_type = getattr(builtins, kind, None)
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        return NativeFault(f'unknown error kind {kind!r}: {message}')
    return exc_type(message)


def _decline(err: Exception) -> NotImplementedError:
    return NotImplementedError(f'sky_rs cannot carry this argument: {err}')


def _call(name: str, *args, filename=None):
    """Call the Go function ``name``, turning its errors into the exceptions
    SPEC.md requires and arguments it cannot carry into a decline."""
    function = getattr(_lib or load(), name)  # ForkedChildError in a child
    try:
        return function(*args)
    except RuntimeError as e:
        raise _error(e, filename) from None
    except _CANNOT_CARRY as e:
        raise _decline(e) from None


def _take_bytes(lib, handle) -> bytes:
    """Copy a Go []byte handle into bytes and release the handle."""
    lib.IncRef(handle)
    try:
        return lib.Slice_byte_to_bytes(handle)
    finally:
        lib.DecRef(handle)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_environ_data = getattr(os.environ, '_data', None)


def _getenv(name: str) -> Optional[str]:
    """os.environ.get, at a fraction of its cost (read on every call)."""
    if _environ_data is None:
        return os.environ.get(name)
    value = _environ_data.get(os.environ.encodekey(name))
    return None if value is None else os.environ.decodevalue(value)


# --- files ----------------------------------------------------------------

# Error handlers whose output for a byte depends only on that byte's maximal
# invalid subpart, so decoding all lines at once equals decoding each line.
# Not 'ignore': Go strips a line's trailing '\r' before decoding, upstream
# after, and b'\r\xff' decodes to '\r' under 'ignore' (upstream: '').
_CONTEXT_FREE_ERRORS = frozenset(
    ('replace', 'backslashreplace', 'surrogateescape', 'surrogatepass'))
_UTF8_NAMES = frozenset(('utf-8', 'utf8', 'UTF-8', 'UTF8', 'utf_8', 'U8'))


def read_last_n_lines(file_path: str,
                      n: int,
                      chunk_size: int = 8192,
                      encoding: str = 'utf-8',
                      errors: str = 'replace') -> List[str]:
    """The last ``n`` lines of a file, exactly as upstream SkyPilot returns them.

    Go finds the lines (reading backwards from the end, so the cost does not
    grow with the file) and returns their bytes in one piece; Python decodes
    them and splits them into a list in one C-level pass.
    """
    if encoding not in _UTF8_NAMES or not (errors in _CONTEXT_FREE_ERRORS or
                                           errors == 'strict'):
        raise NotImplementedError(
            f'sky_rs reads UTF-8 only with errors in '
            f'{sorted(_CONTEXT_FREE_ERRORS)} or strict')
    if not (type(file_path) is str and _is_int(n) and _is_int(chunk_size)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str path and int sizes')
    try:
        handle = _call('pyexport_ReadLastNLines', file_path, n, chunk_size,
                       filename=file_path)
    except OSError as e:
        raise RuntimeError(f'Failed to read last {n} lines from '
                           f'{file_path}: {e}') from e
    data = _take_bytes(_lib, handle)
    try:
        text = data.decode('utf-8', errors)
    except UnicodeDecodeError:
        # Upstream decodes line by line: its message names the line's offsets.
        raise NotImplementedError(
            'invalid UTF-8 under errors=strict') from None
    flag = text[-1]
    if len(text) == 1:
        return []
    if flag == 'S':  # no line boundary but '\n': splitlines is exact
        lines = text.splitlines(True)
        lines.pop()
    else:
        lines = [line + '\n' for line in text[:-1].split('\n')]
        lines.pop()
    lines[-1] = lines[-1][:-1]
    return lines


class FileDigest:
    """The digest of a whole file, with the read-only interface of a hashlib
    object (``digest()``, ``hexdigest()``, ``name``, ``digest_size``,
    ``block_size``, ``copy()``). The file is hashed in Go, so there is no hash
    state to feed: ``update()`` raises."""

    __slots__ = ('name', 'digest_size', 'block_size', '_hex')

    # name: (digest_size, block_size), as hashlib reports them.
    SIZES = {
        'md5': (16, 64),
        'sha1': (20, 64),
        'sha224': (28, 64),
        'sha256': (32, 64),
        'sha384': (48, 128),
        'sha512': (64, 128),
    }

    def __init__(self, name: str, hexdigest: str):
        self.name = name
        self.digest_size, self.block_size = self.SIZES[name]
        self._hex = hexdigest

    def hexdigest(self) -> str:
        return self._hex

    def digest(self) -> bytes:
        return bytes.fromhex(self._hex)

    def copy(self) -> 'FileDigest':
        return FileDigest(self.name, self._hex)

    def update(self, data) -> None:
        raise TypeError(
            f'{type(self).__name__} is the finished digest of a file hashed in '
            f'Go and cannot be updated; use hashlib.new({self.name!r}) to hash '
            'more data')

    def __repr__(self) -> str:
        return f'<{self.name} FileDigest {self._hex}>'


def hash_file(path: str, hash_alg: str) -> FileDigest:
    """The digest of a file, as ``hashlib.new(hash_alg)`` fed the whole file."""
    if not (type(path) is str and type(hash_alg) is str):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes str arguments')
    name = hash_alg.lower()
    if name not in FileDigest.SIZES:
        raise NotImplementedError(f'sky_rs does not hash with {hash_alg!r}')
    return FileDigest(name, _call('pyexport_HashFile', path, name,
                                  filename=path))


def hash_files(paths: List[str], hash_alg: str) -> List[FileDigest]:
    """hash_file for many files in one call, hashed on all cores."""
    raise NotImplementedError('hash_files is not built yet')


def find_free_port(start_port: int) -> int:
    """The first port from ``start_port`` to 65534 that an IPv4 TCP socket can
    bind on all interfaces (no SO_REUSEADDR, as upstream)."""
    if not _is_int(start_port):
        raise NotImplementedError('sky_rs takes an int port')
    return _call('pyexport_FindFreePort', start_port)


def estimate_fd_for_directory(path: str) -> int:
    """5 file descriptors per entry directly in ``path`` (counted, not listed)."""
    if type(path) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str path')
    return _call('pyexport_EstimateFDForDirectory', path, filename=path)


# --- strings --------------------------------------------------------------


def base36_encode(hex_str: str) -> str:
    """``int(hex_str, 16)`` written in base 36 (alphabet 0-9a-z)."""
    if type(hex_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str')
    try:
        return _call('pyexport_Base36Encode', hex_str)
    except ValueError as e:
        if str(e) == 'negative':
            raise ValueError('base36_encode() requires a non-negative '
                             f'number: {hex_str!r}') from None
        # CPython's message: "%.200R", the repr cut at 200 characters.
        raise ValueError('invalid literal for int() with base 16: '
                         f'{repr(hex_str)[:200]}') from None


def format_float(num, precision: int = 1) -> str:
    """``num`` without a decimal point if whole, else to ``precision`` places."""
    if isinstance(num, int):
        return str(num)
    if not (isinstance(num, float) and _is_int(precision)):
        raise NotImplementedError('sky_rs formats a float with int precision')
    return _call('pyexport_FormatFloat', num, precision)


def truncate_long_string(s: str,
                         max_length: int = 35,
                         truncate_middle: bool = False) -> str:
    """``s`` cut to about ``max_length`` code points, as upstream cuts it."""
    if not (type(s) is str and _is_int(max_length)):  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str and an int length')
    if len(s) <= max_length:
        return s
    return _call('pyexport_TruncateLongString', s, max_length,
                 bool(truncate_middle))


# --- system ---------------------------------------------------------------


def get_cpu_count() -> int:
    """CPUs this process may use: min of logical CPUs, affinity and cgroup
    quota, unless SKYPILOT_POD_CPU_CORE_LIMIT says otherwise."""
    value = _getenv('SKYPILOT_POD_CPU_CORE_LIMIT')
    if value is not None:
        try:
            return int(float(value))
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the number of CPUs from {value}') from e
    return _call('pyexport_CPUCount')


def get_mem_size_gb() -> float:
    """Memory in GiB: min of physical memory and cgroup limit, unless
    SKYPILOT_POD_MEMORY_GB_LIMIT / _BYTES_LIMIT say otherwise."""
    value = _getenv('SKYPILOT_POD_MEMORY_GB_LIMIT')
    if value is not None:
        try:
            return float(value)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (GB)') from e
    value = _getenv('SKYPILOT_POD_MEMORY_BYTES_LIMIT')
    if value is not None:
        try:
            return float(value) / (1024**3)
        except ValueError as e:
            raise ValueError(
                f'Failed to parse the memory size from {value} (bytes)') from e
    return _call('pyexport_MemSizeGB')


def _is_kubernetes(cloud_str) -> bool:
    # Upstream's test, including its AttributeError for a truthy non-str.
    return bool(cloud_str) and cloud_str.lower() == 'kubernetes'


def get_parallel_threads(cloud_str: Optional[str] = None) -> int:
    """max(4, online CPUs - 1), times 4 on Kubernetes."""
    kubernetes = _is_kubernetes(cloud_str)
    return _call('pyexport_ParallelThreads', kubernetes)


def is_process_alive(pid: int) -> bool:
    """Whether ``pid`` names a live process (zombies are not alive)."""
    if not _is_int(pid):
        raise NotImplementedError('sky_rs takes an int pid')
    if pid <= 0 or pid > 2**31 - 1:
        return False
    return _call('pyexport_IsProcessAlive', pid)


def are_processes_alive(pids: List[int]) -> List[bool]:
    """is_process_alive for many pids in one call."""
    raise NotImplementedError('are_processes_alive is not built yet')


_fd_limit_warning_shown = False


def _warn_if_fd_limit_low() -> None:
    """Upstream's once-per-process warning about a low RLIMIT_NOFILE."""
    global _fd_limit_warning_shown
    if _fd_limit_warning_shown:
        return
    fd_limit = _call('pyexport_RlimitNofileSoft')
    if fd_limit < 1024:
        import logging  # pylint: disable=import-outside-toplevel
        logging.getLogger(__name__).warning(
            f'Open file descriptor limit ({fd_limit}) is low. File sync to '
            'remote clusters may be slow. Consider increasing the limit using '
            '`ulimit -n <number>` or modifying system limits.')
        _fd_limit_warning_shown = True


def get_max_workers_for_file_mounts(
        common_file_mounts: Optional[Dict[str, str]] = None,
        cloud_str: Optional[str] = None,
        *,
        num_sources: Optional[int] = None,
        estimated_files_per_source: Optional[int] = None) -> int:
    """Workers for syncing file mounts within the open-file limit.

    Upstream's form takes ``{destination: source}`` and counts the entries of
    each source directory; the keyword form (``num_sources=``,
    ``estimated_files_per_source=``) estimates without touching the disk.
    """
    keyword_form = (num_sources is not None or
                    estimated_files_per_source is not None)
    if cloud_str is not None and type(cloud_str) is not str:  # pylint: disable=unidiomatic-typecheck
        raise NotImplementedError('sky_rs takes a str cloud')
    kubernetes = _is_kubernetes(cloud_str)
    if keyword_form:
        if common_file_mounts is not None:
            raise NotImplementedError(
                'pass either common_file_mounts or the keyword form')
        num = 1 if num_sources is None else num_sources
        per_source = (1 if estimated_files_per_source is None else
                      estimated_files_per_source)
        if not (_is_int(num) and _is_int(per_source)):
            raise NotImplementedError('sky_rs takes int estimates')
        _warn_if_fd_limit_low()
        return _call('pyexport_MaxWorkersForEstimate', num, per_source,
                     kubernetes)
    if not isinstance(common_file_mounts, dict):
        raise NotImplementedError('sky_rs takes a dict of file mounts')
    sources = list(common_file_mounts.values())
    for src in sources:
        if type(src) is not str or '\n' in src:  # pylint: disable=unidiomatic-typecheck
            raise NotImplementedError('sky_rs takes str sources')
    _warn_if_fd_limit_low()
    return _call('pyexport_MaxWorkersForFileMounts', '\n'.join(sources),
                 kubernetes)
